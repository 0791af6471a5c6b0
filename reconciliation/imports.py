"""Statement import (nhập sao kê): a file's statements and lines into the database, streamed, all or nothing.

The parsers yield a statement's header, its lines, then its totals; lines go to the database in chunks as
they come (one executemany per chunk; on PostgreSQL one ``COPY`` per chunk, through the session's own connection),
so a file of a million lines never sits whole in memory. The caller's unit of work is the one transaction: a
parser refusing the file at its last byte (a truncated XML) rolls back every chunk already written, so nothing is
ever half-imported.

The same file twice is refused by its SHA-256, UNIQUE in the database (the look-up first only says when it
came first). A statement for a bank account we do not hold is refused: comparing it with nothing would
report every line as unmatched.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.db import table_of
from civicpay.errors import Text, may_raise
from reconciliation.errors import (
    BankAccountNotHeld,
    StatementAccountUnknown,
    StatementAlreadyImported,
    StatementUnreadable,
)
from reconciliation.fee_book import TREASURY, FeeBook
from reconciliation.model import (
    Event,
    Message,
    Statement,
    StatementError,
    StatementFormat,
    StatementLine,
    StatementTotals,
)
from reconciliation.models import BankStatement, StatementFile, StatementLineRow
from reconciliation.parsers import read_statements
from wallet import ledger
from wallet.ledger import BankAccount

# Lines per executemany: large enough that a million lines are a thousand round trips, small enough that
# a chunk's parameters stay a few megabytes.
CHUNK = 1000
# Lines per COPY on PostgreSQL: a COPY costs a round trip or two whatever its size, and ten thousand lines with
# their raw text are still only a few megabytes.
COPY_CHUNK = 10_000
# The line's columns in the order ``_line_record`` gives them (the id is the table's own).
_LINE_COLUMNS = (
    "statement_pk",
    "account_id",
    "sequence",
    "booking_date",
    "value_date",
    "amount_vnd",
    "direction",
    "currency",
    "bank_reference",
    "end_to_end_id",
    "our_reference",
    "other_references",
    "counterparty",
    "counterparty_account",
    "narrative",
    "reversal",
    "raw",
)
# The ledger is in đồng; a statement in another currency would need a rate, which reconciliation never guesses.
LEDGER_CURRENCY = "VND"
_ACCOUNT = re.compile(r"^(\d{6}):(\d{1,19})$")
_EMPTY = Message("Tệp không có sao kê nào", "The file holds no statement")
_NUL = Message("Tệp chứa byte NUL: không phải sao kê dạng văn bản", "The file holds a NUL byte: not a text statement")
_NOT_UTF8 = Message("Tệp không phải văn bản UTF-8", "The file is not UTF-8 text")
_NO_HEADER = Message("Tổng của một sao kê đứng trước phần đầu của nó", "A statement's totals came before its header")

_file = table_of(StatementFile)
_statement = table_of(BankStatement)
_line = table_of(StatementLineRow)
_bank = table_of(BankAccount)
_ledger = table_of(ledger.Account)


@dataclass(frozen=True, slots=True)
class AccountRef:
    """A bank account as finance names it: the bank's BIN and the account number (``970436:1017468888``)."""

    bank_bin: str
    number: str

    @classmethod
    def parse(cls, text: str) -> AccountRef | None:
        found = _ACCOUNT.match(text.strip())
        return cls(found.group(1), found.group(2)) if found else None

    def __str__(self) -> str:
        return f"{self.bank_bin}:{self.number}"


@dataclass(frozen=True, slots=True)
class StatementSummary:
    position: int
    statement_id: str
    business_day: date | None
    opening_vnd: int | None
    closing_vnd: int | None
    lines: int
    credits_vnd: int
    debits_vnd: int
    continuous: bool | None
    follows_previous: bool | None


@dataclass(frozen=True, slots=True)
class ImportSummary:
    file_id: int
    sha256: str
    format: StatementFormat
    account: AccountRef
    imported_at: datetime
    lines: int
    statements: tuple[StatementSummary, ...]


@dataclass(frozen=True, slots=True)
class HeldAccount:
    account: AccountRef
    ledger_account_id: int


async def held_account(session: AsyncSession, account: AccountRef) -> HeldAccount:
    found = await session.scalar(
        select(_bank.c.account_id).where(_bank.c.bank_bin == account.bank_bin, _bank.c.account_number == account.number)
    )
    if found is None:
        raise BankAccountNotHeld(
            Text(
                f"Không có tài khoản {account} trong các tài khoản ta giữ", f"{account} is not a bank account we hold"
            ),
            field="account",
        )
    return HeldAccount(account, found)


