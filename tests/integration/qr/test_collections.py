"""Fee collections at a counter: made by a clerk, paid once from a wallet or any bank app, never lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest
from httpx import Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.auth.models import Role
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from qr import vietqr
from qr.collections import office_account_code
from qr.models import COLLECTION
from tests.conftest import Api, account_balance, create_staff, finance_officer, notify, signed_in
from tests.desk import OFFICE, Desk, open_office, pay_by_bank

Sessions = async_sessionmaker[AsyncSession]
FEE_ACCOUNT = office_account_code(OFFICE["code"])


async def test_a_clerk_makes_a_collection_whose_vietqr_carries_its_reference(desk: Desk, settings: Settings) -> None:
    collection = await desk.collect(50_000)

    code = vietqr.decode(collection["vietqr"])
    assert collection["status"] == "open"
    assert COLLECTION.decode(collection["reference"]) == collection["id"]
    assert len(collection["reference"]) <= 16
    assert (code.bin, code.account) == (OFFICE["bank_bin"], OFFICE["account_number"])
    assert (code.initiation, code.amount_vnd) == ("dynamic", 50_000)
    assert code.reference == code.purpose == collection["reference"]
    assert collection["payee"] == OFFICE["name"]
    assert collection["amount_display"] == "50.000 ₫"
    expires = collection["expires_at"]
    assert expires > collection["created_at"]


async def test_paying_from_the_wallet_pays_once_and_gives_a_receipt(desk: Desk, api: Api, sessions: Sessions) -> None:
    citizen = await api.register()
    await api.fund(citizen, 200_000)
    collection = await desk.collect(50_000)

    paid = await desk.pay(citizen, collection["vietqr"], key="fee-1")
    replayed = await desk.pay(citizen, collection["vietqr"], key="fee-1")
    again = await desk.pay(citizen, collection["vietqr"], key="fee-2")

    assert paid.status_code == 201, paid.text
    assert (replayed.status_code, replayed.content) == (201, paid.content)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert again.status_code == 409
    assert again.json()["code"] == "collection_already_paid"
    assert paid.json()["receipt_number"].startswith("PHUHOI-2026-")
    assert await api.balance(citizen) == 150_000
    assert await account_balance(sessions, FEE_ACCOUNT) == 50_000
    shown = await desk.collection(collection["id"])
    assert (shown["status"], shown["paid_by"]) == ("paid", "wallet")
    receipt = await api.client.get(f"/collections/{collection['id']}/receipt", headers=desk.clerk)
    assert receipt.status_code == 200
    assert receipt.json()["receipt_number"] == paid.json()["receipt_number"]
    assert receipt.json()["agency_name"] == OFFICE["agency_name"]


async def test_a_fee_does_not_count_towards_the_monthly_cap(desk: Desk, api: Api) -> None:
    citizen = await api.register()
    await api.fund(citizen, 500_000)
    collection = await desk.collect(300_000)

    assert (await desk.pay(citizen, collection["vietqr"])).status_code == 201
    wallet = (await api.client.get("/wallets/me", headers=citizen.headers)).json()
    history = (await api.client.get(f"/wallets/{citizen.wallet_id}/history", headers=citizen.headers)).json()

    assert wallet["limits"]["month_used_vnd"] == 0
    assert history["items"][0]["category"] == "public_service_fee"
    assert history["items"][0]["counterparty"]["name"].startswith("Phí, lệ phí")


async def test_not_enough_money_changes_nothing(desk: Desk, api: Api) -> None:
    citizen = await api.register()
    await api.fund(citizen, 10_000)
    collection = await desk.collect(50_000)

    refused = await desk.pay(citizen, collection["vietqr"])

    assert refused.status_code == 422
    assert refused.json()["code"] == "insufficient_funds"
    assert (await desk.collection(collection["id"]))["status"] == "open"
    assert await api.balance(citizen) == 10_000


async def test_an_expired_or_cancelled_collection_cannot_be_paid(
    desk: Desk, api: Api, clock: FixedClock, settings: Settings
) -> None:
    citizen = await api.register()
    await api.fund(citizen, 200_000)
    late = await desk.collect(40_000)
    cancelled = await desk.collect(30_000)
    cancel = await api.client.post(f"/collections/{cancelled['id']}/cancel", headers=desk.clerk)
    clock.advance(timedelta(seconds=settings.collection_ttl_seconds))

    expired_answer = await desk.pay(citizen, late["vietqr"])
    cancelled_answer = await desk.pay(citizen, cancelled["vietqr"])
    cancel_again = await api.client.post(f"/collections/{cancelled['id']}/cancel", headers=desk.clerk)

    assert cancel.json()["status"] == "cancelled"
    assert (expired_answer.status_code, expired_answer.json()["collection_status"]) == (409, "expired")
    assert (cancelled_answer.status_code, cancelled_answer.json()["collection_status"]) == (409, "cancelled")
    assert expired_answer.json()["code"] == cancelled_answer.json()["code"] == "collection_not_open"
    assert cancel_again.status_code == 409
    assert await api.balance(citizen) == 200_000


async def test_a_tampered_amount_is_refused(desk: Desk, api: Api) -> None:
    citizen = await api.register()
    await api.fund(citizen, 200_000)
    collection = await desk.collect(50_000)
    code = vietqr.decode(collection["vietqr"])
    cheaper = vietqr.encode(msgspec.structs.replace(code, amount_vnd=5_000))

    refused = await desk.pay(citizen, cheaper)
    mismatched = await desk.pay(citizen, collection["vietqr"], amount_vnd=49_000)

    assert (refused.status_code, refused.json()["code"]) == (422, "amount_mismatch")
    assert (mismatched.status_code, mismatched.json()["errors"][0]["field"]) == (422, "amount_vnd")
    assert await api.balance(citizen) == 200_000


async def test_foreign_and_malformed_codes_are_refused_in_words(desk: Desk, api: Api) -> None:
    citizen = await api.register()
    await api.fund(citizen, 200_000)
    someone_else = vietqr.encode(
        vietqr.VietQr(bin="970415", account="113366668888", initiation="dynamic", amount_vnd=10_000)
    )
    collection = await desk.collect(50_000)
    broken = collection["vietqr"][:-4] + "0000"

    foreign = await desk.pay(citizen, someone_else)
    foreign_en = await api.client.post(
        "/qr/payments",
        json={"payload": someone_else},
        headers={**citizen.headers, "Idempotency-Key": "en-1", "Accept-Language": "en"},
    )
    malformed = await desk.pay(citizen, broken)

    assert (foreign.status_code, foreign.json()["code"]) == (422, "qr_not_payable")
    assert foreign.headers["content-type"].startswith("application/problem+json")
    assert "chưa thanh toán được từ ví" in foreign.json()["title"]
    assert "not payable from the wallet yet" in foreign_en.json()["title"]
    assert (malformed.status_code, malformed.json()["code"]) == (422, "qr_invalid")
    assert malformed.json()["reason"] == "bad_crc"
    assert malformed.json()["errors"][0]["field"] == "payload"
    assert await api.balance(citizen) == 200_000


async def test_a_bank_transfer_naming_the_reference_pays_the_collection(
    desk: Desk, api: Api, settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    collection = await desk.collect(75_000)

    answer = await pay_by_bank(
        api, settings, clock, code=collection["reference"], amount_vnd=75_000, notification_id="n-1"
    )
    retried = await pay_by_bank(
        api, settings, clock, code=collection["reference"], amount_vnd=75_000, notification_id="n-1"
    )

    assert answer.status_code == 200, answer.text
    assert (answer.json()["outcome"], answer.json()["duplicate"]) == ("collected", False)
    assert (retried.json()["outcome"], retried.json()["duplicate"]) == ("collected", True)
    shown = await desk.collection(collection["id"])
    assert (shown["status"], shown["paid_by"]) == ("paid", "bank")
    assert shown["receipt_number"]
    assert await account_balance(sessions, FEE_ACCOUNT) == 75_000


async def test_a_notification_delayed_past_the_expiry_still_pays_a_fee_paid_in_time(
    desk: Desk, api: Api, settings: Settings, clock: FixedClock
) -> None:
    collection = await desk.collect(25_000)
    paid_at = clock.now() + timedelta(seconds=settings.collection_ttl_seconds - 5)
    clock.advance(timedelta(seconds=settings.collection_ttl_seconds + 600))

    answer = await pay_by_bank(api, settings, clock, code=collection["reference"], amount_vnd=25_000, at=paid_at)

    assert answer.json()["outcome"] == "collected"


async def test_every_wrong_bank_payment_waits_in_suspense_with_its_own_reason(
    desk: Desk, api: Api, settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    under, over, paid_twice, cancelled, late = [await desk.collect(60_000) for _ in range(5)]
    await api.client.post(f"/collections/{cancelled['id']}/cancel", headers=desk.clerk)
    assert (await pay_by_bank(api, settings, clock, code=paid_twice["reference"], amount_vnd=60_000)).status_code == 200

    answers = {
        "underpaid": await pay_by_bank(api, settings, clock, code=under["reference"], amount_vnd=59_000),
        "overpaid": await pay_by_bank(api, settings, clock, code=over["reference"], amount_vnd=600_000),
        "already_paid": await pay_by_bank(api, settings, clock, code=paid_twice["reference"], amount_vnd=60_000),
        "collection_closed": await pay_by_bank(api, settings, clock, code=cancelled["reference"], amount_vnd=60_000),
    }
    clock.advance(timedelta(seconds=settings.collection_ttl_seconds + 1))
    answers["after_expiry"] = await pay_by_bank(api, settings, clock, code=late["reference"], amount_vnd=60_000)
    both = f"{under['reference']} {over['reference']}"
    answers["ambiguous_reference"] = await pay_by_bank(api, settings, clock, code=both, amount_vnd=60_000)
    elsewhere = await desk.collect(60_000)
    answers["wrong_account"] = await notify(
        api, settings, clock, code=elsewhere["reference"], amount_vnd=60_000, account_number="1017468888"
    )

    for reason, answer in answers.items():
        assert (answer.status_code, answer.json()["outcome"], answer.json()["suspense_reason"]) == (
            200,
            "suspense",
            reason,
        ), reason
    officer = await finance_officer(api, sessions, settings, clock)
    listed = (await api.client.get("/finance/suspense", headers=officer)).json()
    assert sorted(item["reason"] for item in listed) == sorted(answers)
    assert await account_balance(sessions, "liability:suspense") == 59_000 + 600_000 + 60_000 * 5
    assert await account_balance(sessions, FEE_ACCOUNT) == 60_000
    # A wrong amount leaves the collection open (until it expires, as these now have): the payer may still pay right.
    for collection, status in ((under, "expired"), (over, "expired"), (late, "expired"), (cancelled, "cancelled")):
        assert (await desk.collection(collection["id"]))["status"] == status


async def test_a_refund_reverses_the_payment_before_the_sweep_only(
    desk: Desk, api: Api, settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    citizen = await api.register()
    await api.fund(citizen, 100_000)
    refunded, swept, by_bank = await desk.collect(40_000), await desk.collect(20_000), await desk.collect(15_000)
    await desk.pay(citizen, refunded["vietqr"])
    await desk.pay(citizen, swept["vietqr"])
    officer = await finance_officer(api, sessions, settings, clock)

    async def refund(collection: dict[str, Any], headers: dict[str, str]) -> Response:
        return await api.client.post(
            f"/collections/{collection['id']}/refund",
            json={"reason": "Hồ sơ bị trả lại"},
            headers={**headers, "Idempotency-Key": f"refund-{collection['id']}"},
        )

    by_clerk = await refund(refunded, desk.clerk)
    first = await refund(refunded, officer)
    await api.client.post("/finance/treasury/sweep", headers={**officer, "Idempotency-Key": "sweep-1"})
    too_late = await refund(swept, officer)
    await pay_by_bank(api, settings, clock, code=by_bank["reference"], amount_vnd=15_000)
    to_return = await refund(by_bank, officer)
    suspense = (await api.client.get("/finance/suspense", headers=officer)).json()

    assert by_clerk.status_code == 403
    assert (first.status_code, first.json()["status"]) == (200, "refunded")
    assert (too_late.status_code, too_late.json()["code"]) == (409, "collection_not_refundable")
    assert await api.balance(citizen) == 80_000
    # Paid by a bank app: the money waits in suspense to be returned to the paying account.
    assert (to_return.status_code, to_return.json()["status"]) == (200, "refunded")
    assert [(item["amount_vnd"], item["reason"]) for item in suspense] == [(15_000, "fee_refund")]
    assert await account_balance(sessions, FEE_ACCOUNT) == 0
    assert await account_balance(sessions, "liability:suspense") == 15_000


async def test_a_clerk_works_only_at_their_own_office(desk: Desk, api: Api) -> None:
    other = await open_office(api, desk.admin, code="THUANHOA", account_number="0161009999999", agency_code="UBND-TH")
    counter = await api.client.post(f"/offices/{other['id']}/counters", json={"name": "Quầy 2"}, headers=desk.admin)
    mine = await desk.collect(10_000)

    elsewhere = await desk.post_collection(10_000, counter_id=counter.json()["id"])
    citizen = await api.register()
    stranger = await api.client.get(f"/collections/{mine['id']}", headers=citizen.headers)

    assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "not_your_office")
    assert elsewhere.json()["errors"][0]["field"] == "counter_id"
    assert stranger.status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/collections/{id}"),
        ("GET", "/collections/{id}/qr"),
        ("GET", "/collections/{id}/receipt"),
        ("POST", "/collections/{id}/cancel"),
    ],
)
@pytest.mark.parametrize("clerk", ["placed nowhere", "at another office"])
async def test_another_offices_collection_answers_like_one_that_does_not_exist(
    desk: Desk, api: Api, sessions: Sessions, settings: Settings, clock: FixedClock, method: str, path: str, clerk: str
) -> None:
    """Not yours and not there are one answer, or a clerk could learn which collection ids exist."""
    phone = await create_staff(sessions, settings, clock, Role.CLERK, "Lê Văn Khác")
    if clerk == "at another office":
        other = await open_office(api, desk.admin, code="THUANHOA", account_number="0161009999999", agency_code="UBND")
        placed = await api.client.post(f"/offices/{other['id']}/clerks", json={"phone": phone}, headers=desk.admin)
        assert placed.status_code == 204, placed.text
    stranger = await signed_in(api, phone)
    mine = await desk.collect(10_000)

    theirs = await api.client.request(method, path.format(id=mine["id"]), headers=stranger)
    missing = await api.client.request(method, path.format(id=mine["id"] + 1000), headers=stranger)

    assert theirs.status_code == missing.status_code == 404, theirs.text
    assert theirs.json() == missing.json()
    assert theirs.json()["code"] == "collection_not_found"
    assert (await desk.collection(mine["id"]))["status"] == "open"


async def test_bad_input_names_the_field_and_creates_nothing(desk: Desk, api: Api) -> None:
    bad = await desk.post_collection(0, language="en")
    duplicate_office = await api.client.post("/offices", json=OFFICE, headers=desk.admin)
    no_latin = {**OFFICE, "code": "BJ", "account_number": "0161000000001", "name": "办公室"}
    unprintable = await api.client.post("/offices", json=no_latin, headers=desk.admin)

    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "amount_vnd"
    assert (duplicate_office.status_code, duplicate_office.json()["errors"][0]["field"]) == (422, "code")
    assert (unprintable.status_code, unprintable.json()["errors"][0]["field"]) == (422, "name")
    assert (await desk.collect(10_000))["id"] == 1
