"""Tables people hand us as files (a biller's bills, a programme's beneficiaries): CSV or XLSX, a header row on top.

What every such file shares, so each room only says what its columns mean: telling an XLSX from a CSV by its
first bytes (never by a name an upload may lie about), UTF-8 with or without a byte-order mark, a comma or a
semicolon as a spreadsheet in a Vietnamese locale may save it, the first sheet of a workbook, read streaming
(``read_only``) so a large file fits in memory, and a header mapped to known columns (any order, any case, the
English name or the Vietnamese one). A file that cannot be read as a table of those columns at all raises
``UnreadableFile`` before any row is looked at; which rows are good is the room's business.

Rows are numbered as a spreadsheet shows them, the header being row 1.

And the tables we hand back (a biller's settlement report, a batch's outcomes): the same cells as a CSV that
Excel reads right (UTF-8 with a byte-order mark, CRLF) or as a one-sheet XLSX, offered as a download.
"""

from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Response

from civicpay.errors import Text

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A cell we write: text, or a whole number (đồng, a count) that a spreadsheet can sum.
Cell = str | int

_XLSX_MAGIC = b"PK\x03\x04"  # an XLSX is a zip archive


class UnreadableFile(Exception):
    """The file cannot be read as the layout: nothing in it is used."""

    def __init__(self, text: Text) -> None:
        super().__init__(text.en)
        self.text = text


def folded(header: str) -> str:
    # NFC, so a header typed with combining accents (as some keyboards do) still matches.
    return unicodedata.normalize("NFC", header).strip().casefold()


@dataclass(frozen=True, slots=True)
class Layout:
    """A file's columns: each English name with the Vietnamese header a spreadsheet may use instead."""

    columns: Mapping[str, str]
    required: Sequence[str]

    def header_names(self) -> dict[str, str]:
        return {folded(name): name for name in self.columns} | {folded(vi): name for name, vi in self.columns.items()}


@dataclass
class Table:
    """A file's header (the column at each position; ``None`` for an unnamed, empty one) and its rows."""

    columns: list[str | None]
    rows: Iterator[tuple[int, Sequence[Any]]]


def read_path(path: Path, layout: Layout) -> Table:
    """A file on disk; its path names it in every refusal."""
    try:
        data = path.read_bytes()
    except OSError as error:
        why = error.strerror or type(error).__name__
        raise UnreadableFile(Text(f"không đọc được tệp {path}: {why}", f"cannot read {path}: {why}")) from None
    return read_bytes(data, str(path), layout)


def read_bytes(data: bytes, name: str, layout: Layout) -> Table:
    """A file's bytes (an upload, say); ``name`` is what refusals call it. Raises ``UnreadableFile``."""
    rows = _xlsx_rows(data, name) if data.startswith(_XLSX_MAGIC) else _csv_rows(data, name)
    header_row = next(rows, None)
    if header_row is None:
        raise UnreadableFile(Text(f"tệp {name} trống", f"{name} is empty"))
    return Table(_columns(name, header_row[1], layout), rows)


def _columns(name: str, header: Sequence[Any], layout: Layout) -> list[str | None]:
    """The column each position holds (``None``: an unnamed, empty column, ignored); refuses an unusable header."""
    names = layout.header_names()
    columns: list[str | None] = []
    for cell in header:
        text = "" if cell is None else str(cell)
        if not text.strip():
            columns.append(None)
            continue
        column = names.get(folded(text))
        if column is None:
            known = ", ".join(layout.columns)
            raise UnreadableFile(
                Text(
                    f"{name}: không biết cột {text.strip()!r} (các cột: {known}, hoặc tên tiếng Việt)",
                    f"{name}: unknown column {text.strip()!r} (the columns: {known}, or their Vietnamese names)",
                )
            )
        if column in columns:
            raise UnreadableFile(Text(f"{name}: cột {column} có hai lần", f"{name}: column {column} appears twice"))
        columns.append(column)
    if missing := [column for column in layout.required if column not in columns]:
        raise UnreadableFile(
            Text(f"{name}: thiếu cột {', '.join(missing)}", f"{name}: missing column(s) {', '.join(missing)}")
        )
    return columns


def _csv_rows(data: bytes, name: str) -> Iterator[tuple[int, Sequence[Any]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile(
            Text(f"{name}: không phải CSV UTF-8 hay XLSX", f"{name}: neither a UTF-8 CSV nor an XLSX file")
        ) from None
    header_line = text.split("\n", 1)[0]
    delimiter = ";" if ";" in header_line and "," not in header_line else ","
    try:
        # newline="": the csv module's own reading of line ends, so a quoted cell may hold one.
        yield from enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1)
    except csv.Error as error:
        raise UnreadableFile(Text(f"{name}: CSV hỏng ({error})", f"{name}: malformed CSV ({error})")) from None


def _xlsx_rows(data: bytes, name: str) -> Iterator[tuple[int, Sequence[Any]]]:
    # Imported here: only an XLSX needs it, and it takes a while to import.
    from openpyxl import load_workbook  # noqa: PLC0415
    from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415

    try:
        # read_only streams the sheet's rows rather than building the whole workbook in memory.
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise UnreadableFile(
            Text(f"{name}: không đọc được tệp XLSX ({error})", f"{name}: not a readable XLSX file ({error})")
        ) from None
    try:
        sheet = book.worksheets[0]
        yield from enumerate(sheet.iter_rows(values_only=True), start=1)
    finally:
        book.close()


def csv_bytes(rows: Iterable[Sequence[Cell]]) -> bytes:
    """UTF-8 with a byte-order mark, so Excel, which most offices open a CSV in, reads Vietnamese right."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    return text.getvalue().encode("utf-8-sig")


def xlsx_bytes(rows: Iterable[Sequence[Cell]], *, sheet: str) -> bytes:
    """One sheet holding the rows as the CSV does; numbers stay numbers."""
    from openpyxl import Workbook  # noqa: PLC0415 - as in reading: only an XLSX needs it

    book = Workbook(write_only=True)
    written = book.create_sheet(title=sheet)
    for row in rows:
        written.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def download(content: bytes, media_type: str, name: str) -> Response[bytes]:
    """A file to save under ``name`` (an ASCII name of ours: no quoting needed)."""
    return Response(content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})
