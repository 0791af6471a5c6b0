"""Bills paid from any bank app: the reference and VietQR a bill shows, and the bank's notification that pays it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.bank_codes import BILL_REFERENCE
from billing.billers import payable_account_code
from billing.models import Bill, BillPayment, CustomerCredit
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


async def test_under_allow_partial_a_bill_is_paid_in_parts_by_wallet_and_bank_until_it_is_paid(
    biller_desk: BillerDesk, api: Api, settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    water = await biller_desk.biller("Cấp nước Huế", "water", policy="allow_partial")
    strict = await biller_desk.biller()
    citizen = await api.register()
    (bill_id,) = [
        line["id"] for line in (await biller_desk.push(water, bill("W1", amount_vnd=100_000))).json()["accepted"]
    ]
    (whole,) = [
        line["id"] for line in (await biller_desk.push(strict, bill("E1", amount_vnd=50_000))).json()["accepted"]
    ]
    for biller in (water, strict):
        assert (await biller_desk.link(citizen, biller, "PC03AA0000001")).status_code == 201
    await api.fund(citizen, 200_000)

    refused = await biller_desk.pay_amounts(citizen, (whole, 20_000))
    too_much = await biller_desk.pay_amounts(citizen, (bill_id, 100_001))
    both_forms = await api.client.post(
        "/bill-payments",
        json={"bill_ids": [whole], "bills": [{"id": bill_id, "amount_vnd": 1_000}]},
        headers={**citizen.headers, "Idempotency-Key": "both"},
    )
    first = await biller_desk.pay_amounts(citizen, (bill_id, 30_000))
    after_first = (await api.client.get(f"/bills/{bill_id}", headers=citizen.headers)).json()
    by_bank = await notify(api, settings, clock, code=BILL_REFERENCE.encode(bill_id), amount_vnd=50_000)
    listed = (await api.client.get("/bills", headers=citizen.headers)).json()
    last = await biller_desk.pay(citizen, bill_id)  # bill_ids: all that is still due
    shown = (await api.client.get(f"/bills/{bill_id}", headers=citizen.headers)).json()

    assert (refused.status_code, refused.json()["code"], refused.json()["bill_id"]) == (
        422,
        "partial_payment_refused",
        whole,
    )
    assert (too_much.status_code, too_much.json()["code"], too_much.json()["due_vnd"]) == (
        422,
        "amount_exceeds_due",
        100_000,
    )
    assert (both_forms.status_code, both_forms.json()["code"]) == (422, "validation_failed")
    assert first.status_code == 201, first.text
    assert (after_first["status"], after_first["amount_vnd"]) == ("open", 70_000)
    assert after_first["status_label"] == "Đã thanh toán một phần"
    assert vietqr.decode(after_first["vietqr"]).amount_vnd == 70_000
    assert by_bank.json()["outcome"] == "collected"
    due = {b["id"]: b["amount_vnd"] for g in listed["billers"] for d in g["due_dates"] for b in d["bills"]}
    assert due == {bill_id: 20_000, whole: 50_000}
    assert (last.status_code, last.json()["amount_vnd"]) == (201, 20_000)
    assert (shown["status"], shown["amount_vnd"], shown["vietqr"]) == ("paid", 0, None)
    assert [(p["amount_vnd"], p["source"]) for p in shown["payments"]] == [
        (30_000, "wallet"),
        (50_000, "bank"),
        (20_000, "wallet"),
    ]
    assert await api.balance(citizen) == 150_000
    assert await account_balance(sessions, payable(water)) == 100_000
    paid_again = await notify(api, settings, clock, code=BILL_REFERENCE.encode(bill_id), amount_vnd=10_000)
    assert (paid_again.json()["outcome"], paid_again.json()["suspense_reason"]) == ("suspense", "already_paid")


async def test_a_partly_paid_bill_cannot_be_amended_or_cancelled(biller_desk: BillerDesk, api: Api) -> None:
    water = await biller_desk.biller("Cấp nước Huế", "water", policy="allow_partial")
    citizen = await api.register()
    (bill_id,) = [
        line["id"] for line in (await biller_desk.push(water, bill("W1", amount_vnd=100_000))).json()["accepted"]
    ]
    assert (await biller_desk.link(citizen, water, "PC03AA0000001")).status_code == 201
    await api.fund(citizen, 100_000)
    assert (await biller_desk.pay_amounts(citizen, (bill_id, 40_000))).status_code == 201

    amended = await biller_desk.push(water, bill("W1", amount_vnd=30_000))
    cancelled = await biller_desk.push(water, bill("W1", amount_vnd=100_000, status="cancelled"))

    for answer in (amended, cancelled):
        assert [line["code"] for line in answer.json()["refused"]] == ["bill_partly_paid"]


async def test_under_keep_credit_an_overpayment_by_bank_pays_the_bill_and_the_rest_pays_the_next_bill(
    biller_desk: BillerDesk, api: Api, settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    school = await biller_desk.biller("Trường THCS Nguyễn Tri Phương", "tuition", policy="keep_credit")
    citizen = await api.register()
    (first,) = [
        line["id"] for line in (await biller_desk.push(school, bill("T11", amount_vnd=300_000))).json()["accepted"]
    ]
    assert (await biller_desk.link(citizen, school, "PC03AA0000001")).status_code == 201

    underpaid = await notify(api, settings, clock, code=BILL_REFERENCE.encode(first), amount_vnd=100_000)
    overpaid = await notify(api, settings, clock, code=BILL_REFERENCE.encode(first), amount_vnd=500_000)
    credit_after_first = await account_balance(sessions, f"liability:biller:{school['id']}:credit")
    pushed = await biller_desk.push(
        school,
        bill("T12", amount_vnd=150_000),
        bill("T01", amount_vnd=150_000, due_date="2027-01-15"),
        bill("X12", code="OTHER-CODE", amount_vnd=150_000, customer_name="Le Thi Cuc"),
    )
    december, january, other = (line["id"] for line in pushed.json()["accepted"])
    shown = {
        bill_id: (await api.client.get(f"/bills/{bill_id}", headers=citizen.headers)).json()
        for bill_id in (first, december, january)
    }

    assert (underpaid.json()["outcome"], underpaid.json()["suspense_reason"]) == ("suspense", "underpaid")
    assert (overpaid.json()["outcome"], overpaid.json()["suspense_reason"]) == ("collected", None)
    assert credit_after_first == 200_000
    assert (shown[first]["status"], [p["source"] for p in shown[first]["payments"]]) == ("paid", ["bank"])
    # The credit pays the bill due first in full and what is left of it goes to the next one.
    assert (shown[december]["status"], [p["source"] for p in shown[december]["payments"]]) == ("paid", ["credit"])
    assert (shown[january]["status"], shown[january]["amount_vnd"]) == ("open", 100_000)
    assert [p["amount_vnd"] for p in shown[january]["payments"]] == [50_000]
    assert await account_balance(sessions, f"liability:biller:{school['id']}:credit") == 0
    assert await account_balance(sessions, payable(school)) == 300_000 + 200_000
    async with sessions() as session:
        other_bill = await session.get(Bill, other)
        assert other_bill is not None
        assert (other_bill.status, other_bill.amount_paid_vnd) == ("open", 0)
        credits = (await session.execute(select(CustomerCredit.customer_code, CustomerCredit.amount_vnd))).all()
    assert [tuple(row) for row in credits] == [("PC03AA0000001", 0)]


async def test_under_keep_credit_an_overpayment_pays_the_codes_bill_already_open_then_the_next_one_pushed(
    biller_desk: BillerDesk, api: Api, settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    school = await biller_desk.biller("Trường THCS Nguyễn Tri Phương", "tuition", policy="keep_credit")
    citizen = await api.register()
    pushed = await biller_desk.push(
        school,
        bill("T11", amount_vnd=300_000),
        bill("T12", amount_vnd=150_000, due_date="2027-01-15"),
        bill("X11", code="OTHER-CODE", amount_vnd=150_000, customer_name="Le Thi Cuc"),
    )
    november, december, other = (line["id"] for line in pushed.json()["accepted"])
    assert (await biller_desk.link(citizen, school, "PC03AA0000001")).status_code == 201

    # 200.000 ₫ more than November's bill, while December's is already open: it pays December at once.
    overpaid = await notify(api, settings, clock, code=BILL_REFERENCE.encode(november), amount_vnd=500_000)
    by_wallet = await biller_desk.pay(citizen, december)
    credit_left = await account_balance(sessions, f"liability:biller:{school['id']}:credit")
    (january,) = [
        line["id"]
        for line in (await biller_desk.push(school, bill("T01", amount_vnd=100_000, due_date="2027-02-15"))).json()[
            "accepted"
        ]
    ]
    shown = {
        bill_id: (await api.client.get(f"/bills/{bill_id}", headers=citizen.headers)).json()
        for bill_id in (november, december, january)
    }

    assert (overpaid.json()["outcome"], overpaid.json()["suspense_reason"]) == ("collected", None)
    assert (shown[november]["status"], [p["source"] for p in shown[november]["payments"]]) == ("paid", ["bank"])
    assert (shown[december]["status"], [p["source"] for p in shown[december]["payments"]]) == ("paid", ["credit"])
    assert (by_wallet.status_code, by_wallet.json()["code"]) == (409, "bill_already_paid")
    assert credit_left == 50_000
    # What was left after December pays half of January, when the biller sends it.
    assert (shown[january]["status"], shown[january]["amount_vnd"]) == ("open", 50_000)
    assert [(p["source"], p["amount_vnd"]) for p in shown[january]["payments"]] == [("credit", 50_000)]
    assert await account_balance(sessions, f"liability:biller:{school['id']}:credit") == 0
    assert await account_balance(sessions, payable(school)) == 500_000
    async with sessions() as session:
        other_bill = await session.get_one(Bill, other)
        assert (other_bill.status, other_bill.amount_paid_vnd) == ("open", 0)
        assert await ledger.check_invariants(session) == []
