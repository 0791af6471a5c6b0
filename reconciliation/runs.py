"""Reconciliation runs (lần đối soát): one bank account, one business day, our ledger against the bank's statement.

Our side is every transfer posted to the bank account's ledger account during the business day
(Asia/Ho_Chi_Minh): a debit of that asset account is money into the bank account (the statement's credit),
a credit is money out. Their side is the statement lines booked that day in the latest imported file that
covers the day: a file imported again in another format (the MT940 of a day already read as camt.053)
replaces the earlier one for the comparison rather than doubling every line. The pure matcher compares
them; the run keeps its counts, each exception, and the drift between the statement's closing balance and
the ledger's balance at the day's end. No statement, or one without a line that day, is ``no_statement``:
an empty comparison is never reported as "all matched".
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, NamedTuple

from sqlalchemy import Select, case, func, insert, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.clock import BusinessCalendar
from civicpay.db import table_of
from reconciliation import days
from reconciliation.errors import RunNotFound
from reconciliation.imports import AccountRef, held_account
from reconciliation.matcher import LineRef, MatchResult, MatchRules, OurItem, match
from reconciliation.model import Direction, StatementLine
from reconciliation.models import (
    ADJUSTMENT,
    BankStatement,
    ExceptionKind,
    ExceptionState,
    ReconciliationRun,
    RunException,
    RunStatus,
    StatementLineRow,
)
from wallet.ledger import Posting, Transfer

RUN_STEPS = 4

_statement = table_of(BankStatement)
_line = table_of(StatementLineRow)
_run = table_of(ReconciliationRun)
_exception = table_of(RunException)
_posting = table_of(Posting)
_transfer = table_of(Transfer)


@dataclass(frozen=True, slots=True)
class ExceptionView:
    kind: ExceptionKind
    bank_reference: str | None
    statement_amount_vnd: int | None
    our_reference: str | None
    our_amount_vnd: int | None
    direction: str | None
    line_id: int | None
    transfer_id: int | None
    detail: dict[str, Any]
    # --- the queue (reconciliation.exceptions) ---
    id: int = 0
    state: ExceptionState = ExceptionState.OPEN
    carried_from_id: int | None = None
    carried_to: date | None = None
    resolution: dict[str, Any] | None = None
    resolved_by_user_id: int | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RunView:
    id: int
    account: AccountRef
    business_day: date
    status: RunStatus
    file_id: int | None
    statement_lines: int
    ledger_items: int
    matched: int
    unmatched_ours: int
    unmatched_theirs: int
    amount_mismatches: int
    duplicates: int
    reversals: int
    ledger_balance_vnd: int
    statement_closing_vnd: int | None
    drift_vnd: int | None
    created_at: datetime
    exceptions: tuple[ExceptionView, ...]


@dataclass(frozen=True, slots=True)
class _OurRow:
    transfer_id: int
    reference: str | None
    amount: int
    direction: Direction


@contextmanager
def _no_collection() -> Iterator[None]:
    """The cyclic garbage collector paused over a synchronous pass that makes a million objects and drops none.

    Each of its full collections walks every object alive, the day's lines and items included, so it would run
    over the same million objects again and again; nothing here makes a cycle to collect. Only around code that
    does not await: no other task of the process runs meanwhile.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_DIRECTIONS = {direction.value: direction for direction in Direction}
# Rows fetched at a time from a day's lines or items: the driver's buffers hold this many, never the million.
_FETCH = 10_000


async def _partitions(session: AsyncSession, query: Select[Any]) -> AsyncIterator[Sequence[Any]]:
    """The query's rows in partitions of ``_FETCH``, through a cursor in the unit of work's transaction."""
    result = await session.stream(query.execution_options(yield_per=_FETCH))
    async for partition in result.partitions():
        yield partition


class _LineRow(NamedTuple):
    """What an exception keeps of a statement line's row: a tuple of four rather than the row of sixteen."""

    id: int
    bank_reference: str | None
    amount_vnd: int
    direction: str


def day_bounds(calendar: BusinessCalendar, day: date) -> tuple[datetime, datetime]:
    """The business day's start and end as UTC instants (midnight to midnight in the calendar's zone)."""
    start = datetime.combine(day, time.min, tzinfo=calendar.zone)
    return calendar.day_start(start), calendar.next_day_start(start)


async def our_side(
    session: AsyncSession, account_id: int, start: datetime, end: datetime, day: date
) -> tuple[list[OurItem], dict[str, _OurRow]]:
    """Every transfer posted to the ledger account in [start, end), as the matcher's items, and each by its id."""
    items = await _our_items(session, account_id, start, end, day)
    return items, _our_rows(items)


