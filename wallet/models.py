"""A citizen's e-wallet (ví điện tử): the holder, the KYC tier, and its ledger account."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from civicpay.db import Base, BigIntPK, UtcDateTime


class KycTier(StrEnum):
    # Phone and a well-formed 12-digit CCCD declared at sign-up.
    BASIC = "basic"
    # Identity checked against the chip of the CCCD or by an officer (a later issue).
    VERIFIED = "verified"


class Wallet(Base):
    __tablename__ = "wallet"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id"), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), unique=True)
    kyc_tier: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AwaitedCitizen(Base):
    """A citizen ID without a wallet that some room holds money for (welfare, say): when a wallet opens with it,
    sign-up writes ``wallet.opened`` to the outbox, and the row, served, goes. Other sign-ups write nothing."""

    __tablename__ = "wallet_awaited_citizen"

    citizen_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class NotificationOutcome(StrEnum):
    CREDITED = "credited"  # to the wallet whose top-up code the description carries
    COLLECTED = "collected"  # paid a fee collection or a bill whose reference the description carries
    SUSPENSE = "suspense"  # could not be placed: waiting for a finance officer
    ASSIGNED = "assigned"  # placed by a finance officer after all
    RETURNING = "returning"  # a finance officer asked the bank to send it back; the bank has not yet said
    RETURNED = "returned"  # sent back to the payer: the bank confirmed the return
    OUTGOING = "outgoing"  # money leaving our account: recorded for reconciliation, nothing to credit


class BankNotification(Base):
    """One incoming-transfer notification from the bank (or its aggregator), handled exactly once.

    The bank's own id is UNIQUE: a retried notification finds its row and changes nothing.
    """

    __tablename__ = "bank_notification"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    bank_notification_id: Mapped[str] = mapped_column(String(64), unique=True)
    bank: Mapped[str] = mapped_column(String(32))
    account_number: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(3))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[str] = mapped_column(String(500))
    bank_reference: Mapped[str] = mapped_column(String(64))
    running_balance_vnd: Mapped[int | None] = mapped_column(BigInteger)
    transaction_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(16), index=True)
    # Why it went to suspense, in the stable words of a problem code.
    suspense_reason: Mapped[str | None] = mapped_column(String(32))
    wallet_id: Mapped[int | None] = mapped_column(ForeignKey("wallet.id"))
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfer.id"))
    # The reference a return to the payer carries to the bank (bank_topups.SUSPENSE_RETURN).
    return_reference: Mapped[str | None] = mapped_column(String(16), unique=True)


class CardTopupStatus(StrEnum):
    PENDING = "pending"  # money held (pending credit) until the acquirer says the card paid
    SUCCEEDED = "succeeded"  # the hold is posted: the money is in the wallet
    FAILED = "failed"  # declined or abandoned: the hold is voided
    CANCELED = "canceled"  # cancelled at the acquirer: the hold is voided


class CardTopup(Base):
    """One top-up by card (nạp tiền bằng thẻ): a PaymentIntent at the acquirer and a hold in our ledger.

    The PaymentIntent id is UNIQUE, so however often the acquirer tells us about it (webhooks, our
    re-query), it is applied to one top-up, and a final status is never left.
    """

    __tablename__ = "card_topup"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallet.id"), index=True)
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    hold_id: Mapped[int] = mapped_column(ForeignKey("ledger_hold.id"), unique=True)
    payment_intent_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    failure_code: Mapped[str | None] = mapped_column(String(64))
    refunded_vnd: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LinkedBankAccount(Base):
    """A citizen's own bank account, linked for withdrawals once the bank's holder name matched theirs."""

    __tablename__ = "linked_bank_account"
    __table_args__ = (UniqueConstraint("wallet_id", "bank_bin", "account_number"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallet.id"))
    bank_bin: Mapped[str] = mapped_column(String(6))
    account_number: Mapped[str] = mapped_column(String(19))
    # As the bank keeps it (upper case, no diacritics), from its name inquiry.
    holder_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class InstructionStatus(StrEnum):
    """Where an instruction to the bank is (a withdrawal, a remittance to the Treasury, a return)."""

    QUEUED = "queued"  # money held; the instruction is not yet with the bank
    SENT = "sent"  # the bank has it and will call back
    CONFIRMED = "confirmed"  # the bank paid it: the hold is posted
    REJECTED = "rejected"  # the bank refused it: the hold is voided, the money is where it was


class InstructionRecord:
    """What every instruction to the bank keeps of its fate, whatever it is (``wallet.bank_instructions``):
    its ``InstructionStatus``, the bank's reason code for a refusal and its own reference for a payment."""

    status: Mapped[str] = mapped_column(String(16), index=True)
    reason_code: Mapped[str | None] = mapped_column(String(16))
    bank_reference: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Withdrawal(InstructionRecord, Base):
    """Money from a wallet to its holder's own bank account (rút tiền về tài khoản ngân hàng).

    ``payout_id`` is what the bank knows it by: UNIQUE, so each callback finds one withdrawal. A payout
    made before revision 0007 has a new ``payout_id`` and keeps the old one, which the bank may already
    hold, in ``legacy_payout_id``: it is still sent and answered by that one.
    """

    __tablename__ = "withdrawal"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallet.id"), index=True)
    bank_account_id: Mapped[int] = mapped_column(ForeignKey("linked_bank_account.id"))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    hold_id: Mapped[int] = mapped_column(ForeignKey("ledger_hold.id"), unique=True)
    payout_id: Mapped[str] = mapped_column(String(32), unique=True)
    legacy_payout_id: Mapped[str | None] = mapped_column(String(32), unique=True)

    @property
    def sent_as(self) -> str:
        """The id the bank has (or will have) this payout under: the one it was first sent with."""
        return self.legacy_payout_id or self.payout_id


class SuspenseReturn(InstructionRecord, Base):
    """A finance officer's return of a suspense item to whoever sent it (hoàn trả), as an instruction to the bank.

    The money is held from suspense toward the bank account it arrived in until the bank answers: posted
    when it confirms, released (the item is in suspense again) when it rejects. An item rejected once may
    be returned again, under a new reference.
    """

    __tablename__ = "suspense_return"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("bank_notification.id"), index=True)
    # What the bank knows the return by (bank_topups.SUSPENSE_RETURN), one per return.
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    hold_id: Mapped[int] = mapped_column(ForeignKey("ledger_hold.id"), unique=True)

    @property
    def sent_as(self) -> str:
        return self.reference
