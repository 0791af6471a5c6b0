"""The one shape every statement format is read into: a header, its lines, and the check of its totals.

Parsers stream: they yield a ``Statement`` (the header, balances included), then each of its
``StatementLine`` items, then its ``StatementTotals`` (sums and the continuity check), statement after
statement, so an importer can write lines in batches without a file ever sitting whole in memory.
Amounts are integers in the currency's minor unit (đồng for VND, cents for EUR); direction is a word,
never a sign.

This module is pure (standard library only, enforced by import-linter), so errors carry their own
bilingual ``Message`` rather than ``civicpay.errors.Text``: that module imports Litestar and SQLAlchemy.
The service layer turns a ``StatementError`` into a ``DomainError`` with the same two texts.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

# ISO 4217 minor units of the currencies a statement of ours may plausibly be in. A currency not
# listed is refused rather than guessed: a wrong exponent is an error by a factor of 100.
EXPONENTS: dict[str, int] = {
    "VND": 0,
    "JPY": 0,
    "KRW": 0,
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "SEK": 2,
    "SGD": 2,
    "CNY": 2,
    "THB": 2,
    "AUD": 2,
}


class Direction(StrEnum):
    """Seen from our account at the bank: credit is money in (ghi có), debit is money out (ghi nợ)."""

    CREDIT = "credit"
    DEBIT = "debit"


class StatementFormat(StrEnum):
    CAMT = "camt"  # camt.052 / camt.053 / camt.054, any version: told apart by the document itself
    MT940 = "mt940"
    BANK_CSV = "bank_csv"
    KBNN_CSV = "kbnn_csv"


@dataclass(frozen=True, slots=True)
class Message:
    """One message in Vietnamese and English, as ``civicpay.errors.Text`` (which this pure room cannot import)."""

    vi: str
    en: str


class StatementError(ValueError):
    """A file refused whole: the importer stores nothing of it.

    ``code`` is stable (``truncated``, ``no_closing_balance``, ``unknown_header``, ``wrong_currency``,
    ``unknown_currency``, ``bad_amount``, ``bad_date``, ``malformed``); ``where`` says where in the file
    (a line number or an element) when it is known.
    """

    def __init__(self, code: str, message: Message, where: str | None = None) -> None:
        super().__init__(f"{message.en} ({where})" if where else message.en)
        self.code = code
        self.message = message
        self.where = where


@dataclass(frozen=True, slots=True)
class Balance:
    amount: int  # signed: a debit balance (overdraft) is negative
    on: date | None


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement's header (sao kê): whose account, in what currency, from which balance to which.

    ``account`` is as the bank gave it (IBAN, BIN:number, a bare number): matching it to an account
    we hold is the importer's business. ``opening``/``closing`` are None where the format has none
    (camt.054 notifications, a CSV without balances); ``closing`` is also None where the format
    gives it only after the lines (the KBNN ``SDCK`` row, a CSV footer): the ``StatementTotals``
    that end the statement always carry the closing balance that was checked. ``final`` is False for
    an MT940 page closed by :62M: (an intermediate balance: the statement goes on in the next page).
    """

    format: StatementFormat
    statement_id: str
    account: str
    currency: str
    opening: Balance | None
    closing: Balance | None
    created: date | None = None
    from_date: date | None = None
    to_date: date | None = None
    final: bool = True
    kind: str = ""  # camt.053.001.08, MT940, the CSV mapping's name
    # What is odd but not worth refusing the file for (a closing balance in another currency):
    # shown to the finance officer with the import.
    anomalies: tuple[Message, ...] = ()


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One booked entry (bút toán) of a statement, as the matcher sees it.

    ``sequence`` is the line's position in its file (from 1): with ``statement_id`` it names the line,
    and it keeps the matcher's order independent of the order lines are handed to it.
    ``our_reference`` is the account owner's reference where the format has a field for it (MT940
    :61: reference for the account owner, camt ``InstrId``, a CSV column), None for ``NONREF``.
    ``other_references`` are the entry's further references (each ``EndToEndId`` of a batch booking,
    a creditor reference), all searched by the matcher. ``raw`` is the line's text as in the file.
    """

    statement_id: str
    sequence: int
    booking_date: date
    value_date: date | None
    amount: int
    direction: Direction
    currency: str
    bank_reference: str | None = None
    end_to_end_id: str | None = None
    our_reference: str | None = None
    other_references: tuple[str, ...] = ()
    counterparty: str | None = None
    counterparty_account: str | None = None
    narrative: str = ""
    reversal: bool = False
    raw: str = ""

    @property
    def signed(self) -> int:
        return self.amount if self.direction is Direction.CREDIT else -self.amount


@dataclass(frozen=True, slots=True)
class StatementTotals:
    """The end of one statement: its sums and whether opening + credits - debits = closing.

    ``continuous`` is None when the statement has no balance to check against (a notification).
    ``follows_previous`` is False when this statement's opening differs from the previous statement's
    closing in the same file (a page or a day missing between them); None for the first.
    """

    statement_id: str
    lines: int
    credits: int
    debits: int
    opening: int | None
    closing: int | None
    continuous: bool | None
    follows_previous: bool | None = None

    @property
    def expected_closing(self) -> int | None:
        return None if self.opening is None else self.opening + self.credits - self.debits

    @property
    def gap(self) -> int | None:
        """Closing minus what the lines make of the opening: the amount the continuity break is worth."""
        expected = self.expected_closing
        return None if expected is None or self.closing is None else self.closing - expected


Event = Statement | StatementLine | StatementTotals


@dataclass
class Tally:
    """Sums a parser keeps while it streams a statement's lines, to check continuity at the end."""

    statement: Statement
    previous_closing: int | None = None
    lines: int = 0
    credits: int = 0
    debits: int = 0

    def add(self, line: StatementLine) -> StatementLine:
        self.lines += 1
        if line.direction is Direction.CREDIT:
            self.credits += line.amount
        else:
            self.debits += line.amount
        return line

    def close(self, closing: Balance | None = None) -> StatementTotals:
        opening = self.statement.opening.amount if self.statement.opening else None
        end = closing or self.statement.closing
        closing_amount = end.amount if end else None
        continuous = None
        if opening is not None and closing_amount is not None:
            continuous = opening + self.credits - self.debits == closing_amount
        follows = None
        if self.previous_closing is not None and opening is not None:
            follows = opening == self.previous_closing
        return StatementTotals(
            self.statement.statement_id,
            self.lines,
            self.credits,
            self.debits,
            opening,
            closing_amount,
            continuous,
            follows,
        )


