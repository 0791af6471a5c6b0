"""Running spending totals: what a wallet sent this business month (cap-counted) and today (everything).

The Circular 40 cap and the Decision 2345 daily step-up used to sum the payer's postings and holds
since the month began, so a payment cost more the more its payer had paid before. Now each is one
row per account and period (``SpendingTotal``), and a limit check reads that row.

The rows are written here, by the ledger's own write path (``post_entry``, ``hold``, ``post_hold``,
``void_hold``, ``expire_holds``), in the same transaction and under the same account locks as the
balances, so no caller can forget them and two spends from one wallet cannot race them. Not a
trigger: the business zone is a setting, SQLite has no time zones, and one Python path serves both
databases; the PostgreSQL fast path's SQL twin (``ledger_post_transfer``, migration 0010) is the one
copy, as it already is for the balances. The database stands behind the code: a total can never go
below zero (a release of money that was never counted fails its CHECK), and ``check_invariants``
recomputes every row from the postings and holds.

The rules are exactly those of the old sums: a pending hold counts in the period it was made; once
posted (in whole or part) it stops counting and its posting counts in the period it was posted; voided
or expired, it stops counting. Refunds and returns are postings like any other.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.clock import BusinessCalendar
from civicpay.db import UtcDateTime, table_of
from civicpay.money import CAP_EXEMPT
from wallet.ledger.models import SpendingPeriod, SpendingTotal

_total = table_of(SpendingTotal)
_CALENDAR = "civicpay.ledger.calendar"


def session_info(calendar: BusinessCalendar) -> dict[str, Any]:
    """What a session factory's ``info`` needs for the ledger to put money in its business day and month."""
    return {_CALENDAR: calendar}


class NoBusinessCalendar(RuntimeError):
    """A wallet's spending was written through a session built without ``ledger.session_info``."""


class SpendingTotalMissing(RuntimeError):
    """Money stops counting in a period whose total was never written: a ledger bug, so nothing is written."""


@dataclass(frozen=True, slots=True)
class Sent:
    """A change to what an account has sent: a posted debit or a new hold, or (negative) a hold released."""

    account_id: int
    amount_vnd: int
    category: str
    at: datetime


@functools.cache
def _upsert(dialect_name: str) -> Insert:
    dialect_insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    statement = dialect_insert(_total)
    return statement.on_conflict_do_update(
        index_elements=["account_id", "period", "starts_at"],
        set_={"amount_vnd": _total.c.amount_vnd + statement.excluded.amount_vnd},
    )


_SHRINK = (
    update(_total)
    .where(
        _total.c.account_id == bindparam("account"),
        _total.c.period == bindparam("in_period"),
        _total.c.starts_at == bindparam("starts", type_=UtcDateTime),
    )
    .values(amount_vnd=_total.c.amount_vnd + bindparam("change"))
    .returning(_total.c.amount_vnd)
)

# The categories the month's total leaves out, as the database stores them.
CAP_EXEMPT_VALUES = frozenset(category.value for category in CAP_EXEMPT)


def total_rows(calendar: BusinessCalendar, changes: Iterable[Sent]) -> list[dict[str, Any]]:
    """The ``SpendingTotal`` rows ``changes`` add to, with what they add (zero sums left out), in key order."""
    totals: dict[tuple[int, str, datetime], list[Any]] = defaultdict(lambda: [None, 0])
    for change in changes:
        periods = [(SpendingPeriod.DAY, calendar.day_start(change.at), calendar.next_day_start(change.at))]
        if change.category not in CAP_EXEMPT_VALUES:
            periods.append(
                (SpendingPeriod.MONTH, calendar.month_start(change.at), calendar.next_month_start(change.at))
            )
        for period, starts_at, ends_at in periods:
            total = totals[change.account_id, period.value, starts_at]
            total[0] = ends_at
            total[1] += change.amount_vnd
    return [
        {"account_id": key[0], "period": key[1], "starts_at": key[2], "ends_at": ends_at, "amount_vnd": amount}
        for key, (ends_at, amount) in sorted(totals.items())
        if amount != 0
    ]


def _shrink_parameters(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "account": row["account_id"],
        "in_period": row["period"],
        "starts": row["starts_at"],
        "change": row["amount_vnd"],
    }


async def count(session: AsyncSession, counting: Mapping[int, bool], changes: Iterable[Sent]) -> None:
    """Add ``changes`` to the totals of the accounts that keep them.

    ``counting`` says, for every account of the changes, whether it keeps totals (read with its lock).
    """
    changes = [change for change in changes if counting[change.account_id]]
    if not changes:
        return
    calendar: BusinessCalendar | None = session.info.get(_CALENDAR)
    if calendar is None:
        raise NoBusinessCalendar("build the session factory with ledger.session_info(calendar)")
    rows = total_rows(calendar, changes)
    if grown := [row for row in rows if row["amount_vnd"] > 0]:
        await session.execute(_upsert(session.get_bind().dialect.name), grown)
    # Money that stops counting comes off a row that must be there: an upsert cannot do it, since both
    # databases check the row it would insert (negative, so refused) before they see the conflict.
    for row in rows:
        if row["amount_vnd"] < 0 and (await session.execute(_SHRINK, _shrink_parameters(row))).first() is None:
            raise SpendingTotalMissing(
                f"no {row['period']} total from {row['starts_at']} for account #{row['account_id']}"
            )


_SENT_SO_FAR = select(_total.c.period, _total.c.amount_vnd).where(
    _total.c.account_id == bindparam("account"),
    or_(
        and_(
            _total.c.period == SpendingPeriod.MONTH.value,
            _total.c.starts_at == bindparam("month_start", type_=UtcDateTime),
        ),
        and_(
            _total.c.period == SpendingPeriod.DAY.value,
            _total.c.starts_at == bindparam("day_start", type_=UtcDateTime),
        ),
    ),
)


async def sent_so_far(
    session: AsyncSession, account_id: int, calendar: BusinessCalendar, now: datetime
) -> tuple[int, int]:
    """What the account sent in the business month of ``now`` (cap-counted only) and its day (everything).

    Two rows by primary key, whatever the history.
    """
    parameters = {"account": account_id, "month_start": calendar.month_start(now), "day_start": calendar.day_start(now)}
    found: dict[str, int] = {row.period: row.amount_vnd for row in await session.execute(_SENT_SO_FAR, parameters)}
    return found.get(SpendingPeriod.MONTH.value, 0), found.get(SpendingPeriod.DAY.value, 0)
