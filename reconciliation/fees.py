"""Three-way reconciliation of fees (đối soát ba bên): our ledger ↔ our bank's statement ↔ the Treasury's statement.

For a business day: every fee paid that day or swept that day (``FeeBook.fees``), each with its three legs:

1. **collected** in the ledger (the transfer that booked it);
2. **swept**: its remittance (``KBNN…``) in the ledger, and the debit line of our bank account it left from, found
   by the remittance's reference in the statements imported for that account;
3. **at the Treasury**: the credit line of the agency's Treasury account (``3511…``) carrying the same reference,
   in the Treasury's statements imported for it (our KBNN CSV layout).

A remittance carries several fees, so its bank and Treasury lines are compared with the remittance's whole amount.
Circular 74/2022/TT-BTC wants a fee at the Treasury within 24 hours of its payment: only money the bank has
confirmed sent counts as arrived, so a fee is late when its remittance was confirmed more than 24 hours after
payment, or is still unconfirmed more than 24 hours after it (as of now). Each agency (the collecting office's
agency) is flagged with its late fees and missing Treasury lines. A line is looked for from the day of the sweep
to ``LINE_WINDOW_DAYS`` after it (the bank and the Treasury book a day late at times); of a day imported twice (a
camt.053 and then its MT940), the latest file's line is taken.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.clock import BusinessCalendar
from civicpay.db import table_of
from civicpay.errors import InvalidField, Text
from reconciliation.fee_book import FeeBook, FeeFact
from reconciliation.imports import treasury_ledger_account
from reconciliation.models import BankStatement, StatementLineRow
from reconciliation.runs import day_bounds
from reconciliation.text import compact
from wallet import ledger

DEADLINE = timedelta(hours=24)
LINE_WINDOW_DAYS = 3
_line = table_of(StatementLineRow)
_statement = table_of(BankStatement)


class Leg(StrEnum):
    FOUND = "found"  # the line is there, for the remittance's amount
    AMOUNT_MISMATCH = "amount_mismatch"  # a line with the reference, for another amount
    MISSING = "missing"  # a statement covers the day, and no line of it carries the reference
    NO_STATEMENT = "no_statement"  # nothing imported for the account that covers the day: not yet known
    NOT_SWEPT = "not_swept"  # the fee has not been swept: no line is due


class Problem(StrEnum):
    NOT_SWEPT = "not_swept"
    SWEEP_NOT_CONFIRMED = "sweep_not_confirmed"
    BANK_LINE_MISSING = "bank_line_missing"
    BANK_AMOUNT_MISMATCH = "bank_amount_mismatch"
    TREASURY_LINE_MISSING = "treasury_line_missing"
    TREASURY_AMOUNT_MISMATCH = "treasury_amount_mismatch"
    LATE = "late"  # past the 24 hours of Circular 74/2022


@dataclass(frozen=True, slots=True)
class LineSeen:
    leg: Leg
    line_id: int | None = None
    amount_vnd: int | None = None
    booked_on: date | None = None


_NOT_SWEPT = LineSeen(Leg.NOT_SWEPT)


@dataclass(frozen=True, slots=True)
class FeeLegs:
    fee: FeeFact
    bank: LineSeen
    treasury: LineSeen
    hours_to_treasury: float | None  # payment to the bank's confirmation; None while unconfirmed
    late: bool
    problems: tuple[Problem, ...]


@dataclass(frozen=True, slots=True)
class AgencyFlag:
    agency_code: str
    agency_name: str
    fees: int
    amount_vnd: int
    complete: int
    late: int
    treasury_missing: int
    flagged: bool  # a late fee or a missing Treasury line: a breach of the 24-hour rule, or one not yet shown


@dataclass(frozen=True, slots=True)
class FeeReconciliation:
    business_day: date
    as_of: datetime
    fees: tuple[FeeLegs, ...]
    agencies: tuple[AgencyFlag, ...]

    @property
    def clean(self) -> bool:
        return bool(self.fees) and not any(legs.problems for legs in self.fees)


def _carries(row: object, reference: str) -> bool:
    fields = (
        getattr(row, "our_reference", None),
        getattr(row, "end_to_end_id", None),
        getattr(row, "bank_reference", None),
        *(getattr(row, "other_references", None) or ()),
        getattr(row, "narrative", None),
    )
    return any(reference in compact(text) for text in fields if text)


async def _seen(
    session: AsyncSession, account_id: int | None, direction: str, reference: str, amount: int, swept_on: date
) -> LineSeen:
    """The line of the account's statements that carries the reference, from the latest file, or why there is none."""
    if account_id is None:
        return LineSeen(Leg.NO_STATEMENT)
    until = swept_on + timedelta(days=LINE_WINDOW_DAYS)
    rows = await session.execute(
        select(_line, _statement.c.file_id)
        .join(_statement, _statement.c.id == _line.c.statement_pk)
        .where(
            _line.c.account_id == account_id,
            _line.c.direction == direction,
            _line.c.booking_date >= swept_on,
            _line.c.booking_date <= until,
        )
        .order_by(_statement.c.file_id.desc(), _line.c.id)
    )
    wanted = compact(reference)
    for row in rows:
        if _carries(row, wanted):
            leg = Leg.FOUND if row.amount_vnd == amount else Leg.AMOUNT_MISMATCH
            return LineSeen(leg, row.id, row.amount_vnd, row.booking_date)
    covered = await session.scalar(
        select(_statement.c.id)
        .where(
            _statement.c.account_id == account_id,
            # A Treasury statement without a line names its day only as its opening's (from_date).
            (_statement.c.business_day == swept_on)
            | (
                (_statement.c.from_date <= swept_on)
                & (func.coalesce(_statement.c.to_date, _statement.c.from_date) >= swept_on)
            ),
        )
        .limit(1)
    )
    return LineSeen(Leg.MISSING if covered is not None else Leg.NO_STATEMENT)


