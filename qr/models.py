"""Tables of the QR room: one-stop offices, their counters and clerks, fee collections, merchants, remittances."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from civicpay.db import Base, BigIntPK, UtcDateTime
from civicpay.reference_codes import ReferenceScheme
from wallet import InstructionRecord

# "TTHC" (thủ tục hành chính) + the collection id in seven base-36 characters + a check character:
# twelve characters, within the sixteen a reference may have.
COLLECTION = ReferenceScheme("TTHC", 7)


class Office(Base):
    """A one-stop office (bộ phận một cửa) and the bank account its fees are collected into.

    Fees belong to the agency (cơ quan thu) the office collects for, and reach that agency's State
    Treasury account (tài khoản tạm thu chờ nộp ngân sách tại KBNN) through the daily sweep.
    """

    __tablename__ = "qr_office"
    __table_args__ = (UniqueConstraint("bank_bin", "account_number"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    city: Mapped[str] = mapped_column(String(60))
    # The collection account (tài khoản chuyên thu) a dynamic VietQR pays into.
    bank_bin: Mapped[str] = mapped_column(String(6))
    account_number: Mapped[str] = mapped_column(String(19))
    agency_code: Mapped[str] = mapped_column(String(16), index=True)
    agency_name: Mapped[str] = mapped_column(String(120))
    treasury_account: Mapped[str] = mapped_column(String(32))
    # Fees collected and not yet swept to the Treasury: a liability of ours to the agency.
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Counter(Base):
    """A counter (quầy) of an office, with the screen that faces the citizen."""

    __tablename__ = "qr_counter"
    __table_args__ = (UniqueConstraint("office_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("qr_office.id"))
    name: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Clerk(Base):
    """A clerk's place of work: they collect at the counters of this office only."""

    __tablename__ = "qr_clerk"

    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id"), primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("qr_office.id"))


class CollectionStatus(StrEnum):
    OPEN = "open"  # its VietQR may be paid until it expires
    PAID = "paid"  # paid once, in full, before it expired: a receipt number is given
    EXPIRED = "expired"  # not paid in time; a late payment goes to suspense
    CANCELLED = "cancelled"  # withdrawn by the clerk before it was paid
    REFUNDED = "refunded"  # paid, then the money was given back


class PaidBy(StrEnum):
    WALLET = "wallet"
    BANK = "bank"


class FeeKind(StrEnum):
    FEE = "fee"  # phí
    CHARGE = "charge"  # lệ phí


class FeeCollection(Base):
    """One procedure fee to collect at a counter (khoản thu phí, lệ phí thủ tục hành chính).

    ``reference`` is what travels with the payment (62.05 and 62.08 of the VietQR, and from there the
    bank transfer's description): the id with a check character, so it is worked out, never stored.
    """

    __tablename__ = "qr_fee_collection"
    __table_args__ = (
        CheckConstraint("amount_vnd > 0", name="amount_positive"),
        CheckConstraint("status IN ('open', 'paid', 'expired', 'cancelled', 'refunded')", name="status_known"),
        # Paid (and so refunded) means money booked and a receipt given; only a paid fee is swept.
        CheckConstraint(
            "status NOT IN ('paid', 'refunded') OR (transfer_id IS NOT NULL AND receipt_number IS NOT NULL)",
            name="paid_has_money_and_receipt",
        ),
        CheckConstraint("swept_by_id IS NULL OR status = 'paid'", name="only_paid_is_swept"),
        Index("ix_qr_fee_collection_counter_created", "counter_id", "id"),
        Index("ix_qr_fee_collection_unswept", "office_id", "status", "swept_by_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("qr_office.id"))
    counter_id: Mapped[int] = mapped_column(ForeignKey("qr_counter.id"))
    clerk_user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id"))
    procedure_code: Mapped[str] = mapped_column(String(32))
    procedure_name: Mapped[str] = mapped_column(String(200))
    dossier_number: Mapped[str] = mapped_column(String(40))
    payer_name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(8))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    paid_by: Mapped[str | None] = mapped_column(String(8))
    payer_wallet_id: Mapped[int | None] = mapped_column(ForeignKey("wallet.id"))
    # One payment pays one collection: neither a transfer nor a bank notification can pay two.
    bank_notification_id: Mapped[int | None] = mapped_column(ForeignKey("bank_notification.id"), unique=True)
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfer.id"), unique=True)
    receipt_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    swept_by_id: Mapped[int | None] = mapped_column(ForeignKey("qr_treasury_remittance.id"))

    @property
    def reference(self) -> str:
        return COLLECTION.encode(self.id)


class TreasuryRemittance(InstructionRecord, Base):
    """One sweep of an agency's fees from one of our bank accounts to its State Treasury account (nộp KBNN).

    An instruction to the bank (``wallet.InstructionKind``): queued, sent, then confirmed or rejected by
    the bank, with its reason code. Remittances booked before revision 0009 moved the money at once and
    are confirmed, with no hold and no single paying account.
    """

    __tablename__ = "qr_treasury_remittance"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'sent', 'confirmed', 'rejected')", name="status_known"),
        CheckConstraint("hold_id IS NOT NULL OR status = 'confirmed'", name="pending_is_held"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # What the remittance's bank transfer carries, for its statement line to be found (qr.treasury.REMITTANCE).
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    agency_code: Mapped[str] = mapped_column(String(16), index=True)
    treasury_account: Mapped[str] = mapped_column(String(32))
    # Which of our bank accounts pays it: the office's collection account, or the wallets' pooled account.
    from_bank_bin: Mapped[str | None] = mapped_column(String(6))
    from_account_number: Mapped[str | None] = mapped_column(String(19))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    collections: Mapped[int]
    # The fees leaving the offices' accounts for the money on its way to the Treasury.
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entry.id"), unique=True)
    # That money, held toward the paying bank account until the bank answers.
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_hold.id"), unique=True)

    @property
    def sent_as(self) -> str:
        return self.reference


class Merchant(Base):
    """An acceptance point (điểm chấp nhận thanh toán) with a printed static VietQR.

    The code names the merchant's own bank account, so any bank app pays the merchant directly; a
    scan from our wallet credits the merchant's account with us instead, settled to the same bank
    account daily.
    """

    __tablename__ = "qr_merchant"
    __table_args__ = (UniqueConstraint("bank_bin", "account_number"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id"), unique=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallet.id"), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    city: Mapped[str] = mapped_column(String(60))
    mcc: Mapped[str] = mapped_column(String(4))
    bank_bin: Mapped[str] = mapped_column(String(6))
    account_number: Mapped[str] = mapped_column(String(19))
    bank_account_id: Mapped[int] = mapped_column(ForeignKey("linked_bank_account.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
