"""Tables of the reconciliation room: imported statement files, their statements and lines, and runs with
their exceptions.

Amounts are ``_vnd``: the importer refuses a statement in any currency but the ledger's (VND), so the minor
unit is the đồng. Statement lines are append-only records of what the bank said; a run is a snapshot of one
comparison, kept so that a later import or a later run never rewrites what a finance officer saw.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from civicpay.db import Base, BigIntPK, UtcDateTime
from civicpay.reference_codes import ReferenceScheme


class RunStatus(StrEnum):
    # No statement, or a statement without a line that day: never reported as "all matched" (issue 13).
    NO_STATEMENT = "no_statement"
    RECONCILED = "reconciled"  # every line and item matched, nothing odd, and no drift
    EXCEPTIONS = "exceptions"  # something for a finance officer to explain


class ExceptionState(StrEnum):
    OPEN = "open"  # in the queue, waiting for a finance officer
    MATCHED = "matched"  # matched by hand (rule 'manual'), or a carried item matched the next day
    ADJUSTING = "adjusting"  # a suspense adjustment is proposed and waits for a second officer
    ADJUSTED = "adjusted"  # the adjustment is posted
    CARRIED = "carried"  # a timing difference: it goes on in the next day's run


class ExceptionKind(StrEnum):
    UNMATCHED_OURS = "unmatched_ours"
    UNMATCHED_THEIRS = "unmatched_theirs"
    AMOUNT_MISMATCH = "amount_mismatch"
    DUPLICATE = "duplicate"
    REVERSAL = "reversal"


class StatementFile(Base):
    """One file as it was imported; the SHA-256 is UNIQUE, so the same file twice is refused by the database."""

    __tablename__ = "recon_statement_file"
    __table_args__ = (
        CheckConstraint("format IN ('camt', 'mt940', 'bank_csv', 'kbnn_csv')", name="format_known"),
        CheckConstraint("via IN ('api', 'cli')", name="via_known"),
        Index("ix_recon_statement_file_account", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    format: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    bank_bin: Mapped[str] = mapped_column(String(6))
    account_number: Mapped[str] = mapped_column(String(19))
    # The bank account's ledger account (one per bank account we hold): what runs compare against.
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    statement_count: Mapped[int] = mapped_column(Integer)
    line_count: Mapped[int] = mapped_column(BigInteger)
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # None from the command line, which is an operator at the server rather than a signed-in user.
    imported_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("auth_user.id"))
    via: Mapped[str] = mapped_column(String(8))


class BankStatement(Base):
    """One statement (sao kê) of a file: its header, balances, sums and the continuity checks' results."""

    __tablename__ = "recon_statement"
    __table_args__ = (Index("ix_recon_statement_account_day", "account_id", "business_day"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("recon_statement_file.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    position: Mapped[int] = mapped_column(Integer)  # from 1, in the file's order
    statement_id: Mapped[str] = mapped_column(String(140))  # the bank's
    kind: Mapped[str] = mapped_column(String(40))
    bank_account: Mapped[str] = mapped_column(String(64))  # as the file names it
    currency: Mapped[str] = mapped_column(String(3))
    opening_vnd: Mapped[int | None] = mapped_column(BigInteger)
    opening_on: Mapped[date | None] = mapped_column(Date)
    closing_vnd: Mapped[int | None] = mapped_column(BigInteger)
    closing_on: Mapped[date | None] = mapped_column(Date)
    created_on: Mapped[date | None] = mapped_column(Date)
    from_date: Mapped[date | None] = mapped_column(Date)
    to_date: Mapped[date | None] = mapped_column(Date)
    # The day the statement closes: what a run for that day looks for (to_date, else the closing's date,
    # else the last booking date).
    business_day: Mapped[date | None] = mapped_column(Date)
    final: Mapped[bool] = mapped_column(Boolean)
    line_count: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_vnd: Mapped[int] = mapped_column(BigInteger, default=0)
    debits_vnd: Mapped[int] = mapped_column(BigInteger, default=0)
    # opening + credits - debits = closing; None when there is no balance to check (a notification).
    continuous: Mapped[bool | None] = mapped_column(Boolean)
    gap_vnd: Mapped[int | None] = mapped_column(BigInteger)
    # Whether the opening equals the previous statement's closing (in the file, or the account's last import).
    follows_previous: Mapped[bool | None] = mapped_column(Boolean)
    anomalies: Mapped[list[dict[str, str]]] = mapped_column(JSON)


class StatementLineRow(Base):
    """One booked entry of a statement, every field the parser gives and the raw text as in the file."""

    __tablename__ = "recon_statement_line"
    __table_args__ = (
        CheckConstraint("direction IN ('credit', 'debit')", name="direction_known"),
        CheckConstraint("amount_vnd >= 0", name="amount_non_negative"),
        Index("ix_recon_statement_line_statement", "statement_pk", "sequence"),
        Index("ix_recon_statement_line_account_day", "account_id", "booking_date"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    statement_pk: Mapped[int] = mapped_column(ForeignKey("recon_statement.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    sequence: Mapped[int] = mapped_column(Integer)
    booking_date: Mapped[date] = mapped_column(Date)
    value_date: Mapped[date | None] = mapped_column(Date)
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    direction: Mapped[str] = mapped_column(String(6))
    currency: Mapped[str] = mapped_column(String(3))
    bank_reference: Mapped[str | None] = mapped_column(String(140))
    end_to_end_id: Mapped[str | None] = mapped_column(String(140))
    our_reference: Mapped[str | None] = mapped_column(String(140))
    other_references: Mapped[list[str]] = mapped_column(JSON)
    counterparty: Mapped[str | None] = mapped_column(String(200))
    counterparty_account: Mapped[str | None] = mapped_column(String(64))
    narrative: Mapped[str] = mapped_column(Text)
    reversal: Mapped[bool] = mapped_column(Boolean)
    raw: Mapped[str] = mapped_column(Text)


class ReconciliationRun(Base):
    """One comparison of a bank account's ledger with its statement for one business day, as it came out."""

    __tablename__ = "recon_run"
    __table_args__ = (
        CheckConstraint("status IN ('no_statement', 'reconciled', 'exceptions')", name="status_known"),
        Index("ix_recon_run_account_day", "account_id", "business_day"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    bank_bin: Mapped[str] = mapped_column(String(6))
    account_number: Mapped[str] = mapped_column(String(19))
    business_day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    # The file whose statements were compared (the latest import covering the day); None without one.
    file_id: Mapped[int | None] = mapped_column(ForeignKey("recon_statement_file.id"))
    statement_lines: Mapped[int] = mapped_column(Integer)
    ledger_items: Mapped[int] = mapped_column(Integer)
    matched: Mapped[int] = mapped_column(Integer)
    unmatched_ours: Mapped[int] = mapped_column(Integer)
    unmatched_theirs: Mapped[int] = mapped_column(Integer)
    amount_mismatches: Mapped[int] = mapped_column(Integer)
    duplicates: Mapped[int] = mapped_column(Integer)
    reversals: Mapped[int] = mapped_column(Integer)
    ledger_balance_vnd: Mapped[int] = mapped_column(BigInteger)
    statement_closing_vnd: Mapped[int | None] = mapped_column(BigInteger)
    # Statement closing minus ledger balance at the day's end; None when there is no closing to compare.
    drift_vnd: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("auth_user.id"))


class RunException(Base):
    """One difference a run found: the statement's side and ours, whichever exist for its kind."""

    __tablename__ = "recon_exception"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('unmatched_ours', 'unmatched_theirs', 'amount_mismatch', 'duplicate', 'reversal')",
            name="kind_known",
        ),
        CheckConstraint("state IN ('open', 'matched', 'adjusting', 'adjusted', 'carried')", name="state_known"),
        CheckConstraint("(state = 'carried') = (carried_to IS NOT NULL)", name="carried_has_day"),
        Index("ix_recon_exception_run", "run_id", "id"),
        Index("ix_recon_exception_carried_to", "carried_to"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("recon_run.id"))
    kind: Mapped[str] = mapped_column(String(20))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("recon_statement_line.id"))
    bank_reference: Mapped[str | None] = mapped_column(String(140))
    statement_amount_vnd: Mapped[int | None] = mapped_column(BigInteger)
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfer.id"))
    our_reference: Mapped[str | None] = mapped_column(String(64))
    our_amount_vnd: Mapped[int | None] = mapped_column(BigInteger)
    direction: Mapped[str | None] = mapped_column(String(6))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    # --- the exception queue (reconciliation.exceptions; migration 0024) ---
    state: Mapped[str] = mapped_column(String(10), default="open", server_default="open")
    # The exception of an earlier day this one carries on (a timing difference carried to this day).
    carried_from_id: Mapped[int | None] = mapped_column(ForeignKey("recon_exception.id"))
    # The day a carried exception goes to; set with state 'carried'.
    carried_to: Mapped[date | None] = mapped_column(Date)
    # How it was resolved: rule ('manual', a matcher's rule for a carried item matched), the items and line,
    # the adjustment, the note, and the amount of drift the resolution explains.
    resolution: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    resolved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("auth_user.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# --- exceptions' adjustments and day close (reconciliation.exceptions, reconciliation.closing; migration 0024) ---


# The reference of a suspense adjustment's transfer (điều chỉnh đối soát). Never sent to a bank: runs leave these
# transfers out of our side (they are in the ledger's balance, and no statement line answers them).
ADJUSTMENT = ReferenceScheme("DCDS", 11)


class AdjustmentStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"


class SuspenseAdjustment(Base):
    """A ledger adjustment between a bank account's ledger account and suspense, for one exception.

    Proposed by one finance officer, approved with TOTP by another (``civicpay.auth.approval``); only then is
    the balanced entry posted. ``business_day`` is the day it is dated to: the exception's day, or the next
    open day when that one is closed.
    """

    __tablename__ = "recon_adjustment"
    __table_args__ = (
        CheckConstraint("status IN ('proposed', 'approved')", name="status_known"),
        CheckConstraint("amount_vnd > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        # Maker-checker, kept by the database too.
        CheckConstraint("approved_by IS NULL OR approved_by <> proposed_by", name="four_eyes"),
        CheckConstraint("(status = 'approved') = (entry_id IS NOT NULL)", name="approved_is_posted"),
        Index("ix_recon_adjustment_exception", "exception_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    exception_id: Mapped[int] = mapped_column(ForeignKey("recon_exception.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    business_day: Mapped[date] = mapped_column(Date)
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    credit_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    # The drift it explains: positive when the bank holds more than the ledger did (the ledger's bank account debited).
    effect_vnd: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10))
    proposed_by: Mapped[int] = mapped_column(ForeignKey("auth_user.id"))
    proposed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("auth_user.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entry.id"))


class DayClose(Base):
    """A bank account's business day closed (khóa sổ ngày): locked, nothing new is dated into it.

    UNIQUE per account and day, so two officers closing at once cannot both write it.
    """

    __tablename__ = "recon_day_close"
    __table_args__ = (UniqueConstraint("account_id", "business_day"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    business_day: Mapped[date] = mapped_column(Date)
    run_id: Mapped[int] = mapped_column(ForeignKey("recon_run.id"))
    drift_vnd: Mapped[int | None] = mapped_column(BigInteger)
    explained_vnd: Mapped[int] = mapped_column(BigInteger)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("auth_user.id"))
    closed_at: Mapped[datetime] = mapped_column(UtcDateTime)
