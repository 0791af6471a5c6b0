"""Two workers paying one welfare batch at once (PostgreSQL): they share its chunks, each beneficiary is paid once.

Each worker is a machine of its own (its own services, so its own connection pool), as two `civicpay worker`
processes would be. ``FOR UPDATE SKIP LOCKED`` hands them different chunks; the hold's row lock makes their
draws take turns; the payments' UNIQUE constraint would refuse a second payment if anything else let one through.
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
from civicpay.settings import Settings
from disbursement.models import Item, ItemStatus, Payment
from tests.programme_office import Office, wallet_row
from wallet import ledger

pytestmark = pytest.mark.postgres_only
PEOPLE = 30


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"disbursement_chunk_size": 3}


async def test_two_workers_share_a_batch_and_pay_each_beneficiary_once(
    office: Office, settings: Settings, clock: FixedClock, sessions: async_sessionmaker[AsyncSession]
) -> None:
    people = [await office.beneficiary(f"Người Nhận Số {chr(65 + number % 26)}") for number in range(PEOPLE)]
    programme = await office.programme()
    await office.fund(programme, 100_000_000)
    batch = await office.uploaded(programme, [wallet_row(who, 1_000_000 + number) for number, who in enumerate(people)])
    assert batch["valid"] == PEOPLE
    assert (await office.approve(batch["id"])).status_code == 200

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
    assert (await office.batch(batch["id"]))["status"] == "completed"
