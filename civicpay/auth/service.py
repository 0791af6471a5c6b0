"""Sign-up, sign-in, TOTP and API keys: the use cases behind civicpay.auth.routes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth import secrets as sec
from civicpay.auth import throttle
from civicpay.auth.errors import (
    AlreadyRegistered,
    InvalidCredentials,
    Locked,
    OtpInvalid,
    OtpReplayed,
    OtpRequired,
    TotpAlreadyEnrolled,
    TotpEnrolmentNotStarted,
    TotpNotEnrolled,
)
from civicpay.auth.identity import is_citizen_id, normalise_name, normalise_phone
from civicpay.auth.models import ApiKey, Role, User
from civicpay.db import KeptAction, keep_after_rollback
from civicpay.errors import InvalidField, NotFound, Text
from civicpay.settings import Settings

MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True, slots=True)
class NewUser:
    phone: str
    full_name: str
    password: str
    role: Role
    citizen_id: str | None = None


def phone_or_error(raw: str, *, field: str = "phone") -> str:
    phone = normalise_phone(raw)
    if phone is None:
        raise InvalidField(
            Text(
                "Số điện thoại di động Việt Nam không hợp lệ (ví dụ 0912345678)",
                "Not a Vietnamese mobile number (for example 0912345678)",
            ),
            field=field,
        )
    return phone


async def create_user(session: AsyncSession, hasher: PasswordHasher, new: NewUser, *, now: datetime) -> User:
    phone = phone_or_error(new.phone)
    full_name = normalise_name(new.full_name)
    if full_name is None:
        raise InvalidField(
            Text("Họ tên phải có ít nhất hai từ, chỉ gồm chữ cái", "The full name needs two or more words of letters"),
            field="full_name",
        )
    if (new.role == Role.CITIZEN and new.citizen_id is None) or (
        new.citizen_id is not None and not is_citizen_id(new.citizen_id)
    ):
        raise InvalidField(
            Text("Số căn cước công dân phải có 12 chữ số hợp lệ", "The citizen id (CCCD) must be 12 valid digits"),
            field="citizen_id",
        )
    if len(new.password) < MIN_PASSWORD_LENGTH:
        raise InvalidField(
            Text(f"Mật khẩu cần ít nhất {MIN_PASSWORD_LENGTH} ký tự", f"Use at least {MIN_PASSWORD_LENGTH} characters"),
            field="password",
        )
    user = User(
        phone=phone,
        citizen_id=new.citizen_id,
        full_name=full_name,
        role=new.role.value,
        password_hash=await sec.hash_password(hasher, new.password),
        otp_failures=0,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(user)
    except IntegrityError:
        # The UNIQUE constraints decide, so two concurrent sign-ups with one phone cannot both win.
        taken = "phone" if await session.scalar(select(User.id).where(User.phone == phone)) else "citizen_id"
        raise AlreadyRegistered(
            Text(
                "Số điện thoại hoặc số căn cước này đã được đăng ký",
                "This phone number or citizen id is already registered",
            ),
            field=taken,
        ) from None
    return user


async def _locked_user(session: AsyncSession, user_id: int) -> User:
    user = await session.scalar(
        select(User).where(User.id == user_id).with_for_update().execution_options(populate_existing=True)
    )
    if user is None:
        raise NotFound()
    return user


def _check_lock(until: datetime | None, now: datetime) -> None:
    if until is not None and until > now:
        wait = math.ceil((until - now).total_seconds())  # never "0 seconds" while still locked
        raise Locked(Text(f"Thử lại sau {wait} giây", f"Try again in {wait} seconds"), retry_after_seconds=wait)


async def _count_failure(session: AsyncSession, user_id: int, *, limit: int, settings: Settings, now: datetime) -> None:
    count = await session.scalar(
        update(User).where(User.id == user_id).values(otp_failures=User.otp_failures + 1).returning(User.otp_failures)
    )
    if count is not None and count >= limit:
        until = now + timedelta(seconds=settings.lockout_seconds)
        await session.execute(update(User).where(User.id == user_id).values(otp_failures=0, otp_locked_until=until))


def _otp_failure(settings: Settings, user_id: int, now: datetime) -> KeptAction:
    async def record(session: AsyncSession) -> None:
        await _count_failure(session, user_id, limit=settings.otp_max_failures, settings=settings, now=now)

    return record


async def login(
    session: AsyncSession,
    settings: Settings,
    hasher: PasswordHasher,
    *,
    phone: str,
    password: str,
    otp: str | None,
    address: str,
    now: datetime,
) -> sec.AccessToken:
    """Sign in from ``address`` (``throttle.address_of``): failures slow down and lock per number and address."""
    normalised = normalise_phone(phone)
    user = None
    if normalised is not None:
        user = await session.scalar(select(User).where(User.phone == normalised).with_for_update())
    attempt = throttle.Attempt(normalised or f"unparsed:{phone.strip()[:54]}", address)
    user = await _password_checked(session, settings, hasher, attempt, user, password, now=now)
    if user.totp_secret is not None:
        if otp is None:
            raise OtpRequired(field="otp")
        _consume_otp(session, settings, user, otp, now)
    return sec.issue_access_token(settings, subject=user.id, role=user.role, now=now)


async def _password_checked(
    session: AsyncSession,
    settings: Settings,
    hasher: PasswordHasher,
    attempt: throttle.Attempt,
    user: User | None,
    password: str,
    *,
    now: datetime,
    field: str | None = None,
) -> User:
    """The throttle for this number from this address first, then the password; a wrong one is counted, even
    as the request fails."""
    await throttle.refuse_while_held(session, settings, attempt, now)
    if user is None:
        await sec.spend_like_a_verification(hasher, password)
    if user is None or not await sec.password_matches(hasher, user.password_hash, password):
        keep_after_rollback(session, throttle.failed(settings, attempt, now))
        raise InvalidCredentials(field=field)
    await throttle.succeeded(session, attempt, now)
    return user


def _consume_otp(session: AsyncSession, settings: Settings, user: User, code: str, now: datetime) -> None:
    """Accept a code once: a valid code for a step already used is a replay."""
    secret = user.totp_secret
    if secret is None:
        raise TotpNotEnrolled()
    _check_lock(user.otp_locked_until, now)
    step = sec.matching_totp_step(secret, code, now=now)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        keep_after_rollback(session, _otp_failure(settings, user.id, now))
        raise (OtpInvalid if step is None else OtpReplayed)(field="otp")
    user.totp_last_step = step
    user.otp_failures = 0


async def verify_step_up(session: AsyncSession, settings: Settings, user_id: int, code: str, *, now: datetime) -> None:
    """Strong authentication for one operation (Decision 2345/QĐ-NHNN), with replay protection."""
    user = await _locked_user(session, user_id)
    _consume_otp(session, settings, user, code, now)
    await session.flush()


async def start_totp_enrolment(
    session: AsyncSession,
    settings: Settings,
    hasher: PasswordHasher,
    user_id: int,
    password: str,
    *,
    address: str,
    now: datetime,
) -> str:
    """Create a pending seed and return its provisioning URI; confirming with a code activates it.

    The password is asked again: a stolen access token alone must not be able to tie the account
    to someone else's authenticator app. Wrong passwords here count as failed sign-ins of the caller's
    number from the caller's address: a thief elsewhere cannot lock the owner out with them.
    """
    user = await _locked_user(session, user_id)
    attempt = throttle.Attempt(user.phone, address)
    await _password_checked(session, settings, hasher, attempt, user, password, now=now, field="password")
    if user.totp_secret is not None:
        raise TotpAlreadyEnrolled()
    user.totp_pending_secret = sec.new_totp_secret()
    return sec.provisioning_uri(user.totp_pending_secret, account_name=user.phone)


async def confirm_totp_enrolment(
    session: AsyncSession, settings: Settings, user_id: int, code: str, *, now: datetime
) -> None:
    user = await _locked_user(session, user_id)
    if user.totp_secret is not None:
        raise TotpAlreadyEnrolled()
    if user.totp_pending_secret is None:
        raise TotpEnrolmentNotStarted()
    _check_lock(user.otp_locked_until, now)
    step = sec.matching_totp_step(user.totp_pending_secret, code, now=now)
    if step is None:
        keep_after_rollback(session, _otp_failure(settings, user.id, now))
        raise OtpInvalid(field="code")
    user.totp_secret, user.totp_pending_secret, user.totp_last_step = user.totp_pending_secret, None, step
    user.otp_failures = 0


async def create_api_key(session: AsyncSession, *, name: str, role: Role, now: datetime) -> tuple[ApiKey, str]:
    new = sec.new_api_key()
    key = ApiKey(key_id=new.key_id, secret_sha256=new.secret_sha256, name=name, role=role.value, created_at=now)
    session.add(key)
    await session.flush()
    return key, new.plaintext


async def authenticate_api_key(session: AsyncSession, presented: str) -> ApiKey | None:
    parts = sec.split_api_key(presented)
    if parts is None:
        return None
    key = await session.scalar(select(ApiKey).where(ApiKey.key_id == parts[0], ApiKey.revoked_at.is_(None)))
    if key is None or not sec.api_secret_matches(parts[1], key.secret_sha256):
        return None
    return key
