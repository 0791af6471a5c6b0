"""People who sign in, and the API keys billers' systems use."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from civicpay.db import Base, BigIntPK, UtcDateTime


class Role(StrEnum):
    CITIZEN = "citizen"
    CLERK = "clerk"
    MERCHANT = "merchant"
    BILLER = "biller"
    PROGRAMME_OFFICER = "programme_officer"
    FINANCE_OFFICER = "finance_officer"
    ADMIN = "admin"


class User(Base):
    __tablename__ = "auth_user"
    __table_args__ = (
        CheckConstraint(
            "role IN ('citizen', 'clerk', 'merchant', 'programme_officer', 'finance_officer', 'admin')",
            name="role_signs_in",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    phone: Mapped[str] = mapped_column(String(16), unique=True)
    # Căn cước công dân: 12 digits. Staff accounts created by an admin may have none.
    citizen_id: Mapped[str | None] = mapped_column(String(12), unique=True)
    full_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(200))
    # Base32 TOTP seeds: the pending one until the first code confirms it, then the active one.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_pending_secret: Mapped[str | None] = mapped_column(String(64))
    # The last 30-second step whose code was accepted; a code for it or earlier is a replay.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    otp_failures: Mapped[int] = mapped_column(default=0)
    otp_locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ApiKey(Base):
    """A machine credential. Only a SHA-256 of the secret is kept; the key is shown once."""

    __tablename__ = "auth_api_key"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(24), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SignInThrottle(Base):
    """Failed sign-ins per phone number tried (registered or not) and client address; see civicpay.auth.throttle.

    Keyed by the number tried rather than by user, so an unknown number slows down and locks exactly like a
    real one and cannot be used to learn who has an account; and by the address tried from, so a stranger
    elsewhere cannot lock the owner out. The row with an empty ``phone`` counts every number tried from the
    address.
    """

    __tablename__ = "auth_sign_in_throttle"

    phone: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    # The failures counted are those since first_failure_at, within the window (login_failure_window_seconds).
    first_failure_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
