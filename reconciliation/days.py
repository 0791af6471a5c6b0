"""A bank account's business day as the exception queue and day close see it: closed or open, its latest run,
and what earlier days carried into it.

``runs`` stands on this module (a closed day is not run again; carried items join the day's matching), and
``exceptions`` and ``closing`` stand on both; so this one imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.db import table_of
from civicpay.errors import Text
from reconciliation.errors import DayClosed
from reconciliation.matcher import LineRef, MatchResult
from reconciliation.models import (
    AdjustmentStatus,
    DayClose,
    ExceptionKind,
    ExceptionState,
    ReconciliationRun,
    RunException,
    StatementLineRow,
    SuspenseAdjustment,
)
from wallet.ledger import Posting, Transfer

_close = table_of(DayClose)
_run = table_of(ReconciliationRun)
_exception = table_of(RunException)
_adjustment = table_of(SuspenseAdjustment)
_line = table_of(StatementLineRow)
_posting = table_of(Posting)
_transfer = table_of(Transfer)

# Our side's kinds and theirs: which half of a carried exception joins the next day's matching.
OUR_KINDS = frozenset({ExceptionKind.UNMATCHED_OURS.value})
THEIR_KINDS = frozenset(
    {ExceptionKind.UNMATCHED_THEIRS.value, ExceptionKind.DUPLICATE.value, ExceptionKind.REVERSAL.value}
)


async def closed_on(session: AsyncSession, account_id: int, day: date) -> Any | None:
    """The day's close (who, when, which run), or None while the day is open."""
    return (
        await session.execute(select(_close).where(_close.c.account_id == account_id, _close.c.business_day == day))
    ).first()


async def refuse_if_closed(session: AsyncSession, account_id: int, day: date, *, field: str = "date") -> None:
    """A closed day is locked: no run, no action, nothing new dated into it."""
    found = await closed_on(session, account_id, day)
    if found is not None:
        when = found.closed_at.isoformat(timespec="seconds")
        raise DayClosed(
            Text(
                f"Ngày {day.isoformat()} đã khóa sổ lúc {when}; điều chỉnh sẽ ghi vào ngày mở kế tiếp",
                f"{day.isoformat()} was closed at {when}; a correction goes to the next open day",
            ),
            field=field,
            date=day.isoformat(),
            closed_at=when,
        )


async def next_open_day(session: AsyncSession, account_id: int, day: date) -> date:
    """``day`` itself when open, else the first day after it that is not closed."""
    closed = set(
        await session.scalars(
            select(_close.c.business_day).where(_close.c.account_id == account_id, _close.c.business_day >= day)
        )
    )
    while day in closed:
        day += timedelta(days=1)
    return day


async def latest_run_id(session: AsyncSession, account_id: int, day: date) -> int | None:
    """The newest run of the account's day: the one whose exceptions are the day's queue."""
    found: int | None = await session.scalar(
        select(func.max(_run.c.id)).where(_run.c.account_id == account_id, _run.c.business_day == day)
    )
    return found


@dataclass(frozen=True, slots=True)
class CarriedItem:
    exception_id: int
    transfer_id: int
    reference: str | None
    amount_vnd: int
    # 'D' when the posting debits the bank's ledger account (money in), as ``runs.our_side`` reads it.
    side: str
    category: str


@dataclass(frozen=True, slots=True)
class CarriedLine:
    exception_id: int
    row: Any  # a recon_statement_line row


@dataclass(frozen=True, slots=True)
class Carried:
    """What earlier days carried into a day: our items and bank lines that join its matching."""

    items: tuple[CarriedItem, ...] = ()
    lines: tuple[CarriedLine, ...] = ()

    def source_of_transfer(self, transfer_id: int | None) -> int | None:
        return next((c.exception_id for c in self.items if c.transfer_id == transfer_id), None)

    def source_of_line(self, line_id: int | None) -> int | None:
        return next((c.exception_id for c in self.lines if c.row.id == line_id), None)