def exponent(currency: str) -> int:
    code = currency.strip().upper()
    if code not in EXPONENTS:
        raise StatementError(
            "unknown_currency",
            Message(
                f"Không rõ số chữ số thập phân của đơn vị tiền {code!r}", f"Unknown minor unit for currency {code!r}"
            ),
        )
    return EXPONENTS[code]


def to_minor(text: str | Decimal, currency: str, *, where: str | None = None) -> int:
    """A decimal amount as an integer in the currency's minor unit; refuses fractions it cannot hold.

    Through ``Decimal``, never ``float``: 0.1 + 0.2 must stay 30 cents. ``1,50`` (MT940's comma) is
    read as 1.50; thousands separators are the CSV parser's business, not this function's.
    """
    scale = exponent(currency)
    if isinstance(text, str) and (digits := text.strip()).isdigit() and digits.isascii():
        return int(digits) * int(10**scale)  # a whole amount (every VND one): Decimal would give the same, slower
    try:
        value = text if isinstance(text, Decimal) else Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        raise StatementError(
            "bad_amount", Message(f"Số tiền không đọc được: {text!r}", f"Unreadable amount: {text!r}"), where
        ) from None
    minor = value.scaleb(scale)
    if not value.is_finite() or minor != minor.to_integral_value():
        raise StatementError(
            "bad_amount",
            Message(
                f"Số tiền {text} có nhiều chữ số lẻ hơn đơn vị tiền {currency} cho phép",
                f"Amount {text} has more decimals than {currency} allows",
            ),
            where,
        )
    return int(minor)


def check_currency(found: str, expected: str | None, where: str | None = None) -> str:
    """The statement's currency, refused when the caller expected another (a VND account's file in EUR)."""
    code = found.strip().upper()
    exponent(code)
    if expected is not None and code != expected.upper():
        raise StatementError(
            "wrong_currency",
            Message(
                f"Sao kê bằng {code}, tài khoản này dùng {expected.upper()}",
                f"The statement is in {code}; this account is in {expected.upper()}",
            ),
            where,
        )
    return code


def file_sha256(source: Path | BinaryIO, chunk: int = 1 << 20) -> str:
    """The file's SHA-256 in hex, read in chunks: the key by which the same file twice is recognised."""
    digest = hashlib.sha256()
    if isinstance(source, Path):
        with source.open("rb") as stream:
            while block := stream.read(chunk):
                digest.update(block)
    else:
        while block := source.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class ParsedStatement:
    """One statement gathered whole: for tests and small files; importers consume the event stream."""

    statement: Statement
    lines: tuple[StatementLine, ...]
    totals: StatementTotals


def gather(events: Iterable[Event]) -> list[ParsedStatement]:
    """The event stream folded into whole statements (holds every line: not for a million-line file)."""
    found: list[ParsedStatement] = []
    header: Statement | None = None
    lines: list[StatementLine] = []
    for event in events:
        if isinstance(event, Statement):
            header, lines = event, []
        elif isinstance(event, StatementLine):
            lines.append(event)
        elif header is not None:
            found.append(ParsedStatement(header, tuple(lines), event))
            header = None
    return found


def raw_csv_row(cells: list[str]) -> str:
    """A CSV row as text again, quoted where it must be: the raw line kept with a CSV statement line."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()


def lines_of(events: Iterable[Event]) -> Iterator[StatementLine]:
    return (event for event in events if isinstance(event, StatementLine))
