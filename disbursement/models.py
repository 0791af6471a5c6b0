"""Tables of the disbursement room: programmes and their funding, batches of beneficiaries, each row's item,
and the payments that make "each beneficiary once per programme and period" a promise the database keeps."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from civicpay.db import Base, BigIntPK, UtcDateTime
from civicpay.reference_codes import ReferenceScheme

# A funding's reference (ngân sách): what the budget's transfer to our bank account should carry.
FUNDING_REFERENCE = ReferenceScheme("NSCT", 11)
# A batch's hold and an item's payment (chi trả): 16 characters, so an item's can be a pain.001 EndToEndId later.
BATCH_REFERENCE = ReferenceScheme("DCT", 12)
ITEM_REFERENCE = ReferenceScheme("CTXH", 11)
# A bank payout file's MsgId (chi trả qua ngân hàng): random, so no count of our files can be read off it.
PAYOUT_FILE_REFERENCE = ReferenceScheme("CTNH", 11)


class ProgrammeKind(StrEnum):
    WELFARE = "welfare"  # trợ cấp xã hội
    PENSION = "pension"  # lương hưu
    ONE_OFF = "one_off"  # hỗ trợ một lần


class FundingStatus(StrEnum):
    PENDING = "pending"  # recorded by one finance officer, no money in the books yet
    APPROVED = "approved"  # a second officer confirmed it with TOTP; the entry is posted


class BatchStatus(StrEnum):
    VALIDATED = "validated"  # the report is ready; nothing is reserved
    APPROVED = "approved"  # a second officer approved it; its total is held; workers are paying it
    AWAITING_BANK = "awaiting_bank"  # wallets done; bank items wait for bank payouts, their money still held
    COMPLETED = "completed"  # every item final and the hold's remainder released


class ItemStatus(StrEnum):
    INVALID = "invalid"  # the row failed validation: never paid, its problems in the report
    VALID = "valid"  # passed validation; the batch is not approved yet
    QUEUED = "queued"  # approved, to a wallet, waiting for a worker
    PAID_TO_WALLET = "paid_to_wallet"
    PENDING_BANK = "pending_bank"  # approved, to a bank account: waiting for a worker to put it in a payout file
    SENT_TO_BANK = "sent_to_bank"  # in a pain.001 file; its money has left the hold for the bank-payout clearing
    BANK_CONFIRMED = "bank_confirmed"  # the bank's pain.002 said ACSC: the money reached the beneficiary's bank
    FAILED = "failed"  # approved but could not be paid; ``failure`` says why (a bank's reason code, e.g. AC04)
    # Unclaimed (``disbursement.unclaimed``): no wallet, no bank account. The workers moved the money from the
    # batch's hold to the programme's claims account (``held_at``); it waits there for a wallet with the citizen ID.
    HELD_UNCLAIMED = "held_unclaimed"
    CLAIMED = "claimed"  # paid from the claims account to the wallet the citizen opened later
    RETURNED = "returned"  # nobody claimed it in time: back in the programme's funding (``returned_at``)


class PayoutFileStatus(StrEnum):
    QUEUED = "queued"  # written with its money; the outbox hands it to the bank after the commit
    SENT = "sent"  # the bank took it
    COMPLETED = "completed"  # the bank's status reports gave every item a final word


class Destination(StrEnum):
    WALLET = "wallet"
    BANK = "bank"
    # Neither a wallet nor a bank account yet: held for the citizen ID until a wallet opens with it.
    UNCLAIMED = "unclaimed"


class Programme(Base):
    """A welfare, pension or one-off support programme (chương trình chi trả) and its money in our books.

    Its funding account is a liability of ours: money the budget sent for this programme, not yet paid to
    anyone. Its reserve account only ever carries holds' pending credits: a batch's reservation is a hold
    from the funding account to it, drawn from as items are paid.
    """

    __tablename__ = "disbursement_programme"
    __table_args__ = (
        CheckConstraint("kind IN ('welfare', 'pension', 'one_off')", name="kind_known"),
        CheckConstraint("max_amount_vnd > 0", name="max_amount_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    # The most one beneficiary may be paid in one row: a row above it is refused as out of range.
    max_amount_vnd: Mapped[int] = mapped_column(BigInteger)
    funding_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), unique=True)
    reserve_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), unique=True)
    # Unclaimed payments wait here for a wallet (``disbursement.unclaimed``); opened by the first batch approved
    # with an unclaimed row. Named as the programme is, since a beneficiary's wallet history shows its name.
    claims_account_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_account.id"), unique=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("auth_user.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Funding(Base):
    """Budget money arriving in our bank account for a programme: recorded by one officer, approved by another."""

    __tablename__ = "disbursement_funding"
    __table_args__ = (
        CheckConstraint("amount_vnd > 0", name="amount_positive"),
        CheckConstraint("status IN ('pending', 'approved')", name="status_known"),
        # Maker-checker, kept by the database too: the officer who recorded it never approves it.
        CheckConstraint("approved_by IS NULL OR approved_by <> recorded_by", name="four_eyes"),
        CheckConstraint("(status = 'approved') = (entry_id IS NOT NULL)", name="approved_has_entry"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("disbursement_programme.id"), index=True)
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    # What the bank's statement calls the budget's transfer, for reconciliation to match it later.
    bank_reference: Mapped[str] = mapped_column(String(35))
    status: Mapped[str] = mapped_column(String(16))
    recorded_by: Mapped[int] = mapped_column(ForeignKey("auth_user.id"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("auth_user.id"))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entry.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Batch(Base):
    """One uploaded file of beneficiaries (đợt chi trả), its validation totals, approval and hold."""

    __tablename__ = "disbursement_batch"
    __table_args__ = (
        CheckConstraint("status IN ('validated', 'approved', 'awaiting_bank', 'completed')", name="status_known"),
        CheckConstraint("approved_by IS NULL OR approved_by <> made_by", name="four_eyes"),
        CheckConstraint("(status = 'validated') = (hold_id IS NULL)", name="approved_has_hold"),
        Index("ix_disbursement_batch_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("disbursement_programme.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    made_by: Mapped[int] = mapped_column(ForeignKey("auth_user.id"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("auth_user.id"))
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_hold.id"))
    row_count: Mapped[int] = mapped_column(Integer)
    invalid_count: Mapped[int] = mapped_column(Integer)
    wallet_count: Mapped[int] = mapped_column(Integer)
    wallet_total_vnd: Mapped[int] = mapped_column(BigInteger)
    bank_count: Mapped[int] = mapped_column(Integer)
    bank_total_vnd: Mapped[int] = mapped_column(BigInteger)
    unclaimed_count: Mapped[int] = mapped_column(Integer, server_default="0")
    unclaimed_total_vnd: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # What the hold still held when the batch ended and was given back to the programme's funding.
    released_vnd: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


_HELD = text("status = 'held_unclaimed'")


class Item(Base):
    """One row of a batch's file: what it said (cut to the column's width), its problems, and its outcome."""

    __tablename__ = "disbursement_item"
    __table_args__ = (
        CheckConstraint(
            "status IN ('invalid', 'valid', 'queued', 'paid_to_wallet', 'pending_bank', 'sent_to_bank',"
            " 'bank_confirmed', 'failed', 'held_unclaimed', 'claimed', 'returned')",
            name="status_known",
        ),
        CheckConstraint("amount_vnd IS NULL OR amount_vnd > 0", name="amount_positive"),
        CheckConstraint("(held_at IS NULL) = (held_transfer_id IS NULL)", name="held_whole"),
        CheckConstraint("status NOT IN ('held_unclaimed', 'claimed', 'returned') OR held_at IS NOT NULL", name="held"),
        # What the workers look for: a batch's queued items in id order.
        Index("ix_disbursement_item_batch_status", "batch_id", "status", "id"),
        # What a new wallet's citizen ID and the unclaimed job look for: only the held items, so a province's
        # batches of paid items do not pay for an index they never use.
        Index("ix_disbursement_item_held_citizen", "citizen_id", postgresql_where=_HELD, sqlite_where=_HELD),
        Index("ix_disbursement_item_held_at", "held_at", postgresql_where=_HELD, sqlite_where=_HELD),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("disbursement_batch.id"))
    row: Mapped[int] = mapped_column(Integer)
    citizen_id: Mapped[str] = mapped_column(String(20))
    full_name: Mapped[str] = mapped_column(String(100))
    amount_vnd: Mapped[int | None] = mapped_column(BigInteger)
    period: Mapped[str] = mapped_column(String(10))
    destination: Mapped[str] = mapped_column(String(10))
    bank_bin: Mapped[str] = mapped_column(String(10))
    account_number: Mapped[str] = mapped_column(String(30))
    holder_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    # Every problem validation found, as [code, field] pairs; empty for a valid row.
    problems: Mapped[list[Any]] = mapped_column(JSON)
    wallet_account_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_account.id"))
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfer.id"))
    failure: Mapped[str | None] = mapped_column(String(40))
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The bank payout file the item went in (bank items), and the bank's words when it rejected it.
    payout_file_id: Mapped[int | None] = mapped_column(ForeignKey("disbursement_payout_file.id"), index=True)
    failure_detail: Mapped[str | None] = mapped_column(String(140))
    # The beneficiary needs an officer's follow-up (a bank rejected the account): listed until dealt with.
    follow_up: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # An unclaimed item: when and by which transfer its money went to the programme's claims account; a claimed
    # one then has the wallet's ``wallet_account_id``, ``transfer_id`` and ``paid_at``, a returned one the
    # transfer back to the funding as ``transfer_id`` and ``returned_at``.
    held_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    held_transfer_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfer.id"))
    returned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PayoutFile(Base):
    """One pain.001 file: a chunk of a batch's bank items to one destination bank, as sent (kept byte for byte)."""

    __tablename__ = "disbursement_payout_file"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'sent', 'completed')", name="status_known"),
        CheckConstraint("item_count > 0 AND total_vnd > 0", name="not_empty"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("disbursement_batch.id"), index=True)
    # The pain.001 MsgId (and PmtInfId), which the bank's pain.002 names as OrgnlMsgId.
    reference: Mapped[str] = mapped_column(String(35), unique=True)
    bank_bin: Mapped[str] = mapped_column(String(10))  # the beneficiaries' bank
    debtor_bank_bin: Mapped[str] = mapped_column(String(10))  # our account that pays
    debtor_account_number: Mapped[str] = mapped_column(String(30))
    item_count: Mapped[int] = mapped_column(Integer)
    total_vnd: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    document: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Payment(Base):
    """A beneficiary paid for a programme's period: inserted in the same transaction as the money.

    The UNIQUE constraint, not a read before the write, is what keeps anyone from being paid twice for one
    programme and period, whichever batch, worker or rerun tries.
    """

    __tablename__ = "disbursement_payment"
    __table_args__ = (UniqueConstraint("programme_id", "period", "citizen_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("disbursement_programme.id"))
    period: Mapped[str] = mapped_column(String(7))
    citizen_id: Mapped[str] = mapped_column(String(12))
    item_id: Mapped[int] = mapped_column(ForeignKey("disbursement_item.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
