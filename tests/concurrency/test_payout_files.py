"""Bank payout files under contention (PostgreSQL): two workers writing one batch's files put each item in
exactly one file, and one status report delivered twice at once moves its money once.

The workers each run on services of their own (their own connection pools), as two `civicpay worker`
processes would; the item claim (``SKIP LOCKED``) gives them different chunks and the hold's row lock makes
their draws take turns. The report's file row is locked before its items are read, so the second delivery
waits for the first and finds every item already final.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay import bootstrap
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from disbursement import bank_files, execution
from disbursement.models import Item, ItemStatus, Payment
from sandbox.bank import Bank
from tests.conftest import account_balance
from tests.programme_office import Office, bank_row

pytestmark = pytest.mark.postgres_only
ITEMS = 12


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"disbursement_chunk_size": 3}


async def awaiting_bank(office: Office) -> int:
    """A batch of bank rows only, approved and with its (no) wallet items done: its files not yet written."""
    programme = await office.programme()
    await office.fund(programme, 100_000_000)
    rows = [bank_row(f"0461000001{number:02d}", 1_000_000 + number) for number in range(ITEMS)]
    batch = await office.uploaded(programme, rows)
    assert batch["valid"] == ITEMS
    assert (await office.approve(batch["id"])).status_code == 200
    async with office.services.units() as unit:
        assert await execution.finish(unit.session, batch["id"], now=office.clock.now())
    batch_id: int = batch["id"]
    return batch_id


async def test_two_workers_write_a_batchs_files_and_each_item_goes_in_one(
    office: Office, bank: Bank, settings: Settings, clock: FixedClock, sessions: async_sessionmaker[AsyncSession]
) -> None:
    batch_id = await awaiting_bank(office)

    machines = [bootstrap.build(settings, clock) for _ in range(2)]
    try:
        written = await asyncio.gather(
            *(bank_files.send_pending(own.units, own.settings, own.clock, batch_id=batch_id) for own in machines)
        )
    finally:
        for own in machines:
            await own.close()

    assert sum(written) == ITEMS // 3
    async with sessions() as session:
        per_item = await session.execute(
            select(Item.payout_file_id, func.count()).where(Item.batch_id == batch_id).group_by(Item.payout_file_id)
        )
        assert sorted(count for _file, count in per_item) == [3] * (ITEMS // 3)
        sent = await session.scalar(select(func.count()).where(Item.status == ItemStatus.SENT_TO_BANK.value))
        assert sent == ITEMS
        assert await session.scalar(select(func.count()).select_from(Payment)) == ITEMS
    assert len(bank.payment_files) >= ITEMS // 3
    assert await account_balance(sessions, bank_files.CLEARING) == sum(1_000_000 + n for n in range(ITEMS))


async def test_one_report_delivered_twice_at_once_moves_its_money_once(
    office: Office, bank: Bank, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    batch_id = await awaiting_bank(office)
    await bank_files.send_pending(office.services.units, settings, office.clock, batch_id=batch_id)
    files = (await office.api.client.get(f"/batches/{batch_id}/payout-files", headers=office.maker.headers)).json()
    first = files[0]
    async with httpx.AsyncClient(base_url=settings.bank_api_base) as http:
        report = (await http.post(f"/_sandbox/payment-files/{first['reference']}/report")).json()
    before = await account_balance(sessions, bank_files.CLEARING)

    headers = {"Content-Type": "application/xml", "X-Signature": report["signature"]}
    answers = await asyncio.gather(
        *(
            office.api.client.post("/webhooks/bank/payment-status", content=report["body"].encode(), headers=headers)
            for _ in range(2)
        )
    )

    assert [answer.status_code for answer in answers] == [200, 200]
    assert sorted(answer.json()["confirmed"] for answer in answers) == [0, first["item_count"]]
    assert await account_balance(sessions, bank_files.CLEARING) == before - first["total_vnd"]
