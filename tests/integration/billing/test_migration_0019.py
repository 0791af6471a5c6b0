"""Migration 0019 on a database with bill payments in it: paid bills paid in full, old payments from wallets.

The database is built at revision 0018 and given the rows a wallet payment of that revision left (a paid
bill, its payment and its one allocation) beside an open bill. Foreign keys are not checked while the rows
go in: what they point at (users, wallets, ledger entries) plays no part in this migration.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from civicpay.db import alembic_config
from tests.conftest import ON_POSTGRES
from tests.migrations import database_at

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
async def url_at_0018(tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own at revision 0018."""
    async with database_at("0018", tmp_path) as url:
        yield url


async def _seed(url: str) -> None:
    engine = create_async_engine(url)
    bill = (
        "INSERT INTO billing_bill (id, biller_id, external_id, customer_code, customer_name, period, amount_vnd,"
        " due_date, lines, status, version, created_at, updated_at, paid_at) VALUES (:id, 1, :external_id,"
        " 'PC03', 'NGUYEN VAN AN', '2026-11', :amount, :due, '[]', :status, 1, :now, :now, :paid_at)"
    )
    async with engine.begin() as connection:
        if ON_POSTGRES:
            # Foreign-key triggers off for this transaction only: the rows they point at are not the subject.
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        for id_, status, paid_at in ((1, "paid", NOW), (2, "open", None)):
            await connection.execute(
                text(bill),
                {
                    "id": id_,
                    "external_id": f"E{id_}",
                    "amount": 100_000,
                    "due": date(2026, 12, 15),
                    "status": status,
                    "now": NOW,
                    "paid_at": paid_at,
                },
            )
        await connection.execute(
            text(
                "INSERT INTO billing_payment (id, user_id, wallet_id, entry_id, amount_vnd, created_at)"
                " VALUES (1, 1, 1, 1, 100000, :now)"
            ),
            {"now": NOW},
        )
        await connection.execute(
            text(
                "INSERT INTO billing_payment_item (id, payment_id, bill_id, amount_vnd, transfer_id)"
                " VALUES (1, 1, 1, 100000, 1)"
            )
        )
    await engine.dispose()


async def _read(url: str, query: str) -> list[tuple[Any, ...]]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        rows = [tuple(row) for row in await connection.execute(text(query))]
    await engine.dispose()
    return rows


async def test_0019_keeps_every_wallet_payment_and_marks_paid_bills_paid_in_full_and_goes_back(
    url_at_0018: str,
) -> None:
    await _seed(url_at_0018)

    await asyncio.to_thread(command.upgrade, alembic_config(url_at_0018), "0019")
    bills = await _read(url_at_0018, "SELECT id, status, amount_paid_vnd FROM billing_bill ORDER BY id")
    payments = await _read(url_at_0018, "SELECT source, user_id, notification_id FROM billing_payment")
    items = await _read(url_at_0018, "SELECT bill_id, sequence FROM billing_payment_item")
    await asyncio.to_thread(command.downgrade, alembic_config(url_at_0018), "0018")
    after_downgrade = await _read(url_at_0018, "SELECT bill_id, amount_vnd FROM billing_payment_item")
    await asyncio.to_thread(command.upgrade, alembic_config(url_at_0018), "0019")

    assert bills == [(1, "paid", 100_000), (2, "open", 0)]
    assert payments == [("wallet", 1, None)]
    assert items == [(1, 1)]
    assert after_downgrade == [(1, 100_000)]