def _our_rows(items: list[OurItem], wanted: frozenset[str] | None = None) -> dict[str, _OurRow]:
    """The items (those ``wanted``, or all) by id, as an exception names them."""
    return {
        item.id: _OurRow(int(item.id), item.reference, item.amount, item.direction)
        for item in items
        if wanted is None or item.id in wanted
    }


async def _our_items(
    session: AsyncSession, account_id: int, start: datetime, end: datetime, day: date
) -> list[OurItem]:
    query = (
        select(_posting.c.side, _posting.c.amount_vnd, _transfer.c.id, _transfer.c.reference, _transfer.c.category)
        .select_from(_posting.join(_transfer, _transfer.c.id == _posting.c.transfer_id))
        .where(_posting.c.account_id == account_id, _posting.c.created_at >= start, _posting.c.created_at < end)
        # --- reconciliation's own suspense adjustments are in the balance, never an item the bank should show ---
        .where(or_(_transfer.c.reference.is_(None), not_(_transfer.c.reference.startswith(ADJUSTMENT.prefix))))
        .order_by(_posting.c.id)
    )
    items = []
    kinds: dict[str, str] = {}  # one string per category, not one per row
    async for rows in _partitions(session, query):
        with _no_collection():
            for side, amount, transfer_id, reference, category in rows:
                # A debit to the bank's asset account is money in: the bank books it as a credit to us.
                direction = Direction.CREDIT if side == "D" else Direction.DEBIT
                items.append(
                    OurItem(str(transfer_id), reference, amount, direction, day, kinds.setdefault(category, category))
                )
    return items


async def ledger_balance_at(session: AsyncSession, account_id: int, end: datetime) -> int:
    """The asset account's balance (debits less credits) of every posting before ``end``, from the postings."""
    signed = case((_posting.c.side == "D", _posting.c.amount_vnd), else_=-_posting.c.amount_vnd)
    total = await session.scalar(
        select(func.coalesce(func.sum(signed), 0)).where(
            _posting.c.account_id == account_id, _posting.c.created_at < end
        )
    )
    return int(total or 0)


async def _their_side(
    session: AsyncSession, account_id: int, day: date
) -> tuple[int | None, int | None, list[StatementLine]]:
    """The latest file covering the day: its id, its closing for the day, the day's lines."""
    covering = (_statement.c.business_day == day) | ((_statement.c.from_date <= day) & (_statement.c.to_date >= day))
    file_id = await session.scalar(
        select(func.max(_statement.c.file_id)).where(_statement.c.account_id == account_id, covering)
    )
    if file_id is None:
        return None, None, []
    closing = await session.scalar(
        select(_statement.c.closing_vnd)
        .where(_statement.c.file_id == file_id, _statement.c.business_day == day)
        .order_by(_statement.c.position.desc())
        .limit(1)
    )
    # Every column but the raw text, which the matcher does not read: a million of those are half a gigabyte.
    query = (
        select(*(column for column in _line.c if column.name != "raw"))
        .join(_statement, _statement.c.id == _line.c.statement_pk)
        .where(_statement.c.file_id == file_id, _line.c.booking_date == day)
        .order_by(_line.c.id)
    )
    lines = []
    # The driver makes a new object for each value of each row: the few distinct statement ids, currencies and
    # dates of a day are shared instead, a hundred-odd bytes a line.
    shared: dict[Any, Any] = {}
    async for rows in _partitions(session, query):
        with _no_collection():
            for row in rows:
                # The statement's row id names the line for the matcher: two statements of one file may share the
                # bank's id.
                statement_id = shared.get(row.statement_pk) or shared.setdefault(
                    row.statement_pk, str(row.statement_pk)
                )
                line = StatementLine(
                    statement_id,
                    row.sequence,
                    shared.setdefault(row.booking_date, row.booking_date),
                    shared.setdefault(row.value_date, row.value_date),
                    row.amount_vnd,
                    _DIRECTIONS[row.direction],
                    shared.setdefault(row.currency, row.currency),
                    row.bank_reference,
                    row.end_to_end_id,
                    row.our_reference,
                    tuple(row.other_references or ()),
                    row.counterparty,
                    row.counterparty_account,
                    row.narrative,
                    row.reversal,
                )
                lines.append(line)
    return file_id, closing, lines


