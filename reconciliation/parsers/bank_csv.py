"""Vietnamese internet-banking statement exports (sao kê tài khoản) as CSV, through a column mapping per bank.

An export starts with a preamble (the bank's name, ``Số tài khoản: …``, ``Từ ngày … đến ngày …``,
``Số dư đầu kỳ: …``), then a header row in Vietnamese, then one row per transaction, then perhaps a
footer (``Tổng cộng``, ``Số dư cuối kỳ``). Amounts are written ``1.234.567`` (dot for thousands),
dates ``dd/mm/yyyy``. The header row is found by looking for a row that holds every header of a known
mapping, compared folded and in lower case (``Ngày giao dịch`` = ``Ngay giao dich`` = ``NGÀY GIAO DỊCH``),
so a bank that drops diacritics or changes case still reads; a row that holds none is refused as an
unknown header, never guessed. Extra columns are ignored.

Balances: the preamble's ``Số dư đầu kỳ``/``Số dư cuối kỳ`` (or a footer row with the latter) when
present; otherwise derived from the running balance column (first row's balance less its own
movement; last row's balance). An export with neither has no continuity to check.

The mappings in ``MAPPINGS`` are the layouts we configure for each bank we hold an account at (by BIN),
written from the exports' headers; when a bank changes its export, its mapping changes here.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

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
    raw_csv_row,
    to_minor,
)
from reconciliation.text import key

# How many rows of preamble are read before the file is refused as having no header we know.
_HEADER_SEARCH = 60


@dataclass(frozen=True)
class CsvMapping:
    """One bank's export: which header names each field, and how its numbers and dates are written.

    ``columns`` maps our field to the header as the bank prints it. Amounts come either from two
    columns (``debit`` and ``credit``, one of them empty or 0 on each row) or from one signed
    ``amount`` column (negative = debit). Required: ``booking_date``, ``narrative`` and the amounts.
    Optional: ``value_date``, ``bank_reference``, ``our_reference``, ``balance`` (running),
    ``counterparty``, ``counterparty_account``.
    """

    name: str
    bank_bin: str
    columns: dict[str, str]
    date_format: str = "%d/%m/%Y"
    thousands: str = "."
    decimal: str = ","
    currency: str = "VND"
    # Preamble labels, compared folded and lower case, each followed by its value in the same row.
    labels: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {
            "account": ("so tai khoan", "tai khoan"),
            "currency": ("loai tien", "don vi tien", "tien te"),
            "opening": ("so du dau ky", "so du dau"),
            "closing": ("so du cuoi ky", "so du cuoi"),
            "period": ("tu ngay",),
        }
    )

    def headers(self) -> dict[str, str]:
        return {column: key(header) for column, header in self.columns.items()}


VIETCOMBANK = CsvMapping(
    name="vietcombank",
    bank_bin="970436",
    columns={
        "booking_date": "Ngày giao dịch",
        "bank_reference": "Số tham chiếu",
        "debit": "Số tiền ghi nợ",
        "credit": "Số tiền ghi có",
        "balance": "Số dư",
        "narrative": "Mô tả",
    },
)
VIETINBANK = CsvMapping(
    name="vietinbank",
    bank_bin="970415",
    columns={
        "booking_date": "Ngày hạch toán",
        "value_date": "Ngày giao dịch",
        "narrative": "Diễn giải",
        "debit": "Ghi nợ",
        "credit": "Ghi có",
        "balance": "Số dư",
        "bank_reference": "Số giao dịch",
        "counterparty": "Tên tài khoản đối ứng",
        "counterparty_account": "Tài khoản đối ứng",
    },
)
BIDV = CsvMapping(
    name="bidv",
    bank_bin="970418",
    columns={
        "booking_date": "Ngày hiệu lực",
        "value_date": "Ngày giao dịch",
        "bank_reference": "Số tham chiếu",
        "amount": "Số tiền",
        "balance": "Số dư",
        "narrative": "Nội dung",
        "counterparty": "Đơn vị đối ứng",
    },
)
MAPPINGS: tuple[CsvMapping, ...] = (VIETCOMBANK, VIETINBANK, BIDV)


def parse_number(text: str, mapping: CsvMapping, currency: str, where: str) -> int | None:
    """``1.234.567`` → 1234567 (VND), ``-12.345,50`` → -1234550 (EUR); an empty cell is None."""
    cleaned = text.strip().replace(" ", "").replace("\u00a0", "")
    if cleaned in {"", "-", "0"}:
        return None if cleaned != "0" else 0
    sign = -1 if cleaned.startswith("-") or (cleaned.startswith("(") and cleaned.endswith(")")) else 1
    cleaned = cleaned.strip("+-()")
    if mapping.thousands:
        cleaned = cleaned.replace(mapping.thousands, "")
    cleaned = cleaned.replace(mapping.decimal, ".")
    if not re.fullmatch(r"\d+(\.\d+)?", cleaned):
        raise StatementError(
            "bad_amount", Message(f"Số tiền không đọc được: {text!r}", f"Unreadable amount: {text!r}"), where
        )
    return sign * to_minor(cleaned, currency, where=where)


def _date(text: str, mapping: CsvMapping) -> date | None:
    # Some exports add the time (``07/12/2026 14:03:11``): the date is the first word.
    first = text.strip().split(" ")[0] if text.strip() else ""
    try:
        return datetime.strptime(first, mapping.date_format).date()  # noqa: DTZ007 -- a calendar date, no time
    except ValueError:
        return None


def _label_value(cells: list[str], labels: tuple[str, ...]) -> str | None:
    """The value after a preamble label, in the same cell (``Số tài khoản: 0123``) or the next non-empty one."""
    for index, cell in enumerate(cells):
        folded = key(cell)
        for label in labels:
            if folded.startswith(label):
                rest = cell.split(":", 1)[1].strip() if ":" in cell else ""
                if rest:
                    return rest
                later = [other.strip() for other in cells[index + 1 :] if other.strip()]
                return later[0] if later else None
    return None


def _find_header(
    rows: Iterator[tuple[int, list[str]]], mappings: Iterable[CsvMapping]
) -> tuple[CsvMapping, dict[str, int], list[list[str]], int]:
    preamble: list[list[str]] = []
    for number, cells in rows:
        folded = [key(cell) for cell in cells]
        for mapping in mappings:
            wanted = mapping.headers()
            if all(header in folded for header in wanted.values()):
                return mapping, {column: folded.index(header) for column, header in wanted.items()}, preamble, number
        preamble.append(cells)
        if number >= _HEADER_SEARCH:
            break
    likely = next((row for row in preamble if sum(bool(cell.strip()) for cell in row) >= 3), [])
    raise StatementError(
        "unknown_header",
        Message(
            f"Không nhận ra dòng tiêu đề của sao kê CSV (gần nhất: {' | '.join(likely)})",
            f"No known header row in the CSV statement (closest: {' | '.join(likely)})",
        ),
    )


def read_bank_csv(
    source: str | Path | Iterable[str],
    *,
    mappings: Iterable[CsvMapping] = MAPPINGS,
    expected_currency: str | None = None,
    account: str | None = None,
    previous_closing: int | None = None,
) -> Iterator[Event]:
    """One statement from a bank's CSV export, streamed; refuses an unknown header or another currency."""
    if isinstance(source, str | Path):
        # utf-8-sig: exports meant for Excel start with a byte-order mark.
        with Path(source).open(encoding="utf-8-sig", newline="") as stream:
            yield from read_bank_csv(
                stream,
                mappings=mappings,
                expected_currency=expected_currency,
                account=account,
                previous_closing=previous_closing,
            )
        return
    rows = ((number, cells) for number, cells in enumerate(csv.reader(source), start=1))
    mapping, index, preamble, header_row = _find_header(rows, tuple(mappings))
    values: dict[str, str | None] = {}
    for name, labels in mapping.labels.items():
        values[name] = next((value for cells in preamble if (value := _label_value(cells, labels))), None)
    currency = check_currency(values["currency"] or mapping.currency, expected_currency, "preamble")
    opening = parse_number(values["opening"] or "", mapping, currency, "preamble") if values["opening"] else None
    closing = parse_number(values["closing"] or "", mapping, currency, "preamble") if values["closing"] else None
    period = _period(preamble, mapping)
    values["from"], values["to"] = (period[0].isoformat(), period[-1].isoformat()) if period else (None, None)
    statement_id = f"{mapping.name}:{values['account'] or account or ''}:{values['from'] or header_row}"

    cell = _Cells(index)
    tally: Tally | None = None
    first_balance: tuple[int, int] | None = None  # (running balance, signed movement) of the first row
    last_balance: int | None = None
    sequence = 0
    for number, cells in rows:
        where = f"line {number}"
        if not any(part.strip() for part in cells):
            continue
        booked, signed = _movement(cells, cell, mapping, currency, where)
        if booked is None:
            # A footer row: totals, signatures, perhaps the closing balance.
            closing = closing if closing is not None else _footer_closing(cells, mapping, currency, where)
            continue
        if signed == 0:
            continue  # a zero line (an information row some banks print) moves nothing
        sequence += 1
        balance = parse_number(cell(cells, "balance"), mapping, currency, where)
        if balance is not None:
            first_balance = first_balance or (balance, signed)
            last_balance = balance
        line = StatementLine(
            statement_id=statement_id,
            sequence=sequence,
            booking_date=booked,
            value_date=_date(cell(cells, "value_date"), mapping),
            amount=abs(signed),
            direction=Direction.CREDIT if signed > 0 else Direction.DEBIT,
            currency=currency,
            bank_reference=cell(cells, "bank_reference") or None,
            our_reference=cell(cells, "our_reference") or None,
            counterparty=cell(cells, "counterparty") or None,
            counterparty_account=cell(cells, "counterparty_account") or None,
            narrative=cell(cells, "narrative"),
            raw=raw_csv_row(cells),
        )
        if tally is None:
            # The header needs the opening balance, which may only be known from the first row.
            if opening is None and first_balance is not None:
                opening = first_balance[0] - first_balance[1]
            tally = Tally(
                _statement(mapping, statement_id, values, account, currency, opening, closing), previous_closing
            )
            yield tally.statement
        yield tally.add(line)
    if tally is None:
        tally = Tally(_statement(mapping, statement_id, values, account, currency, opening, closing), previous_closing)
        yield tally.statement
    end = closing if closing is not None else last_balance
    yield tally.close(Balance(end, None) if end is not None else None)


