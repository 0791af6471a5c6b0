"""Two workers paying one welfare batch at once (PostgreSQL): they share its chunks, each beneficiary is paid once.

First the race the claim prevents: two workers reading a batch's queued items without it both take the same
chunk (and the second, finding the payments made, would call them failed though they were paid). Then the
claim: ``SKIP LOCKED`` gives them different chunks. Then the real thing: two workers, each a machine of its own
(its own services, so its own connection pool), as two `civicpay worker` processes would be; the hold's row lock
makes their draws take turns, and the payments' UNIQUE constraint would refuse a second payment if anything else
let one through.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import disbursement
from civicpay import bootstrap
from civicpay.clock import FixedClock
from civicpay.db import create_engine, create_session_factory
from civicpay.settings import Settings
from disbursement import execution
from disbursement.models import Item, ItemStatus, Payment
from tests.programme_office import Office, approved
from wallet import ledger

pytestmark = pytest.mark.postgres_only
PEOPLE = 30


async def test_without_the_claim_two_workers_take_the_same_chunk_and_with_it_different_ones(
    office: Office, settings: Settings
) -> None:
    batch_id, _ = await approved(office, 6)
    engines = [create_engine(settings) for _ in range(2)]
    try:
        first, second = [create_session_factory(own) for own in engines]
        for lock in (False, True):
            async with first() as one, second() as other, one.begin(), other.begin():
                mine = [row.id for row in await execution.claim(one, batch_id, 3, lock=lock)]
                theirs = [row.id for row in await execution.claim(other, batch_id, 3, lock=lock)]
            if lock:
                assert len(mine) == len(theirs) == 3
                assert not set(mine) & set(theirs)
            else:
                assert mine == theirs  # the race: both would pay these three
    finally:
        for own in engines:
            await own.dispose()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"disbursement_chunk_size": 3}


async def test_two_workers_share_a_batch_and_pay_each_beneficiary_once(
    office: Office, settings: Settings, clock: FixedClock, sessions: async_sessionmaker[AsyncSession]
) -> None:
    batch_id, people = await approved(office, PEOPLE)

    machines = [bootstrap.build(settings, clock) for _ in range(2)]
    try:
        runs = await asyncio.gather(
            *(disbursement.run_disbursements(own.units, own.settings, own.clock) for own in machines)
        )
    finally:
        for own in machines:
            await own.close()

    assert sum(run.paid for run in runs) == PEOPLE
    assert sum(run.failed for run in runs) == 0
    assert all(run.chunks > 0 for run in runs), [run.chunks for run in runs]  # both did some of it
    assert sum(len(run.finished) for run in runs) == 1  # one of them ended it
    for number, who in enumerate(people):
        assert await office.api.balance(who.citizen) == 1_000_000 + number
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Payment)) == PEOPLE
        paid = await session.scalar(select(func.count()).where(Item.status == ItemStatus.PAID_TO_WALLET.value))
        assert paid == PEOPLE
        hold = await session.scalar(select(ledger.Hold).order_by(ledger.Hold.id.desc()))
        assert hold is not None
        assert (hold.status, hold.posted_vnd) == ("posted", hold.amount_vnd)
    assert (await office.batch(batch_id))["status"] == "completed"
