"""Reports people download as files (a biller's settlement, a day's reconciliation): CSV and XLSX with the same cells.

What every such report shares, so a room only lays out its rows: the CSV is UTF-8 with a byte order mark (Excel,
which accountants open it in, then reads Vietnamese right) and CRLF line ends; the workbook is written streaming
(``write_only``), one sheet laid out as the CSV is. Amounts stay numbers, so a spreadsheet sums them; a time is
text with its offset, since a spreadsheet date has no zone. The download names its file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Literal

from litestar import Response
from openpyxl import Workbook

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ReportFormat = Literal["csv", "xlsx"]
Cell = str | int | None
Row = Sequence[Cell]


def as_csv(rows: Iterable[Row]) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    return text.getvalue().encode("utf-8-sig")


def as_xlsx(rows: Iterable[Row], *, sheet: str) -> bytes:
    book = Workbook(write_only=True)
    page = book.create_sheet(title=sheet[:31])  # Excel's limit on a sheet's name
    for row in rows:
        page.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def render(rows: Sequence[Row], report_format: ReportFormat, *, sheet: str) -> tuple[bytes, str]:
    """The report's bytes and media type in the format asked for."""
    if report_format == "xlsx":
        return as_xlsx(rows, sheet=sheet), XLSX_MEDIA_TYPE
    return as_csv(rows), CSV_MEDIA_TYPE


def download(made: tuple[bytes, str, str]) -> Response[bytes]:
    """A report (bytes, media type, file name) as an attachment named by its file name."""
    content, media_type, name = made
    return Response(content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})
