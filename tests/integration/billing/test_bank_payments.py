"""Bills paid from any bank app: the reference and VietQR a bill shows, and the bank's notification that pays it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.bank_codes import BILL_REFERENCE
from billing.billers import payable_account_code
from billing.models import BillPayment
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from qr import vietqr
from tests.billers import BillerDesk, bill
from tests.conftest import Api, Citizen, account_balance, finance_officer, notify
from wallet import ledger

Sessions = async_sessionmaker[AsyncSession]


def payable(biller: dict[str, Any]) -> str:
    return payable_account_code(biller["api_key"].split("_")[1])


async def open_bills(desk: BillerDesk, api: Api, *amounts: int) -> tuple[dict[str, Any], Citizen, list[int]]:
    """A biller with one bill per amount for one customer code, linked by a citizen."""
    evn = await desk.biller()
    citizen = await api.register()
    pushed = await desk.push(evn, *(bill(f"B{n}", amount_vnd=amount) for n, amount in enumerate(amounts)))
    assert (await desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    return evn, citizen, [line["id"] for line in pushed.json()["accepted"]]


async def test_a_bill_shows_its_reference_and_a_vietqr_for_what_is_due_to_our_collection_account(
    biller_desk: BillerDesk, api: Api, settings: Settings
) -> None:
    _, citizen, (bill_id,) = await open_bills(biller_desk, api, 150_000)

    shown = (await api.client.get(f"/bills/{bill_id}", headers=citizen.headers)).json()
    image = await api.client.get(f"/bills/{bill_id}/qr", headers=citizen.headers)

    assert len(shown["reference"]) == 16
    assert BILL_REFERENCE.decode(shown["reference"]) == bill_id
    code = vietqr.decode(shown["vietqr"])
    assert (code.initiation, code.amount_vnd) == ("dynamic", 150_000)
    assert (code.bin, code.account) == (settings.wallet_pool_bank_bin, settings.wallet_pool_account_number)
    assert (code.purpose, code.reference) == (shown["reference"], shown["reference"])
    assert (image.status_code, image.headers["content-type"]) == (200, "image/png")
    assert image.content.startswith(b"\x89PNG")


async def test_a_bank_transfer_naming_the_reference_pays_the_bill_once(
    biller_desk: BillerDesk, api: Api, settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    evn, citizen, (bill_id,) = await open_bills(biller_desk, api, 150_000)
    reference = (await api.client.get(f"/bills/{bill_id}", headers=citizen.headers)).json()["reference"]

    answer = await notify(api, settings, clock, code=reference, amount_vnd=150_000, notification_id="bill-1")
    retried = await notify(api, settings, clock, code=reference, amount_vnd=150_000, notification_id="bill-1")
    shown = (await api.client.get(f"/bills/{bill_id}", headers=citizen.headers)).json()
    image = await api.client.get(f"/bills/{bill_id}/qr", headers=citizen.headers)
    by_wallet = await biller_desk.pay(citizen, bill_id)

    assert answer.status_code == 200, answer.text
    assert (answer.json()["outcome"], answer.json()["duplicate"]) == ("collected", False)
    assert (retried.json()["outcome"], retried.json()["duplicate"]) == ("collected", True)
    assert (shown["status"], shown["amount_vnd"], shown["vietqr"]) == ("paid", 0, None)
    assert [(line["amount_vnd"], line["source"]) for line in shown["payments"]] == [(150_000, "bank")]
    assert (image.status_code, image.json()["code"]) == (409, "bill_not_open")
    assert (by_wallet.status_code, by_wallet.json()["code"]) == (409, "bill_already_paid")
    assert await account_balance(sessions, payable(evn)) == 150_000
    async with sessions() as session:
        payment = (await session.scalars(select(BillPayment))).one()
    assert (payment.source, payment.user_id, payment.wallet_id) == ("bank", None, None)
    assert payment.notification_id == answer.json()["notification_id"]


async def test_a_reference_in_lower_case_still_pays_and_one_broken_by_a_space_is_not_recognised(
    biller_desk: BillerDesk, api: Api, settings: Settings, clock: FixedClock
) -> None:
    # The same finder as fee collections' and top-up codes' (civicpay.reference_codes): case is ignored,
    # but a reference split by a space is not one, and such money waits in suspense like any unnamed transfer.
    _, citizen, (lower, spaced) = await open_bills(biller_desk, api, 70_000, 70_000)

    paid = await notify(api, settings, clock, code=BILL_REFERENCE.encode(lower).lower(), amount_vnd=70_000)
    broken = BILL_REFERENCE.encode(spaced)
    unmatched = await notify(api, settings, clock, code=f"{broken[:8]} {broken[8:]}", amount_vnd=70_000)

    assert paid.json()["outcome"] == "collected"
    assert (unmatched.json()["outcome"], unmatched.json()["suspense_reason"]) == ("suspense", "no_code")
    assert (await api.client.get(f"/bills/{spaced}", headers=citizen.headers)).json()["status"] == "open"


async def test_every_wrong_bank_payment_of_a_bill_waits_in_suspense_with_its_own_reason(
    biller_desk: BillerDesk, api: Api, settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    evn, citizen, bills = await open_bills(biller_desk, api, *[60_000] * 6)
    under, over, paid_twice, cancelled, elsewhere, other = bills
    await biller_desk.push(evn, bill("B3", amount_vnd=60_000, status="cancelled"))
    assert (await notify(api, settings, clock, code=BILL_REFERENCE.encode(paid_twice), amount_vnd=60_000)).status_code
    async with sessions() as session, session.begin():
        # Another account of ours (a one-stop office's), where a bill's money has no business arriving.
        await ledger.open_bank_account(
            session,
            bank_bin="970436",
            account_number="0071000999999",
            holder_name="UBND PHUONG PHU HOI",
            purpose=ledger.BankAccountPurpose.FEE_COLLECTION,
            now=clock.now(),
        )

    def code(bill_id: int) -> str:
        return BILL_REFERENCE.encode(bill_id)

    answers = {
        "underpaid": await notify(api, settings, clock, code=code(under), amount_vnd=59_000),
        "overpaid": await notify(api, settings, clock, code=code(over), amount_vnd=600_000),
        "already_paid": await notify(api, settings, clock, code=code(paid_twice), amount_vnd=60_000),
        "bill_cancelled": await notify(api, settings, clock, code=code(cancelled), amount_vnd=60_000),
        "ambiguous_reference": await notify(
            api, settings, clock, code=f"{code(under)} {code(other)}", amount_vnd=60_000
        ),
        "wrong_account": await notify(
            api, settings, clock, code=code(elsewhere), amount_vnd=60_000, account_number="0071000999999"
        ),
    }

    for reason, answer in answers.items():
        assert (answer.status_code, answer.json()["outcome"], answer.json()["suspense_reason"]) == (
            200,
            "suspense",
            reason,
        ), reason
    officer = await finance_officer(api, sessions, settings, clock)
    listed = (await api.client.get("/finance/suspense", headers=officer)).json()
    assert sorted(item["reason"] for item in listed) == sorted(answers)
    assert await account_balance(sessions, "liability:suspense") == 59_000 + 600_000 + 60_000 * 4
    assert await account_balance(sessions, payable(evn)) == 60_000
    # A wrong amount leaves the bill open: the payer may still pay it right, from a bank app or the wallet.
    for bill_id, status in ((under, "open"), (over, "open"), (elsewhere, "open"), (cancelled, "cancelled")):
        assert (await api.client.get(f"/bills/{bill_id}", headers=citizen.headers)).json()["status"] == status
