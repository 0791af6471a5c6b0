"""`civicpay billing import FILE --biller ID`: a biller's bills from a CSV or XLSX file, as an operator runs it."""

from __future__ import annotations

import asyncio
import csv
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.models import Bill, BillRevision
from civicpay.cli import main
from tests.billers import BillerDesk, bill
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("command_shell")

SAMPLE = Path(__file__).parents[3] / "billing" / "samples" / "bills.csv"
HEADER = ["bill_id", "customer_code", "customer_name", "period", "amount_vnd", "due_date", "status", "lines"]


async def run(capsys: pytest.CaptureFixture[str], *arguments: str, lang: str = "en") -> tuple[int, str, str]:
    """The command in its own thread and event loop, as from a shell."""
    with pytest.raises(SystemExit) as ended:
        await asyncio.to_thread(main, ["--lang", lang, "billing", "import", *arguments])
    out, err = capsys.readouterr()
    return int(ended.value.code or 0), out.strip(), err.strip()


def write_csv(path: Path, rows: list[list[str]], *, header: list[str] = HEADER, bom: bool = False) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as out:
        csv.writer(out).writerows([header, *rows])
    return path


def row(bill_id: str, amount: str = "150000", **fields: str) -> list[str]:
    values = {
        "bill_id": bill_id,
        "customer_code": "PC03AA0000001",
        "customer_name": "NGUYEN VAN AN",
        "period": "2026-11",
        "amount_vnd": amount,
        "due_date": "2026-12-15",
        "status": "",
        "lines": "",
        **fields,
    }
    return [values[name] for name in HEADER]


def read_report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as report:
        return list(csv.DictReader(report))


async def bills(sessions: async_sessionmaker[AsyncSession]) -> dict[str, tuple[Any, ...]]:
    async with sessions() as session:
        rows = await session.execute(
            select(Bill.external_id, Bill.customer_code, Bill.amount_vnd, Bill.due_date, Bill.status, Bill.version)
        )
        return {external_id: tuple(rest) for external_id, *rest in rows}


async def revision_count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(BillRevision)) or 0


