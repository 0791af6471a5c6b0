"""A citizen's e-wallet (ví điện tử): the holder, the KYC tier, and its ledger account."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
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
