"""The officers' pages refuse as the API does, and say why on the page: no cookie, a wrong password, a wrong code,
a form sent from another site. (The pages at work, in a browser: tests/e2e/test_office_pages.py.)"""

from __future__ import annotations

import re

from httpx import Response
from sqlalchemy import select

from civicpay.auth.browser import COOKIE
from civicpay.auth.models import User
from tests.conftest import PASSWORD, wrong_code
from tests.programme_office import Office, Officer, wallet_row


def shown(page: Response) -> str:
    """The page's words as a reader sees them, without the markup."""
    return " ".join(re.sub(r"<[^>]+>", " ", page.text).split())


async def phone_of(office: Office, officer: Officer) -> str:
    async with office.sessions() as session:
        phone = await session.scalar(select(User.phone).where(User.id == officer.user_id))
    assert phone is not None
    return phone


async def test_without_signing_in_a_page_sends_you_to_the_form_and_a_wrong_password_is_said_there(
    office: Office,
) -> None:
    http = office.api.client
    page = await http.get("/office/batches/1")
    stream = await http.get("/office/batches/1/events")
    form = await http.get(page.headers["location"])
    wrong = await http.post(
        "/sign-in", data={"phone": await phone_of(office, office.maker), "password": "not-it", "next": "/office"}
    )
    # Signed in, but as a citizen: the pages are the officers'.
    citizen = await office.beneficiary()
    await http.post("/sign-in", data={"phone": citizen.citizen.phone, "password": PASSWORD, "next": "/office"})
    as_citizen = await http.get("/office")

    assert (page.status_code, page.headers["location"]) == (303, "/sign-in?next=/office/batches/1")
    assert stream.status_code == 401
    assert 'name="next" value="/office/batches/1"' in form.text
    assert wrong.status_code == 401
    assert "Số điện thoại hoặc mật khẩu không đúng" in shown(wrong)
    assert COOKIE not in wrong.cookies
    assert as_citizen.status_code == 403  # signed in, but the page is not for a citizen: told so, not sent round
    assert "This page is not for your role" in shown(as_citizen)


async def test_a_wrong_code_or_another_sites_form_approves_nothing_and_the_page_says_why(office: Office) -> None:
    http = office.api.client
    programme = await office.programme(kind="pension")
    await office.fund(programme, 10_000_000)
    who = await office.beneficiary()
    batch = await office.uploaded(programme, [wallet_row(who, 2_000_000)])
    signed_in = await http.post(
        "/sign-in",
        data={
            "phone": await phone_of(office, office.checker),
            "password": PASSWORD,
            "otp": office.code(office.checker),
            "next": f"/office/batches/{batch['id']}",
        },
    )
    approve = f"/office/batches/{batch['id']}/approve"
    assert office.checker.totp is not None

    wrong = await http.post(approve, data={"otp": wrong_code(office.checker.totp, office.clock)})
    elsewhere = await http.post(
        approve, data={"otp": office.code(office.checker)}, headers={"Origin": "https://evil.test"}
    )
    malformed = await http.post(approve, data={"otp": "12ab"})
    still = await office.batch(batch["id"])
    approved = await http.post(approve, data={"otp": office.code(office.checker)})
    again = await http.post(approve, data={"otp": office.code(office.checker)})

    assert (signed_in.status_code, signed_in.headers["location"]) == (303, f"/office/batches/{batch['id']}")
    assert wrong.status_code == 401
    assert "Mã OTP không đúng hoặc đã hết hạn / The OTP code is wrong or expired" in shown(wrong)
    assert elsewhere.status_code == 403
    assert "The request did not come from our own page" in shown(elsewhere)
    assert malformed.status_code == 400
    assert "The code is exactly 6 digits" in shown(malformed)
    assert still["status"] == "validated"
    assert (approved.status_code, approved.headers["location"]) == (303, f"/office/batches/{batch['id']}")
    assert (await office.batch(batch["id"]))["status"] == "approved"
    assert again.status_code == 409
    assert "This batch is no longer awaiting approval" in shown(again)
