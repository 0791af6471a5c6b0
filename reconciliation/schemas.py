"""The reconciliation room's API shapes (msgspec Structs at the edge; never ORM rows)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec

from reconciliation.imports import ImportSummary
from reconciliation.model import StatementFormat
from reconciliation.models import ExceptionKind, ExceptionState, RunStatus
from reconciliation.runs import RunView

ACCOUNT_PATTERN = r"^[0-9]{6}:[0-9]{1,19}$"
AccountText = Annotated[
    str,
    msgspec.Meta(
        pattern=ACCOUNT_PATTERN,
        description="The bank account as BIN:NUMBER (the bank's 6-digit BIN, the account number)",
        examples=["970436:1017468888"],
    ),
]


# A statement's account: a bank account as BIN:NUMBER, or an agency's State Treasury account as KBNN:NUMBER.
StatementAccountText = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^([0-9]{6}:[0-9]{1,19}|KBNN:[0-9.]{1,19})$",
        description="BIN:NUMBER of a bank account, or KBNN:NUMBER of an agency's Treasury account",
        examples=["970436:1017468888", "KBNN:3511.0.1054321"],
    ),
]


class ImportedStatement(msgspec.Struct, frozen=True):
    position: Annotated[int, msgspec.Meta(description="Its place in the file, from 1")]
    statement_id: Annotated[str, msgspec.Meta(description="The bank's id of the statement")]
    business_day: Annotated[date | None, msgspec.Meta(description="The day it closes (what a run looks for)")]
    opening_vnd: int | None
    closing_vnd: int | None
    lines: int
    credits_vnd: int
    debits_vnd: int
    continuous: Annotated[
        bool | None, msgspec.Meta(description="opening + credits - debits = closing; null without balances")
    ]
    follows_previous: Annotated[
        bool | None, msgspec.Meta(description="Its opening equals the previous statement's closing; null for none")
    ]


class StatementImport(msgspec.Struct, frozen=True):
    """A file imported: every statement and line of it stored, in one transaction."""

    file_id: int
    sha256: str
    format: StatementFormat
    account: StatementAccountText
    imported_at: datetime
    lines: int
    statements: list[ImportedStatement]

    @classmethod
    def of(cls, summary: ImportSummary) -> StatementImport:
        return cls(
            file_id=summary.file_id,
            sha256=summary.sha256,
            format=summary.format,
            account=str(summary.account),
            imported_at=summary.imported_at,
            lines=summary.lines,
            statements=[
                ImportedStatement(
                    position=s.position,
                    statement_id=s.statement_id,
                    business_day=s.business_day,
                    opening_vnd=s.opening_vnd,
                    closing_vnd=s.closing_vnd,
                    lines=s.lines,
                    credits_vnd=s.credits_vnd,
                    debits_vnd=s.debits_vnd,
                    continuous=s.continuous,
                    follows_previous=s.follows_previous,
                )
                for s in summary.statements
            ],
        )


class ReconciliationRunCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    account: AccountText
    date: Annotated[date, msgspec.Meta(description="The business day (Asia/Ho_Chi_Minh)", examples=["2026-11-23"])]


class RunExceptionOut(msgspec.Struct, frozen=True):
    kind: ExceptionKind
    bank_reference: Annotated[str | None, msgspec.Meta(description="The statement line's bank reference")]
    statement_amount_vnd: Annotated[int | None, msgspec.Meta(description="The statement line's amount")]
    our_reference: Annotated[str | None, msgspec.Meta(description="Our side's reference")]
    our_amount_vnd: Annotated[int | None, msgspec.Meta(description="Our side's amount")]
    direction: Annotated[str | None, msgspec.Meta(description="credit (money in) or debit, seen from our account")]
    line_id: int | None
    transfer_id: int | None
    detail: dict[str, Any]
    # --- the queue (reconciliation.exceptions) ---
    id: Annotated[int, msgspec.Meta(description="The exception's id in the queue: what its actions name")] = 0
    state: Annotated[
        ExceptionState, msgspec.Meta(description="open, matched, adjusting (waiting for approval), adjusted, carried")
    ] = ExceptionState.OPEN
    carried_from_id: Annotated[
        int | None, msgspec.Meta(description="The earlier day's exception this one carries on")
    ] = None
    carried_to: Annotated[date | None, msgspec.Meta(description="The day a carried exception went to")] = None
    resolution: Annotated[
        dict[str, Any] | None, msgspec.Meta(description="How it was resolved: rule, items, note, adjustment")
    ] = None
    resolved_by_user_id: int | None = None
    resolved_at: datetime | None = None


class ReconciliationRun(msgspec.Struct, frozen=True):
    """One run: counts, drift and every exception, as the CLI's --json prints it."""

    id: int
    account: AccountText
    date: date
    status: Annotated[
        RunStatus,
        msgspec.Meta(
            description="no_statement (none, or no line that day: never 'all matched'), reconciled, exceptions"
        ),
    ]
    file_id: Annotated[int | None, msgspec.Meta(description="The imported file compared")]
    statement_lines: int
    ledger_items: int
    matched: int
    unmatched_ours: int
    unmatched_theirs: int
    amount_mismatches: int
    duplicates: int
    reversals: int
    ledger_balance_vnd: Annotated[int, msgspec.Meta(description="The ledger's balance at the day's end")]
    statement_closing_vnd: int | None
    drift_vnd: Annotated[int | None, msgspec.Meta(description="Statement closing minus ledger balance")]
    created_at: datetime
    exceptions: list[RunExceptionOut]

    @classmethod
    def of(cls, view: RunView) -> ReconciliationRun:
        return cls(
            id=view.id,
            account=str(view.account),
            date=view.business_day,
            status=view.status,
            file_id=view.file_id,
            statement_lines=view.statement_lines,
            ledger_items=view.ledger_items,
            matched=view.matched,
            unmatched_ours=view.unmatched_ours,
            unmatched_theirs=view.unmatched_theirs,
            amount_mismatches=view.amount_mismatches,
            duplicates=view.duplicates,
            reversals=view.reversals,
            ledger_balance_vnd=view.ledger_balance_vnd,
            statement_closing_vnd=view.statement_closing_vnd,
            drift_vnd=view.drift_vnd,
            created_at=view.created_at,
            exceptions=[
                RunExceptionOut(
                    kind=e.kind,
                    bank_reference=e.bank_reference,
                    statement_amount_vnd=e.statement_amount_vnd,
                    our_reference=e.our_reference,
                    our_amount_vnd=e.our_amount_vnd,
                    direction=e.direction,
                    line_id=e.line_id,
                    transfer_id=e.transfer_id,
                    detail=e.detail,
                    id=e.id,
                    state=e.state,
                    carried_from_id=e.carried_from_id,
                    carried_to=e.carried_to,
                    resolution=e.resolution,
                    resolved_by_user_id=e.resolved_by_user_id,
                    resolved_at=e.resolved_at,
                )
                for e in view.exceptions
            ],
        )
