"""A settlement report (bảng kê quyết toán) as CSV and XLSX: what a biller's accountants match against its books.

Pure: it lays out what ``billing.settlements`` read, nothing more. A few header rows (biller, business
day, reference, total, count, bank account), a blank row, then one row per bill payment in the
settlement. Both files carry the same cells, so a biller may take either. Amounts are whole đồng as
numbers (a spreadsheet sums them); times are Asia/Ho_Chi_Minh with their ``+07:00`` offset, as the
biller's staff read them, and unambiguous to a machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from civicpay.table_files import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, Cell, csv_bytes, xlsx_bytes

__all__ = ["COLUMNS", "CSV_MEDIA_TYPE", "XLSX_MEDIA_TYPE", "ReportHeader", "ReportLine", "as_csv", "as_xlsx"]

COLUMNS = ("biller_bill_id", "customer_code", "period", "amount_vnd", "paid_at", "payment_id")


@dataclass(frozen=True, slots=True)
class ReportLine:
    biller_bill_id: str
    customer_code: str
    period: str
    amount_vnd: int
    paid_at: datetime  # aware; shown in the business zone
    payment_id: int


@dataclass(frozen=True, slots=True)
class ReportHeader:
    biller_id: int
    biller_name: str
    business_day: date
    reference: str
    total_vnd: int
    count: int
    bank_bin: str
    account_number: str
    account_holder: str
    status: str


def _header_rows(header: ReportHeader) -> list[tuple[str, str | int]]:
    return [
        ("biller", header.biller_name),
        ("biller_id", header.biller_id),
        ("business_day", header.business_day.isoformat()),
        ("reference", header.reference),
        ("total_vnd", header.total_vnd),
        ("count", header.count),
        ("bank_bin", header.bank_bin),
        ("bank_account", header.account_number),
        ("account_holder", header.account_holder),
        ("status", header.status),
    ]


def _cells(line: ReportLine, zone: ZoneInfo) -> tuple[str, str, str, int, str, int]:
    paid_at = line.paid_at.astimezone(zone).isoformat(timespec="seconds")
    return (line.biller_bill_id, line.customer_code, line.period, line.amount_vnd, paid_at, line.payment_id)


def _rows(header: ReportHeader, lines: list[ReportLine], zone: ZoneInfo) -> list[Sequence[Cell]]:
    return [*_header_rows(header), (), COLUMNS, *(_cells(line, zone) for line in lines)]


def as_csv(header: ReportHeader, lines: list[ReportLine], zone: ZoneInfo) -> bytes:
    """With a byte order mark: Excel, which many billers' accountants open it in, then reads Vietnamese right."""
    return csv_bytes(_rows(header, lines, zone))


def as_xlsx(header: ReportHeader, lines: list[ReportLine], zone: ZoneInfo) -> bytes:
    """One sheet laid out as the CSV is; the times stay text with their offset (a spreadsheet date has no zone)."""
    return xlsx_bytes(_rows(header, lines, zone), sheet="settlement")
