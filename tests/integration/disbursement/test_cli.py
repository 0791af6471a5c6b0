"""`civicpay disburse import FILE --programme ID --officer PHONE` and `civicpay disburse run`, from a shell."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest

from civicpay.auth.models import Role
from civicpay.cli import main
from tests.conftest import create_staff
from tests.programme_office import Office, bank_row, csv_bytes, sign_up, unclaimed_row, wallet_row

pytestmark = pytest.mark.usefixtures("command_shell")


async def run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    """The command in its own thread and event loop, as from a shell."""
    with pytest.raises(SystemExit) as ended:
        await asyncio.to_thread(main, ["--lang", "en", "disburse", *arguments])
    out, err = capsys.readouterr()
    return int(ended.value.code or 0), out.strip(), err.strip()


async def test_import_validates_as_the_upload_does_and_run_pays_once_approved(
    office: Office, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    an = await office.beneficiary("Nguyễn Văn An")
    programme = await office.programme()
    await office.fund(programme, 10_000_000)
    maker = await create_staff(
        office.sessions, office.services.settings, office.clock, Role.PROGRAMME_OFFICER, "Võ Thị Hoa"
    )
    file = tmp_path / "tro-cap.csv"
    file.write_bytes(csv_bytes([wallet_row(an, 1_000_000), bank_row("046100000001", bank_bin="999999")]))

    code, out, _ = await run(capsys, "import", str(file), "--programme", str(programme), "--officer", maker)

    assert code == 1  # a row is invalid
    assert "bin_unknown" in out
    assert "2 row(s), 1 valid: 1 to wallet (1.000.000 ₫), 0 to bank (0 ₫), 0 to unclaimed (0 ₫); 1 invalid" in out
    batch_id = int(out.rsplit("batch ", 1)[1].split(":", 1)[0])
    # Made by the officer named, so the office's checker may approve it and that officer may not.
    assert (await office.approve(batch_id)).status_code == 200

    code, out, _ = await run(capsys, "run")
    assert code == 0
    assert out == f"1 paid to wallets, 0 held until claimed, 0 failed; batches ended: [{batch_id}]"
    assert await office.api.balance(an.citizen) == 1_000_000


async def test_import_refuses_an_unreadable_file_an_unknown_programme_and_an_unknown_officer(
    office: Office, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    programme = await office.programme()
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes([bank_row("046100000001")]))
    maker = await create_staff(
        office.sessions, office.services.settings, office.clock, Role.PROGRAMME_OFFICER, "Võ Thị Hoa"
    )

    code, _, err = await run(capsys, "import", str(empty), "--programme", str(programme), "--officer", maker)
    assert (code, err) == (2, "civicpay: empty.csv is empty")
    code, _, err = await run(capsys, "import", str(good), "--programme", "999", "--officer", maker)
    assert (code, err) == (2, "civicpay: Programme not found")
    code, _, err = await run(capsys, "import", str(good), "--programme", str(programme), "--officer", "0900000000")
    assert (code, err) == (2, "civicpay: no programme officer has the phone 0900000000")


async def test_unclaimed_pays_wallets_opened_since_and_report_writes_the_outcomes(
    office: Office, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    programme = await office.programme(name="Hỗ trợ một lần")
    await office.fund(programme, 5_000_000)
    batch = await office.uploaded(programme, [unclaimed_row("046201000009", "Lê Văn Tư", 1_500_000)])
    assert (await office.approve(batch["id"])).status_code == 200
    tu = await sign_up(office.api, "046201000009", "Lê Văn Tư")  # before the run: its message finds nothing held
    await office.run()

    code, out, _ = await run(capsys, "unclaimed")
    assert (code, out) == (0, "1 claimed by new wallets, 0 returned to funding")
    assert await office.api.balance(tu) == 1_500_000

    file = tmp_path / "dot.csv"
    code, out, _ = await run(capsys, "report", str(batch["id"]), "--out", str(file))
    assert (code, out) == (0, f"batch {batch['id']}: report written to {file}")
    rows = list(csv.reader(io.StringIO(file.read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["programme", "Hỗ trợ một lần"]
    assert ["claimed", "1", "1500000"] in rows
    code, _, err = await run(capsys, "report", "999", "--out", str(tmp_path / "none.xlsx"))
    assert (code, err) == (2, "civicpay: Batch not found")
