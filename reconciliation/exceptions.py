"""The exception queue (hàng đợi chênh lệch): per bank account and business day, what a finance officer does with
each difference a run found.

The queue of a day is the exceptions of its newest run. Each is acted on once (locked, re-checked, transitioned):

- **match by hand**: one unmatched statement line and one or more of our unmatched items that add up to it, in the
  same direction; recorded with who did it and the rule ``manual``;
- **carry** as a timing difference: the item or line joins the next open day's matching, where it is matched once
  (or shows again, marked as carried), never counted twice;
- **adjust through suspense**: a finance officer proposes a ledger adjustment between the bank account's ledger
  account and the reconciliation suspense account for the exception's effect on the balance; another approves it
  with TOTP (``civicpay.auth.approval``), and only then is the balanced entry posted. An adjustment approved after
  its day was closed is dated to the next open day: its entry is posted no earlier than that day's start.

Every action writes a line in the audit log in the same transaction. A closed day takes no action.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay import audit
from civicpay.auth.approval import checker_approves
from civicpay.clock import BusinessCalendar
from civicpay.db import table_of
from civicpay.errors import Text
from civicpay.money import Category, format_vnd
from civicpay.settings import Settings
from reconciliation import days
from reconciliation.errors import (
    AdjustmentNotFound,
    AdjustmentNotProposed,
    ExceptionNotFound,
    ExceptionNotOpen,
    ExceptionSuperseded,
    ManualMatchDoesNotAddUp,
    ManualMatchInvalid,
    NothingToAdjust,
)
from reconciliation.models import (
    ADJUSTMENT,
    AdjustmentStatus,
    ExceptionKind,
    ExceptionState,
    ReconciliationRun,
    RunException,
    SuspenseAdjustment,
)
from reconciliation.runs import day_bounds
from wallet import ledger

_exception = table_of(RunException)
_run = table_of(ReconciliationRun)
_adjustment = table_of(SuspenseAdjustment)

MANUAL = "manual"
TIMING_DIFFERENCE = "timing_difference"
SUSPENSE_ADJUSTMENT = "suspense_adjustment"
# Where an adjusted difference waits until someone explains it (tài khoản treo chênh lệch đối soát). Either sign:
# more at the bank than in the ledger is money owed to someone unknown (a credit balance), less is a claim on
# the bank to chase (a debit balance). The wallets' suspense could hold only the first: it never goes below zero.
RECONCILIATION_SUSPENSE = "liability:reconciliation:suspense"


def effect(row: Any) -> int:
    """What the exception does to the drift (statement's closing less the ledger's balance), in đồng.

    Positive: the bank holds more than the ledger says (a line we have no item for); negative: less (an item the
    bank never booked). Every exception of a run together sums to the run's drift when the day opened level.
    """
    sign = 1 if row.direction == "credit" else -1
    theirs = row.statement_amount_vnd or 0
    ours = row.our_amount_vnd or 0
    if row.kind == ExceptionKind.UNMATCHED_OURS:
        return -sign * ours
    if row.kind == ExceptionKind.AMOUNT_MISMATCH:
        detail = row.detail or {}
        return sign * (int(detail.get("theirs_vnd", theirs)) - int(detail.get("ours_vnd", ours)))
    return sign * theirs  # unmatched theirs, duplicates and reversals: a line the ledger does not have


@dataclass(frozen=True, slots=True)
class AdjustmentView:
    id: int
    exception_id: int
    account_id: int
    business_day: date
    debit_account_id: int
    credit_account_id: int
    amount_vnd: int
    effect_vnd: int
    note: str
    status: AdjustmentStatus
    reference: str
    proposed_by: int
    proposed_at: datetime
    approved_by: int | None
    approved_at: datetime | None
    entry_id: int | None


async def _run_of(session: AsyncSession, run_id: int) -> Any:
    return (await session.execute(select(_run).where(_run.c.id == run_id))).one()


async def _open_for_action(session: AsyncSession, exception_ids: Sequence[int], *, field: str) -> list[Any]:
    """The exceptions locked in id order, each on its day's newest run, the day open, and still open."""
    rows = []
    for exception_id in sorted(set(exception_ids)):
        row = (
            await session.execute(
                select(_exception)
                .where(_exception.c.id == exception_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).first()
        if row is None:
            raise ExceptionNotFound(field=field, exception_id=exception_id)
        rows.append(row)
    for row in rows:
        run = await _run_of(session, row.run_id)
        await days.refuse_if_closed(session, run.account_id, run.business_day, field=field)
        if await days.latest_run_id(session, run.account_id, run.business_day) != run.id:
            raise ExceptionSuperseded(field=field, exception_id=row.id)
        if row.state != ExceptionState.OPEN:
            raise ExceptionNotOpen(field=field, exception_id=row.id, state=row.state)
    return rows


async def _resolve(
    session: AsyncSession, ids: Sequence[int], state: ExceptionState, resolution: dict[str, Any], **values: Any
) -> None:
    await session.execute(
        update(_exception).where(_exception.c.id.in_(ids)).values(state=state.value, resolution=resolution, **values)
    )


async def match_by_hand(
    session: AsyncSession,
    *,
    line_exception_id: int,
    item_exception_ids: Sequence[int],
    note: str,
    officer_id: int,
    now: datetime,
) -> list[int]:
    """Match one unmatched statement line with our unmatched items that add up to it; returns the exceptions' ids."""
    if not item_exception_ids or line_exception_id in item_exception_ids:
        raise ManualMatchInvalid(field="item_exception_ids")
    rows = await _open_for_action(session, [line_exception_id, *item_exception_ids], field="item_exception_ids")
    line = next(row for row in rows if row.id == line_exception_id)
    items = [row for row in rows if row.id != line_exception_id]
    if line.kind != ExceptionKind.UNMATCHED_THEIRS:
        raise ManualMatchInvalid(field="line_exception_id")
    if any(item.kind != ExceptionKind.UNMATCHED_OURS or item.run_id != line.run_id for item in items):
        raise ManualMatchInvalid(field="item_exception_ids")
    if any(item.direction != line.direction for item in items):
        raise ManualMatchInvalid(
            Text("Các khoản phải cùng chiều với dòng sao kê", "Every item must go the same way as the line"),
            field="item_exception_ids",
        )
    ours = sum(item.our_amount_vnd or 0 for item in items)
    theirs = line.statement_amount_vnd or 0
    if ours != theirs:
        raise ManualMatchDoesNotAddUp(
            Text(
                f"Dòng sao kê {format_vnd(theirs)}, các khoản của ta {format_vnd(ours)}",
                f"The line is {format_vnd(theirs)}; our items add up to {format_vnd(ours)}",
            ),
            field="item_exception_ids",
            theirs_vnd=theirs,
            ours_vnd=ours,
        )
    ids = [line.id, *(item.id for item in items)]
    resolution = {
        "rule": MANUAL,
        "line_id": line.line_id,
        "transfer_ids": [item.transfer_id for item in items],
        "exception_ids": ids,
        "note": note,
    }
    await _resolve(session, ids, ExceptionState.MATCHED, resolution, resolved_by_user_id=officer_id, resolved_at=now)
    await audit.record(
        session,
        actor_user_id=officer_id,
        action="reconciliation.exception.match",
        subject_type="recon_exception",
        subject_id=line.id,
        reason=note or "match by hand",
        details={"run_id": line.run_id, **resolution, "amount_vnd": theirs},
        now=now,
    )
    return ids


async def carry(session: AsyncSession, exception_id: int, *, note: str, officer_id: int, now: datetime) -> date:
    """Carry an exception to the next open day as a timing difference; returns that day."""
    (row,) = await _open_for_action(session, [exception_id], field="exception_id")
    run = await _run_of(session, row.run_id)
    to = await days.next_open_day(session, run.account_id, run.business_day + timedelta(days=1))
    resolution = {"rule": TIMING_DIFFERENCE, "to": to.isoformat(), "note": note}
    await _resolve(
        session,
        [row.id],
        ExceptionState.CARRIED,
        resolution,
        carried_to=to,
        resolved_by_user_id=officer_id,
        resolved_at=now,
    )
    await audit.record(
        session,
        actor_user_id=officer_id,
        action="reconciliation.exception.carry",
        subject_type="recon_exception",
        subject_id=row.id,
        reason=note or "timing difference",
        details={"run_id": row.run_id, "kind": row.kind, "to": to.isoformat(), "effect_vnd": effect(row)},
        now=now,
    )
    return to


async def propose_adjustment(
    session: AsyncSession, exception_id: int, *, note: str, officer_id: int, now: datetime
) -> AdjustmentView:
    """Propose the ledger adjustment that brings the bank account's ledger account to what the bank shows, against
    suspense; nothing is posted until another finance officer approves it with TOTP."""
    (row,) = await _open_for_action(session, [exception_id], field="exception_id")
    moved = effect(row)
    if moved == 0:
        raise NothingToAdjust(field="exception_id")
    run = await _run_of(session, row.run_id)
    suspense = await ledger.open_account(
        session,
        code=RECONCILIATION_SUSPENSE,
        name="Tài khoản treo chênh lệch đối soát",
        kind=ledger.AccountKind.LIABILITY,
        no_overdraft=False,
        now=now,
    )
    # More at the bank than in the ledger: the ledger's bank account is debited (money in) and suspense credited;
    # less: suspense is debited, the bank account credited.
    debit, credit = (run.account_id, suspense) if moved > 0 else (suspense, run.account_id)
    adjustment_id = (
        await session.execute(
            _adjustment.insert().returning(_adjustment.c.id),
            {
                "exception_id": row.id,
                "account_id": run.account_id,
                "business_day": run.business_day,
                "debit_account_id": debit,
                "credit_account_id": credit,
                "amount_vnd": abs(moved),
                "effect_vnd": moved,
                "note": note,
                "status": AdjustmentStatus.PROPOSED.value,
                "proposed_by": officer_id,
                "proposed_at": now,
            },
        )
    ).scalar_one()
    await _resolve(
        session,
        [row.id],
        ExceptionState.ADJUSTING,
        {"rule": SUSPENSE_ADJUSTMENT, "adjustment_id": adjustment_id, "note": note},
        resolved_by_user_id=officer_id,
        resolved_at=now,
    )
    await audit.record(
        session,
        actor_user_id=officer_id,
        action="reconciliation.adjustment.propose",
        subject_type="recon_adjustment",
        subject_id=adjustment_id,
        reason=note or "suspense adjustment",
        details={"exception_id": row.id, "run_id": row.run_id, "effect_vnd": moved},
        now=now,
    )
    return await adjustment(session, adjustment_id)


async def approve_adjustment(
    session: AsyncSession,
    settings: Settings,
    calendar: BusinessCalendar,
    adjustment_id: int,
    *,
    officer_id: int,
    otp: str | None,
    now: datetime,
) -> AdjustmentView:
    """A second finance officer approves with TOTP: the balanced entry is posted, dated to the adjustment's day or,
    when that day is closed by now, to the next open day (never into a closed day).

    Locked, re-checked, transitioned: a second approval finds it approved and posts nothing.
    """
    found = (
        await session.execute(
            select(_adjustment)
            .where(_adjustment.c.id == adjustment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if found is None:
        raise AdjustmentNotFound(field="adjustment_id")
    if found.status != AdjustmentStatus.PROPOSED:
        raise AdjustmentNotProposed(field="adjustment_id")
    await checker_approves(session, settings, maker_id=found.proposed_by, checker_id=officer_id, otp=otp, now=now)
    today = calendar.business_day(now)
    dated = await days.next_open_day(session, found.account_id, max(today, found.business_day))
    posted_at = now if dated <= today else day_bounds(calendar, dated)[0]
    reference = ADJUSTMENT.encode(found.id)
    spec = ledger.TransferSpec(
        debit_account_id=found.debit_account_id,
        credit_account_id=found.credit_account_id,
        amount_vnd=found.amount_vnd,
        category=Category.INTERNAL,
        reference=reference,
        metadata={"memo": f"Điều chỉnh đối soát {found.business_day.isoformat()}", "exception_id": found.exception_id},
    )
    posted = await ledger.post_entry(
        session, [spec], now=posted_at, description=f"reconciliation adjustment {reference}"
    )
    await session.execute(
        update(_adjustment)
        .where(_adjustment.c.id == found.id)
        .values(
            status=AdjustmentStatus.APPROVED.value,
            approved_by=officer_id,
            approved_at=now,
            entry_id=posted.entry_id,
            business_day=dated,
        )
    )
    await _resolve(
        session,
        [found.exception_id],
        ExceptionState.ADJUSTED,
        {
            "rule": SUSPENSE_ADJUSTMENT,
            "adjustment_id": found.id,
            "note": found.note,
            "posted_at": posted_at.isoformat(),
            "dated": dated.isoformat(),
        },
    )
    await audit.record(
        session,
        actor_user_id=officer_id,
        action="reconciliation.adjustment.approve",
        subject_type="recon_adjustment",
        subject_id=found.id,
        reason="maker-checker approval with TOTP",
        details={
            "exception_id": found.exception_id,
            "amount_vnd": found.amount_vnd,
            "proposed_by": found.proposed_by,
            "entry_id": posted.entry_id,
            "dated": dated.isoformat(),
        },
        now=now,
    )
    return await adjustment(session, found.id)


async def adjustment(session: AsyncSession, adjustment_id: int) -> AdjustmentView:
    found = (await session.execute(select(_adjustment).where(_adjustment.c.id == adjustment_id))).first()
    if found is None:
        raise AdjustmentNotFound(field="adjustment_id")
    return AdjustmentView(
        id=found.id,
        exception_id=found.exception_id,
        account_id=found.account_id,
        business_day=found.business_day,
        debit_account_id=found.debit_account_id,
        credit_account_id=found.credit_account_id,
        amount_vnd=found.amount_vnd,
        effect_vnd=found.effect_vnd,
        note=found.note,
        status=AdjustmentStatus(found.status),
        reference=ADJUSTMENT.encode(found.id),
        proposed_by=found.proposed_by,
        proposed_at=found.proposed_at,
        approved_by=found.approved_by,
        approved_at=found.approved_at,
        entry_id=found.entry_id,
    )


async def pending_adjustments(session: AsyncSession, exception_ids: Sequence[int]) -> dict[int, AdjustmentView]:
    """The proposals waiting for approval, by the exception they are for (for the queue's screens)."""
    ids = (
        await session.scalars(
            select(_adjustment.c.id).where(
                _adjustment.c.exception_id.in_(exception_ids), _adjustment.c.status == AdjustmentStatus.PROPOSED.value
            )
        )
    ).all()
    views = [await adjustment(session, adjustment_id) for adjustment_id in ids]
    return {view.exception_id: view for view in views}


async def day_of_exception(session: AsyncSession, exception_id: int) -> tuple[str, str, date]:
    """The bank account (BIN, number) and business day an exception belongs to."""
    found = (
        await session.execute(
            select(_run.c.bank_bin, _run.c.account_number, _run.c.business_day)
            .join(_exception, _exception.c.run_id == _run.c.id)
            .where(_exception.c.id == exception_id)
        )
    ).first()
    if found is None:
        raise ExceptionNotFound(field="exception_id")
    return found.bank_bin, found.account_number, found.business_day
