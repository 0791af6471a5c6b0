"""Two workers settling unclaimed welfare at once (PostgreSQL): each held payment is claimed or returned once.

First the race the lock prevents: two workers reading the held items without it both take the same ones (and
would both pay them). Then with it (``SKIP LOCKED``) they take different ones. Then the real thing: two workers,
each a machine of its own, run the unclaimed job at once while the new wallets' messages are delivered again
beside them; some held payments are past their days (returned), the others' citizens have opened wallets
(claimed).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import disbursement
from civicpay import bootstrap
from civicpay.clock import FixedClock
from civicpay.db import create_engine, create_session_factory
from civicpay.settings import Settings
from disbursement import unclaimed
from disbursement.models import Item, Payment
from tests.conftest import Citizen
from tests.programme_office import Office, sign_up, unclaimed_row

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"disbursement_chunk_size": 3}


async def held(office: Office, people: int, *, first: int, signing_up: bool) -> tuple[int, list[Citizen]]:
    """A batch of unclaimed rows, approved and run, so each is held; with ``signing_up`` each citizen opens a
    wallet before the run (so their messages find nothing held yet). Its id and the wallets."""
    ids = [f"0462030{first + number:05d}" for number in range(people)]
    programme = await office.programme()
    await office.fund(programme, 100_000_000)
    batch = await office.uploaded(
        programme,
        [unclaimed_row(citizen_id, "Người Chờ Nhận", 1_000_000 + number) for number, citizen_id in enumerate(ids)],
    )
    assert (await office.approve(batch["id"])).status_code == 200
    wallets = [await sign_up(office.api, citizen_id, "Người Chờ Nhận") for citizen_id in ids] if signing_up else []
    assert (await office.run(batch_id=batch["id"])).held == people
    batch_id: int = batch["id"]
    return batch_id, wallets


async def test_without_the_lock_two_workers_take_the_same_held_items_and_with_it_different_ones(
    office: Office, settings: Settings, clock: FixedClock
) -> None:
    await held(office, 6, first=0, signing_up=True)
    engines = [create_engine(settings) for _ in range(2)]
    try:
        first, second = [create_session_factory(own) for own in engines]
        for lock in (False, True):
            async with first() as one, second() as other, one.begin(), other.begin():
                mine = [
                    row.id
                    for row in await unclaimed.held_for_claims(
                        one, settings, citizen_ids=None, after_id=0, now=clock.now(), lock=lock
                    )
                ]
                theirs = [
                    row.id
                    for row in await unclaimed.held_for_claims(
                        other, settings, citizen_ids=None, after_id=0, now=clock.now(), lock=lock
                    )
                ]
            if lock:
                assert len(mine) == len(theirs) == 3
                assert not set(mine) & set(theirs)
            else:
                assert mine == theirs  # the race: both would pay these three
    finally:
        for own in engines:
            await own.dispose()


async def test_two_workers_claim_or_return_each_held_payment_once(
    office: Office, settings: Settings, clock: FixedClock, sessions: async_sessionmaker[AsyncSession]
) -> None:
    stale, _ = await held(office, 8, first=0, signing_up=False)
    async with sessions.begin() as session:  # as if held 91 days ago
        await session.execute(
            update(Item).where(Item.batch_id == stale).values(held_at=clock.now() - timedelta(days=91))
        )
    fresh, wallets = await held(office, 8, first=100, signing_up=True)

    machines = [bootstrap.build(settings, clock) for _ in range(2)]
    try:
        again = [disbursement.wallet_opened_handler(own.units, settings, clock) for own in machines]
        jobs = [own.settle_unclaimed() for own in machines]
        deliveries = [
            again[number % 2]({"citizen_id": f"0462030{100 + number:05d}"}, "again") for number in range(len(wallets))
        ]
        ran = await asyncio.gather(*jobs, *deliveries)
        settled = [run for run in ran if isinstance(run, disbursement.Settled)]
    finally:
        for own in machines:
            await own.close()

    assert sum(run.returned for run in settled) == 8
    for number, wallet in enumerate(wallets):
        assert await office.api.balance(wallet) == 1_000_000 + number
    stale_report, fresh_report = await office.report(stale), await office.report(fresh)
    assert (stale_report["returned"], stale_report["held_unclaimed"]) == ((8, 8_000_028), (0, 0))
    assert (fresh_report["claimed"], fresh_report["held_unclaimed"]) == ((8, 8_000_028), (0, 0))
    programmes = (await office.api.client.get("/programmes", headers=office.maker.headers)).json()
    assert [(row["funded_vnd"], row["unclaimed_vnd"]) for row in programmes] == [
        (100_000_000, 0),
        (100_000_000 - 8_000_028, 0),
    ]
    async with sessions() as session:  # the returned are forgotten, the claimed stay paid
        assert await session.scalar(select(func.count()).select_from(Payment)) == 8
