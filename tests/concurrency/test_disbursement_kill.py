"""A real `civicpay disburse run` process killed mid-batch (SIGKILL: no cleanup, a chunk perhaps half done), then
started again: the batch finishes with every beneficiary paid exactly once and nobody missed (PostgreSQL).

The kill comes the moment the first chunk's commit is announced (the batch page's ``pg_notify``, heard on a
connection of the test's own), so the process dies with most of the batch still queued and, as likely as not,
inside the next chunk's transaction. PostgreSQL rolls that transaction back when the connection drops: its items
are queued again, their money still in the hold, and the payments' UNIQUE constraint would refuse a second payment
if anything let one through.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, make_url, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.events import PG_CHANNEL
from disbursement.models import Item, ItemStatus, Payment
from tests.programme_office import Office, approved
from tests.shell import SECRETS_ENVIRONMENT
from wallet import ledger

pytestmark = pytest.mark.postgres_only
ROOT = Path(__file__).resolve().parents[2]
PEOPLE = 80  # within the 100.000.000 ₫ `approved` funds; 20 chunks
CHUNK = 4
# Far beyond what starting a process and paying a chunk takes; reached only when something is wrong.
PROCESS_SECONDS = 60


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"disbursement_chunk_size": CHUNK}


async def _paid(sessions: async_sessionmaker[AsyncSession], batch_id: int) -> int:
    async with sessions() as session:
        found = await session.scalar(
            select(func.count()).where(Item.batch_id == batch_id, Item.status == ItemStatus.PAID_TO_WALLET.value)
        )
    return found or 0


async def _disburse(database_url: str, batch_id: int) -> asyncio.subprocess.Process:
    """`civicpay disburse run --batch ID` as an operator starts it: a process of its own, this test's database."""
    environment = {
        **os.environ,
        **SECRETS_ENVIRONMENT,
        "CIVICPAY_DATABASE_URL": database_url,
        "CIVICPAY_DISBURSEMENT_CHUNK_SIZE": str(CHUNK),
        "PYTHONPATH": str(ROOT),
    }
    return await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "civicpay", "disburse", "run", "--batch", str(batch_id)],
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_a_worker_killed_mid_batch_then_started_again_pays_everyone_exactly_once(
    office: Office, sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    batch_id, people = await approved(office, PEOPLE)
    listener = await asyncpg.connect(make_url(database_url).set(drivername="postgresql").render_as_string(False))
    chunk_committed = asyncio.Event()
    await listener.add_listener(PG_CHANNEL, lambda *_: chunk_committed.set())
    try:
        first = await _disburse(database_url, batch_id)
        try:
            await asyncio.wait_for(chunk_committed.wait(), PROCESS_SECONDS)
        finally:
            first.kill()  # SIGKILL
            await first.wait()
    finally:
        await listener.close()

    killed_at = await _paid(sessions, batch_id)
    assert 0 < killed_at < PEOPLE, killed_at  # it died mid-batch

    second = await _disburse(database_url, batch_id)
    _, stderr = await asyncio.wait_for(second.communicate(), PROCESS_SECONDS)
    assert second.returncode == 0, stderr.decode()

    for number, who in enumerate(people):
        assert await office.api.balance(who.citizen) == 1_000_000 + number  # paid, once
    assert await _paid(sessions, batch_id) == PEOPLE
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Payment)) == PEOPLE
        hold = await session.scalar(select(ledger.Hold).order_by(ledger.Hold.id.desc()))
        assert hold is not None
        assert (hold.status, hold.posted_vnd) == ("posted", hold.amount_vnd)
        assert await ledger.check_invariants(session) == []
    assert (await office.batch(batch_id))["status"] == "completed"
