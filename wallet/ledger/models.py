"""Ledger tables. Money rows (entries, transfers, postings) are append-only.

Balances live on the account row, next to the CHECK that keeps a no-overdraft account from going
below zero, so the database refuses an overdraft even if Python has a bug. Money that can only raise
a balance may wait beside the row in ``ledger_balance_increase`` (see ``BalanceIncrease``), so a busy
receiver is not one row lock. ``check_invariants`` proves that every balance, row and waiting
increases together, equals the sum of its postings.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from civicpay.db import Base, BigIntPK, UtcDateTime


class AccountKind(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    REVENUE = "revenue"
    EXPENSE = "expense"
    EQUITY = "equity"


# Liabilities, revenue and equity grow on the credit side; a wallet is a liability of ours.
CREDIT_NORMAL: frozenset[AccountKind] = frozenset({AccountKind.LIABILITY, AccountKind.REVENUE, AccountKind.EQUITY})


class HoldStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


class Account(Base):
    __tablename__ = "ledger_account"
    __table_args__ = (
        # What a BalanceIncrease's foreign key names, so the database knows the kind of the account it raises.
        Index("uq_ledger_account_id_kind", "id", "kind", unique=True),
        CheckConstraint("debits_posted >= 0 AND credits_posted >= 0", name="posted_non_negative"),
        CheckConstraint("debits_pending >= 0 AND credits_pending >= 0", name="pending_non_negative"),
        CheckConstraint(
            "kind IN ('asset', 'liability', 'revenue', 'expense', 'equity')",
            name="kind_known",
        ),
        CheckConstraint(
            "NOT no_overdraft"
            " OR (kind IN ('liability', 'revenue', 'equity') AND debits_posted + debits_pending <= credits_posted)"
            " OR (kind IN ('asset', 'expense') AND credits_posted + credits_pending <= debits_posted)",
            name="no_overdraft",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    no_overdraft: Mapped[bool]
    # A wallet's: what it sends is kept in running spending totals (SpendingTotal) for the limits.
    counts_spending: Mapped[bool] = mapped_column(default=False)
    debits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    debits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BalanceIncrease(Base):
    """A posting that raised its account's balance, not yet added to the account row.

    A credit to a wallet, a biller's payable or a collection account (or a debit to an asset, such as
    the bank account a top-up arrives in) cannot break an overdraft rule, so the ledger need not lock
    the receiver to write it: it inserts one of these instead of updating the row, and every payment
    to one busy account no longer waits on that account's row lock. Whoever next locks the account to
    take money out of it (``lock_accounts``), or the worker's periodic fold, deletes these rows and adds
    them to the row in the same transaction, so each is added exactly once.

    The database keeps the promise that these only ever raise a balance: the composite foreign key
    copies the account's kind here and the CHECK allows only its normal side (credit for a liability,
    revenue or equity; debit for an asset or expense). So the row's balance never exceeds the true one
    on the side an overdraft rule watches, and the row's no-overdraft CHECK still guards every debit.
    """

    __tablename__ = "ledger_balance_increase"
    __table_args__ = (
        CheckConstraint("amount_vnd > 0", name="amount_positive"),
        CheckConstraint(
            "(side = 'C' AND account_kind IN ('liability', 'revenue', 'equity'))"
            " OR (side = 'D' AND account_kind IN ('asset', 'expense'))",
            name="raises_balance",
        ),
        ForeignKeyConstraint(
            ["account_id", "account_kind"],
            ["ledger_account.id", "ledger_account.kind"],
            name="fk_ledger_balance_increase_account",
        ),
        Index("ix_ledger_balance_increase_account_id", "account_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigIntPK)  # the type of ledger_account.id
    account_kind: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(1))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)


class BankAccountPurpose(StrEnum):
    WALLET_POOL = "wallet_pool"  # the e-wallet's pooled account (tài khoản đảm bảo thanh toán ví)
    FEE_COLLECTION = "fee_collection"  # a one-stop office's collection account (tài khoản chuyên thu)
    CARD_SETTLEMENT = "card_settlement"  # where the card acquirer settles what it charged


class BankAccount(Base):
    """A bank account we hold, and the ledger asset account that mirrors it, so one can be compared with
    the bank's statement of the other.

    Keyed by the bank's BIN and the account number, as the bank and NAPAS name it (never by a bank's
    short name, which clash between public lists).
    """

    __tablename__ = "ledger_bank_account"
    __table_args__ = (
        UniqueConstraint("bank_bin", "account_number"),
        CheckConstraint("purpose IN ('wallet_pool', 'fee_collection', 'card_settlement')", name="purpose_known"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    bank_bin: Mapped[str] = mapped_column(String(6))
    account_number: Mapped[str] = mapped_column(String(19))
    holder_name: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Entry(Base):
    """A journal entry (bút toán): the transfers that commit together and balance together."""

    __tablename__ = "ledger_entry"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    description: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Transfer(Base):
    """One movement from a debit account to a credit account, as the business sees it."""

    __tablename__ = "ledger_transfer"
    __table_args__ = (
        CheckConstraint("amount_vnd > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        Index("ix_ledger_transfer_reference", "reference"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entry.id"), index=True)
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    credit_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    category: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(64))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_hold.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Posting(Base):
    """One side of a transfer on one account (bút toán ghi Nợ / ghi Có).

    The category is copied from the transfer so the spending totals are recomputed from one table, not a join.
    """

    __tablename__ = "ledger_posting"
    __table_args__ = (
        CheckConstraint("amount_vnd > 0", name="amount_positive"),
        CheckConstraint("side IN ('D', 'C')", name="side_known"),
        Index("ix_ledger_posting_account_created", "account_id", "created_at"),
        # With the id, the deferred balance check finds an entry's next posting in one probe (migration 0020).
        Index("ix_ledger_posting_entry_id_id", "entry_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entry.id"))
    transfer_id: Mapped[int] = mapped_column(ForeignKey("ledger_transfer.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    side: Mapped[str] = mapped_column(String(1))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    category: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Hold(Base):
    """Money reserved but not yet moved: pending until posted (whole or part), voided or expired.

    A pending hold may be drawn from many times first (``draw_hold``): ``posted_vnd`` is what has been
    drawn or posted, and ``amount_vnd - posted_vnd`` what it still reserves.
    """

    __tablename__ = "ledger_hold"
    __table_args__ = (
        CheckConstraint("amount_vnd > 0", name="amount_positive"),
        CheckConstraint("posted_vnd >= 0 AND posted_vnd <= amount_vnd", name="posted_within_amount"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        CheckConstraint("status IN ('pending', 'posted', 'voided', 'expired')", name="status_known"),
        Index("ix_ledger_hold_status_expires", "status", "expires_at"),
        Index("ix_ledger_hold_debit_account", "debit_account_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    credit_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    posted_vnd: Mapped[int] = mapped_column(BigInteger, default=0)
    category: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(64))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SpendingPeriod(StrEnum):
    MONTH = "month"  # the Circular 40 cap: cap-counted categories only
    DAY = "day"  # the Decision 2345 step-up: every category


class SpendingTotal(Base):
    """What an account sent in one business month or day: its posted debits and pending holds, running.

    Kept by the ledger's own writes (``wallet.ledger.spending``), so a limit check reads one row. A
    pending hold counts in the period it was made; once posted, its posting counts in the period it
    was posted; voided or expired, it no longer counts. ``starts_at`` and ``ends_at`` are the period's
    bounds as UTC instants, so ``check_invariants`` recomputes each row in plain SQL on either database.
    """

    __tablename__ = "ledger_spending_total"
    __table_args__ = (
        CheckConstraint("amount_vnd >= 0", name="amount_non_negative"),
        CheckConstraint("period IN ('month', 'day')", name="period_known"),
        CheckConstraint("ends_at > starts_at", name="period_forward"),
    )

    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
