"""Bulk posting: a chunk of entries (thousands of welfare credits, say) in a few statements.

Posting 600,000 credits one ``post_entry`` at a time costs some five round trips each. Here a chunk
of entries is written with the same effects as posting them one by one, in order, but in a handful
of statements: on PostgreSQL one ``INSERT … SELECT FROM unnest(…)`` writes the chunk's entries,
transfers and postings together (the postings made from the very transfer rows inserted, so they
cannot disagree with them); on SQLite ``executemany``. The accounts the chunk can lower (the funding
account) are locked once, as ``lock_accounts`` always does, checked against the chunk's sum and
updated once by it; those it only raises (the wallets) get their money as ``BalanceIncrease`` rows,
one per account per chunk, exactly as a single entry does.

The database stands behind this path as behind the single one: each entry must balance at commit (the
deferred trigger, PostgreSQL), no account overdraws (the CHECK on its row), money rows are only ever
inserted. A chunk is one transaction's work: a refusal anywhere refuses the whole chunk.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.errors import Text
from wallet.ledger import spending
from wallet.ledger.errors import InvalidTransfer
from wallet.ledger.service import (
    _INSERT_INCREASES,
    _INSERT_POSTINGS,
    _INSERT_TRANSFERS,
    LockedBalances,
    PostedEntry,
    TransferSpec,
    _apply,
    _check_limits,
    _Delta,
    _entry,
    _lock_for,
    _Locks,
    _validate,
    counting,
)


@dataclass(frozen=True, slots=True)
class EntrySpec:
    """One entry of a chunk: its transfers commit and balance together, as one ``post_entry`` call's do."""

    transfers: Sequence[TransferSpec]
    description: str


def chunk_deltas(entries: Sequence[EntrySpec]) -> dict[int, _Delta]:
    """What the chunk adds to each account, every transfer validated first (nothing is written before)."""
    if not entries:
        raise InvalidTransfer(Text("Không có bút toán nào để ghi", "A chunk needs at least one entry"))
    deltas: dict[int, _Delta] = defaultdict(_Delta)
    for entry in entries:
        if not entry.transfers:
            raise InvalidTransfer(Text("Bút toán không có giao dịch nào", "An entry needs at least one transfer"))
        for spec in entry.transfers:
            _validate(spec)
            deltas[spec.debit_account_id].debits_posted += spec.amount_vnd
            deltas[spec.credit_account_id].credits_posted += spec.amount_vnd
    return deltas


async def post_entries(
    session: AsyncSession,
    entries: Sequence[EntrySpec],
    *,
    now: datetime,
    locked: LockedBalances | None = None,
) -> list[PostedEntry]:
    """Write a chunk of balanced entries at once; returns them in the order given, with their transfers'.

    The same rows and balances as ``post_entry`` called once per entry, in order, in this transaction;
    an overdraft anywhere in the chunk refuses all of it (``InsufficientFunds``), before any row is
    written. ``locked``: as for ``post_entry``, what the caller's ``lock_accounts`` returned.
    """
    deltas = chunk_deltas(entries)
    locks = await _lock_for(session, deltas, locked)
    _check_limits(locks.locked, {account: deltas[account] for account in locks.locked.keys() & deltas.keys()})
    return await write_entries(session, entries, now=now, hold_id=None, deltas=deltas, locks=locks)


async def write_entries(
    session: AsyncSession,
    entries: Sequence[EntrySpec],
    *,
    now: datetime,
    hold_id: int | None,
    deltas: Mapping[int, _Delta],
    locks: _Locks,
    released: Iterable[spending.Sent] = (),
) -> list[PostedEntry]:
    """The chunk's rows, its accounts' balances and spending totals (less what ``released`` stops counting)."""
    if session.get_bind().dialect.name == "postgresql":
        posted = await _insert_with_unnest(session, entries, now=now, hold_id=hold_id)
    else:
        posted = await _insert_many(session, entries, now=now, hold_id=hold_id)
    in_rows, increases = locks.write(deltas)
    await _apply(session, in_rows)
    if increases:
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(
                _UNNEST_INCREASES,
                {
                    "accounts": [row["account_id"] for row in increases],
                    "kinds": [row["account_kind"] for row in increases],
                    "sides": [row["side"] for row in increases],
                    "amounts": [row["amount_vnd"] for row in increases],
                },
            )
        else:
            await session.execute(_INSERT_INCREASES, increases)
    keeps_totals = counting(locks.locked, deltas)
    sent = [
        spending.Sent(spec.debit_account_id, spec.amount_vnd, spec.category.value, now)
        for entry in entries
        for spec in entry.transfers
        if keeps_totals[spec.debit_account_id]
    ]
    await spending.count(session, keeps_totals, [*released, *sent])
    return posted


def _shape(entries: Sequence[EntrySpec], entry_ids: Sequence[int], transfer_ids: Sequence[int]) -> list[PostedEntry]:
    """Hand the ids out in the chunk's order: its first entry the first id, as one-by-one posting would."""
    posted, transfers = [], iter(transfer_ids)
    for entry_id, entry in zip(entry_ids, entries, strict=True):
        posted.append(PostedEntry(entry_id=entry_id, transfer_ids=tuple(next(transfers) for _ in entry.transfers)))
    return posted


