"""Paying approved batches: the "disbursement" worker job, chunk by chunk, to wallets, then bank items in files.

Each chunk is one transaction that does everything or nothing: it claims up to ``disbursement_chunk_size``
queued items (``FOR UPDATE SKIP LOCKED``, so two workers share one batch without waiting on each other's rows),
inserts one ``Payment`` per item under the UNIQUE (programme, period, citizen ID) constraint, draws the paid
items' money from the batch's hold in one bulk posting (``ledger.draw_hold``), and marks the items paid. A worker
killed mid-chunk leaves the chunk as it was (queued, unpaid), for the next run; an item whose beneficiary was
paid for that programme and period by another batch already fails with ``already_paid`` rather than being paid
twice. When no item is left queued, the batch ends: its hold's remainder (failed items' money) goes back to the
programme's funding and it is ``completed``; or, if it has bank items, it waits as ``awaiting_bank`` with their
money still held, and ``bank_files`` sends them in pain.001 files, per destination bank. An unclaimed item (no
wallet, no bank account) is paid like a wallet item but into the programme's claims account, where it waits for a
wallet (``disbursement.unclaimed``).

SQLite has no ``SKIP LOCKED`` and one writer at a time: there the workers simply take turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.clock import Clock
from civicpay.db import UnitsOfWork, table_of
from civicpay.settings import Settings
from disbursement import bank_files, programmes, progress, unclaimed
from disbursement.models import ITEM_REFERENCE, Batch, BatchStatus, Destination, Item, ItemStatus, Programme
from wallet import ledger

_item = table_of(Item)

# Only a queued item changes: the claim's lock already ensures it, and this would keep a paid item paid if not.
_MARK_PAID = (
    update(_item)
    .where(_item.c.id == bindparam("item"), _item.c.status == ItemStatus.QUEUED.value)
    .values(status=ItemStatus.PAID_TO_WALLET.value, transfer_id=bindparam("transfer"), paid_at=bindparam("at"))
)
# PostgreSQL: the same, for a whole chunk in one statement rather than one execution per item.
_MARK_PAID_UNNEST = text(
    "UPDATE disbursement_item SET status = 'paid_to_wallet', transfer_id = p.transfer,"
    " paid_at = CAST(:at AS timestamptz)"
    " FROM unnest(CAST(:items AS bigint[]), CAST(:transfers AS bigint[])) AS p(item, transfer)"
    " WHERE disbursement_item.id = p.item AND disbursement_item.status = 'queued'"
)
_MARK_FAILED = (
    update(_item)
    .where(_item.c.id == bindparam("item"), _item.c.status == ItemStatus.QUEUED.value)
    .values(status=ItemStatus.FAILED.value, failure=bindparam("why"))
)


@dataclass
class Executed:
    """What one run of the job did: items paid and failed, and the batches it ended."""

    paid: int = 0
    failed: int = 0
    held: int = 0  # unclaimed items whose money now waits in the claims account
    chunks: int = 0
    finished: list[int] = field(default_factory=list)
    files: int = 0  # bank payout files written (disbursement.bank_files)


async def run(
    units: UnitsOfWork, settings: Settings, clock: Clock, *, most_chunks: int | None = None, batch_id: int | None = None
) -> Executed:
    """Pay every approved batch (or one), chunk after chunk, and end those with nothing left queued.

    ``most_chunks``: stop after that many chunks (a command's or a test's way to run part of a batch).
    """
    done = Executed()
    async with units() as unit:
        wanted = select(Batch.id).where(Batch.status == BatchStatus.APPROVED.value).order_by(Batch.id)
        if batch_id is not None:
            wanted = wanted.where(Batch.id == batch_id)
        batch_ids = list((await unit.session.scalars(wanted)).all())
    for batch in batch_ids:
        while most_chunks is None or done.chunks < most_chunks:
            async with units() as unit:
                paid, failed, held = await pay_chunk(unit.session, settings, batch, now=clock.now())
                if paid + failed + held:  # the batch's live page (disbursement.progress), told once the chunk commits
                    await progress.announce(unit.session, batch)
            if paid + failed + held == 0:
                break
            done.paid, done.failed, done.chunks = done.paid + paid, done.failed + failed, done.chunks + 1
            done.held += held
        else:  # the chunks allowed ran out before the batch did: leave it for the next run
            return done
        async with units() as unit:
            if await finish(unit.session, batch, now=clock.now()):
                await progress.announce(unit.session, batch)  # its page shows it ended
                done.finished.append(batch)
    # Bank items go out in pain.001 files, per destination bank, once their batch's wallet items are done.
    done.files = await bank_files.send_pending(units, settings, clock, batch_id=batch_id)
    return done


async def _mark_paid(session: AsyncSession, paid: list[tuple[int, int]], *, now: datetime) -> None:
    """Items paid to their wallets, each with its transfer: one statement from arrays on PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        items, transfers = zip(*paid, strict=True)
        await session.execute(_MARK_PAID_UNNEST, {"at": now, "items": list(items), "transfers": list(transfers)})
    else:
        await session.execute(_MARK_PAID, [{"item": item, "transfer": transfer, "at": now} for item, transfer in paid])