def _problems(fee: FeeFact, bank: LineSeen, treasury: LineSeen, late: bool) -> tuple[Problem, ...]:
    found: list[Problem] = []
    if fee.remittance_reference is None:
        found.append(Problem.NOT_SWEPT)
    elif fee.confirmed_at is None:
        found.append(Problem.SWEEP_NOT_CONFIRMED)
    if bank.leg in {Leg.MISSING, Leg.NO_STATEMENT} and fee.remittance_reference is not None:
        found.append(Problem.BANK_LINE_MISSING)
    if bank.leg is Leg.AMOUNT_MISMATCH:
        found.append(Problem.BANK_AMOUNT_MISMATCH)
    if treasury.leg in {Leg.MISSING, Leg.NO_STATEMENT} and fee.remittance_reference is not None:
        found.append(Problem.TREASURY_LINE_MISSING)
    if treasury.leg is Leg.AMOUNT_MISMATCH:
        found.append(Problem.TREASURY_AMOUNT_MISMATCH)
    if late:
        found.append(Problem.LATE)
    return tuple(found)


def _agencies(fees: Sequence[FeeLegs]) -> tuple[AgencyFlag, ...]:
    by_agency: defaultdict[str, list[FeeLegs]] = defaultdict(list)
    for legs in fees:
        by_agency[legs.fee.agency_code].append(legs)
    flags = []
    for code, members in sorted(by_agency.items()):
        late = sum(1 for legs in members if legs.late)
        missing = sum(1 for legs in members if Problem.TREASURY_LINE_MISSING in legs.problems)
        flags.append(
            AgencyFlag(
                agency_code=code,
                agency_name=members[0].fee.agency_name,
                fees=len(members),
                amount_vnd=sum(legs.fee.amount_vnd for legs in members),
                complete=sum(1 for legs in members if not legs.problems),
                late=late,
                treasury_missing=missing,
                flagged=bool(late or missing),
            )
        )
    return tuple(flags)


async def three_way(
    session: AsyncSession, book: FeeBook, calendar: BusinessCalendar, day: date, *, now: datetime
) -> FeeReconciliation:
    """The day's fees with their three legs, and each agency's flags; reads only, stores nothing."""
    try:
        start, end = day_bounds(calendar, day)
    except OverflowError:  # the first or last day a date can name has no day after or before it in UTC
        raise InvalidField(
            Text(f"Ngày {day} nằm ngoài phạm vi", f"The day {day} is out of range"), field="date"
        ) from None
    facts = await book.fees(session, start, end)
    seen: dict[tuple[str, str], LineSeen] = {}
    accounts: dict[tuple[str, str], int | None] = {}
    fees = []
    for fee in facts:
        bank = treasury = _NOT_SWEPT
        reference, amount, swept_at = fee.remittance_reference, fee.remittance_amount_vnd, fee.swept_at
        if reference is not None and amount is not None and swept_at is not None:
            swept_on = calendar.business_day(swept_at)
            if fee.from_bank_bin is not None and fee.from_account_number is not None:
                paying = (fee.from_bank_bin, fee.from_account_number)
                if paying not in accounts:
                    accounts[paying] = await ledger.bank_account_of(session, *paying)
                if (reference, "bank") not in seen:
                    seen[reference, "bank"] = await _seen(
                        session, accounts[paying], "debit", reference, amount, swept_on
                    )
                bank = seen[reference, "bank"]
            else:
                bank = LineSeen(Leg.NO_STATEMENT)
            if (reference, "treasury") not in seen:
                kbnn = await treasury_ledger_account(session, fee.treasury_account)
                seen[reference, "treasury"] = await _seen(session, kbnn, "credit", reference, amount, swept_on)
            treasury = seen[reference, "treasury"]
        arrived = fee.confirmed_at
        hours = None if arrived is None else (arrived - fee.paid_at) / timedelta(hours=1)
        late = (arrived or now) - fee.paid_at > DEADLINE
        fees.append(FeeLegs(fee, bank, treasury, hours, late, _problems(fee, bank, treasury, late)))
    return FeeReconciliation(day, now, tuple(fees), _agencies(fees))
