"""Day close (khóa sổ ngày): a finance officer closes a bank account's business day once its drift is zero or
explained and no exception is left open; a closed day is locked.

The day's figures are those of its newest run: the drift (statement's closing less the ledger's balance at the
day's end), what the queue's decisions explain of it (a match by hand, a carried timing difference, a suspense
adjustment proposed or posted after the run's ledger cut-off: each explains its exception's effect), and what is
left. Closing writes a UNIQUE row per account and day; from then on the day is not run again, its exceptions take
no action, and an adjustment approved later is dated to the next open day (``reconciliation.exceptions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay import audit
from civicpay.clock import BusinessCalendar
from civicpay.db import table_of
from civicpay.errors import Text
from civicpay.money import format_vnd
from reconciliation import days, runs
from reconciliation.errors import (
    DayDriftUnexplained,
    DayHasOpenExceptions,
    DayNotRun,
    DayWithoutStatement,
)
from reconciliation.exceptions import effect
from reconciliation.imports import AccountRef, held_account
from reconciliation.models import DayClose, ExceptionState, RunException, RunStatus
from reconciliation.runs import RunView, day_bounds

_close = table_of(DayClose)
_exception = table_of(RunException)


@dataclass(frozen=True, slots=True)
class DaySummary:
    account: AccountRef
    ledger_account_id: int
    business_day: date
    run: RunView | None
    drift_vnd: int | None
    explained_vnd: int
    unexplained_vnd: int
    open_exceptions: int
    closed_at: datetime | None
    closed_by: int | None

    @property
    def closed(self) -> bool:
        return self.closed_at is not None


def _explains(row: Any, run: RunView, cut_off: datetime) -> int:
    """How much of the run's drift one decision explains (0 while it is open)."""
    state = ExceptionState(row.state)
    if state in (ExceptionState.MATCHED, ExceptionState.CARRIED, ExceptionState.ADJUSTING):
        return effect(row)
    if state is ExceptionState.ADJUSTED:
        posted = (row.resolution or {}).get("posted_at")
        # Posted before the run read the ledger's balance: already in it, so the drift no longer holds it.
        if posted is not None and datetime.fromisoformat(posted) < min(cut_off, run.created_at):
            return 0
        return effect(row)
    return 0


async def summary(session: AsyncSession, calendar: BusinessCalendar, account: AccountRef, day: date) -> DaySummary:
    """The day as closing sees it: its newest run, drift, what is explained, what is open, and whether it is closed."""
    held = await held_account(session, account)
    closed = await days.closed_on(session, held.ledger_account_id, day)
    run_id = await days.latest_run_id(session, held.ledger_account_id, day)
    view = await runs.one(session, run_id) if run_id is not None else None
    explained, still_open = 0, 0
    if view is not None:
        cut_off = day_bounds(calendar, day)[1]
        rows = (await session.execute(select(_exception).where(_exception.c.run_id == view.id))).all()
        for row in rows:
            if (row.resolution or {}).get("carried_match"):
                continue  # an earlier day's item matched today: not a difference of this day
            if row.state in (ExceptionState.OPEN.value,):
                still_open += 1
            explained += _explains(row, view, cut_off)
    drift = view.drift_vnd if view is not None else None
    return DaySummary(
        account=account,
        ledger_account_id=held.ledger_account_id,
        business_day=day,
        run=view,
        drift_vnd=drift,
        explained_vnd=explained,
        unexplained_vnd=(drift or 0) - explained,
        open_exceptions=still_open,
        closed_at=closed.closed_at if closed is not None else None,
        closed_by=closed.closed_by if closed is not None else None,
    )


async def close_day(
    session: AsyncSession,
    calendar: BusinessCalendar,
    account: AccountRef,
    day: date,
    *,
    officer_id: int | None,
    now: datetime,
) -> DaySummary:
    """Close the day, or refuse saying why: not run, no statement for a day with items, open exceptions, drift left
    unexplained, or closed already. A refusal changes nothing."""
    held = await held_account(session, account)
    await days.refuse_if_closed(session, held.ledger_account_id, day)
    found = await summary(session, calendar, account, day)
    run = found.run
    if run is None:
        raise DayNotRun(field="date", date=day.isoformat())
    if run.status is RunStatus.NO_STATEMENT and run.ledger_items > 0:
        raise DayWithoutStatement(field="date", run_id=run.id, ledger_items=run.ledger_items)
    if found.open_exceptions:
        raise DayHasOpenExceptions(
            Text(
                f"Còn {found.open_exceptions} chênh lệch chưa xử lý trong lần đối soát {run.id}",
                f"{found.open_exceptions} exception(s) of run {run.id} are still open",
            ),
            field="date",
            run_id=run.id,
            open_exceptions=found.open_exceptions,
        )
    if found.unexplained_vnd != 0:
        raise DayDriftUnexplained(
            Text(
                f"Chênh lệch số dư {format_vnd(found.drift_vnd or 0)}, đã giải thích {format_vnd(found.explained_vnd)},"
                f" còn {format_vnd(found.unexplained_vnd)}",
                f"Drift {format_vnd(found.drift_vnd or 0)}, explained {format_vnd(found.explained_vnd)},"
                f" unexplained {format_vnd(found.unexplained_vnd)}",
            ),
            field="date",
            run_id=run.id,
            drift_vnd=found.drift_vnd,
            explained_vnd=found.explained_vnd,
            unexplained_vnd=found.unexplained_vnd,
        )
    try:
        # A savepoint: two officers closing at once, the UNIQUE row lets one win; the other is told it is closed.
        async with session.begin_nested():
            await session.execute(
                insert(_close).values(
                    account_id=held.ledger_account_id,
                    business_day=day,
                    run_id=run.id,
                    drift_vnd=found.drift_vnd,
                    explained_vnd=found.explained_vnd,
                    closed_by=officer_id,
                    closed_at=now,
                )
            )
    except IntegrityError:
        await days.refuse_if_closed(session, held.ledger_account_id, day)
        raise
    await audit.record(
        session,
        actor_user_id=officer_id,
        action="reconciliation.day.close",
        subject_type="recon_day",
        subject_id=f"{account}:{day.isoformat()}",
        reason="day close",
        details={"run_id": run.id, "drift_vnd": found.drift_vnd, "explained_vnd": found.explained_vnd},
        now=now,
    )
    return await summary(session, calendar, account, day)
