"""Two workers, each with its own connections, running every periodic job at once (PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay import bootstrap
from civicpay.clock import FixedClock
from civicpay.db import create_engine, create_session_factory
from civicpay.periodic import Job, PeriodicJobRow, Schedule
from civicpay.settings import Settings
from qr.models import TreasuryRemittance
from sandbox.bank import Bank
from tests.conftest import Api
from tests.desk import Desk
from tests.integration.qr.test_merchants import pay, register_shop

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "card_requery_interval_seconds": 30,
        "hold_expiry_interval_seconds": 60,
        "ledger_fold_interval_seconds": 5,
        "merchant_settlement_interval_seconds": 3600,
        "biller_settlement_interval_seconds": 3600,
        "treasury_sweep_interval_seconds": 3600,
        "login_lock_sweep_interval_seconds": 60,
        "bill_autopay_interval_seconds": 900,
        "bill_reminder_interval_seconds": 3600,
        "disbursement_interval_seconds": 10,
        "disbursement_unclaimed_interval_seconds": 60,
    }


async def test_without_the_claim_two_workers_both_run_a_due_job(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    """The race exists: read whether a job is due, run it, then move its time on, nothing claimed between."""
    ran: list[int] = []
    async with sessions.begin() as session:
        session.add(PeriodicJobRow(name="naive", next_run_at=clock.now()))
    both_have_read = asyncio.Barrier(2)

    async def naive(number: int, own: async_sessionmaker[AsyncSession]) -> None:
        async with own() as session:
            due = await session.scalar(select(PeriodicJobRow.next_run_at).where(PeriodicJobRow.name == "naive"))
        await both_have_read.wait()
        if due is not None and due <= clock.now():
            ran.append(number)
            async with own.begin() as session:
                await session.execute(
                    update(PeriodicJobRow)
                    .where(PeriodicJobRow.name == "naive")
                    .values(next_run_at=clock.now() + timedelta(hours=1))
                )

    engines = [create_engine(settings) for _ in range(2)]
    try:
        await asyncio.gather(*(naive(number, create_session_factory(own)) for number, own in enumerate(engines)))
    finally:
        for own in engines:
            await own.dispose()

    assert sorted(ran) == [0, 1]


async def test_two_workers_run_each_job_once_per_due_time_and_pay_nothing_twice(
    desk: Desk,
    api: Api,
    bank: Bank,
    settings: Settings,
    clock: FixedClock,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    shop = await register_shop(desk, bank)
    citizen = await api.register()
    await api.fund(citizen, 500_000)
    assert (await pay(api, citizen, shop["vietqr"], 40_000))["status"] == 201
    fee = await desk.collect(50_000)
    assert (await desk.pay(citizen, fee["vietqr"])).status_code == 201
    runs: Counter[str] = Counter()

    def counted(job: Job) -> Job:
        async def run() -> object:
            runs[job.name] += 1
            return await job.run()

        return Job(job.name, job.every_seconds, run)

    # Each worker on services of its own (its own pool): another machine, to the database.
    machines = [bootstrap.build(settings, clock) for _ in range(2)]
    schedules = [Schedule(own.units, clock, [counted(job) for job in own.jobs]) for own in machines]
    jobs = machines[0].jobs
    try:
        first = await asyncio.gather(*(schedule.tick() for schedule in schedules))
        same_moment = await asyncio.gather(*(schedule.tick() for schedule in schedules))
        clock.advance(timedelta(hours=1))
        an_hour_later = await asyncio.gather(*(schedule.tick() for schedule in schedules))
    finally:
        for own in machines:
            await own.close()

    every_job = sorted(job.name for job in jobs)
    assert sorted(first[0] + first[1]) == every_job
    assert same_moment == [[], []]
    assert sorted(an_hour_later[0] + an_hour_later[1]) == every_job
    assert runs == Counter(dict.fromkeys(every_job, 2))
    # What the jobs did, done once: the merchant paid out once today, the fee swept once (both to the bank).
    assert sorted((type(sent).__name__, sent.amount_vnd) for sent in bank.payouts.values()) == [
        ("Payout", 40_000),
        ("TreasuryPayout", 50_000),
    ]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(TreasuryRemittance)) == 1