async def _line_rows(session: AsyncSession, refs: set[LineRef]) -> dict[LineRef, _LineRow]:
    """The rows of the lines an exception names, read after the match: a row kept for each of a million lines,
    most of them matched, would be a few hundred megabytes held through it."""
    by_statement: dict[str, list[int]] = {}
    for found in refs:
        by_statement.setdefault(found.statement_id, []).append(found.sequence)
    rows: dict[LineRef, _LineRow] = {}
    for statement_id, sequences in by_statement.items():
        sequences.sort()
        for at in range(0, len(sequences), _FETCH):
            found_rows = await session.execute(
                select(_line.c.id, _line.c.sequence, _line.c.bank_reference, _line.c.amount_vnd, _line.c.direction)
                .where(_line.c.statement_pk == int(statement_id), _line.c.sequence.in_(sequences[at : at + _FETCH]))
                .order_by(_line.c.id)
            )
            for row in found_rows:
                rows[LineRef(statement_id, row.sequence)] = _LineRow(
                    row.id, row.bank_reference, row.amount_vnd, row.direction
                )
    return rows


def _named(result: MatchResult) -> tuple[set[LineRef], frozenset[str]]:
    """The lines and items the exceptions of ``result`` name (``_exceptions`` reads these and no others)."""
    lines = set(result.unmatched_theirs)
    items = set(result.unmatched_ours)
    for mismatch in result.amount_mismatches:
        lines.add(mismatch.lines[0])
        items.add(mismatch.items[0])
    for duplicate in result.duplicates:
        lines.update((duplicate.line, duplicate.first))
        items.update(duplicate.items[:1])
    for reversal in result.reversals:
        lines.add(reversal.line)
        if reversal.original is not None:
            lines.add(reversal.original)
    return lines, frozenset(items)


def line_of(row: Any) -> StatementLine:
    """A stored statement line as the matcher takes it."""
    # The statement's row id names the line for the matcher: two statements of one file may share the bank's id.
    return StatementLine(
        statement_id=str(row.statement_pk),
        sequence=row.sequence,
        booking_date=row.booking_date,
        value_date=row.value_date,
        amount=row.amount_vnd,
        direction=Direction(row.direction),
        currency=row.currency,
        bank_reference=row.bank_reference,
        end_to_end_id=row.end_to_end_id,
        our_reference=row.our_reference,
        other_references=tuple(row.other_references or ()),
        counterparty=row.counterparty,
        counterparty_account=row.counterparty_account,
        narrative=row.narrative,
        reversal=row.reversal,
    )