# Footer rows that carry amounts without a date: the period's totals (tổng cộng, cộng phát sinh).
_FOOTERS = ("tong", "cong phat sinh", "so du cuoi")


def _is_footer(cells: list[str]) -> bool:
    return any(key(cell).startswith(_FOOTERS) for cell in cells if cell.strip())


class _Cells:
    """A row's cell by our field's name, through the mapping's column positions; an absent column is empty."""

    def __init__(self, index: dict[str, int]) -> None:
        self.index = index

    def __call__(self, cells: list[str], column: str) -> str:
        at = self.index.get(column)
        return cells[at].strip() if at is not None and at < len(cells) else ""


def _movement(
    cells: list[str], cell: _Cells, mapping: CsvMapping, currency: str, where: str
) -> tuple[date | None, int]:
    """The row's booking date (None for a footer row) and its signed amount (credit positive)."""
    credit = parse_number(cell(cells, "credit"), mapping, currency, where)
    debit = parse_number(cell(cells, "debit"), mapping, currency, where)
    signed = parse_number(cell(cells, "amount"), mapping, currency, where)
    booked = _date(cell(cells, "booking_date"), mapping)
    if booked is None and (credit or debit or signed) and not _is_footer(cells):
        shown = cell(cells, "booking_date")
        raise StatementError(
            "bad_date", Message(f"Ngày không đọc được: {shown!r}", f"Unreadable date: {shown!r}"), where
        )
    return booked, signed if signed is not None else (credit or 0) - (debit or 0)


