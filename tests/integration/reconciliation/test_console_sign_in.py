"""The finance console signs in with the officers' one form and cookie (civicpay.auth.browser), and keeps out whom
its roles do not name; a form posted from another site does nothing. (The console at work, in a browser:
tests/e2e/test_reconciliation_console.py.)"""

from __future__ import annotations

import re

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.auth.browser import COOKIE
from civicpay.auth.models import Role
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from reconciliation.models import ReconciliationRun
from tests.conftest import PASSWORD, create_staff
from tests.integration.reconciliation.conftest import ACCOUNT, DAY, Day, day  # noqa: F401 - fixture used by name
from wallet import ledger


def shown(page: Response) -> str:
    """The page's words as a reader sees them, without the markup."""
    return " ".join(re.sub(r"<[^>]+>", " ", page.text).split())


async def _sign_in(client: AsyncClient, phone: str, next_page: str = "/finance/console") -> Response:
    return await client.post("/sign-in", data={"phone": phone, "password": PASSWORD, "next": next_page})


async def test_the_console_uses_the_one_sign_in_and_keeps_a_programme_officer_out(
    client: AsyncClient, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: FixedClock
) -> None:
    programme_officer = await create_staff(sessions, settings, clock, Role.PROGRAMME_OFFICER, "Lê Thị Hoa")
    finance_officer = await create_staff(sessions, settings, clock, Role.FINANCE_OFFICER, "Hoàng Minh Châu")

    anonymous = await client.get("/finance/console/day", params={"account": ACCOUNT, "date": DAY.isoformat()})
    form = await client.get(anonymous.headers["location"])
    old_form = await client.get("/finance/console/sign-in")

    await _sign_in(client, programme_officer)
    kept_out = await client.get("/finance/console")
    kept_out_of_acting = await client.post("/finance/console/runs", data={"account": ACCOUNT, "date": DAY.isoformat()})

    signed_in = await _sign_in(client, finance_officer)
    console = await client.get(signed_in.headers["location"])
    office = await client.get("/office")  # the same cookie serves the programme pages, which finance officers read
    signed_out = await client.post("/sign-out")
    after = await client.get("/finance/console")

    # Not signed in: to the one form, which comes back to the same day afterwards.
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/sign-in?next=/finance/console/day%3F")
    assert 'name="next" value="/finance/console/day?account=' in form.text
    assert old_form.status_code == 404  # the console's own sign-in is gone
    assert kept_out.status_code == 403
    assert "This page is not for your role" in shown(kept_out)
    assert kept_out_of_acting.status_code == 403
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert "Path=/;" in cookie or cookie.endswith("Path=/")
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/finance/console")
    assert console.status_code == 200
    assert "Đối soát một ngày / Reconcile a day" in shown(console)
    assert 'action="/sign-out"' in console.text
    assert office.status_code == 200
    assert signed_out.status_code == 303
    assert after.status_code == 303
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ReconciliationRun)) == 0
        assert await ledger.check_invariants(session) == []


async def test_another_sites_form_does_nothing_in_the_console_and_the_page_says_why(
    client: AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
    day: Day,  # noqa: F811 - the fixture imported above: the account and its day the refused form names
) -> None:
    finance_officer = await create_staff(sessions, settings, clock, Role.FINANCE_OFFICER, "Hoàng Minh Châu")
    await _sign_in(client, finance_officer)

    elsewhere = await client.post(
        "/finance/console/runs",
        data={"account": ACCOUNT, "date": DAY.isoformat()},
        headers={"Origin": "https://evil.test"},
    )
    wrong_password = await client.post(
        "/sign-in", data={"phone": finance_officer, "password": "not-it", "next": "/finance/console"}
    )

    assert elsewhere.status_code == 403
    assert "The request did not come from our own page" in shown(elsewhere)
    assert wrong_password.status_code == 401
    assert "Số điện thoại hoặc mật khẩu không đúng" in shown(wrong_password)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ReconciliationRun)) == 0
        assert await ledger.check_invariants(session) == []


@pytest.mark.parametrize("settings_overrides", [{"auth_rate_per_minute": 3}])
async def test_the_one_form_shares_the_api_sign_ins_rate_limit(client: AsyncClient) -> None:
    # The console's own form was outside it; the one form is inside, with POST /auth/login.
    for _ in range(2):
        await client.post("/sign-in", data={"phone": "0912345678", "password": "guessing-123"})
    await client.post("/auth/login", json={"phone": "0912345678", "password": "guessing-123"})

    limited = await client.post("/sign-in", data={"phone": "0912345678", "password": "guessing-123"})

    assert limited.status_code == 429
