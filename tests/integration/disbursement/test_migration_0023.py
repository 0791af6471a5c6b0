"""Migration 0023 on a database with disbursement items in it: every item and payment kept, not flagged, and the
item's state CHECK widened (SQLite rebuilds the table under the payments that point at its rows); and back.

Foreign keys are not checked while the rows go in: what they point at (programmes, users, ledger rows) plays no
part in this migration.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from civicpay.db import alembic_config
from tests.conftest import ON_POSTGRES
from tests.migrations import database_at

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
ITEM = (
    "INSERT INTO disbursement_item (id, batch_id, row, citizen_id, full_name, amount_vnd, period, destination,"
    " bank_bin, account_number, holder_name, status, problems) VALUES (:id, 1, :row, '046100000001', 'LE VAN TAM',"
    " 1000000, '2026-12', :destination, '970436', '1012345678', 'LE VAN TAM', :status, '[]')"
)


@pytest.fixture
async def url_at_0021(tmp_path: Path) -> AsyncIterator[str]:
    async with database_at("0021", tmp_path) as url:
        yield url


async def _execute(url: str, *statements: tuple[str, dict[str, Any]]) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            if ON_POSTGRES:
                await connection.execute(text("SET LOCAL session_replication_role = replica"))
            for statement, values in statements:
                await connection.execute(text(statement), values)
    finally:
        await engine.dispose()


async def _read(url: str, query: str) -> list[tuple[Any, ...]]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        rows = [tuple(row) for row in await connection.execute(text(query))]
    await engine.dispose()
    return rows


async def test_0023_keeps_every_item_and_payment_and_admits_the_bank_states(url_at_0021: str) -> None:
    await _execute(
        url_at_0021,
        (ITEM, {"id": 1, "row": 2, "destination": "wallet", "status": "paid_to_wallet"}),
        (ITEM, {"id": 2, "row": 3, "destination": "bank", "status": "pending_bank"}),
        (
            "INSERT INTO disbursement_payment (id, programme_id, period, citizen_id, item_id, created_at)"
            " VALUES (1, 1, '2026-12', '046100000001', 1, :now)",
            {"now": NOW},
        ),
    )

    await asyncio.to_thread(command.upgrade, alembic_config(url_at_0021), "0023")

    items = await _read(url_at_0021, "SELECT id, status, follow_up, payout_file_id FROM disbursement_item ORDER BY id")
    assert [(id_, status, bool(flag), file) for id_, status, flag, file in items] == [
        (1, "paid_to_wallet", False, None),
        (2, "pending_bank", False, None),
    ]
    assert await _read(url_at_0021, "SELECT item_id FROM disbursement_payment") == [(1,)]
    await _execute(url_at_0021, ("UPDATE disbursement_item SET status = 'sent_to_bank' WHERE id = 2", {}))
    with pytest.raises(IntegrityError):
        await _execute(url_at_0021, ("UPDATE disbursement_item SET status = 'lost' WHERE id = 2", {}))

    await _execute(url_at_0021, ("UPDATE disbursement_item SET status = 'pending_bank' WHERE id = 2", {}))
    await asyncio.to_thread(command.downgrade, alembic_config(url_at_0021), "0021")
    assert await _read(url_at_0021, "SELECT id, status FROM disbursement_item ORDER BY id") == [
        (1, "paid_to_wallet"),
        (2, "pending_bank"),
    ]
    await asyncio.to_thread(command.upgrade, alembic_config(url_at_0021), "0023")