def _footer_closing(cells: list[str], mapping: CsvMapping, currency: str, where: str) -> int | None:
    text = _label_value(cells, mapping.labels["closing"])
    return parse_number(text, mapping, currency, where) if text else None


def _statement(
    mapping: CsvMapping,
    statement_id: str,
    values: dict[str, str | None],
    account: str | None,
    currency: str,
    opening: int | None,
    closing: int | None,
) -> Statement:
    first = date.fromisoformat(text) if (text := values.get("from")) else None
    last = date.fromisoformat(text) if (text := values.get("to")) else None
    return Statement(
        format=StatementFormat.BANK_CSV,
        statement_id=statement_id,
        account=f"{mapping.bank_bin}:{values['account'] or account or ''}",
        currency=currency,
        opening=Balance(opening, first) if opening is not None else None,
        closing=Balance(closing, last) if closing is not None else None,
        from_date=first,
        to_date=last,
        kind=f"csv:{mapping.name}",
    )


_DAY = re.compile(r"\b\d{1,2}/\d{1,2}/\d{4}\b")


def _period(preamble: list[list[str]], mapping: CsvMapping) -> list[date]:
    """The dates of the preamble's period row (``Từ ngày 01/12/2026 đến ngày 01/12/2026``), first to last."""
    for cells in preamble:
        text = " ".join(cells)
        if any(key(cell).startswith(mapping.labels["period"]) for cell in cells if cell.strip()):
            found = [day for day in (_date(match, mapping) for match in _DAY.findall(text)) if day is not None]
            return sorted(found)
    return []
