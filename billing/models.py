"""Tables of the billing room: billers, their bills and each bill's history, citizens' links, bill payments,
and the daily settlements of what billers are owed."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from civicpay.db import Base, BigIntPK, UtcDateTime
from civicpay.reference_codes import ReferenceScheme
from wallet import InstructionRecord

# A bill payment's reference (thanh toán hóa đơn): what the biller's webhook and the receipt quote.
PAYMENT_REFERENCE = ReferenceScheme("TTHD", 11)


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


# What a citizen's app calls each kind of bill, and what it asks for to link one (the biller's customer code).
CATEGORY_LABELS = {
    BillerCategory.ELECTRICITY: "Tiền điện",
    BillerCategory.WATER: "Tiền nước",
    BillerCategory.SANITATION: "Phí vệ sinh môi trường",
    BillerCategory.TUITION: "Học phí",
    BillerCategory.PUBLIC_SERVICE_FEE: "Phí dịch vụ công",
    BillerCategory.TELECOM: "Cước viễn thông",
    BillerCategory.HOSPITAL: "Viện phí",
    BillerCategory.OTHER: "Hóa đơn khác",
}
CODE_LABELS = {
    BillerCategory.ELECTRICITY: "Mã khách hàng (trên hóa đơn tiền điện)",
    BillerCategory.WATER: "Mã khách hàng / số hợp đồng nước",
    BillerCategory.SANITATION: "Mã khách hàng",
    BillerCategory.TUITION: "Mã học sinh",
    BillerCategory.PUBLIC_SERVICE_FEE: "Số hồ sơ",
    BillerCategory.TELECOM: "Số thuê bao",
    BillerCategory.HOSPITAL: "Mã bệnh nhân",
    BillerCategory.OTHER: "Mã khách hàng",
}


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
    # Where its system answers look-ups of a customer's open bills (billing/pull.py), with
    # ``{customer_code}`` in it; None for a biller that only pushes its bills.
    lookup_url: Mapped[str | None] = mapped_column(String(300))
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
        CheckConstraint("autopay_ceiling_vnd IS NULL OR autopay_ceiling_vnd > 0", name="autopay_ceiling_positive"),
        CheckConstraint("(autopay_ceiling_vnd IS NULL) = (autopay_from IS NULL)", name="autopay_whole"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id"), index=True)
    biller_id: Mapped[int] = mapped_column(ForeignKey("billing_biller.id"))
    customer_code: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Auto-pay (tự động thanh toán): on while a ceiling is set; bills due from ``autopay_from`` (the business
    # day of opting in) on are paid on their due date, within the ceiling per business month.
    autopay_ceiling_vnd: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    autopay_from: Mapped[date | None] = mapped_column(Date, nullable=True)


class AutopayOutcome(StrEnum):
    PAID = "paid"
    FAILED = "failed"
    # Someone paid the bill first (another citizen of the household, or by hand): nothing to tell anyone.
    SKIPPED = "skipped"


class AutopayAttempt(Base):
    """Auto-pay's one try at one bill for one link, written in the transaction of its payment.

    UNIQUE by (link, bill): however many workers reach the bill, one attempt commits, with its money or
    its failure, and a failure is told once and not tried again (the citizen pays by hand).
    ``link_id`` has no foreign key on purpose: unlinking a code must not erase the record of money moved.
    """

    __tablename__ = "billing_autopay_attempt"
    __table_args__ = (
        UniqueConstraint("link_id", "bill_id"),
        CheckConstraint("outcome IN ('paid', 'failed', 'skipped')", name="outcome_known"),
        CheckConstraint("outcome != 'paid' OR payment_id IS NOT NULL", name="paid_has_payment"),
        # The month's auto-payments of a link are summed under the ceiling on every try.
        Index("ix_billing_autopay_attempt_month", "link_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    link_id: Mapped[int] = mapped_column(BigInteger)
    bill_id: Mapped[int] = mapped_column(ForeignKey("billing_bill.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id"))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("billing_payment.id"), nullable=True, unique=True)
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

    @property
    def reference(self) -> str:
        return PAYMENT_REFERENCE.encode(self.id)


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


class BillerSettlement(InstructionRecord, Base):
    """One business day's payout of a biller's takings to its settlement account (quyết toán thu hộ).

    An instruction to the bank (``wallet.InstructionKind``): its amount held on the biller's payable
    toward the account the money is in, queued, sent, then confirmed (the hold posts: the payable is
    drained) or rejected (the hold is voided: the money is back on the payable, and the bill payments
    it carried are settled again by a later business day's run). UNIQUE by biller and business day,
    committed with the hold, so however many workers and officers run it a day pays a biller once.
    The settlement account is copied here: the report says where this money went, whatever the biller
    changes later.
    """

    __tablename__ = "billing_settlement"
    __table_args__ = (
        UniqueConstraint("biller_id", "business_day"),
        CheckConstraint("amount_vnd > 0", name="amount_positive"),
        CheckConstraint("bill_count > 0", name="bills_counted"),
        CheckConstraint("status IN ('queued', 'sent', 'confirmed', 'rejected')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    biller_id: Mapped[int] = mapped_column(ForeignKey("billing_biller.id"))
    # The business day (Asia/Ho_Chi_Minh) this is that day's one settlement of; bills paid before
    # ``cutoff_at`` and not settled yet are in it.
    business_day: Mapped[date] = mapped_column(Date)
    cutoff_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # What the bank knows the payout by and prints on both statements (billing.settlements.SETTLEMENT).
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    bill_count: Mapped[int]
    bank_bin: Mapped[str] = mapped_column(String(6))
    account_number: Mapped[str] = mapped_column(String(19))
    account_holder: Mapped[str] = mapped_column(String(100))
    # Which of our bank accounts pays it: the one the payments' money is in (the wallets' pool).
    from_bank_bin: Mapped[str] = mapped_column(String(6))
    from_account_number: Mapped[str] = mapped_column(String(19))
    hold_id: Mapped[int] = mapped_column(ForeignKey("ledger_hold.id"), unique=True)

    @property
    def sent_as(self) -> str:
        return self.reference


class BillerSettlementItem(Base):
    """One bill payment (allocation) a settlement carries: the lines of its report.

    Not unique by allocation: a rejected settlement keeps its lines (its report still says what it
    tried to pay), and the allocation is carried again by a later one. An allocation is unsettled
    while no settlement carrying it is queued, sent or confirmed.
    """

    __tablename__ = "billing_settlement_item"
    __table_args__ = (UniqueConstraint("settlement_id", "payment_item_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("billing_settlement.id"))
    payment_item_id: Mapped[int] = mapped_column(ForeignKey("billing_payment_item.id"), index=True)


class WebhookDelivery(Base):
    """One signed notification to one biller, sent through the outbox message whose key it names.

    The outbox row says how the delivery stands (tries, last error, delivered); this row says whose it
    is and what it is about, so a biller's log is read without looking into generic outbox payloads.
    """

    __tablename__ = "billing_webhook_delivery"
    __table_args__ = (Index("ix_billing_webhook_delivery_biller", "biller_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    biller_id: Mapped[int] = mapped_column(ForeignKey("billing_biller.id"))
    payment_id: Mapped[int] = mapped_column(ForeignKey("billing_payment.id"), index=True)
    event: Mapped[str] = mapped_column(String(40))
    # The outbox message's key, sent as X-Civicpay-Delivery: the biller dedupes by it.
    outbox_key: Mapped[str] = mapped_column(ForeignKey("outbox_message.key"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebhookAttempt(Base):
    """One HTTP try of a delivery and what the biller answered (or why nothing came back)."""

    __tablename__ = "billing_webhook_attempt"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("billing_webhook_delivery.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # None when the biller never answered (refused connection, timeout).
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
