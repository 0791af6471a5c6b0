"""A programme's beneficiaries as a file (CSV or XLSX), read into rows with the problems a row shows on its own.

The layout, one beneficiary a row under a header row (column order free, names case-insensitive, the English or
the Vietnamese header):

==================  ===================  =========  =============================================================
column              Vietnamese header    required   value
==================  ===================  =========  =============================================================
``citizen_id``      ``số cccd``          yes        the 12-digit citizen ID (căn cước công dân)
``full_name``       ``họ và tên``        yes        as on the ID; compared without diacritics or case
``amount_vnd``      ``số tiền``          yes        whole đồng, digits only: ``1500000`` (not ``1.500.000``)
``period``          ``kỳ``               yes        the month paid for, ``YYYY-MM`` (an XLSX date cell is its month)
``destination``     ``hình thức nhận``   yes        ``wallet`` (``ví``): our wallet of the citizen with this ID;
                                                    ``bank`` (``ngân hàng``): the bank account in the next columns;
                                                    ``unclaimed`` (``chờ nhận``): neither yet: paid to the
                                                    citizen's wallet if one is open, else held for them until
                                                    they open one (``disbursement.unclaimed``)
``bank_bin``        ``mã ngân hàng``     for bank   the bank's 6-digit BIN (NAPAS), e.g. ``970436``
``account_number``  ``số tài khoản``     for bank   6 to 19 digits
``holder_name``     ``chủ tài khoản``    for bank   the account holder's name
==================  ===================  =========  =============================================================

A CSV is UTF-8 (a byte-order mark is fine), comma- or semicolon-separated; an XLSX is read from its first sheet
(``civicpay.table_files``). Empty rows are skipped; rows are numbered as a spreadsheet shows them.

What a row shows on its own (a missing field, a malformed citizen ID, amount, period or account, an unknown or
non-receiving BIN, an amount above the programme's most) is found here, without a database; what needs one
(unknown citizen, name mismatch, duplicate, already paid) is ``batches.validate``'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from civicpay import banks
from civicpay.auth.identity import is_citizen_id
from civicpay.errors import Text
from civicpay.table_files import Layout, Table, folded, read_bytes

COLUMNS: dict[str, str] = {
    "citizen_id": "số cccd",
    "full_name": "họ và tên",
    "amount_vnd": "số tiền",
    "period": "kỳ",
    "destination": "hình thức nhận",
    "bank_bin": "mã ngân hàng",
    "account_number": "số tài khoản",
    "holder_name": "chủ tài khoản",
}
LAYOUT = Layout(COLUMNS, ("citizen_id", "full_name", "amount_vnd", "period", "destination"))
BANK_FIELDS = ("bank_bin", "account_number", "holder_name")
DESTINATIONS = {
    "wallet": "wallet",
    "ví": "wallet",
    "vi": "wallet",
    "bank": "bank",
    "ngân hàng": "bank",
    "unclaimed": "unclaimed",
    "chờ nhận": "unclaimed",
    "cho nhan": "unclaimed",
}

_DIGITS = re.compile(r"[0-9]+")
_PERIOD = re.compile(r"(?:19|20)[0-9]{2}-(?:0[1-9]|1[0-2])")
_ACCOUNT = re.compile(r"[0-9]{6,19}")

# Every problem a row can have, in both languages: the report stores the code, the reader gets the words.
PROBLEMS: dict[str, Text] = {
    "missing_field": Text("Thiếu giá trị", "Missing value"),
    "citizen_id_malformed": Text("Số CCCD phải gồm đúng 12 chữ số", "The citizen ID must be exactly 12 digits"),
    "citizen_unknown": Text(
        "Không có ví nào của công dân có số CCCD này (nếu họ chưa có ví lẫn tài khoản ngân hàng: hình thức nhận"
        " chờ nhận)",
        "No wallet belongs to this citizen ID (if they have neither a wallet nor a bank account: destination"
        " unclaimed)",
    ),
    "name_mismatch": Text(
        "Họ tên không khớp với họ tên của chủ ví (không tính dấu và chữ hoa)",
        "The name does not match the wallet holder's (diacritics and case aside)",
    ),
    "duplicate_in_batch": Text(
        "Cùng số CCCD và kỳ xuất hiện nhiều lần trong tệp", "The same citizen ID and period appear more than once"
    ),
    "already_paid": Text(
        "Người này đã được chi trả cho chương trình và kỳ này",
        "This person has already been paid for this programme and period",
    ),
    "amount_malformed": Text(
        "Số tiền phải là số đồng nguyên, chỉ gồm chữ số (1500000)", "The amount must be whole đồng, digits only"
    ),
    "amount_out_of_range": Text(
        "Số tiền nằm ngoài mức cho phép của chương trình", "The amount is outside the programme's allowed range"
    ),
    "period_malformed": Text("Kỳ phải có dạng YYYY-MM", "The period must be YYYY-MM"),
    "destination_unknown": Text(
        "Hình thức nhận phải là wallet (ví), bank (ngân hàng) hoặc unclaimed (chờ nhận)",
        "The destination must be wallet, bank or unclaimed",
    ),
    "bin_unknown": Text("Không có ngân hàng nào mang mã BIN này", "No bank has this BIN"),
    "bin_not_receiving": Text(
        "Ngân hàng này không nhận chuyển khoản NAPAS", "This bank does not receive NAPAS transfers"
    ),
    "account_malformed": Text("Số tài khoản phải gồm 6 đến 19 chữ số", "The account number must be 6 to 19 digits"),
}


@dataclass(slots=True)
class BatchRow:
    """One row as read: its values as text (cut to what is stored), the amount if it is one, and its problems."""

    row: int
    citizen_id: str
    full_name: str
    amount_vnd: int | None
    period: str
    destination: str
    bank_bin: str
    account_number: str
    holder_name: str
    problems: list[tuple[str, str]] = field(default_factory=list)

    def refuse(self, code: str, column: str) -> None:
        self.problems.append((code, column))


def open_table(data: bytes, name: str) -> Table:
    """The upload's header and rows; ``civicpay.table_files.UnreadableFile`` if it is not this layout at all."""
    return read_bytes(data, name, LAYOUT)