async def carried_into(session: AsyncSession, account_id: int, day: date) -> Carried:
    """The exceptions carried to ``day``, each from the newest run of its own day (an older run's copy is not
    carried again: a day re-run before it closed has one queue, its newest)."""
    newest = (
        select(func.max(_run.c.id))
        .where(_run.c.account_id == account_id)
        .group_by(_run.c.business_day)
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(_exception.c.id, _exception.c.kind, _exception.c.line_id, _exception.c.transfer_id)
            .join(_run, _run.c.id == _exception.c.run_id)
            .where(
                _run.c.account_id == account_id,
                _exception.c.state == ExceptionState.CARRIED.value,
                _exception.c.carried_to == day,
                _run.c.id.in_(newest),
            )
            .order_by(_exception.c.id)
        )
    ).all()
    items: list[CarriedItem] = []
    lines: list[CarriedLine] = []
    for row in rows:
        if row.kind in OUR_KINDS and row.transfer_id is not None:
            ours = (
                await session.execute(
                    select(_posting.c.side, _posting.c.amount_vnd, _transfer.c.reference, _transfer.c.category)
                    .join(_transfer, _transfer.c.id == _posting.c.transfer_id)
                    .where(_posting.c.transfer_id == row.transfer_id, _posting.c.account_id == account_id)
                )
            ).first()
            if ours is not None:
                items.append(
                    CarriedItem(row.id, row.transfer_id, ours.reference, ours.amount_vnd, ours.side, ours.category)
                )
        elif row.kind in THEIR_KINDS and row.line_id is not None:
            line = (await session.execute(select(_line).where(_line.c.id == row.line_id))).first()
            if line is not None:
                lines.append(CarriedLine(row.id, line))
    return Carried(tuple(items), tuple(lines))


def _key(row: Any) -> tuple[str, int | None, int | None]:
    """What makes two runs' exceptions the same difference: its kind, the line and our transfer."""
    return (row.kind, row.line_id, row.transfer_id)


async def after_run(
    session: AsyncSession,
    run_id: int,
    previous_run_id: int | None,
    carried: Carried,
    result: MatchResult,
    lines: dict[LineRef, Any],
    *,
    now: datetime,
) -> None:
    """The queue after a run's exceptions are stored.

    A carried item or line found again is marked as carried from its earlier exception; one the matcher
    matched today is recorded in the day's queue as matched (not an exception of the day: the run's counts
    count it once, as a match). A decision taken on the day's previous run (a match by hand, a carry, an
    adjustment) is kept for the same difference in this one, so re-running a day never loses a finance
    officer's work.
    """
    rows = (await session.execute(select(_exception).where(_exception.c.run_id == run_id))).all()
    for row in rows:
        source = carried.source_of_line(row.line_id) or carried.source_of_transfer(row.transfer_id)
        if source is not None:
            await session.execute(update(_exception).where(_exception.c.id == row.id).values(carried_from_id=source))
    matched_today: list[dict[str, Any]] = []
    for found in result.matches:
        for item in found.items:
            if (source := carried.source_of_transfer(int(item))) is not None:
                matched_today.append(_carried_match(run_id, source, found.rule.value, now))
        for line_ref in found.lines:
            stored = lines.get(line_ref)
            if stored is not None and (source := carried.source_of_line(stored.id)) is not None:
                matched_today.append(_carried_match(run_id, source, found.rule.value, now))
    for values in matched_today:
        source_row = (
            await session.execute(select(_exception).where(_exception.c.id == values["carried_from_id"]))
        ).one()
        values.update(
            {
                name: getattr(source_row, name)
                for name in (
                    "kind",
                    "line_id",
                    "bank_reference",
                    "statement_amount_vnd",
                    "transfer_id",
                    "our_reference",
                    "our_amount_vnd",
                    "direction",
                )
            }
        )
        await session.execute(insert(_exception).values(**values))
    if previous_run_id is None:
        return
    decided = {
        _key(row): row
        for row in (
            await session.execute(
                select(_exception).where(
                    _exception.c.run_id == previous_run_id, _exception.c.state != ExceptionState.OPEN.value
                )
            )
        ).all()
        if not (row.resolution or {}).get("carried_match")
    }
    for row in rows:
        before = decided.get(_key(row))
        if before is None:
            continue
        await session.execute(
            update(_exception)
            .where(_exception.c.id == row.id)
            .values(
                state=before.state,
                carried_to=before.carried_to,
                resolution=before.resolution,
                resolved_by_user_id=before.resolved_by_user_id,
                resolved_at=before.resolved_at,
            )
        )
        # A proposal waiting for its approval follows the difference to the newest run.
        await session.execute(
            update(_adjustment)
            .where(_adjustment.c.exception_id == before.id, _adjustment.c.status == AdjustmentStatus.PROPOSED.value)
            .values(exception_id=row.id)
        )


def _carried_match(run_id: int, source: int, rule: str, now: datetime) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "state": ExceptionState.MATCHED.value,
        "carried_from_id": source,
        "detail": {},
        "resolution": {"rule": rule, "carried_match": True},
        "resolved_by_user_id": None,
        "resolved_at": now,
    }
