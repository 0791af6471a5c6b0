"""The daily reconciliation report of a run, as XLSX and CSV: the account's day, counts, drift, every exception."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import replace
from typing import Any

from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.clock import FixedClock
from civicpay.settings import Settings
from reconciliation.reports import EXCEPTION_COLUMNS
from tests.conftest import Api, finance_officer
from tests.integration.reconciliation.conftest import ACCOUNT, BIN, DAY, NUMBER, Day, WriteStatement, entries_of


def _trimmed(row: tuple[Any, ...]) -> tuple[Any, ...]:
    cells = list(row)
    while cells and cells[-1] is None:
        cells.pop()
    return tuple(cells)


def _padded(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row + (None,) * (len(EXCEPTION_COLUMNS) - len(row))


async def test_the_report_of_a_run_with_breaks_names_each_in_xlsx_and_csv_alike(
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
    day: Day,
    write_statement: WriteStatement,
) -> None:
    officer = await finance_officer(api, sessions, settings, clock)
    missing, short = day.by_amount(100_000), day.by_amount(300_000)
    pairs = zip(entries_of(day.items), day.items, strict=True)
    entries = [
        replace(entry, amount=299_000) if item is short else entry for entry, item in pairs if item is not missing
    ]
    path = write_statement(entries)
    imported = await api.client.post(
        "/finance/statements",
        params={"account": ACCOUNT},
        content=await asyncio.to_thread(path.read_bytes),
        headers={**officer, "Content-Type": "application/octet-stream"},
    )
    assert imported.status_code == 201, imported.text
    run = (
        await api.client.post(
            "/finance/reconciliation-runs", json={"account": ACCOUNT, "date": str(DAY)}, headers=officer
        )
    ).json()

    as_xlsx = await api.client.get(f"/finance/reconciliation-runs/{run['id']}/report.xlsx", headers=officer)
    as_csv = await api.client.get(f"/finance/reconciliation-runs/{run['id']}/report.csv", headers=officer)
    unknown = await api.client.get("/finance/reconciliation-runs/999999/report.xlsx", headers=officer)

    assert as_xlsx.status_code == 200, as_xlsx.text
    name = f"doi-soat-{BIN}-{NUMBER}-{DAY}-run{run['id']}"
    assert f'filename="{name}.xlsx"' in as_xlsx.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(as_xlsx.content), read_only=True).worksheets[0]
    # A sheet pads every row to its widest: the padding taken off, the blank row between header and table is ().
    rows = [_trimmed(row) for row in sheet.iter_rows(values_only=True)]
    header = {row[0]: row[1] for row in rows[: rows.index(())]}
    assert header["bank_bin"] == BIN
    assert header["bank_account"] == NUMBER
    assert header["business_day"] == str(DAY)
    assert header["status"] == "exceptions"
    counts = ("matched", "unmatched_ours", "amount_mismatches", "unmatched_theirs")
    assert {key: header[key] for key in counts} == {
        "matched": 4,
        "unmatched_ours": 1,
        "amount_mismatches": 1,
        "unmatched_theirs": 0,
    }
    # The bank holds 100.000 ₫ it never received and 1.000 ₫ less of another: 101.000 ₫ short of the ledger.
    assert (header["ledger_balance_vnd"], header["drift_vnd"]) == (day.closing, -101_000)
    at = rows.index(EXCEPTION_COLUMNS)
    exceptions = {row[0]: dict(zip(EXCEPTION_COLUMNS, _padded(row), strict=True)) for row in rows[at + 1 :]}
    assert set(exceptions) == {"unmatched_ours", "amount_mismatch"}
    assert exceptions["unmatched_ours"]["our_reference"] == missing.reference
    assert exceptions["unmatched_ours"]["our_amount_vnd"] == 100_000
    assert exceptions["unmatched_ours"]["bank_reference"] is None
    off = exceptions["amount_mismatch"]
    assert (off["statement_amount_vnd"], off["our_amount_vnd"], off["difference_vnd"]) == (299_000, 300_000, -1_000)
    assert off["our_reference"] == short.reference
    assert off["bank_reference"].startswith("FT26327")

    assert as_csv.status_code == 200
    assert as_csv.content.startswith(b"\xef\xbb\xbf")  # Excel reads Vietnamese right with the mark
    from_csv = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    # The same cells: the workbook's numbers are the CSV's text, its empty cells the CSV's empty strings.
    assert [_trimmed(tuple(cell or None for cell in row)) for row in from_csv] == [
        tuple(None if cell is None else str(cell) for cell in row) for row in rows
    ]
    assert unknown.status_code == 404
