"""Two workers running bill auto-pay at the same moment, each on its own pool (PostgreSQL): each bill paid once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.billers import payable_account_code
from billing.models import AutopayAttempt, Bill, BillPaymentItem
from civicpay import bootstrap
from civicpay.clock import FixedClock
from civicpay.notifications import Notification
from civicpay.settings import Settings
from tests.billers import BillerDesk, bill
from tests.conftest import Api, account_balance
from wallet import ledger

pytestmark = pytest.mark.postgres_only
AMOUNT = 90_000
BILLS = 10
DUE_DAY = datetime(2026, 12, 14, 17, 0, tzinfo=UTC)  # midnight of 15 December in Huế


async def test_two_workers_paying_due_bills_at_once_pay_each_bill_once(
    biller_desk: BillerDesk,
    api: Api,
    settings: Settings,
    clock: FixedClock,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    evn = await biller_desk.biller()
    # One household: both linked the same code and turned auto-pay on, so four (link, bill) tries per bill.
    first, second = await api.register(), await api.register()
    await biller_desk.push(evn, *(bill(f"R{n}", amount_vnd=AMOUNT) for n in range(BILLS)))
    for citizen in (first, second):
        await api.fund(citizen, AMOUNT * BILLS)
        made = await biller_desk.link(citizen, evn, "PC03AA0000001")
        assert made.status_code == 201, made.text
        turned_on = await api.client.put(
            f"/bill-links/{made.json()['id']}/autopay",
            json={"monthly_ceiling_vnd": AMOUNT * BILLS},
            headers=citizen.headers,
        )
        assert turned_on.status_code == 200, turned_on.text
    clock.current = DUE_DAY

    # Each worker on services of its own (its own pool): another machine, to the database.
    machines = [bootstrap.build(settings, clock) for _ in range(2)]
    try:
        at_once = await asyncio.gather(*(machine.pay_due_bills() for machine in machines))
        again = await asyncio.gather(*(machine.pay_due_bills() for machine in machines))
    finally:
        for machine in machines:
            await machine.close()

    paid = Counter(result.bill_id for run in at_once for result in run if result.outcome == "paid")
    assert sorted(paid.values()) == [1] * BILLS
    assert again == [[], []]
    assert not [result for run in at_once for result in run if result.outcome == "failed"]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(BillPaymentItem)) == BILLS
        assert set(await session.scalars(select(Bill.status))) == {"paid"}
        # Every (link, bill) pair is attempted at most once; the household's second link found each bill paid.
        assert await session.scalar(select(func.count()).select_from(AutopayAttempt)) == 2 * BILLS
        notices = await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.kind == "bill_autopay_paid")
        )
        assert notices == BILLS
        assert await ledger.check_invariants(session) == []
    key_id = evn["api_key"].split("_")[1]
    assert await account_balance(sessions, payable_account_code(key_id)) == AMOUNT * BILLS
    async with sessions() as session:
        balances = await ledger.balances(session, [first.account_id, second.account_id])
    assert sum(balance.posted_vnd for balance in balances.values()) == AMOUNT * BILLS
