"""Holds: money reserved now and moved later (posted in whole or part), or given back (void, expiry).

A hold may also be drawn from many times (``draw_hold``): a batch reserves its whole total once, and
workers post chunk after chunk against it, the rest still held, until ``release_hold`` gives back what
is left. What has been drawn is the hold's ``posted_vnd``, which its CHECK keeps within the amount
reserved, so the database refuses an over-draw; what is still held is ``amount_vnd - posted_vnd``.

Part of the ledger, so it uses the ledger's own internals from ``service``; every hold operation
locks the hold first and then its accounts in primary-key order, the order ``expire_holds`` keeps too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.errors import Text
from civicpay.money import Category, format_vnd
from wallet.ledger import spending
from wallet.ledger.bulk import EntrySpec, chunk_deltas, write_entries
from wallet.ledger.errors import HoldAlreadyFinal, HoldExpired, HoldNotFound, InvalidTransfer
from wallet.ledger.models import Hold, HoldStatus
from wallet.ledger.service import (
    LockedBalances,
    PostedEntry,
    TransferSpec,
    _apply,
    _check_limits,
    _Delta,
    _lock_for,
    _Locks,
    _validate,
    _write_entry,
    counting,
    lock_accounts,
)


async def hold(
    session: AsyncSession,
    spec: TransferSpec,
    *,
    now: datetime,
    expires_at: datetime | None,
    locked: LockedBalances | None = None,
) -> int:
    """Reserve money: available balance drops now, the posted balance only when the hold is posted."""
    _validate(spec)
    deltas: dict[int, _Delta] = {
        spec.debit_account_id: _Delta(debits_pending=spec.amount_vnd),
        spec.credit_account_id: _Delta(credits_pending=spec.amount_vnd),
    }
    # A hold changes pending totals, never only raising a balance, so both its accounts are locked.
    touched = (await _lock_for(session, deltas, locked)).locked
    _check_limits(touched, deltas)
    hold_id: int = (
        await session.execute(
            insert(Hold)
            .values(
                debit_account_id=spec.debit_account_id,
                credit_account_id=spec.credit_account_id,
                amount_vnd=spec.amount_vnd,
                posted_vnd=0,
                category=spec.category.value,
                reference=spec.reference,
                metadata_=dict(spec.metadata),
                status=HoldStatus.PENDING.value,
                expires_at=expires_at,
                created_at=now,
            )
            .returning(Hold.id)
        )
    ).scalar_one()
    await _apply(session, deltas)
    sent = spending.Sent(spec.debit_account_id, spec.amount_vnd, spec.category.value, now)
    await spending.count(session, counting(touched, deltas), [sent])
    return hold_id


async def _lock_pending_hold(session: AsyncSession, hold_id: int) -> Hold:
    # populate_existing: a Hold already in the session must not keep the status read before the lock.
    found = await session.scalar(
        select(Hold).where(Hold.id == hold_id).with_for_update().execution_options(populate_existing=True)
    )
    if found is None:
        raise HoldNotFound()
    if found.status != HoldStatus.PENDING:
        raise HoldAlreadyFinal(
            Text(f"Khoản tạm giữ đã ở trạng thái {found.status}", f"The hold is already {found.status}"),
            hold_status=found.status,
        )
    return found


def _held(found: Hold) -> int:
    """What a pending hold still reserves: its amount less what has been drawn from it."""
    return found.amount_vnd - found.posted_vnd


def _stop_counting(holds: Iterable[Hold], amount_vnd: int | None = None) -> list[spending.Sent]:
    """A pending hold counted as sent in the period it was made; released (all it holds, or
    ``amount_vnd`` of it), that much no longer does."""
    return [
        spending.Sent(
            found.debit_account_id,
            -(_held(found) if amount_vnd is None else amount_vnd),
            found.category,
            found.created_at,
        )
        for found in holds
    ]


def _release(holds: Iterable[Hold], amount_vnd: int | None = None) -> dict[int, _Delta]:
    """Pending totals less what the holds still reserve (or ``amount_vnd`` of it)."""
    deltas: dict[int, _Delta] = defaultdict(_Delta)
    for found in holds:
        released = _held(found) if amount_vnd is None else amount_vnd
        deltas[found.debit_account_id].debits_pending -= released
        deltas[found.credit_account_id].credits_pending -= released
    return deltas


async def post_hold(
    session: AsyncSession, hold_id: int, *, now: datetime, amount_vnd: int | None = None
) -> PostedEntry:
    """Move the held money (all it still holds, or a part, releasing the rest); an expired hold cannot be posted."""
    found = await _lock_pending_hold(session, hold_id)
    if found.expires_at is not None and found.expires_at <= now:
        raise HoldExpired()
    amount = _held(found) if amount_vnd is None else amount_vnd
    _within(found, amount)
    deltas = _release([found])
    deltas[found.debit_account_id].debits_posted += amount
    deltas[found.credit_account_id].credits_posted += amount
    locks = _Locks(await lock_accounts(session, deltas), raised={})
    spec = TransferSpec(
        debit_account_id=found.debit_account_id,
        credit_account_id=found.credit_account_id,
        amount_vnd=amount,
        category=Category(found.category),
        reference=found.reference,
        metadata=found.metadata_,
    )
    posted = await _write_entry(
        session,
        [spec],
        now=now,
        description=f"post hold {hold_id}",
        hold_id=hold_id,
        deltas=deltas,
        locks=locks,
        released=_stop_counting([found]),
    )
    found.status, found.posted_vnd, found.resolved_at = HoldStatus.POSTED.value, found.posted_vnd + amount, now
    await session.flush()
    return posted


def _within(found: Hold, amount_vnd: int) -> None:
    if not 0 < amount_vnd <= _held(found):
        raise InvalidTransfer(
            Text(
                f"Chỉ được ghi nhận từ 1 đến {format_vnd(_held(found))}",
                f"Post between 1 and {format_vnd(_held(found))}",
            ),
            field="amount_vnd",
        )


async def draw_hold(
    session: AsyncSession, hold_id: int, entries: Sequence[EntrySpec], *, now: datetime
) -> list[PostedEntry]:
    """Post a chunk of entries against a hold's reserved money; what is not drawn stays held.

    Every transfer must debit the hold's debit account (the money reserved there); the credits go
    where the entries say (each beneficiary's wallet, say), while the hold's credit account (the
    batch's clearing account, say) only ever had the reservation's pending credit, released here as
    the money is drawn. The hold stays pending, so it can be drawn again, posted or released; the
    hold's row is locked first, so two workers drawing from one hold take turns, and neither can draw
    what the other has. Written as ``post_entries`` writes a chunk, with the same ids returned.
    """
    found = await _lock_pending_hold(session, hold_id)
    if found.expires_at is not None and found.expires_at <= now:
        raise HoldExpired()
    deltas = chunk_deltas(entries)
    if stray := {spec.debit_account_id for entry in entries for spec in entry.transfers} - {found.debit_account_id}:
        raise InvalidTransfer(
            Text(
                f"Khoản tạm giữ chỉ giữ tiền của tài khoản #{found.debit_account_id}, không của #{min(stray)}",
                f"The hold reserves account #{found.debit_account_id}'s money, not #{min(stray)}'s",
            )
        )
    drawn = deltas[found.debit_account_id].debits_posted
    _within(found, drawn)
    for account, delta in _release([found], drawn).items():
        deltas[account].debits_pending += delta.debits_pending
        deltas[account].credits_pending += delta.credits_pending
    # Hold first, then accounts in id order: the order every hold operation keeps.
    locks = await _lock_for(session, deltas, None)
    _check_limits(locks.locked, {account: deltas[account] for account in locks.locked.keys() & deltas.keys()})
    posted = await write_entries(
        session,
        entries,
        now=now,
        hold_id=hold_id,
        deltas=deltas,
        locks=locks,
        released=_stop_counting([found], drawn),
    )
    # Added in SQL, not set from what Python read: so the CHECK (posted_vnd <= amount_vnd) refuses an
    # over-draw even if a bug let two draws past the check above on one reading.
    await session.execute(
        update(Hold).where(Hold.id == hold_id).values(posted_vnd=Hold.posted_vnd + drawn),
        execution_options={"synchronize_session": "fetch"},
    )
    return posted


async def release_hold(session: AsyncSession, hold_id: int, *, now: datetime) -> int:
    """End a hold that was drawn from, giving back what it still holds; returns how much that was.

    The hold ends ``posted`` if anything was drawn (its ``posted_vnd`` says how much), else ``voided``.
    """
    found = await _lock_pending_hold(session, hold_id)
    left = _held(found)
    await _end_holds(session, [found], HoldStatus.POSTED if found.posted_vnd else HoldStatus.VOIDED, now)
    return left


async def _end_holds(session: AsyncSession, holds: Sequence[Hold], status: HoldStatus, now: datetime) -> None:
    """Give locked pending holds' money back to the available balance and close them."""
    deltas = _release(holds)
    locked = await lock_accounts(session, deltas)
    await _apply(session, deltas)
    await spending.count(session, counting(locked, deltas), _stop_counting(holds))
    for found in holds:
        found.status, found.resolved_at = status.value, now
    await session.flush()


async def void_hold(session: AsyncSession, hold_id: int, *, now: datetime) -> None:
    """Give the reserved money back to the available balance."""
    await _end_holds(session, [await _lock_pending_hold(session, hold_id)], HoldStatus.VOIDED, now)


async def expire_holds(session: AsyncSession, *, now: datetime) -> list[int]:
    """Close every pending hold whose time has passed; returns the ids it expired.

    Locks in the order every other hold operation uses, holds (by id) before accounts (by id), so it
    cannot deadlock with a concurrent post or void; holds another transaction has locked are left
    for the next run.
    """
    due = (
        await session.scalars(
            select(Hold)
            .where(Hold.status == HoldStatus.PENDING.value, Hold.expires_at <= now)
            .order_by(Hold.id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    ).all()
    if due:
        await _end_holds(session, due, HoldStatus.EXPIRED, now)
    return [found.id for found in due]
