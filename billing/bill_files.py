"""A biller's bills as a file (CSV or XLSX), read into the push's own ``BillIn`` for ``civicpay billing import``.

The layout, one bill a row under a header row (column order free, names case-insensitive):

========================  ==================  ========  ==========================================================
column                    Vietnamese header   required  value
========================  ==================  ========  ==========================================================
``bill_id``               ``mã hóa đơn``      yes       the biller's own id for the bill (what makes a re-import
                                                        change nothing)
``customer_code``         ``mã khách hàng``   yes       the customer code citizens link
``customer_name``         ``tên khách hàng``  yes       the name the biller has for the customer
``period``                ``kỳ``              yes       the billing period, e.g. ``2026-11`` (an XLSX date cell
                                                        becomes ``YYYY-MM``)
``amount_vnd``            ``số tiền``         yes       whole đồng, digits only: ``150000`` (not ``150.000``)
``due_date``              ``hạn thanh toán``  yes       ``YYYY-MM-DD``, or an XLSX date cell
``status``                ``trạng thái``      no        ``open`` (empty means open) or ``cancelled``
``lines``                 ``chi tiết``        no        the line items as JSON, as the push takes them:
                                                        ``[{"description": "Bậc 1", "amount_vnd": 100000}]``
========================  ==================  ========  ==========================================================

A CSV is UTF-8, with or without a byte-order mark, comma-separated (or semicolon-separated, as a spreadsheet in
a Vietnamese locale may save it: the header line decides); an XLSX is read from its first sheet. Empty rows are
skipped; rows are numbered as a spreadsheet shows them, the header being row 1.

A row's values are only turned into what JSON would carry (text, whole numbers, the line items' list); whether
they make a bill is decided by ``BillIn`` itself, the push's own schema, so a file and a push are held to the
same rules. A file this module cannot read as that layout at all (not UTF-8 CSV nor XLSX, a header unknown or
missing) raises ``UnreadableFile`` before any row is looked at; a row that does not make a bill is a ``RowError``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import msgspec

from billing.schemas import BillIn
from civicpay.errors import Text, malformed
from civicpay.table_files import Layout, UnreadableFile, read_path

# The billing command and its tests name the shared reader's refusal as this module's.
__all__ = ["COLUMNS", "REQUIRED", "BillFile", "BillRow", "RowError", "UnreadableFile", "read"]

# Every column: its name in the file, and the Vietnamese header a biller's spreadsheet may use instead.
COLUMNS: dict[str, str] = {
    "bill_id": "mã hóa đơn",
    "customer_code": "mã khách hàng",
    "customer_name": "tên khách hàng",
    "period": "kỳ",
    "amount_vnd": "số tiền",
    "due_date": "hạn thanh toán",
    "status": "trạng thái",
    "lines": "chi tiết",
}
REQUIRED = ("bill_id", "customer_code", "customer_name", "period", "amount_vnd", "due_date")
LAYOUT = Layout(COLUMNS, REQUIRED)
_DIGITS = re.compile(r"[0-9]+")
# What a file's author needs besides the schema's words, which name JSON's types rather than a cell's.
_HINTS = {
    "amount_vnd": Text(" (số đồng, chỉ gồm chữ số: 150000)", " (whole đồng, digits only: 150000)"),
    "due_date": Text(" (YYYY-MM-DD)", " (YYYY-MM-DD)"),
}


@dataclass(frozen=True, slots=True)
class RowError:
    """One row that is not a bill, or a bill the import refused: where, which field, why (both languages)."""

    row: int
    bill_id: str
    field: str
    code: str
    message: Text


@dataclass(frozen=True, slots=True)
class BillRow:
    row: int
    bill: BillIn


@dataclass
class BillFile:
    """What a file holds: its bills with their row numbers, and its rows that are not bills."""

    bills: list[BillRow]
    errors: list[RowError]


def read(path: Path) -> BillFile:
    """Read the whole file (so a file unreadable half-way imports nothing); raises ``UnreadableFile``."""
    table = read_path(path, LAYOUT)
    found = BillFile([], [])
    for number, cells in table.rows:
        if all(cell in (None, "") for cell in cells):
            continue
        _read_row(number, table.columns, cells, found)
    return found


def _read_row(number: int, columns: list[str | None], cells: Sequence[Any], found: BillFile) -> None:
    values: dict[str, Any] = {}
    for position, cell in enumerate(cells):
        name = columns[position] if position < len(columns) else None
        if name is None:
            if cell not in (None, ""):
                outside = ("Ô nằm ngoài các cột có tên", "A cell outside the named columns")
                found.errors.append(_row_error(number, values, "", *outside))
                return
            continue
        value = _cell(name, cell)
        if value != "":
            values[name] = value
    if any("\x00" in str(value) or "\\u0000" in str(value) for value in values.values()):
        # The push refuses NUL, raw or as JSON's escape (PostgreSQL text cannot hold it); a file is held to the same.
        found.errors.append(_row_error(number, values, "", "Chứa ký tự NUL", "Contains a NUL character"))
        return
    if isinstance(values.get("amount_vnd"), str) and _DIGITS.fullmatch(values["amount_vnd"]):
        # Only plain digits become a number: "150.000" is 150 000 đồng to a Vietnamese reader, 150 to a parser,
        # so it stays text and BillIn refuses it rather than either guess.
        values["amount_vnd"] = int(values["amount_vnd"])
    if isinstance(values.get("lines"), str):
        try:
            values["lines"] = msgspec.json.decode(values["lines"])
        except msgspec.DecodeError:
            found.errors.append(_row_error(number, values, "lines", "Không phải JSON hợp lệ", "Not valid JSON"))
            return
    try:
        found.bills.append(BillRow(number, msgspec.convert(values, BillIn)))
    except msgspec.ValidationError as error:
        refusal = malformed(error, under="")  # msgspec's words, translated as the push's own refusals are
        message = refusal.detail or refusal.title
        if hint := _HINTS.get(refusal.field or ""):
            message = Text(message.vi + hint.vi, message.en + hint.en)
        found.errors.append(RowError(number, _bill_id(values), refusal.field or "", refusal.code, message))


def _row_error(number: int, values: dict[str, Any], field: str, vi: str, en: str) -> RowError:
    return RowError(number, _bill_id(values), field, "validation_failed", Text(vi, en))


def _bill_id(values: dict[str, Any]) -> str:
    bill_id = values.get("bill_id")
    return bill_id if isinstance(bill_id, str) else ""


def _cell(name: str, cell: Any) -> Any:
    """A cell as JSON would carry it: text (trimmed), or a whole number or a date from a spreadsheet's cell."""
    if cell is None:
        return ""
    if isinstance(cell, datetime | date):
        day = cell.date() if isinstance(cell, datetime) else cell
        # A period typed as "2026-11" becomes a date cell in a spreadsheet: it meant the month.
        return day.strftime("%Y-%m") if name == "period" else day.isoformat()
    if isinstance(cell, bool):
        return str(cell)
    if isinstance(cell, float) and cell.is_integer():
        # Spreadsheets store every number as a float: 150000.0 is the whole number typed; 150000.5 stays a
        # float, which BillIn refuses as an amount and which no code or name ever is.
        cell = int(cell)
    if isinstance(cell, int):
        return cell if name == "amount_vnd" else str(cell)
    return str(cell).strip()
