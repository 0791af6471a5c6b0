"""The everyday wallet-to-wallet transfer in one database call, on PostgreSQL.

The portable path (``service.transfer_to_phone`` inside ``idempotency.Once``) takes about twelve
statements per transfer: key claim, savepoint, parties, lock, spending, entry, transfers, postings,
balances, release, answer, commit. Measured with ``bench/transfers.py``, PostgreSQL's per-statement
work and SQLAlchemy's per-statement Python held throughput under a tenth of pgbench's TPC-B on the
same server. Here the same transfer is one statement, ``SELECT wallet_p2p_transfer(...)``
(migration 0003; since 0010 it reads and adds to the ledger's running spending totals as the portable
path does; since 0011 it locks only the payer and leaves the credit beside the payee's row, as
``wallet.ledger`` does; since 0022 its ledger pieces are functions the bill payment's one call,
``billing/fast_path.py``, shares), sent outside any transaction so that it commits on its own.

The function only ever posts a transfer the portable path would post without a word: enough money,
within the monthly cap, no step-up. For anything else (a replayed key, an unknown phone, a refusal, a
step-up) it writes nothing and the caller takes the portable path, which alone words every refusal.
Both paths claim the key before they lock the accounts, in the same order, and keep the answer in the
same row, so they can run side by side. The function builds the answer itself, with the fields of
``schemas.Transfer``; the values Python formats (amount, time) are passed in, formatted here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg
import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from civicpay.auth.identity import normalise_phone
from civicpay.clock import BusinessCalendar
from civicpay.money import CAP_EXEMPT, Category, format_vnd
from civicpay.settings import Settings
from wallet import schemas as s

_TRANSFER = f"SELECT wallet_p2p_transfer({', '.join(f'${number}' for number in range(1, 20))})"
# What wallet_p2p_transfer (and every fast path built like it: billing_pay_bills) raises, after its key
# claim, to leave the request to the portable path.
DECLINED = "CPF01"
# The categories the monthly cap leaves out, as the fast paths' functions take them.
CAP_EXEMPT_VALUES = sorted(category.value for category in CAP_EXEMPT)


def periods(calendar: BusinessCalendar, now: datetime) -> tuple[datetime, datetime, datetime, datetime]:
    """The business month's and day's bounds around ``now``, in the order the fast paths' functions take them."""
    month = calendar.month_start(now), calendar.next_month_start(now)
    return *month, calendar.day_start(now), calendar.next_day_start(now)


async def call_once(engine: AsyncEngine, statement: str, arguments: Sequence[object]) -> bytes | None:
    """Run a fast path's one statement as its own transaction: its answer, or None if it declined (or replayed).

    SQLAlchemy begins nothing until it executes, so on the raw connection the call is its own transaction:
    the key, the money and the answer commit together or not at all.
    """
    async with engine.connect() as connection:
        pg = (await connection.get_raw_connection()).driver_connection
        assert pg is not None  # noqa: S101 - a pooled connection always has its driver connection
        try:
            answer: bytes | None = await pg.fetchval(statement, *arguments)
        except asyncpg.PostgresError as error:
            if error.sqlstate == DECLINED:
                return None
            raise
    return answer


async def try_transfer(
    engine: AsyncEngine,
    settings: Settings,
    calendar: BusinessCalendar,
    *,
    principal: str,
    key: str,
    fingerprint: str,
    sender_user_id: int,
    data: s.TransferCreate,
    now: datetime,
) -> bytes | None:
    """Make the transfer and keep its answer under the key, returning it; or change nothing, None."""
    to_phone = normalise_phone(data.to_phone)
    if to_phone is None:
        return None
    category = Category.P2P
    arguments = (
        principal,
        key,
        fingerprint,
        sender_user_id,
        to_phone,
        data.amount_vnd,
        category.value,
        data.memo,
        now,
        *periods(calendar, now),
        CAP_EXEMPT_VALUES,
        None if category in CAP_EXEMPT else settings.monthly_cap_vnd,
        settings.stepup_single_vnd,
        settings.stepup_daily_vnd,
        format_vnd(data.amount_vnd),
        msgspec.to_builtins(now),  # the time exactly as msgspec writes it in the portable path's answer
    )
    return await call_once(engine, _TRANSFER, arguments)
