"""Batches: the upload's validation report, one row per kind of problem, and files refused whole."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook

from tests.programme_office import HEADER, PERIOD, Office, bank_row, csv_bytes, wallet_row


def problems(batch: dict[str, Any]) -> dict[int, set[tuple[str, str]]]:
    return {row["row"]: {(p["code"], p["field"]) for p in row["problems"]} for row in batch["report"]}


async def test_each_kind_of_problem_is_reported_on_its_row_and_no_money_moves(office: Office) -> None:
    programme = await office.programme(max_amount_vnd=3_000_000)
    an = await office.beneficiary("Nguyễn Văn An")
    binh = await office.beneficiary("Trần Thị Bình")
    cuong = await office.beneficiary("Lê Văn Cường")
    dao = await office.beneficiary("Phạm Thị Đào")
    rows = [
        wallet_row(an, full_name="NGUYEN VAN AN"),  # 2: valid, diacritics and case aside
        wallet_row(binh, citizen_id="079099999999"),  # 3: well-formed, nobody's
        wallet_row(binh, full_name="Trần Thị Bảy"),  # 4: another name
        wallet_row(cuong),  # 5: duplicate with 6
        wallet_row(cuong, amount_vnd=1_000_000),  # 6
        wallet_row(dao, amount_vnd=3_000_001),  # 7: above the programme's most
        wallet_row(dao, period="2026-11", amount_vnd="1.500.000"),  # 8: not digits only
        wallet_row(dao, period="2026-10", full_name=""),  # 9: missing name
        bank_row("046100000001", bank_bin="999999"),  # 10: no such BIN
        bank_row("046100000002", bank_bin="422589"),  # 11: receives (CIMB): valid
        bank_row("046100000003", account_number="12-34"),  # 12: malformed account
        bank_row("046100000004", holder_name=""),  # 13: missing holder
        wallet_row(dao, period="12/2026"),  # 14: malformed period
        wallet_row(dao, period="2026-09", destination="cash"),  # 15: unknown destination
        wallet_row(dao, period="2026-08", citizen_id="12345"),  # 16: not a CCCD
        {"citizen_id": "", "full_name": "", "amount_vnd": "", "period": "", "destination": ""},  # empty: skipped
    ]
    batch = await office.uploaded(programme, rows)

    assert batch["status"] == "validated"
    assert (batch["rows"], batch["valid"], batch["invalid"]) == (15, 2, 13), problems(batch)
    assert problems(batch) == {
        3: {("citizen_unknown", "citizen_id")},
        4: {("name_mismatch", "full_name")},
        5: {("duplicate_in_batch", "citizen_id")},
        6: {("duplicate_in_batch", "citizen_id")},
        7: {("amount_out_of_range", "amount_vnd")},
        8: {("amount_malformed", "amount_vnd")},
        9: {("missing_field", "full_name")},
        10: {("bin_unknown", "bank_bin")},
        12: {("account_malformed", "account_number")},
        13: {("missing_field", "holder_name")},
        14: {("period_malformed", "period")},
        15: {("destination_unknown", "destination")},
        16: {("citizen_id_malformed", "citizen_id")},
    }
    first = batch["report"][0]["problems"][0]
    assert first["message_vi"]
    assert first["message_en"]
    assert batch["by_destination"] == [
        {"destination": "wallet", "count": 1, "total_vnd": 1_500_000},
        {"destination": "bank", "count": 1, "total_vnd": 2_000_000},
        {"destination": "unclaimed", "count": 0, "total_vnd": 0},
    ]
    assert batch["total_vnd"] == 3_500_000
    assert batch["progress"]["done"] == 0
    assert await office.api.balance(an.citizen) == 0


async def test_a_bank_that_cannot_receive_is_refused(office: Office, monkeypatch: Any) -> None:
    from civicpay import banks  # noqa: PLC0415

    receiving = banks.by_bin("970436")
    assert receiving is not None
    silent = banks.Bank("970436", receiving.short_name, receiving.legal_name, banks.VietQrSupport.UNKNOWN, "")
    monkeypatch.setattr(banks, "by_bin", lambda bin_: silent if bin_ == "970436" else None)
    programme = await office.programme()
    batch = await office.uploaded(programme, [bank_row("046100000001")])
    assert problems(batch) == {2: {("bin_not_receiving", "bank_bin")}}


async def test_an_xlsx_with_vietnamese_headers_and_number_cells_reads_as_the_csv_would(office: Office) -> None:
    programme = await office.programme()
    an = await office.beneficiary("Nguyễn Văn An")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Số CCCD", "Họ và tên", "Số tiền", "Kỳ", "Hình thức nhận"])
    # A spreadsheet keeps the CCCD as a number (its leading zero lost) and the amount as a float.
    sheet.append([int(an.citizen_id), an.full_name, 1_500_000.0, PERIOD, "ví"])
    out = io.BytesIO()
    book.save(out)
    answer = await office.upload(programme, out.getvalue(), "danh-sach.xlsx")
    assert answer.status_code == 201, answer.text
    assert (answer.json()["valid"], answer.json()["invalid"]) == (1, 0)


async def test_files_that_are_not_the_layout_are_refused_whole(office: Office) -> None:
    programme = await office.programme()
    cases = {
        "empty.csv": b"",
        "picture.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
        "wrong.csv": b"cccd,name,money\n046100000001,An,1000\n",
        "missing.csv": b"citizen_id,full_name,amount_vnd\n046100000001,An,1000\n",
        "header-only.csv": csv_bytes([]),
        "broken.xlsx": b"PK\x03\x04 not really a zip",
    }
    for name, content in cases.items():
        answer = await office.upload(programme, content, name)
        assert answer.status_code == 422, (name, answer.text)
        body = answer.json()
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert body["code"] == "batch_file_unreadable", name
        assert name in body["detail"], body
    english = await office.api.client.post(
        f"/programmes/{programme}/batches",
        files={"file": ("wrong.csv", cases["wrong.csv"], "text/csv")},
        headers={**office.maker.headers, "Accept-Language": "en"},
    )
    assert "unknown column 'cccd'" in english.json()["detail"]
    listed = await office.api.client.get(f"/programmes/{programme}/batches", headers=office.maker.headers)
    assert listed.json() == []


async def test_an_unknown_programme_is_404(office: Office) -> None:
    answer = await office.upload(999_999, csv_bytes([bank_row("046100000001")]))
    assert answer.status_code == 404
    assert answer.json()["code"] == "programme_not_found"
    missing = await office.api.client.get("/batches/999999", headers=office.maker.headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "batch_not_found")
    citizen = await office.beneficiary()
    assert (await office.api.client.get("/programmes", headers=citizen.citizen.headers)).status_code == 403


async def test_only_programme_officers_upload(office: Office) -> None:
    programme = await office.programme()
    answer = await office.api.client.post(
        f"/programmes/{programme}/batches",
        files={"file": ("b.csv", csv_bytes([bank_row("046100000001")]), "text/csv")},
        headers=office.recorder.headers,
    )
    assert answer.status_code == 403


def test_the_layout_names_every_column() -> None:
    from disbursement.batch_files import COLUMNS  # noqa: PLC0415

    assert list(COLUMNS) == HEADER


async def test_a_file_past_the_apps_usual_10_mb_is_taken(office: Office) -> None:
    """A province's month is some 40 MB of CSV; here 11 MB, mostly a cell under an unnamed (ignored) column."""
    programme = await office.programme()
    # Rows with nothing but a 110 kB cell under the unnamed column: skipped as empty rows (the csv module's
    # own limit is 128 kB a cell).
    padding = ("," * len(HEADER) + "x" * 110_000 + "\r\n").encode() * 100
    content = csv_bytes([bank_row("046100000001")], header=[*HEADER, ""]) + padding
    assert len(content) > 11_000_000
    answer = await office.upload(programme, content)
    assert answer.status_code == 201, answer.text[:300]
    assert answer.json()["valid"] == 1
