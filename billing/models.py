"""Tables of the billing room: billers, their bills and each bill's history, citizens' links, bill payments."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from civicpay.db import Base, BigIntPK, UtcDateTime


class BillerCategory(StrEnum):
    """What a biller collects for; each is a ``civicpay.money.Category`` of the same name (``other`` counts)."""

    ELECTRICITY = "electricity"
    WATER = "water"
    SANITATION = "sanitation"
    TUITION = "tuition"
    PUBLIC_SERVICE_FEE = "public_service_fee"
    TELECOM = "telecom"
    HOSPITAL = "hospital"
    OTHER = "other"


class PaymentPolicy(StrEnum):
    """What the biller accepts besides the exact amount due."""

    REFUSE = "refuse"  # the exact amount due, nothing else
    ALLOW_PARTIAL = "allow_partial"  # less than is due: the bill stays open for the rest
    KEEP_CREDIT = "keep_credit"  # more than is due by bank transfer: the rest is the customer code's credit


class BillStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"


class Biller(Base):
    """A company or agency whose bills citizens pay (đơn vị thu hộ): its system's API key and its payable."""

    __tablename__ = "billing_biller"
    __table_args__ = (
        CheckConstraint(
            "category IN ('electricity', 'water', 'sanitation', 'tuition', 'public_service_fee', 'telecom',"
            " 'hospital', 'other')",
            name="category_known",
        ),
        CheckConstraint("payment_policy IN ('refuse', 'allow_partial', 'keep_credit')", name="policy_known"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(24))
    # Where its money is settled to, and the name the bank gave for that account.
    bank_bin: Mapped[str] = mapped_column(String(6))
    account_number: Mapped[str] = mapped_column(String(19))
    account_holder: Mapped[str] = mapped_column(String(100))
    api_key_id: Mapped[int] = mapped_column(ForeignKey("auth_api_key.id"), unique=True)
    webhook_url: Mapped[str] = mapped_column(String(300))
    webhook_secret: Mapped[str] = mapped_column(String(128))
    payment_policy: Mapped[str] = mapped_column(String(16))
    # Bills paid and not yet settled to the biller: a liability of ours to it.
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Bill(Base):
    """One bill as the biller sent it last; ``version`` counts its amendments (``BillRevision`` keeps each)."""

    __tablename__ = "billing_bill"
    __table_args__ = (
        UniqueConstraint("biller_id", "external_id"),
        CheckConstraint("amount_vnd > 0", name="amount_positive"),
        CheckConstraint("status IN ('open', 'paid', 'cancelled')", name="status_known"),
        CheckConstraint("status != 'paid' OR paid_at IS NOT NULL", name="paid_has_time"),
        # Never more paid than billed, and paid means paid in full: the last word on double payment once
        # a bill may be paid in parts, whatever the row lock misses.
        CheckConstraint("amount_paid_vnd >= 0 AND amount_paid_vnd <= amount_vnd", name="paid_within_amount"),
        CheckConstraint("status != 'paid' OR amount_paid_vnd = amount_vnd", name="paid_in_full"),
        Index("ix_billing_bill_customer", "biller_id", "customer_code", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    biller_id: Mapped[int] = mapped_column(ForeignKey("billing_biller.id"))
    # The biller's own id for the bill: what makes a push idempotent.
    external_id: Mapped[str] = mapped_column(String(64))
    customer_code: Mapped[str] = mapped_column(String(40))
    customer_name: Mapped[str] = mapped_column(String(100))
    period: Mapped[str] = mapped_column(String(20))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    # The sum of its allocations, kept on the row so a payment checks and raises it under the row's lock.
    amount_paid_vnd: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    due_date: Mapped[date] = mapped_column(Date)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class BillRevision(Base):
    """Each version of a bill as it was received: the first push, every amendment, the cancellation."""

    __tablename__ = "billing_bill_revision"
    __table_args__ = (UniqueConstraint("bill_id", "version"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("billing_bill.id"))
    version: Mapped[int]
    customer_name: Mapped[str] = mapped_column(String(100))
    period: Mapped[str] = mapped_column(String(20))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[date] = mapped_column(Date)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BillLink(Base):
    """A citizen's customer code at a biller; several citizens of a household may link the same code."""

    __tablename__ = "billing_link"
    __table_args__ = (
        UniqueConstraint("user_id", "biller_id", "customer_code"),
        Index("ix_billing_link_code", "biller_id", "customer_code"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id"), index=True)
    biller_id: Mapped[int] = mapped_column(ForeignKey("billing_biller.id"))
    customer_code: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PaymentSource(StrEnum):
    """Where a bill payment's money came from."""

    WALLET = "wallet"  # a citizen's wallet: ``user_id`` and ``wallet_id`` say whose
    BANK = "bank"  # a transfer from any bank app naming the bill's reference: ``notification_id`` says which
    CREDIT = "credit"  # the customer code's credit at a ``keep_credit`` biller, left by an earlier overpayment


class BillPayment(Base):
    """One payment of one or more bills, from a wallet or by a bank transfer: one ledger entry."""

    __tablename__ = "billing_payment"
    __table_args__ = (
        CheckConstraint("amount_vnd > 0", name="amount_positive"),
        # Who paid is known for a wallet payment; a bank transfer's payer is whoever the notification names.
        CheckConstraint(
            "(source = 'wallet' AND user_id IS NOT NULL AND wallet_id IS NOT NULL AND notification_id IS NULL)"
            " OR (source = 'bank' AND notification_id IS NOT NULL AND user_id IS NULL AND wallet_id IS NULL)"
            " OR (source = 'credit' AND notification_id IS NULL AND user_id IS NULL AND wallet_id IS NULL)",
            name="source_consistent",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    source: Mapped[str] = mapped_column(String(8))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("auth_user.id"), index=True)
    wallet_id: Mapped[int | None] = mapped_column(ForeignKey("wallet.id"))
    # The bank's notification whose money paid it: one notification pays at most one payment.
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("bank_notification.id"), unique=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entry.id"), unique=True)
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BillPaymentItem(Base):
    """What a payment paid on one bill (the allocation); a bill paid in parts has one per part.

    ``sequence`` counts a bill's allocations from 1, taken under the bill's row lock: two payments that
    slipped past the lock would take the same number and the second would fail on the unique key.
    """

    __tablename__ = "billing_payment_item"
    __table_args__ = (
        CheckConstraint("amount_vnd > 0", name="amount_positive"),
        CheckConstraint("sequence >= 1", name="sequence_positive"),
        UniqueConstraint("bill_id", "sequence"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("billing_payment.id"), index=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("billing_bill.id"))
    sequence: Mapped[int]
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("ledger_transfer.id"), unique=True)


class CustomerCredit(Base):
    """What a customer code has paid a ``keep_credit`` biller beyond its bills (số dư trả trước).

    The money is in the biller's credit account in the ledger (``allocations.credit_account``), whose
    balance is the sum of its customer codes' rows; it pays that code's next bill as soon as one is open.
    """

    __tablename__ = "billing_credit"
    __table_args__ = (
        UniqueConstraint("biller_id", "customer_code"),
        CheckConstraint("amount_vnd >= 0", name="amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    biller_id: Mapped[int] = mapped_column(ForeignKey("billing_biller.id"))
    customer_code: Mapped[str] = mapped_column(String(40))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
