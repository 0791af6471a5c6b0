"""State Treasury (Kho bạc Nhà nước, KBNN) statements in a CSV layout of our own.

The Treasury has no export we can rely on, so we define one and ask the agencies' Treasury offices
(or our own transcription of their paper statements) to follow it. UTF-8 (a byte-order mark is
allowed), comma-separated, one header row exactly as below, no preamble:

    loai_dong,so_tai_khoan,ngay_hach_toan,ngay_gia_tri,so_chung_tu,ma_tham_chieu,ma_dvqhns,no_co,so_tien,dien_giai

- ``loai_dong`` (row kind): ``SDDK`` the opening balance (số dư đầu kỳ), exactly one, first;
  ``GD`` one transaction (giao dịch); ``SDCK`` the closing balance (số dư cuối kỳ), exactly one, last.
- ``so_tai_khoan``: the Treasury account, e.g. ``3511.0.1234567`` (tạm thu chờ nộp ngân sách); the
  same on every row.
- ``ngay_hach_toan`` / ``ngay_gia_tri``: booking and value dates, ``yyyy-mm-dd`` (no day/month
  ambiguity); ``ngay_gia_tri`` may be empty.
- ``so_chung_tu``: the Treasury's voucher number (the bank reference of our normalised line); on
  ``SDDK`` it is the statement's id.
- ``ma_tham_chieu``: the remitter's reference, our ``KBNN…`` 16-character remittance reference.
- ``ma_dvqhns``: the agency's budget-relationship code (mã đơn vị có quan hệ với ngân sách, 7 digits).
- ``no_co``: ``C`` (có, money into the Treasury account) or ``N`` (nợ, out); on balance rows, the
  balance's side.
- ``so_tien``: whole đồng, digits only (no separators: this is a machine layout, not a printout).
- ``dien_giai``: free text (diễn giải), quoted if it holds a comma.

The currency is always VND. Any other header is refused, as is a row of an unknown kind, a missing
``SDCK`` (a file cut short) or a ``GD`` before ``SDDK``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import date
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
)

HEADER = (
    "loai_dong",
    "so_tai_khoan",
    "ngay_hach_toan",
    "ngay_gia_tri",
    "so_chung_tu",
    "ma_tham_chieu",
    "ma_dvqhns",
    "no_co",
    "so_tien",
    "dien_giai",
)


def _refuse(code: str, vi: str, en: str, where: str) -> StatementError:
    return StatementError(code, Message(vi, en), where)


def _amount(text: str, where: str) -> int:
    if not text.isdigit():
        raise _refuse(
            "bad_amount", f"Số tiền phải là số đồng nguyên: {text!r}", f"Amount must be whole đồng: {text!r}", where
        )
    return int(text)


def _day(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _refuse(
            "bad_date", f"Ngày không đúng dạng yyyy-mm-dd: {text!r}", f"Date not yyyy-mm-dd: {text!r}", where
        ) from None


def read_kbnn_csv(
    source: str | Path | Iterable[str], *, expected_currency: str | None = "VND", previous_closing: int | None = None
) -> Iterator[Event]:
    """One Treasury statement in our CSV layout, streamed; refuses any other header or a file cut short."""
    if isinstance(source, str | Path):
        with Path(source).open(encoding="utf-8-sig", newline="") as stream:
            yield from read_kbnn_csv(stream, expected_currency=expected_currency, previous_closing=previous_closing)
        return
    currency = check_currency("VND", expected_currency, "header")
    rows = csv.reader(source)
    header = tuple(cell.strip().lower() for cell in next(rows, []))
    if header != HEADER:
        raise _refuse(
            "unknown_header",
            f"Dòng tiêu đề không phải bố cục sao kê KBNN: {','.join(header)}",
            f"The header is not the KBNN statement layout: {','.join(header)}",
            "line 1",
        )
    tally: Tally | None = None
    sequence = 0
    for number, cells in enumerate(rows, start=2):
        where = f"line {number}"
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(HEADER):
            raise _refuse(
                "malformed", f"Dòng có {len(cells)} cột, cần 10", f"Row has {len(cells)} cells, needs 10", where
            )
        row = dict(zip(HEADER, (cell.strip() for cell in cells), strict=True))
        kind, side = row["loai_dong"].upper(), row["no_co"].upper()
        if side not in {"C", "N"}:
            raise _refuse("malformed", f"no_co phải là C hoặc N: {side!r}", f"no_co must be C or N: {side!r}", where)
        sign = 1 if side == "C" else -1
        if kind == "SDDK" and tally is None:
            opening = Balance(sign * _amount(row["so_tien"], where), _day(row["ngay_hach_toan"], where))
            statement = Statement(
                format=StatementFormat.KBNN_CSV,
                statement_id=row["so_chung_tu"] or f"{row['so_tai_khoan']}:{opening.on}",
                account=row["so_tai_khoan"],
                currency=currency,
                opening=opening,
                closing=None,
                from_date=opening.on,
                kind="KBNN CSV",
            )
            tally = Tally(statement, previous_closing)
            yield statement
        elif tally is None:
            raise _refuse(
                "malformed", "Dòng đầu phải là SDDK (số dư đầu kỳ)", "The first row must be SDDK (opening)", where
            )
        elif kind == "GD":
            sequence += 1
            yield tally.add(
                StatementLine(
                    statement_id=tally.statement.statement_id,
                    sequence=sequence,
                    booking_date=_day(row["ngay_hach_toan"], where),
                    value_date=_day(row["ngay_gia_tri"], where) if row["ngay_gia_tri"] else None,
                    amount=_amount(row["so_tien"], where),
                    direction=Direction.CREDIT if side == "C" else Direction.DEBIT,
                    currency=currency,
                    bank_reference=row["so_chung_tu"] or None,
                    our_reference=row["ma_tham_chieu"] or None,
                    counterparty=row["ma_dvqhns"] or None,
                    narrative=row["dien_giai"],
                    raw=raw_csv_row(cells),
                )
            )
        elif kind == "SDCK":
            closing = Balance(sign * _amount(row["so_tien"], where), _day(row["ngay_hach_toan"], where))
            yield tally.close(closing)
            if next((cells for cells in rows if any(cell.strip() for cell in cells)), None) is not None:
                raise _refuse("malformed", "Có dòng sau SDCK", "Rows after SDCK (the closing balance)", where)
            return
        else:
            raise _refuse("malformed", f"Loại dòng không rõ: {kind!r}", f"Unknown row kind: {kind!r}", where)
    raise _refuse(
        "no_closing_balance",
        "Sao kê KBNN thiếu dòng SDCK (số dư cuối kỳ): tệp bị cắt?",
        "KBNN statement without its SDCK row (closing balance): file cut short?",
        "end of file",
    )
