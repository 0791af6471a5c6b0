"""Reading a biller's bill file (``billing.bill_files``): the layout's edges, without a database."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from billing.bill_files import UnreadableFile, read

HEADER = "bill_id,customer_code,customer_name,period,amount_vnd,due_date"
GOOD = "B1,PC03AA0000001,NGUYEN VAN AN,2026-11,150000,2026-12-15"


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bills.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_vietnamese_headers_typed_with_combining_accents_are_known(tmp_path: Path) -> None:
    header = unicodedata.normalize("NFD", "Mã hóa đơn,Mã khách hàng,Tên khách hàng,Kỳ,Số tiền,Hạn thanh toán")
    found = read(written(tmp_path, f"{header}\n{GOOD}\n"))

    assert [(row.row, row.bill.bill_id, row.bill.amount_vnd) for row in found.bills] == [(2, "B1", 150_000)]
    assert found.errors == []


def test_a_quoted_cell_may_hold_a_line_break_and_rows_count_as_a_spreadsheet_shows_them(tmp_path: Path) -> None:
    text = f'{HEADER}\n\nB0,PC1,"NGUYEN\nVAN AN",2026-11,1,2026-12-15\n{GOOD}\n'

    found = read(written(tmp_path, text))

    assert [(row.row, row.bill.customer_name) for row in found.bills] == [(3, "NGUYEN\nVAN AN"), (4, "NGUYEN VAN AN")]


def test_a_cell_beyond_the_named_columns_makes_its_row_an_error(tmp_path: Path) -> None:
    found = read(written(tmp_path, f"{HEADER}\n{GOOD},surprise\n"))

    assert found.bills == []
    assert [(error.row, error.bill_id, error.field) for error in found.errors] == [(2, "B1", "")]


def test_a_column_named_twice_refuses_the_file(tmp_path: Path) -> None:
    header = f"{HEADER},số tiền"
    with pytest.raises(UnreadableFile) as refused:
        read(written(tmp_path, f"{header}\n{GOOD},1\n"))

    assert refused.value.text.en.endswith("column amount_vnd appears twice")


def test_a_nul_character_raw_or_escaped_in_the_lines_json_makes_its_row_an_error(tmp_path: Path) -> None:
    lines = '"[{""description"": ""a\\u0000b"", ""amount_vnd"": 1}]"'
    found = read(written(tmp_path, f"{HEADER},lines\n{GOOD},{lines}\nB2,PC1,A\x00N,2026-11,1,2026-12-15,\n"))

    assert found.bills == []
    assert [(error.row, error.message.en) for error in found.errors] == [
        (2, "Contains a NUL character"),
        (3, "Contains a NUL character"),
    ]