async def pay_chunk(session: AsyncSession, settings: Settings, batch_id: int, *, now: datetime) -> tuple[int, int, int]:
    """Claim and pay one chunk of a batch's queued wallet and unclaimed items; (paid, failed, held), all 0 when
    none is left to claim."""
    batch = await session.get(Batch, batch_id)
    if batch is None or batch.status != BatchStatus.APPROVED or batch.hold_id is None:
        return 0, 0, 0
    claimed = await claim(session, batch_id, settings.disbursement_chunk_size)
    if not claimed:
        return 0, 0, 0
    programme = await programmes.get(session, batch.programme_id)
    # The UNIQUE (programme, period, citizen) constraint, not a look first, decides who has been paid already.
    first_time = await programmes.first_payments(session, programme.id, claimed, now=now)
    paying = [item for item in claimed if item.id in first_time]
    if paying:
        category = programmes.category_of(programme.kind)
        entries = [
            ledger.EntrySpec(
                transfers=[
                    ledger.TransferSpec(
                        debit_account_id=programme.funding_account_id,
                        credit_account_id=_credited(programme, item),
                        amount_vnd=item.amount_vnd,
                        category=category,
                        reference=ITEM_REFERENCE.encode(item.id),
                        # What the beneficiary's wallet history shows under the programme's name.
                        metadata={"memo": unclaimed.memo(programme.name, item.period), "batch_id": batch_id},
                    )
                ],
                description=f"disbursement {ITEM_REFERENCE.encode(item.id)}",
            )
            for item in paying
        ]
        posted = await ledger.draw_hold(session, batch.hold_id, entries, now=now)
        marks: dict[bool, list[tuple[int, int]]] = {True: [], False: []}  # (item, transfer) by "held as unclaimed"
        for item, entry in zip(paying, posted, strict=True):
            marks[item.destination == Destination.UNCLAIMED].append((item.id, entry.transfer_ids[0]))
        if marks[False]:
            await _mark_paid(session, marks[False], now=now)
        if marks[True]:
            await session.execute(
                unclaimed.MARK_HELD, [{"item": item, "transfer": transfer, "at": now} for item, transfer in marks[True]]
            )
    failing = [{"item": item.id, "why": "already_paid"} for item in claimed if item.id not in first_time]
    if failing:
        await session.execute(_MARK_FAILED, failing)
    held_count = sum(item.destination == Destination.UNCLAIMED for item in paying)
    return len(paying) - held_count, len(failing), held_count


def _credited(programme: Programme, item: Row[Any, Any, Any, Any, Any, Any]) -> int:
    """Where an item's money goes: its wallet, or for an unclaimed one the programme's claims account."""
    account = programme.claims_account_id if item.destination == Destination.UNCLAIMED else item.wallet_account_id
    assert account is not None  # noqa: S101 - a wallet item has its wallet; approval opens the claims account
    return int(account)


async def claim(
    session: AsyncSession, batch_id: int, size: int, *, lock: bool = True
) -> Sequence[Row[Any, Any, Any, Any, Any, Any]]:
    """Up to ``size`` of the batch's queued items, locked until this transaction ends; items another worker
    has locked are skipped, not waited for, so two workers take different chunks. ``lock=False`` only shows,
    in a test, the race this prevents."""
    query = (
        select(
            _item.c.id,
            _item.c.citizen_id,
            _item.c.period,
            _item.c.amount_vnd,
            _item.c.wallet_account_id,
            _item.c.destination,
        )
        .where(_item.c.batch_id == batch_id, _item.c.status == ItemStatus.QUEUED.value)
        .order_by(_item.c.id)
        .limit(max(1, size))
    )
    return (await session.execute(query.with_for_update(skip_locked=True) if lock else query)).all()


async def finish(session: AsyncSession, batch_id: int, *, now: datetime) -> bool:
    """End a batch with nothing queued: release the hold's rest, or wait for the bank items; True if it ended.

    The batch is locked and re-checked, so of two workers finishing at once one ends it and the other sees it
    ended; items another worker is still paying are still queued to this transaction, so it waits for them.
    """
    batch = await session.scalar(
        select(Batch).where(Batch.id == batch_id).with_for_update().execution_options(populate_existing=True)
    )
    if batch is None or batch.status != BatchStatus.APPROVED or batch.hold_id is None:
        return False
    queued = await session.scalar(
        select(func.count()).where(_item.c.batch_id == batch_id, _item.c.status == ItemStatus.QUEUED.value)
    )
    if queued:
        return False
    if batch.bank_count:
        # The bank items' money stays held for the bank payout files; the batch ends when they are paid.
        batch.status = BatchStatus.AWAITING_BANK.value
    else:
        batch.released_vnd = await ledger.release_hold(session, batch.hold_id, now=now)
        batch.status, batch.finished_at = BatchStatus.COMPLETED.value, now
    await session.flush()
    return True