def read_row(number: int, columns: list[str | None], cells: Any, max_amount_vnd: int) -> BatchRow | None:
    """A row and the problems it shows on its own; None for an empty row (skipped, as a spreadsheet shows them)."""
    values = dict.fromkeys(COLUMNS, "")
    for position, cell in enumerate(cells):
        # A cell under no named column is left out: the header said what the file holds.
        if position < len(columns) and (name := columns[position]) is not None:
            values[name] = _cell(name, cell)
    if all(value == "" for value in values.values()):
        return None
    found = BatchRow(
        row=number,
        citizen_id=values["citizen_id"][:20],
        full_name=values["full_name"][:100],
        amount_vnd=None,
        period=values["period"][:10],
        destination=values["destination"][:10],
        bank_bin=values["bank_bin"][:10],
        account_number=values["account_number"][:30],
        holder_name=values["holder_name"][:100],
    )
    for name in LAYOUT.required:
        if values[name] == "":
            found.refuse("missing_field", name)
    if values["citizen_id"] and not is_citizen_id(values["citizen_id"]):
        found.refuse("citizen_id_malformed", "citizen_id")
    if values["amount_vnd"]:
        _check_amount(found, values["amount_vnd"], max_amount_vnd)
    if values["period"] and not _PERIOD.fullmatch(values["period"]):
        found.refuse("period_malformed", "period")
    if values["destination"]:
        destination = DESTINATIONS.get(folded(values["destination"]))
        if destination is None:
            found.refuse("destination_unknown", "destination")
        else:
            found.destination = destination
            if destination == "bank":
                _check_bank(found, values)
    return found


def _check_amount(found: BatchRow, amount: str, max_amount_vnd: int) -> None:
    # Only plain digits are an amount: "1.500.000" is 1,500,000 đồng to a Vietnamese reader, 1.5 to a parser.
    if not _DIGITS.fullmatch(amount) or len(amount) > 15:
        found.refuse("amount_malformed", "amount_vnd")
    elif not 0 < int(amount) <= max_amount_vnd:
        found.refuse("amount_out_of_range", "amount_vnd")
    else:
        found.amount_vnd = int(amount)


def _check_bank(found: BatchRow, values: dict[str, str]) -> None:
    for name in BANK_FIELDS:
        if values[name] == "":
            found.refuse("missing_field", name)
    if bank_bin := values["bank_bin"]:
        bank = banks.by_bin(bank_bin)
        if bank is None:
            found.refuse("bin_unknown", "bank_bin")
        elif not bank.can_receive:
            found.refuse("bin_not_receiving", "bank_bin")
    if values["account_number"] and not _ACCOUNT.fullmatch(values["account_number"]):
        found.refuse("account_malformed", "account_number")


def _cell(name: str, cell: Any) -> str:
    """A cell as text: trimmed; a spreadsheet's whole number without ".0"; a date cell as its month or day."""
    if cell is None:
        return ""
    if isinstance(cell, datetime | date):
        day = cell.date() if isinstance(cell, datetime) else cell
        # A period typed as "2026-12" becomes a date cell in a spreadsheet: it meant the month.
        return day.strftime("%Y-%m") if name == "period" else day.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        # Spreadsheets store every number as a float: 1500000.0 is the whole number typed.
        cell = int(cell)
    if isinstance(cell, int) and not isinstance(cell, bool) and name == "citizen_id" and 0 < cell < 10**12:
        # A CCCD typed into a number cell loses its leading zero (every CCCD starts with 0): put it back.
        return str(cell).zfill(12)
    return str(cell).strip()
