"""Failed sign-ins slow down, then lock, per (phone, client address); a wider limit holds per address.

A lock per phone number let anyone lock anyone out: five wrong passwords for a number, from anywhere,
kept its owner out for 15 minutes. So failures are counted where they come from:

- **Per (phone, address).** After the n-th failure in a row (n ≥ 2) the next try from that address for
  that phone waits 2^(n-2) seconds (1, 2, 4, …, at most 60): ``sign_in_slowed_down``, 429 with
  Retry-After. The ``login_max_failures``-th (5) within ``login_failure_window_seconds`` (15 minutes)
  locks the pair for ``lockout_seconds`` (15 minutes): ``locked``, 429 with Retry-After, even for the
  right password. The owner elsewhere signs in as usual. A success forgets the pair's failures.
- **Per address.** ``login_address_max_failures`` (50) failures from one address within the window,
  whatever the phones, lock the address for ``lockout_seconds``: someone trying many numbers. Wide,
  because many people share one address behind a carrier's NAT or an office's gateway.

Wrong passwords typed to start TOTP enrolment count the same way, for the caller's own number from the
caller's address. Each lock and each lifting is a line in the audit log with no actor (the service
decided): ``sign_in_locked`` / ``sign_in_unlocked`` on the subject ``sign_in_phone`` (the number; the
address in the details) or ``sign_in_address``. A lock lifts by time; its lifting is written by the next
attempt from that pair or address, or by the workers' sweep (``login_lock_sweep_interval_seconds``),
whichever comes first, exactly once.

The client address is the one the server saw (``request.client.host``), as for the rate limit. Behind a
reverse proxy, uvicorn puts the address from ``X-Forwarded-For`` there only when the proxy's own address is
listed in its ``FORWARDED_ALLOW_IPS`` (default 127.0.0.1): list the proxies, never ``*``. An IPv6 client
is counted by its /64, the block one subscriber holds.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from litestar.connection import ASGIConnection
from sqlalchemy import CursorResult, and_, case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay import audit
from civicpay.auth.errors import Locked, SlowedDown
from civicpay.auth.models import SignInThrottle
from civicpay.db import KeptAction, UnitsOfWork, insert_ignoring_conflict, table_of
from civicpay.errors import Text
from civicpay.settings import Settings

log = logging.getLogger("civicpay")

# The row of an address that counts every phone tried from it.
EVERY_PHONE = ""
# The longest a failure makes the next try wait before the lock (after 2^(n-2) seconds).
MAX_SLOW_DOWN_SECONDS = 60
_T = SignInThrottle


@dataclass(frozen=True, slots=True)
class Attempt:
    """Who is being signed in as (the number as tried) and from where."""

    phone: str
    address: str


def address_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The client's address as counted: IPv4 as is, IPv6 by its /64, ``unknown`` when the server has none."""
    host = connection.client.host if connection.client else None
    try:
        parsed = ipaddress.ip_address(host or "")
    except ValueError:
        return (host or "unknown")[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def slow_down_seconds(failures: int) -> int:
    """How long the try after ``failures`` failures in a row waits: none after one, then 1, 2, 4, … 60 seconds."""
    return 0 if failures < 2 else min(2 ** (failures - 2), MAX_SLOW_DOWN_SECONDS)


def _wait(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))  # never "0 seconds" while still held


def _key(phone: str, address: str) -> Any:
    return and_(_T.phone == phone, _T.address == address)


async def refuse_while_held(session: AsyncSession, settings: Settings, attempt: Attempt, now: datetime) -> None:
    """Refuse the attempt while its address or its (phone, address) is locked, or its pair must still wait."""
    rows = (
        await session.scalars(
            select(_T).where(_T.address == attempt.address, _T.phone.in_((attempt.phone, EVERY_PHONE)))
        )
    ).all()
    for row in rows:
        if row.locked_until is not None and row.locked_until > now:
            wait = _wait(row.locked_until, now)
            raise Locked(Text(f"Thử lại sau {wait} giây", f"Try again in {wait} seconds"), retry_after_seconds=wait)
    window = timedelta(seconds=settings.login_failure_window_seconds)
    for row in rows:
        if row.phone != attempt.phone or row.last_failure_at is None or row.first_failure_at is None:
            continue
        if row.locked_until is None and row.first_failure_at > now - window:
            until = row.last_failure_at + timedelta(seconds=slow_down_seconds(row.failures))
            if until > now:
                wait = _wait(until, now)
                raise SlowedDown(
                    Text(f"Thử lại sau {wait} giây", f"Try again in {wait} seconds"), retry_after_seconds=wait
                )


