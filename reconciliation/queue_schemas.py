"""API shapes of the exception queue and day close (msgspec Structs at the edge; never ORM rows)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

from reconciliation.closing import DaySummary
from reconciliation.errors import StatementAccountUnknown
from reconciliation.exceptions import AdjustmentView
from reconciliation.imports import AccountRef
from reconciliation.models import AdjustmentStatus
from reconciliation.schemas import AccountText, ReconciliationRun

Note = Annotated[str, msgspec.Meta(max_length=500, description="Why, in the officer's words (kept in the audit log)")]
ExceptionId = Annotated[int, msgspec.Meta(ge=1, le=2**53)]


class ManualMatchCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    line_exception_id: Annotated[ExceptionId, msgspec.Meta(description="The unmatched statement line's exception")]
    item_exception_ids: Annotated[
        list[ExceptionId],
        msgspec.Meta(min_length=1, max_length=100, description="Our unmatched items' exceptions; they must add up"),
    ]
    note: Note = ""


class ExceptionActionCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    note: Note = ""


class DayCloseCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    account: AccountText
    date: Annotated[date, msgspec.Meta(description="The business day (Asia/Ho_Chi_Minh)", examples=["2026-11-23"])]


class Adjustment(msgspec.Struct, frozen=True):
    """A suspense adjustment: proposed by one finance officer, posted when another approves it with TOTP."""

    id: int
    exception_id: int
    reference: Annotated[str, msgspec.Meta(description="The adjustment transfer's reference in the ledger")]
    date: Annotated[date, msgspec.Meta(description="The day it is dated to: its own, or the next open day")]
    debit_account_id: int
    credit_account_id: int
    amount_vnd: int
    effect_vnd: Annotated[int, msgspec.Meta(description="The drift it explains: + the bank held more, - less")]
    note: str
    status: AdjustmentStatus
    proposed_by: int
    proposed_at: datetime
    approved_by: int | None
    approved_at: datetime | None
    entry_id: Annotated[int | None, msgspec.Meta(description="The ledger entry, once approved")]

    @classmethod
    def of(cls, view: AdjustmentView) -> Adjustment:
        return cls(
            id=view.id,
            exception_id=view.exception_id,
            reference=view.reference,
            date=view.business_day,
            debit_account_id=view.debit_account_id,
            credit_account_id=view.credit_account_id,
            amount_vnd=view.amount_vnd,
            effect_vnd=view.effect_vnd,
            note=view.note,
            status=view.status,
            proposed_by=view.proposed_by,
            proposed_at=view.proposed_at,
            approved_by=view.approved_by,
            approved_at=view.approved_at,
            entry_id=view.entry_id,
        )


class ReconciliationDay(msgspec.Struct, frozen=True):
    """A bank account's business day: its newest run and queue, the drift and what explains it, open or closed."""

    account: AccountText
    date: date
    closed: bool
    closed_at: datetime | None
    closed_by: int | None
    drift_vnd: Annotated[int | None, msgspec.Meta(description="The newest run's drift; null without a statement")]
    explained_vnd: Annotated[int, msgspec.Meta(description="What matches by hand, carries and adjustments explain")]
    unexplained_vnd: int
    open_exceptions: int
    run: ReconciliationRun | None
    pending_adjustments: list[Adjustment]

    @classmethod
    def of(cls, day: DaySummary, pending: list[AdjustmentView]) -> ReconciliationDay:
        return cls(
            account=str(day.account),
            date=day.business_day,
            closed=day.closed,
            closed_at=day.closed_at,
            closed_by=day.closed_by,
            drift_vnd=day.drift_vnd,
            explained_vnd=day.explained_vnd,
            unexplained_vnd=day.unexplained_vnd,
            open_exceptions=day.open_exceptions,
            run=ReconciliationRun.of(day.run) if day.run is not None else None,
            pending_adjustments=[Adjustment.of(view) for view in pending],
        )


def account_of(text: str) -> AccountRef:
    """``BIN:NUMBER`` as an account; the schemas' pattern refuses anything else first, the console's forms have none."""
    found = AccountRef.parse(text)
    if found is None:
        raise StatementAccountUnknown(field="account")
    return found
