"""SWIFT MT940 customer statements, through the ``mt-940`` package.

A file often holds several statements (pages, days, accounts), each ended by a ``-`` line. The package
parses one run of tags into one dictionary, so a second statement would overwrite the first one's
balances: the file is split first, statement by statement, as it is read line by line, and each
statement is handed to the package on its own. Memory holds one statement at a time.

A statement must end in a closing balance: ``:62F:`` (final) or ``:62M:`` (intermediate, the
statement goes on in the next page: ``Statement.final`` is False). Without one the statement is cut
short and the file is refused. ``:61:`` status ``RC``/``RD`` is a reversal of a credit (so a debit)
or of a debit (a credit); the package's signs are not used, the mark decides the direction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import mt940

from reconciliation.model import (
    Balance,
    Direction,
    Event,
    Message,
    Statement,
    StatementError,
    StatementFormat,
    StatementLine,
    Tally,
    check_currency,
    to_minor,
)

_NO_REFERENCE = {"", "NONREF"}


def split_statements(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """Each statement's lines with the file line number it starts at; the ``-`` separators are dropped."""
    chunk: list[str] = []
    start = 1
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if text.strip() in {"-", "-}", "}"}:
            if any(part.startswith(":20:") for part in chunk):
                yield start, chunk
            chunk, start = [], number + 1
            continue
        chunk.append(text)
    if any(part.startswith(":20:") for part in chunk):
        yield start, chunk


def _raw_lines(chunk: list[str]) -> list[str]:
    """The text of each ``:61:`` with its ``:86:``, in order: the raw line kept with each statement line."""
    found: list[list[str]] = []
    inside = False
    for text in chunk:
        if text.startswith(":61:"):
            found.append([text])
            inside = True
        elif text.startswith(":") and not text.startswith(":86:"):
            inside = False
        elif inside and text.strip():
            found[-1].append(text)
    return ["\n".join(parts) for parts in found]


def _plain(day: Any) -> date | None:
    return None if day is None else date(day.year, day.month, day.day)


def _balance(value: Any, currency: str, where: str) -> Balance:
    return Balance(to_minor(value.amount.amount, currency, where=where), _plain(value.date))


def read_mt940(
    source: str | Path | Iterable[str], *, expected_currency: str | None = None, previous_closing: int | None = None
) -> Iterator[Event]:
    """Every statement of an MT940 file, streamed: header, lines, totals; refuses one without :62F:/:62M:."""
    if isinstance(source, str | Path):
        with Path(source).open(encoding="utf-8", errors="replace") as stream:
            yield from read_mt940(stream, expected_currency=expected_currency, previous_closing=previous_closing)
        return
    sequence = 0
    last_closing = previous_closing
    seen = False
    for start, chunk in split_statements(source):
        seen = True
        where = f"line {start}"
        parsed = mt940.models.Transactions()
        try:
            parsed.parse("\n".join(chunk))
        except (ValueError, KeyError, RuntimeError) as error:
            # The package's messages run to its whole regular expression: the first line says enough.
            said = (str(error.args[0]) if error.args else str(error)).splitlines()[0][:200]
            raise StatementError(
                "malformed",
                Message(f"Sao kê MT940 không đọc được: {said}", f"Unreadable MT940 statement: {said}"),
                where,
            ) from None
        data = parsed.data
        opening_value = data.get("final_opening_balance") or data.get("intermediate_opening_balance")
        closing_value = data.get("final_closing_balance")
        final = closing_value is not None
        closing_value = closing_value or data.get("intermediate_closing_balance")
        if closing_value is None:
            raise StatementError(
                "no_closing_balance",
                Message(
                    "Sao kê MT940 thiếu số dư cuối kỳ :62F: (tệp bị cắt?)",
                    "MT940 statement without a closing balance :62F: (file cut short?)",
                ),
                where,
            )
        if opening_value is None:
            raise StatementError(
                "no_opening_balance",
                Message("Sao kê MT940 thiếu số dư đầu kỳ :60F:", "MT940 statement without an opening balance :60F:"),
                where,
            )
        currency = check_currency(opening_value.amount.currency, expected_currency, where)
        check_currency(closing_value.amount.currency, currency, where)
        number, page = data.get("statement_number"), data.get("sequence_number")
        statement_id = f"{number}/{page}" if number and page else (number or data.get("transaction_reference") or where)
        statement = Statement(
            format=StatementFormat.MT940,
            statement_id=statement_id,
            account=data.get("account_identification") or "",
            currency=currency,
            opening=_balance(opening_value, currency, where),
            closing=_balance(closing_value, currency, where),
            from_date=_plain(opening_value.date),
            to_date=_plain(closing_value.date),
            final=final,
            kind="MT940",
        )
        tally = Tally(statement, previous_closing=last_closing)
        yield statement
        raws = _raw_lines(chunk)
        for index, transaction in enumerate(parsed.transactions):
            sequence += 1
            yield tally.add(_line(statement, transaction.data, sequence, raws[index] if index < len(raws) else ""))
        totals = tally.close()
        last_closing = totals.closing
        yield totals
    if not seen:
        raise StatementError(
            "malformed", Message("Không phải tệp MT940: không có thẻ :20:", "Not an MT940 file: no :20: tag")
        )


def _line(statement: Statement, data: dict[str, Any], sequence: int, raw: str) -> StatementLine:
    where = f":61: #{sequence}"
    status = str(data.get("status") or "")
    check_currency(data["amount"].currency, statement.currency, where)
    # C and RD (reversal of a debit) put money in; D and RC (reversal of a credit) take it out.
    direction = Direction.CREDIT if status in {"C", "RD"} else Direction.DEBIT
    customer = (data.get("customer_reference") or "").strip()
    booking = _plain(data.get("entry_date") or data.get("guessed_entry_date") or data.get("date"))
    assert booking is not None  # noqa: S101 -- the package always sets the value date of a :61:
    details = str(data.get("transaction_details") or "")
    return StatementLine(
        statement_id=statement.statement_id,
        sequence=sequence,
        booking_date=booking,
        value_date=_plain(data.get("date")),
        amount=abs(to_minor(data["amount"].amount, statement.currency, where=where)),
        direction=direction,
        currency=statement.currency,
        bank_reference=(data.get("bank_reference") or "").strip() or None,
        our_reference=None if customer.upper() in _NO_REFERENCE else customer,
        # :86: is wrapped at 65 characters, words cut anywhere: joined with a space, which the
        # matcher's reference search looks through.
        narrative=" ".join(part.strip() for part in details.splitlines() if part.strip()),
        reversal=status.startswith("R"),
        raw=raw,
    )
