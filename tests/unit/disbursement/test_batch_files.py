"""Reading a batch file (``disbursement.batch_files``): what a row shows on its own, without a database."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from civicpay.table_files import UnreadableFile
from disbursement import batch_files

SAMPLE = Path(__file__).parents[3] / "disbursement" / "samples" / "batch.csv"


def read(data: bytes, max_amount_vnd: int = 5_000_000) -> list[batch_files.BatchRow]:
    table = batch_files.open_table(data, "batch.csv")
    found = (batch_files.read_row(number, table.columns, cells, max_amount_vnd) for number, cells in table.rows)
    return [row for row in found if row is not None]


def test_the_sample_reads_with_the_problems_its_rows_show_on_their_own() -> None:
    rows = read(SAMPLE.read_bytes())
    assert [row.destination for row in rows] == ["wallet", "wallet", "wallet", "bank", "bank", "bank"]
    assert {row.row: row.problems for row in rows if row.problems} == {
        6: [("bin_unknown", "bank_bin")],
        7: [("amount_malformed", "amount_vnd")],
    }
    assert rows[0].amount_vnd == 1_500_000


def test_a_semicolon_file_with_vietnamese_headers_and_a_byte_order_mark() -> None:
    data = "\ufeffSố CCCD;Họ và tên;Số tiền;Kỳ;Hình thức nhận\n046190001234;Nguyễn Thị Hương;900000;2026-12;Ví\n"
    (row,) = read(data.encode())
    assert (row.citizen_id, row.amount_vnd, row.destination, row.problems) == ("046190001234", 900_000, "wallet", [])


def test_cells_as_a_spreadsheet_keeps_them() -> None:
    columns: list[str | None] = ["citizen_id", "full_name", "amount_vnd", "period", "destination"]
    row = batch_files.read_row(2, columns, [46190001234, "An Bình", 900000.0, datetime(2026, 12, 1), "wallet"], 10**6)  # noqa: DTZ001 - openpyxl gives naive ones
    assert row is not None
    assert (row.citizen_id, row.amount_vnd, row.period, row.problems) == ("046190001234", 900_000, "2026-12", [])


def test_a_header_without_a_required_column_is_refused() -> None:
    with pytest.raises(UnreadableFile) as refused:
        read(b"citizen_id,full_name,amount_vnd,period\n")
    assert refused.value.text.en == "batch.csv: missing column(s) destination"