async def _account_named(session: AsyncSession, named: str) -> HeldAccount:
    """The account a file names when the caller did not: ``BIN:NUMBER``, or a bare number we hold once."""
    if (ref := AccountRef.parse(named)) is not None:
        return await held_account(session, ref)
    number = re.sub(r"\D", "", named)
    rows = (
        await session.execute(select(_bank.c.bank_bin, _bank.c.account_number).where(_bank.c.account_number == number))
    ).all()
    if not number or not rows:
        raise BankAccountNotHeld(
            Text(
                f"Sao kê của tài khoản {named!r}, không phải tài khoản ta giữ",
                f"The statement is for {named!r}, not an account we hold",
            ),
            field="account",
        )
    if len(rows) > 1:  # the same number at two banks: only the BIN tells them apart
        raise StatementAccountUnknown(field="account")
    return await held_account(session, AccountRef(rows[0].bank_bin, rows[0].account_number))


# --- Treasury statements
def treasury_code(treasury_account: str) -> str:
    return f"memo:kbnn:{treasury_account}"


async def treasury_ledger_account(session: AsyncSession, treasury_account: str) -> int | None:
    """The ledger account a Treasury account's statements are filed under, once one has been imported."""
    found: int | None = await session.scalar(
        select(_ledger.c.id).where(_ledger.c.code == treasury_code(treasury_account))
    )
    return found


async def _treasury_account(session: AsyncSession, named: str, treasury: FeeBook | None, now: datetime) -> HeldAccount:
    """A Treasury statement's account: one of our agencies' Treasury accounts, or refused as not ours.

    The money in it is the budget's, not ours, so no entry ever posts to its ledger account: that account only
    files its statements (the statement tables are keyed by ledger account) and keeps their continuity apart from
    every other account's.
    """
    number = named.strip()
    known = await treasury.treasury_accounts(session) if treasury is not None else {}
    if number not in known:
        raise BankAccountNotHeld(
            Text(
                f"Sao kê KBNN của tài khoản {number!r}, không phải tài khoản KBNN của cơ quan nào của ta",
                f"The Treasury statement is of {number!r}, not the Treasury account of any agency of ours",
            ),
            field="account",
        )
    account_id = await ledger.open_account(
        session,
        code=treasury_code(number),
        name=f"Sao kê KBNN {number} ({known[number]})"[:200],
        kind=ledger.AccountKind.ASSET,
        no_overdraft=False,
        now=now,
    )
    return HeldAccount(AccountRef(TREASURY, number), account_id)


# --- end of Treasury statements ------------------------------------------------------------------------------------


def _names_other(named: str, account: AccountRef) -> bool:
    """Whether the file names an account other than the one given (an IBAN or a number with separators is the same)."""
    digits = re.sub(r"\D", "", named)
    return bool(digits) and not digits.endswith(account.number) and str(account) != named.strip()


@may_raise(StatementAlreadyImported)
async def already_imported(session: AsyncSession, sha256: str) -> None:
    first = (await session.execute(select(_file.c.id, _file.c.imported_at).where(_file.c.sha256 == sha256))).first()
    if first is not None:
        raise StatementAlreadyImported.at(first.imported_at, first.id)


async def _previous_closing(session: AsyncSession, account_id: int, first: Statement) -> int | None:
    """The closing of the account's last statement before this file's first: where that one should open.

    Before its first day when the header says it (a day imported late is checked against the day before it,
    not against the newest import); else the newest import's.
    """
    starts = first.from_date or first.to_date or (first.opening.on if first.opening else None)
    query = select(_statement.c.closing_vnd).where(
        _statement.c.account_id == account_id, _statement.c.closing_vnd.is_not(None)
    )
    if starts is not None:
        query = query.where(_statement.c.business_day < starts)
    return await session.scalar(query.order_by(_statement.c.business_day.desc(), _statement.c.id.desc()).limit(1))


def _line_record(statement_pk: int, account_id: int, line: StatementLine) -> tuple[Any, ...]:
    """A line's values in ``_LINE_COLUMNS`` order: a tuple, cheaper than a dict a million times over."""
    return (
        statement_pk,
        account_id,
        line.sequence,
        line.booking_date,
        line.value_date,
        line.amount,
        line.direction.value,
        line.currency,
        # Cut to the columns: a bank's CSV may put anything in its reference column.
        line.bank_reference[:140] if line.bank_reference else None,
        line.end_to_end_id[:140] if line.end_to_end_id else None,
        line.our_reference[:140] if line.our_reference else None,
        list(line.other_references),
        line.counterparty[:200] if line.counterparty else None,
        line.counterparty_account[:64] if line.counterparty_account else None,
        line.narrative,
        line.reversal,
        line.raw,
    )