def failed(settings: Settings, attempt: Attempt, now: datetime) -> KeptAction:
    """Count a failure for the pair and for the address, in a transaction that survives the refusal."""

    async def record(session: AsyncSession) -> None:
        await _count(session, settings, attempt.phone, attempt.address, settings.login_max_failures, now)
        await _count(session, settings, EVERY_PHONE, attempt.address, settings.login_address_max_failures, now)

    return record


async def succeeded(session: AsyncSession, attempt: Attempt, now: datetime) -> None:
    """The right password: the pair's failures are forgotten (a lock that had ended is written as lifted)."""
    for phone in (attempt.phone, EVERY_PHONE):
        await _lift_if_ended(session, phone, attempt.address, now)
    await session.execute(delete(_T).where(_key(attempt.phone, attempt.address)))


async def _count(
    session: AsyncSession, settings: Settings, phone: str, address: str, limit: int, now: datetime
) -> None:
    await _lift_if_ended(session, phone, address, now)
    dialect = session.get_bind().dialect.name
    await session.execute(
        insert_ignoring_conflict(dialect, table_of(_T), ("phone", "address")),
        {"phone": phone, "address": address, "failures": 0},
    )
    # A failure past the window starts the count again; the SET expressions all read the row as it was.
    afresh = or_(
        _T.first_failure_at.is_(None),
        _T.first_failure_at <= now - timedelta(seconds=settings.login_failure_window_seconds),
    )
    failures = await session.scalar(
        update(_T)
        .where(_key(phone, address))
        .values(
            failures=case((afresh, 1), else_=_T.failures + 1),
            first_failure_at=case((afresh, now), else_=_T.first_failure_at),
            last_failure_at=now,
        )
        .returning(_T.failures)
    )
    if failures != limit:  # exactly one failure reaches the limit, so one lock and one audit line
        return
    until = now + timedelta(seconds=settings.lockout_seconds)
    await session.execute(update(_T).where(_key(phone, address)).values(locked_until=until))
    subject = _subject(phone, address)
    await audit.record(
        session,
        actor_user_id=None,
        action="sign_in_locked",
        subject_type=subject[0],
        subject_id=subject[1],
        reason=f"{failures} failed sign-ins within {settings.login_failure_window_seconds} s",
        details={"phone": phone or None, "address": address, "failures": failures, "locked_until": until.isoformat()},
        now=now,
    )
    log.warning("sign-in locked until %s for %s", until.isoformat(), subject[0].removeprefix("sign_in_"))


def _subject(phone: str, address: str) -> tuple[str, str]:
    return ("sign_in_address", address) if phone == EVERY_PHONE else ("sign_in_phone", phone)


async def _lift_if_ended(session: AsyncSession, phone: str, address: str, now: datetime) -> bool:
    """Write the lifting of a lock whose time is over, once however many look at once; forget its failures."""
    ended = await session.scalar(select(_T.locked_until).where(_key(phone, address), _T.locked_until <= now))
    if ended is None:
        return False
    lifted = cast(
        "CursorResult[Any]",
        await session.execute(
            update(_T)
            .where(_key(phone, address), _T.locked_until == ended)
            .values(locked_until=None, failures=0, first_failure_at=None, last_failure_at=None)
        ),
    )
    if lifted.rowcount != 1:
        return False  # another request or worker wrote it
    subject = _subject(phone, address)
    await audit.record(
        session,
        actor_user_id=None,
        action="sign_in_unlocked",
        subject_type=subject[0],
        subject_id=subject[1],
        reason="the lock's time is over",
        details={"phone": phone or None, "address": address, "locked_until": ended.isoformat()},
        now=now,
    )
    return True


async def sweep(units: UnitsOfWork, settings: Settings, *, now: datetime) -> int:
    """Write the lifting of every lock that has ended, and forget failures past their window; how many lifted."""
    async with units() as unit:
        session = unit.session
        ended = (await session.execute(select(_T.phone, _T.address).where(_T.locked_until <= now))).all()
        lifted = [await _lift_if_ended(session, phone, address, now) for phone, address in ended]
        past = now - timedelta(seconds=settings.login_failure_window_seconds)
        await session.execute(
            delete(_T).where(_T.locked_until.is_(None), or_(_T.last_failure_at.is_(None), _T.last_failure_at <= past))
        )
    return sum(lifted)