# Ids first, so the rows can be written in one statement and each caller's item told its own: a
# RETURNING clause promises no order, but sorted draws from the sequences do (ascending, as one by one).
_NEXT_IDS = text(
    "SELECT ARRAY(SELECT nextval(pg_get_serial_sequence('ledger_entry', 'id')) FROM generate_series(1, :entries)),"
    " ARRAY(SELECT nextval(pg_get_serial_sequence('ledger_transfer', 'id')) FROM generate_series(1, :transfers))"
)
# One statement: the entries, their transfers, and each transfer's debit and credit postings made from the
# transfer rows just written. The foreign keys from transfers to entries are checked at its end, when both exist.
_UNNEST_CHUNK = text(
    """
WITH entries AS (
    INSERT INTO ledger_entry (id, description, created_at)
    SELECT id, description, CAST(:now AS timestamptz)
    FROM unnest(CAST(:entry_ids AS bigint[]), CAST(:descriptions AS text[])) AS e(id, description)
), transfers AS (
    INSERT INTO ledger_transfer (id, entry_id, debit_account_id, credit_account_id, amount_vnd, category,
                                 reference, metadata, hold_id, created_at)
    SELECT id, entry_id, debit, credit, amount, category, reference, CAST(metadata AS json),
           CAST(:hold_id AS bigint), CAST(:now AS timestamptz)
    FROM unnest(CAST(:transfer_ids AS bigint[]), CAST(:transfer_entries AS bigint[]), CAST(:debits AS bigint[]),
                CAST(:credits AS bigint[]), CAST(:amounts AS bigint[]), CAST(:categories AS text[]),
                CAST(:references AS text[]), CAST(:metadata AS text[]))
        AS t(id, entry_id, debit, credit, amount, category, reference, metadata)
    RETURNING id, entry_id, debit_account_id, credit_account_id, amount_vnd, category, created_at
)
INSERT INTO ledger_posting (entry_id, transfer_id, account_id, side, amount_vnd, category, created_at)
SELECT t.entry_id, t.id, CASE s.side WHEN 'D' THEN t.debit_account_id ELSE t.credit_account_id END, s.side,
       t.amount_vnd, t.category, t.created_at
FROM transfers t CROSS JOIN (VALUES ('D'), ('C')) AS s(side)
ORDER BY t.id, s.side DESC
"""
)
_UNNEST_INCREASES = text(
    """
INSERT INTO ledger_balance_increase (account_id, account_kind, side, amount_vnd)
SELECT * FROM unnest(CAST(:accounts AS bigint[]), CAST(:kinds AS text[]), CAST(:sides AS text[]),
                     CAST(:amounts AS bigint[]))
"""
)


def _metadata(spec: TransferSpec) -> str:
    # As SQLAlchemy's JSON type writes it on the single path, so both paths store the same text.
    return json.dumps(dict(spec.metadata))


async def _insert_with_unnest(
    session: AsyncSession, entries: Sequence[EntrySpec], *, now: datetime, hold_id: int | None
) -> list[PostedEntry]:
    specs = [spec for entry in entries for spec in entry.transfers]
    drawn = (await session.execute(_NEXT_IDS, {"entries": len(entries), "transfers": len(specs)})).one()
    entry_ids, transfer_ids = sorted(drawn[0]), sorted(drawn[1])
    await session.execute(
        _UNNEST_CHUNK,
        {
            "now": now,
            "hold_id": hold_id,
            "entry_ids": entry_ids,
            "descriptions": [entry.description[:200] for entry in entries],
            "transfer_ids": transfer_ids,
            "transfer_entries": [
                entry_id for entry_id, entry in zip(entry_ids, entries, strict=True) for _ in entry.transfers
            ],
            "debits": [spec.debit_account_id for spec in specs],
            "credits": [spec.credit_account_id for spec in specs],
            "amounts": [spec.amount_vnd for spec in specs],
            "categories": [spec.category.value for spec in specs],
            "references": [spec.reference for spec in specs],
            "metadata": [_metadata(spec) for spec in specs],
        },
    )
    return _shape(entries, entry_ids, transfer_ids)


_INSERT_ENTRIES = _entry.insert().returning(_entry.c.id, sort_by_parameter_order=True)


async def _insert_many(
    session: AsyncSession, entries: Sequence[EntrySpec], *, now: datetime, hold_id: int | None
) -> list[PostedEntry]:
    """SQLite: ``executemany`` (one writer at a time there, so no lock is lost by the extra statements)."""
    entry_ids = (
        await session.scalars(
            _INSERT_ENTRIES, [{"description": entry.description[:200], "created_at": now} for entry in entries]
        )
    ).all()
    transfer_rows = [
        {
            "entry_id": entry_id,
            "debit_account_id": spec.debit_account_id,
            "credit_account_id": spec.credit_account_id,
            "amount_vnd": spec.amount_vnd,
            "category": spec.category.value,
            "reference": spec.reference,
            "metadata": dict(spec.metadata),
            "hold_id": hold_id,
            "created_at": now,
        }
        for entry_id, entry in zip(entry_ids, entries, strict=True)
        for spec in entry.transfers
    ]
    transfer_ids = (await session.scalars(_INSERT_TRANSFERS, transfer_rows)).all()
    posting_rows: list[dict[str, Any]] = [
        {
            "entry_id": row["entry_id"],
            "transfer_id": transfer_id,
            "account_id": row[f"{side}_account_id"],
            "side": side[0].upper(),
            "amount_vnd": row["amount_vnd"],
            "category": row["category"],
            "created_at": now,
        }
        for transfer_id, row in zip(transfer_ids, transfer_rows, strict=True)
        for side in ("debit", "credit")
    ]
    await session.execute(_INSERT_POSTINGS, posting_rows)
    return _shape(entries, entry_ids, transfer_ids)