class _Writer:
    """Writes the event stream: a statement row at its header, lines in chunks, its totals at its end."""

    def __init__(
        self,
        session: AsyncSession,
        file_id: int,
        held: HeldAccount,
        previous_closing: int | None,
        on_line: Callable[[], None],
    ) -> None:
        self.session = session
        self.file_id = file_id
        self.held = held
        self.previous_closing = previous_closing
        self.on_line = on_line
        self.pending: list[tuple[Any, ...]] = []
        self.copy = session.get_bind().dialect.name == "postgresql"
        self.chunk = COPY_CHUNK if self.copy else CHUNK
        self.header: Statement | None = None
        self.statement_pk = 0
        self.position = 0
        self.last_booking: date | None = None
        self.summaries: list[StatementSummary] = []

    async def header_of(self, statement: Statement) -> None:
        self.header, self.position, self.last_booking = statement, self.position + 1, None
        self.statement_pk = (
            await self.session.execute(
                insert(_statement).returning(_statement.c.id),
                {
                    "file_id": self.file_id,
                    "account_id": self.held.ledger_account_id,
                    "position": self.position,
                    "statement_id": statement.statement_id[:140],
                    "kind": statement.kind[:40],
                    "bank_account": statement.account[:64],
                    "currency": statement.currency,
                    "opening_vnd": statement.opening.amount if statement.opening else None,
                    "opening_on": statement.opening.on if statement.opening else None,
                    "closing_vnd": statement.closing.amount if statement.closing else None,
                    "closing_on": statement.closing.on if statement.closing else None,
                    "created_on": statement.created,
                    "from_date": statement.from_date,
                    "to_date": statement.to_date,
                    "business_day": None,
                    "final": statement.final,
                    "line_count": 0,
                    "credits_vnd": 0,
                    "debits_vnd": 0,
                    "continuous": None,
                    "gap_vnd": None,
                    "follows_previous": None,
                    "anomalies": [{"vi": a.vi, "en": a.en} for a in statement.anomalies],
                },
            )
        ).scalar_one()

    async def line(self, line: StatementLine) -> None:
        self.pending.append(_line_record(self.statement_pk, self.held.ledger_account_id, line))
        if self.last_booking is None or line.booking_date > self.last_booking:
            self.last_booking = line.booking_date
        self.on_line()
        if len(self.pending) >= self.chunk:
            await self.flush()

    async def flush(self) -> None:
        if not self.pending:
            return
        if self.copy:
            # COPY on the session's own connection, so inside the unit of work's transaction: a file refused
            # later still rolls back every line. asyncpg's binary COPY takes a JSON column as its text.
            connection = (await (await self.session.connection()).get_raw_connection()).driver_connection
            assert connection is not None  # noqa: S101 -- a checked-out connection always has its driver's
            records = [(*row[:11], json.dumps(row[11]), *row[12:]) for row in self.pending]
            await connection.copy_records_to_table(_line.name, records=records, columns=_LINE_COLUMNS)
        else:
            await self.session.execute(
                insert(_line), [dict(zip(_LINE_COLUMNS, row, strict=True)) for row in self.pending]
            )
        self.pending = []

    async def totals(self, totals: StatementTotals) -> None:
        await self.flush()
        header = self.header
        if header is None:  # the parsers always open a statement before closing it
            raise StatementUnreadable.of(StatementError("malformed", _NO_HEADER))
        follows = totals.follows_previous
        if self.position == 1 and self.previous_closing is not None and totals.opening is not None:
            # The first statement of the file follows the account's last import, not nothing.
            follows = totals.opening == self.previous_closing
        closing_on = header.closing.on if header.closing else None
        day = header.to_date or closing_on or self.last_booking
        await self.session.execute(
            update(_statement)
            .where(_statement.c.id == self.statement_pk)
            .values(
                closing_vnd=totals.closing,
                business_day=day,
                line_count=totals.lines,
                credits_vnd=totals.credits,
                debits_vnd=totals.debits,
                continuous=totals.continuous,
                gap_vnd=totals.gap,
                follows_previous=follows,
            )
        )
        self.summaries.append(
            StatementSummary(
                self.position,
                header.statement_id,
                day,
                totals.opening,
                totals.closing,
                totals.lines,
                totals.credits,
                totals.debits,
                totals.continuous,
                follows,
            )
        )
        self.header = None