async def test_a_csv_imports_like_a_push_and_a_second_import_changes_nothing(
    biller_desk: BillerDesk,
    sessions: async_sessionmaker[AsyncSession],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    evn = await biller_desk.biller()
    biller = str(evn["id"])
    # On a terminal (rich believes TTY_COMPATIBLE) and not under CI, the import shows its bar on stderr.
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.delenv("CI", raising=False)

    first = await run(capsys, str(SAMPLE), "--biller", biller)
    after_first = await bills(sessions)
    revisions = await revision_count(sessions)
    again = await run(capsys, str(SAMPLE), "--biller", biller)

    assert first[0] == 0, first
    assert "importing bills" in first[2]
    assert "3/3" in first[2]
    assert first[1].splitlines()[-1] == "bills.csv: 3 row(s): 3 created, 0 unchanged, 0 amended, 0 cancelled, 0 refused"
    assert after_first["PC03-2026-11-0002"] == ("PC03AA0000002", 254_500, date(2026, 12, 15), "open", 1)
    async with sessions() as session:
        lines = await session.scalar(select(Bill.lines).where(Bill.external_id == "PC03-2026-11-0001"))
    assert lines == [
        {"description": "Bậc 1: 50 kWh", "amount_vnd": 92_900, "quantity": "50 kWh"},
        {"description": "Bậc 2: 48 kWh", "amount_vnd": 93_100, "quantity": "48 kWh"},
    ]
    assert again[0] == 0, again
    assert again[1].splitlines()[-1] == "bills.csv: 3 row(s): 0 created, 3 unchanged, 0 amended, 0 cancelled, 0 refused"
    assert await bills(sessions) == after_first
    assert await revision_count(sessions) == revisions == 3


async def test_vietnamese_headers_a_bom_and_semicolons_amend_and_cancel(
    biller_desk: BillerDesk,
    sessions: async_sessionmaker[AsyncSession],
    command_shell: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    evn = await biller_desk.biller()
    await biller_desk.push(evn, bill("A"), bill("B"))  # the same bills as row("A") and row("B") below
    vietnamese = ["Mã hóa đơn", "MÃ KHÁCH HÀNG", "tên khách hàng", "Kỳ", "Số tiền", "Hạn thanh toán", "Trạng thái"]
    path = command_shell / "hoa-don.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file, delimiter=";")
        writer.writerows([vietnamese, row("A", "175000")[:7], row("B", status="cancelled")[:7], row("C")[:7]])

    status, out, _ = await run(capsys, str(path), "--biller", str(evn["id"]))

    assert status == 0, out
    assert out.splitlines()[-1] == "hoa-don.csv: 3 row(s): 1 created, 0 unchanged, 1 amended, 1 cancelled, 0 refused"
    found = await bills(sessions)
    assert (found["A"][1], found["A"][4], found["B"][3], found["C"][4]) == (175_000, 2, "cancelled", 1)


async def test_an_xlsx_with_date_and_number_cells_imports_and_again_changes_nothing(
    biller_desk: BillerDesk,
    sessions: async_sessionmaker[AsyncSession],
    command_shell: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    water = await biller_desk.biller("Cấp nước Huế", "water")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER[:6])
    # As a spreadsheet keeps them: a contract number typed as a number, amounts as floats, dates as date cells.
    sheet.append(["W-1", 100234, "Trần Thị Bình", "2026-11", 85000.0, datetime(2026, 12, 20)])  # noqa: DTZ001
    sheet.append(["W-2", "HUE-0002", "Lê Văn Cường", datetime(2026, 11, 1), 120500, date(2026, 12, 20)])  # noqa: DTZ001
    sheet.append([None] * 6)  # an empty row, as spreadsheets leave them: skipped
    path = command_shell / "nuoc.xlsx"
    book.save(path)

    first = await run(capsys, str(path), "--biller", str(water["id"]))
    again = await run(capsys, str(path), "--biller", str(water["id"]))

    assert first[0] == 0, first
    assert first[1].splitlines()[-1] == "nuoc.xlsx: 2 row(s): 2 created, 0 unchanged, 0 amended, 0 cancelled, 0 refused"
    assert again[1].splitlines()[-1] == "nuoc.xlsx: 2 row(s): 0 created, 2 unchanged, 0 amended, 0 cancelled, 0 refused"
    found = await bills(sessions)
    assert found["W-1"] == ("100234", 85_000, date(2026, 12, 20), "open", 1)
    async with sessions() as session:
        assert await session.scalar(select(Bill.period).where(Bill.external_id == "W-2")) == "2026-11"


async def test_bad_rows_are_reported_by_row_and_field_while_the_good_rows_land(
    biller_desk: BillerDesk,
    sessions: async_sessionmaker[AsyncSession],
    command_shell: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    evn = await biller_desk.biller()
    path = write_csv(
        command_shell / "bills.csv",
        [
            row("G1"),
            row("X1", "150.000"),  # a thousands separator: neither 150 nor 150 000 is guessed
            row("X2", due_date="15/12/2026"),
            row("G2"),
            row("X3", customer_name=""),
            row("X4", lines="[{"),
            row("X5", status="cancelled"),  # a cancellation of a bill never sent: refused by the upsert
        ],
        bom=True,
    )
    report = command_shell / "refused.csv"

    status, out, _ = await run(capsys, str(path), "--biller", str(evn["id"]), "--report", str(report), lang="vi")

    assert status == 1
    assert out.splitlines()[-1] == "bills.csv: 7 row(s): 2 created, 0 unchanged, 0 amended, 0 cancelled, 5 refused"
    assert "refused rows" in out
    assert sorted(await bills(sessions)) == ["G1", "G2"]
    assert [(line["row"], line["bill_id"], line["field"], line["code"]) for line in read_report(report)] == [
        ("3", "X1", "amount_vnd", "validation_failed"),
        ("4", "X2", "due_date", "validation_failed"),
        ("6", "X3", "customer_name", "validation_failed"),
        ("7", "X4", "lines", "validation_failed"),
        ("8", "X5", "bill_id", "bill_not_found"),
    ]
    messages = [line["message"] for line in read_report(report)]
    assert messages[0] == "Cần giá trị kiểu `int`, nhận được `str` (số đồng, chỉ gồm chữ số: 150000)"
    assert messages[1] == "Giá trị không hợp lệ (Invalid RFC3339 encoded date) (YYYY-MM-DD)"
    assert messages[2] == "Thiếu trường bắt buộc `customer_name`"
    assert messages[4] == "Không có hóa đơn này để hủy"


async def test_a_paid_bill_cannot_be_amended_by_an_import(
    biller_desk: BillerDesk,
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    command_shell: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    evn = await biller_desk.biller()
    biller = str(evn["id"])
    assert (await run(capsys, str(write_csv(command_shell / "a.csv", [row("P1"), row("P2")])), "--biller", biller))[
        0
    ] == 0
    citizen = await api.register(full_name="Nguyễn Văn An")
    assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    await api.fund(citizen, 200_000)
    async with sessions() as session:
        p1 = await session.scalar(select(Bill.id).where(Bill.external_id == "P1"))
    assert p1 is not None
    assert (await biller_desk.pay(citizen, p1)).status_code == 201
    amended = write_csv(command_shell / "b.csv", [row("P1", "1000"), row("P2", "160000")])
    report = command_shell / "refused.csv"

    status, out, _ = await run(capsys, str(amended), "--biller", biller, "--report", str(report))

    assert status == 1
    assert out.splitlines()[-1] == "b.csv: 2 row(s): 0 created, 0 unchanged, 1 amended, 0 cancelled, 1 refused"
    assert read_report(report) == [
        {
            "row": "2",
            "bill_id": "P1",
            "field": "bill_id",
            "code": "bill_already_paid",
            "message": "The bill is paid; it cannot be amended or cancelled",
        }
    ]
    found = await bills(sessions)
    assert (found["P1"][1], found["P1"][3], found["P2"][1]) == (150_000, "paid", 160_000)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"bill_id,customer_code,customer_name,period,amount_vnd,due_date,colour\n", "unknown column 'colour'"),
        (b"bill_id,customer_code,customer_name,period,amount_vnd\nB1,PC1,A,2026-11,1\n", "missing column(s) due_date"),
        (b"\xff\xfeb\x00i\x00l\x00l\x00\n\x00", "neither a UTF-8 CSV nor an XLSX file"),
        (b"PK\x03\x04 not really a zip", "not a readable XLSX file"),
        (b"", "is empty"),
    ],
    ids=["unknown-column", "missing-column", "utf-16", "broken-xlsx", "empty"],
)
async def test_a_file_that_cannot_be_read_is_refused_whole_and_nothing_is_imported(
    content: bytes,
    why: str,
    biller_desk: BillerDesk,
    sessions: async_sessionmaker[AsyncSession],
    command_shell: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    evn = await biller_desk.biller()
    path = command_shell / "bills.csv"
    # Good rows after the bad part: none of them may land.
    path.write_bytes(
        content + (b"\n" + b"\n".join(",".join(row(f"G{n}")).encode() for n in range(3)) if content else b"")
    )

    status, out, err = await run(capsys, str(path), "--biller", str(evn["id"]))

    assert status == 2
    assert len(err.splitlines()) == 1
    assert err.startswith("civicpay: ")
    assert why in err
    assert out == ""
    assert await bills(sessions) == {}


async def test_an_unknown_biller_is_refused_and_nothing_is_imported(
    biller_desk: BillerDesk,
    sessions: async_sessionmaker[AsyncSession],
    command_shell: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await biller_desk.biller()
    path = write_csv(command_shell / "bills.csv", [row("B1")])

    english = await run(capsys, str(path), "--biller", "999999")
    vietnamese = await run(capsys, str(path), "--biller", "999999", lang="vi")

    assert english == (2, "", "civicpay: no biller with id 999999")
    assert vietnamese == (2, "", "civicpay: không có đơn vị thu mã 999999")
    assert await bills(sessions) == {}
