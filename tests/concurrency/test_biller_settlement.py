"""Two workers and an officer settling billers at once on PostgreSQL: each biller is paid out once a day."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.models import BillerSettlement
from civicpay.bootstrap import Services
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from sandbox.bank import Bank
from tests.billers import BillerDesk, bill
from tests.conftest import Api
from tests.integration.billing.test_settlement import next_day, officer, pay_ok, payable

pytestmark = pytest.mark.postgres_only
DAYS = 5


async def test_settlers_at_once_make_one_payout_per_biller_and_day(
    biller_desk: BillerDesk,
    api: Api,
    bank: Bank,
    clock: FixedClock,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    services: Services,
) -> None:
    evn = await biller_desk.biller()
    water = await biller_desk.biller("Cấp nước Huế", "water")
    pushed_e = (await biller_desk.push(evn, *(bill(f"E{day}", amount_vnd=100_000) for day in range(DAYS)))).json()
    pushed_w = (
        await biller_desk.push(water, *(bill(f"W{day}", code="HUE-0001", amount_vnd=50_000) for day in range(DAYS)))
    ).json()
    citizen = await api.register()
    assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    assert (await biller_desk.link(citizen, water, "HUE-0001")).status_code == 201
    await api.fund(citizen, 10_000_000)
    desk = await officer(api, sessions, settings, clock)
    made_per_day = []
    for day in range(DAYS):
        await pay_ok(biller_desk, citizen, pushed_e["accepted"][day]["id"], pushed_w["accepted"][day]["id"])
        citizen = await next_day(clock, api, citizen, desk)
        by_workers, by_other_worker, by_officer = await asyncio.gather(
            services.settle_billers(), services.settle_billers(), desk.settle(f"day-{day}")
        )
        assert by_officer.status_code == 200, by_officer.text
        made_per_day.append(len(by_workers) + len(by_other_worker) + len(by_officer.json()))
    await services.outbox.drain()

    assert made_per_day == [2] * DAYS  # one per biller and day, whoever came first
    async with sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(BillerSettlement))
    assert rows == 2 * DAYS
    references = {s.reference for s in await _all(sessions)}
    assert references <= set(bank.payouts)
    assert await payable(sessions, evn["id"]) == (100_000 * DAYS, 0)  # all held, none twice
    assert await payable(sessions, water["id"]) == (50_000 * DAYS, 0)


async def _all(sessions: async_sessionmaker[AsyncSession]) -> list[BillerSettlement]:
    async with sessions() as session:
        return list(await session.scalars(select(BillerSettlement)))