@may_raise(StatementUnreadable)
async def import_file(
    session: AsyncSession,
    path: Path,
    *,
    file_name: str,
    account: AccountRef | None,
    fmt: StatementFormat | None,
    user_id: int | None,
    via: str,
    now: datetime,
    on_line: Callable[[], None] = lambda: None,
    treasury: FeeBook | None = None,
) -> ImportSummary:
    """Import every statement in ``path`` in the caller's transaction; raise (so nothing is stored) on any refusal.

    A Treasury statement (KBNN CSV) is of an agency's Treasury account, which ``treasury`` must know.
    """
    # Hashing reads the whole file: off the event loop, so other requests go on meanwhile.
    try:
        sha256, size = await asyncio.to_thread(_fingerprint, path)
    except StatementError as refused:
        raise StatementUnreadable.of(refused) from None
    await already_imported(session, sha256)
    try:
        events = read_statements(path, fmt, expected_currency=LEDGER_CURRENCY)
        first = _first_statement(events)
        if first.format is StatementFormat.KBNN_CSV:
            held = await _treasury_account(session, first.account, treasury, now)
        else:
            held = await _resolve(session, first.account, account)
        row = {
            "sha256": sha256,
            "format": first.format.value,
            "file_name": file_name[:255],
            "size_bytes": size,
            "bank_bin": held.account.bank_bin,
            "account_number": held.account.number,
            "account_id": held.ledger_account_id,
            "statement_count": 0,
            "line_count": 0,
            "imported_at": now,
            "imported_by_user_id": user_id,
            "via": via,
        }
        file_id = await _insert_file(session, row)
        writer = _Writer(
            session, file_id, held, await _previous_closing(session, held.ledger_account_id, first), on_line
        )
        await writer.header_of(first)
        lines = 0
        for event in events:
            if isinstance(event, StatementLine):
                lines += 1
                await writer.line(event)
            elif isinstance(event, Statement):
                await _same_account(session, event.account, held)
                await writer.header_of(event)
            else:
                await writer.totals(event)
    except StatementError as refused:
        raise StatementUnreadable.of(refused) from None
    except UnicodeDecodeError:
        # The text formats are read as UTF-8 and their parsers let a stray byte through as Python's error: it is
        # still the file that is wrong, so the same refusal.
        raise StatementUnreadable.of(StatementError("not_utf8", _NOT_UTF8)) from None
    await session.execute(
        update(_file).where(_file.c.id == file_id).values(statement_count=len(writer.summaries), line_count=lines)
    )
    return ImportSummary(file_id, sha256, first.format, held.account, now, lines, tuple(writer.summaries))


async def _insert_file(session: AsyncSession, row: dict[str, Any]) -> int:
    """The file's row; the same file imported at the same moment by another hand loses on the UNIQUE hash."""
    try:
        # A savepoint: on PostgreSQL a failed INSERT spoils the whole transaction, and the answer needs one more read.
        async with session.begin_nested():
            file_id: int = (await session.execute(insert(_file).returning(_file.c.id), row)).scalar_one()
    except IntegrityError:
        await already_imported(session, row["sha256"])
        raise
    return file_id


def _fingerprint(path: Path) -> tuple[str, int]:
    """The file's SHA-256 (as ``model.file_sha256`` computes it) and size, refusing a NUL byte on the same read.

    No statement format holds one (XML forbids it; MT940 and CSV are text), and PostgreSQL text cannot store it:
    let through, it would fail the import at the database as an error of ours rather than a refusal of the file.
    """
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            if (at := block.find(b"\x00")) >= 0:
                raise StatementError("nul_byte", _NUL, f"byte {size + at}")
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _first_statement(events: Iterator[Event]) -> Statement:
    first = next(events, None)
    if not isinstance(first, Statement):
        raise StatementError("malformed", _EMPTY)
    return first


async def _resolve(session: AsyncSession, named: str, given: AccountRef | None) -> HeldAccount:
    if given is None:
        if not named.strip():
            raise StatementAccountUnknown(field="account")
        return await _account_named(session, named)
    if _names_other(named, given):
        raise StatementAccountUnknown(
            Text(
                f"Tệp là sao kê của {named!r}, không phải {given}", f"The file is a statement of {named!r}, not {given}"
            ),
            field="account",
        )
    return await held_account(session, given)


async def _same_account(session: AsyncSession, named: str, held: HeldAccount) -> None:
    """A file holds one account's statements: a second account in it would be compared with the wrong ledger."""
    if named.strip() and _names_other(named, held.account):
        await _resolve(session, named, held.account)
