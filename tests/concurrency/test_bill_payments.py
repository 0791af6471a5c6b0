"""One bill paid twice at once on PostgreSQL (two devices, a device and a bank app): one pays it, money moves once.

Each race runs with the one-call payment (billing/fast_path.py) and with the portable path, and one runs them
against each other: a device on each.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.bank_codes import BILL_REFERENCE
from billing.billers import payable_account_code
from billing.models import CustomerCredit
from civicpay import bootstrap
from civicpay.app import create_app, running
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from tests.billers import BillerDesk, bill
from tests.conftest import Api, account_balance, http_into, make_settings, notify
from wallet import ledger

pytestmark = pytest.mark.postgres_only
AMOUNT = 90_000
ROUNDS = 10


@pytest.fixture(params=[True, False], ids=["fast path", "portable path"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Both ways a bill payment is made on PostgreSQL (billing/fast_path.py, and the portable path) race alike."""
    return {"fast_transfers": request.param}


async def test_two_devices_paying_one_bill_at_once_pay_it_once(
    biller_desk: BillerDesk, api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    evn = await biller_desk.biller()
    first, second = await api.register(), await api.register()
    pushed = await biller_desk.push(evn, *(bill(f"R{round_}", amount_vnd=AMOUNT) for round_ in range(ROUNDS)))
    for citizen in (first, second):  # one household: both linked the same customer code
        await api.fund(citizen, AMOUNT * ROUNDS)
        assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    outcomes = []
    for line in pushed.json()["accepted"]:
        answers = await asyncio.gather(biller_desk.pay(first, line["id"]), biller_desk.pay(second, line["id"]))
        outcomes.append(sorted((answer.status_code, answer.json().get("code")) for answer in answers))

    assert outcomes == [[(201, None), (409, "bill_already_paid")]] * ROUNDS
    assert await api.balance(first) + await api.balance(second) == AMOUNT * ROUNDS
    key_id = evn["api_key"].split("_")[1]
    assert await account_balance(sessions, payable_account_code(key_id)) == AMOUNT * ROUNDS


async def test_a_bank_transfer_and_a_wallet_paying_one_bill_at_once_pay_it_once(
    biller_desk: BillerDesk,
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
) -> None:
    evn = await biller_desk.biller()
    citizen = await api.register()
    pushed = await biller_desk.push(evn, *(bill(f"R{round_}", amount_vnd=AMOUNT) for round_ in range(ROUNDS)))
    await api.fund(citizen, AMOUNT * ROUNDS)
    assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    outcomes = []
    for line in pushed.json()["accepted"]:
        by_wallet, by_bank = await asyncio.gather(
            biller_desk.pay(citizen, line["id"]),
            notify(api, settings, clock, code=BILL_REFERENCE.encode(line["id"]), amount_vnd=AMOUNT),
        )
        wallet_paid = by_wallet.status_code == 201
        bank_paid = by_bank.json()["outcome"] == "collected"
        outcomes.append(wallet_paid != bank_paid)
        # Whichever came second was refused (the wallet) or waits in suspense (the bank's money).
        assert wallet_paid or by_wallet.json()["code"] == "bill_already_paid"
        assert bank_paid or by_bank.json()["suspense_reason"] == "already_paid"

    assert outcomes == [True] * ROUNDS
    key_id = evn["api_key"].split("_")[1]
    assert await account_balance(sessions, payable_account_code(key_id)) == AMOUNT * ROUNDS


async def test_two_part_payments_racing_past_what_is_due_pay_only_what_is_due(
    biller_desk: BillerDesk, api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    water = await biller_desk.biller("Cấp nước Huế", "water", policy="allow_partial")
    first, second = await api.register(), await api.register()
    pushed = await biller_desk.push(water, *(bill(f"P{round_}", amount_vnd=AMOUNT) for round_ in range(ROUNDS)))
    for citizen in (first, second):
        await api.fund(citizen, AMOUNT * ROUNDS)
        assert (await biller_desk.link(citizen, water, "PC03AA0000001")).status_code == 201
    part = AMOUNT * 2 // 3  # two parts together are more than is due: the second must be refused
    outcomes = []
    for line in pushed.json()["accepted"]:
        answers = await asyncio.gather(
            biller_desk.pay_amounts(first, (line["id"], part)), biller_desk.pay_amounts(second, (line["id"], part))
        )
        outcomes.append(sorted((answer.status_code, answer.json().get("code")) for answer in answers))

    assert outcomes == [[(201, None), (422, "amount_exceeds_due")]] * ROUNDS
    key_id = water["api_key"].split("_")[1]
    assert await account_balance(sessions, payable_account_code(key_id)) == part * ROUNDS


@pytest.mark.parametrize("settings_overrides", [{"fast_transfers": True}], ids=["fast path"])
async def test_a_device_on_each_path_paying_one_bill_at_once_pay_it_once(
    biller_desk: BillerDesk,
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    clock: FixedClock,
) -> None:
    """One app pays in one call, the other never does, on one database: either may win, never both."""
    evn = await biller_desk.biller()
    first, second = await api.register(), await api.register()
    pushed = await biller_desk.push(evn, *(bill(f"S{round_}", amount_vnd=AMOUNT) for round_ in range(ROUNDS)))
    for citizen in (first, second):
        await api.fund(citizen, AMOUNT * ROUNDS)
        assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    portable = create_app(bootstrap.build(make_settings(database_url, fast_transfers=False), clock))
    outcomes = []
    async with running(portable), http_into(portable) as other:
        for round_, line in enumerate(pushed.json()["accepted"]):
            # The first and the second citizen take turns on the fast app, so each path wins some rounds.
            fast, slow = (first, second) if round_ % 2 else (second, first)
            headers = {**slow.headers, "Idempotency-Key": f"slow-{round_}"}
            answers = await asyncio.gather(
                biller_desk.pay(fast, line["id"]),
                other.post("/bill-payments", json={"bill_ids": [line["id"]]}, headers=headers),
            )
            outcomes.append(sorted((answer.status_code, answer.json().get("code")) for answer in answers))

    assert outcomes == [[(201, None), (409, "bill_already_paid")]] * ROUNDS
    assert await api.balance(first) + await api.balance(second) == AMOUNT * ROUNDS
    key_id = evn["api_key"].split("_")[1]
    assert await account_balance(sessions, payable_account_code(key_id)) == AMOUNT * ROUNDS
    async with sessions() as session:
        assert await ledger.check_invariants(session) == []


async def test_a_payment_commits_while_another_transaction_holds_the_billers_payable(
    biller_desk: BillerDesk, api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The hot biller: its payable is credited beside its row, so a payment never queues on that row's lock."""
    evn = await biller_desk.biller()
    citizen = await api.register()
    pushed = await biller_desk.push(evn, bill("H1", amount_vnd=AMOUNT))
    await api.fund(citizen, AMOUNT)
    assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    payable = payable_account_code(evn["api_key"].split("_")[1])
    async with sessions.begin() as holding:
        await ledger.lock_accounts(holding, [await ledger.account_id(holding, payable)])
        # Were the payable locked by the payment, this would wait for the commit below, which never comes first.
        paid = await asyncio.wait_for(biller_desk.pay(citizen, pushed.json()["accepted"][0]["id"]), 20)
        assert paid.status_code == 201, paid.text
        assert await account_balance(sessions, payable) == AMOUNT  # shown at once, though its row is not written
    async with sessions() as session:
        assert await ledger.check_invariants(session) == []


async def test_an_overpayment_kept_as_credit_racing_a_wallet_paying_both_open_bills_pays_each_once(
    biller_desk: BillerDesk,
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
) -> None:
    """The bank's claim locks the bill it names and the code's other open bills (its credit pays them) in
    the order the wallet locks bills: neither waits for the other in a cycle, and nothing is paid twice."""
    school = await biller_desk.biller("Trường THCS Nguyễn Tri Phương", "tuition", policy="keep_credit")
    citizen = await api.register()
    await api.fund(citizen, 2 * AMOUNT * ROUNDS)
    outcomes = []
    for round_ in range(ROUNDS):
        code = f"HS-{round_}"
        pushed = await biller_desk.push(
            school,
            bill(f"A{round_}", code=code, amount_vnd=AMOUNT),
            bill(f"B{round_}", code=code, amount_vnd=AMOUNT, due_date="2027-01-15"),
        )
        assert (await biller_desk.link(citizen, school, code)).status_code == 201
        first, later = (line["id"] for line in pushed.json()["accepted"])
        paying = biller_desk.pay(citizen, first, later)
        transfer = notify(api, settings, clock, code=BILL_REFERENCE.encode(first), amount_vnd=2 * AMOUNT)
        # Started first in turns; the wallet's shorter path still wins most rounds (19 of 20 in one run):
        # whichever wins, each bill is paid once.
        if round_ % 2:
            by_bank, by_wallet = await asyncio.gather(transfer, paying)
        else:
            by_wallet, by_bank = await asyncio.gather(paying, transfer)
        wallet_paid = by_wallet.status_code == 201
        bank_paid = by_bank.json()["outcome"] == "collected"
        outcomes.append(wallet_paid != bank_paid)
        assert wallet_paid or by_wallet.json()["code"] == "bill_already_paid"
        assert bank_paid or by_bank.json()["suspense_reason"] == "already_paid"

    assert outcomes == [True] * ROUNDS
    key_id = school["api_key"].split("_")[1]
    assert await account_balance(sessions, payable_account_code(key_id)) == 2 * AMOUNT * ROUNDS
    async with sessions() as session:
        # Every overpayment that won went to the code's other bill: no credit is left over (the account
        # holding it opens with the first one, so it may not exist when the wallet won every race).
        assert await session.scalar(select(func.coalesce(func.sum(CustomerCredit.amount_vnd), 0))) == 0
        assert await ledger.check_invariants(session) == []
