"""`civicpay demo` seeds a business day and writes its three statements with breaks planted; the reconciliation
commands find exactly those breaks; a second `civicpay demo` changes nothing."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from openpyxl import load_workbook

from civicpay.cli import main
from civicpay.demo import DEMO_OFFICE
from civicpay.demo_day import BANK_CHARGE_VND, FEES_VND, TOPUP_VND


async def civicpay(*arguments: str) -> Result:
    """The command in its own thread and event loop, as from a shell."""
    return await asyncio.to_thread(CliRunner().invoke, main, ["--lang", "en", *arguments])


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.mark.usefixtures("sessions")  # the ledger's invariants are checked after
async def test_the_demo_day_is_seeded_once_and_its_statements_show_the_planted_breaks(
    command_shell: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIVICPAY_ARGON2_TIME_COST", "1")  # the demo's passwords, cheaply
    monkeypatch.setenv("CIVICPAY_ARGON2_MEMORY_KIB", "1024")
    folder = command_shell / "var" / "statements"

    seeded = await civicpay("demo")
    written = _files(folder)
    again = await civicpay("demo")

    assert (seeded.exit_code, again.exit_code) == (0, 0), seeded.output
    assert again.stdout.startswith("demo data already present\n")  # (then the pension files, written again)
    assert _files(folder) == written
    day = written["business-day"].decode().strip()
    pool, office, treasury = (next(folder.glob(f"{day}-{kind}-*")) for kind in ("pool", "office", "kbnn"))
    assert (pool.suffix, office.suffix, treasury.suffix) == (".xml", ".mt940", ".csv")
    for path in (pool, office, treasury):
        imported = await civicpay("recon", "import", str(path))
        assert imported.exit_code == 0, imported.output
    pool_account = "970436:1017468888"
    office_account = f"{DEMO_OFFICE.bank_bin}:{DEMO_OFFICE.account_number}"

    pool_run = await civicpay("recon", "run", "--account", pool_account, "--date", day, "--json")
    office_run = await civicpay("recon", "run", "--account", office_account, "--date", day, "--json")
    fees = await civicpay("recon", "fees", "--date", day, "--json")
    report = await civicpay("recon", "report", "--account", pool_account, "--date", day, "-o", "report.xlsx")

    assert pool_run.exit_code == 1
    run = json.loads(pool_run.stdout)
    assert (run["matched"], run["unmatched_ours"], run["amount_mismatches"]) == (1, 1, 1)
    assert run["drift_vnd"] == -(TOPUP_VND + BANK_CHARGE_VND)
    kinds = {e["kind"]: e for e in run["exceptions"]}
    assert kinds["unmatched_ours"]["our_amount_vnd"] == TOPUP_VND  # the top-up's line is missing
    assert kinds["amount_mismatch"]["statement_amount_vnd"] == kinds["amount_mismatch"]["our_amount_vnd"] - 1_000
    assert (office_run.exit_code, json.loads(office_run.stdout)["status"]) == (0, "reconciled")
    assert fees.exit_code == 1
    three_way = json.loads(fees.stdout)
    [agency] = three_way["agencies"]
    assert (agency["fees"], agency["late"], agency["treasury_missing"], agency["flagged"]) == (3, 1, 1, True)
    by_amount = {fee["amount_vnd"]: fee for fee in three_way["fees"]}
    assert by_amount[FEES_VND["evening"]]["problems"] == ["late"]  # swept 26 hours after payment
    assert by_amount[FEES_VND["by_bank"]]["problems"] == []
    assert by_amount[FEES_VND["by_wallet"]]["problems"] == ["treasury_line_missing"]
    assert report.exit_code == 0, report.output
    sheet = load_workbook(io.BytesIO((command_shell / "report.xlsx").read_bytes()), read_only=True).worksheets[0]
    header = {row[0]: row[1] for row in sheet.iter_rows(values_only=True, max_row=20)}
    assert (header["business_day"], header["status"], header["exceptions"]) == (day, "exceptions", 2)