def _exceptions(result: MatchResult, lines: dict[LineRef, Any], ours: dict[str, _OurRow]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def row(kind: ExceptionKind, line: LineRef | None, item: str | None, **detail: Any) -> None:
        their = lines.get(line) if line else None
        our = ours.get(item) if item else None
        found.append(
            {
                "kind": kind.value,
                "line_id": their.id if their is not None else None,
                "bank_reference": their.bank_reference if their is not None else None,
                "statement_amount_vnd": their.amount_vnd if their is not None else None,
                "direction": their.direction if their is not None else (our.direction.value if our else None),
                "transfer_id": our.transfer_id if our else None,
                "our_reference": our.reference if our else None,
                "our_amount_vnd": our.amount if our else None,
                "detail": detail,
            }
        )

    for item in result.unmatched_ours:
        row(ExceptionKind.UNMATCHED_OURS, None, item)
    for line in result.unmatched_theirs:
        row(ExceptionKind.UNMATCHED_THEIRS, line, None)
    for mismatch in result.amount_mismatches:
        row(
            ExceptionKind.AMOUNT_MISMATCH,
            mismatch.lines[0],
            mismatch.items[0],
            rule=mismatch.rule.value,
            theirs_vnd=mismatch.theirs,
            ours_vnd=mismatch.ours,
            lines=len(mismatch.lines),
            items=len(mismatch.items),
        )
    for duplicate in result.duplicates:
        first = lines.get(duplicate.first)
        row(
            ExceptionKind.DUPLICATE,
            duplicate.line,
            duplicate.items[0] if duplicate.items else None,
            first_line_id=first.id if first is not None else None,
        )
    for reversal in result.reversals:
        original = lines.get(reversal.original) if reversal.original else None
        row(ExceptionKind.REVERSAL, reversal.line, None, original_line_id=original.id if original is not None else None)
    return found


async def run(
    session: AsyncSession,
    account: AccountRef,
    day: date,
    *,
    calendar: BusinessCalendar,
    rules: MatchRules | None = None,
    user_id: int | None,
    now: datetime,
    on_step: Callable[[], None] = lambda: None,
) -> RunView:
    """Compare the account's ledger with its statement for ``day``, store the run with its exceptions, return it.

    ``on_step`` is called after each of the ``RUN_STEPS`` steps (our side, theirs, the match, the store): a
    progress bar's.
    """
    held = await held_account(session, account)
    # --- the exception queue: a closed day is not run again (reconciliation.days) ---
    await days.refuse_if_closed(session, held.ledger_account_id, day)
    previous_run = await days.latest_run_id(session, held.ledger_account_id, day)
    # ---
    start, end = day_bounds(calendar, day)
    items = await _our_items(session, held.ledger_account_id, start, end, day)
    balance = await ledger_balance_at(session, held.ledger_account_id, end)
    on_step()
    file_id, closing, lines = await _their_side(session, held.ledger_account_id, day)
    # --- timing differences carried from earlier days join the day's matching, once (reconciliation.days) ---
    carried = await days.carried_into(session, held.ledger_account_id, day)
    for item in carried.items:
        direction = Direction.CREDIT if item.side == "D" else Direction.DEBIT
        items.append(
            OurItem(str(item.transfer_id), item.reference, item.amount_vnd, direction, day, kind=item.category)
        )
    carried_rows: dict[LineRef, Any] = {}  # the carried lines' stored rows, which the queue names them by
    if lines:  # a carried line alone does not make a statement of the day
        for carried_line in carried.lines:
            line = line_of(carried_line.row)
            lines.append(line)
            carried_rows[LineRef(line.statement_id, line.sequence)] = carried_line.row
    # ---
    on_step()
    with _no_collection():
        result = match(lines, items, rules)
    on_step()
    exceptions = []
    if lines:
        named_lines, named_items = _named(result)
        exceptions = _exceptions(result, await _line_rows(session, named_lines), _our_rows(items, named_items))
    if not lines:
        # Nothing to compare with: our items are not "unmatched" against a statement nobody has, and never matched.
        status = RunStatus.NO_STATEMENT
    elif exceptions or (closing is not None and closing != balance):
        status = RunStatus.EXCEPTIONS
    else:
        status = RunStatus.RECONCILED
    values = {
        "account_id": held.ledger_account_id,
        "bank_bin": account.bank_bin,
        "account_number": account.number,
        "business_day": day,
        "status": status.value,
        "file_id": file_id,
        "statement_lines": len(lines),
        "ledger_items": len(items),
        "matched": len(result.matches) if lines else 0,
        "unmatched_ours": len(result.unmatched_ours) if lines else 0,
        "unmatched_theirs": len(result.unmatched_theirs),
        "amount_mismatches": len(result.amount_mismatches),
        "duplicates": len(result.duplicates),
        "reversals": len(result.reversals),
        "ledger_balance_vnd": balance,
        "statement_closing_vnd": closing,
        "drift_vnd": None if closing is None else closing - balance,
        "created_at": now,
        "created_by_user_id": user_id,
    }
    run_id = (await session.execute(insert(_run).returning(_run.c.id), values)).scalar_one()
    if exceptions:
        await session.execute(insert(_exception), [{"run_id": run_id, **exception} for exception in exceptions])
    # --- the queue: carried ones marked, carried items matched today recorded, earlier decisions kept ---
    await days.after_run(session, run_id, previous_run, carried, result, carried_rows, now=now)
    # ---
    on_step()
    return await one(session, run_id)


async def one(session: AsyncSession, run_id: int) -> RunView:
    found = (await session.execute(select(_run).where(_run.c.id == run_id))).first()
    if found is None:
        raise RunNotFound(field="run_id")
    exceptions = await session.execute(
        select(_exception).where(_exception.c.run_id == run_id).order_by(_exception.c.id)
    )
    return RunView(
        id=found.id,
        account=AccountRef(found.bank_bin, found.account_number),
        business_day=found.business_day,
        status=RunStatus(found.status),
        file_id=found.file_id,
        statement_lines=found.statement_lines,
        ledger_items=found.ledger_items,
        matched=found.matched,
        unmatched_ours=found.unmatched_ours,
        unmatched_theirs=found.unmatched_theirs,
        amount_mismatches=found.amount_mismatches,
        duplicates=found.duplicates,
        reversals=found.reversals,
        ledger_balance_vnd=found.ledger_balance_vnd,
        statement_closing_vnd=found.statement_closing_vnd,
        drift_vnd=found.drift_vnd,
        created_at=found.created_at,
        exceptions=tuple(
            ExceptionView(
                kind=ExceptionKind(row.kind),
                bank_reference=row.bank_reference,
                statement_amount_vnd=row.statement_amount_vnd,
                our_reference=row.our_reference,
                our_amount_vnd=row.our_amount_vnd,
                direction=row.direction,
                line_id=row.line_id,
                transfer_id=row.transfer_id,
                detail=dict(row.detail or {}),
                id=row.id,
                state=ExceptionState(row.state),
                carried_from_id=row.carried_from_id,
                carried_to=row.carried_to,
                resolution=row.resolution,
                resolved_by_user_id=row.resolved_by_user_id,
                resolved_at=row.resolved_at,
            )
            for row in exceptions
        ),
    )
