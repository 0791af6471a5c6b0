"""`civicpay qr encode | decode`, as an operator or a developer uses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from civicpay.cli import main


def run(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ended:
        main(arguments)
    out, err = capsys.readouterr()
    return int(ended.value.code or 0), out.strip(), err.strip()


def test_a_fee_code_is_written_read_back_and_a_misread_one_is_refused_with_its_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # the command reads settings, which keep development secrets under ./var
    written = ["qr", "encode", "--bin", "970436", "--account", "0011001234567", "--amount", "150000"]
    status, payload, _ = run([*written, "--purpose", "Lệ phí hộ tịch", "--reference", "HT12345"], capsys)

    read_status, fields, _ = run(["qr", "decode", payload], capsys)
    misread_status, _, why = run(["qr", "decode", payload[:-4] + "0000"], capsys)

    assert (status, read_status) == (0, 0)
    assert json.loads(fields) == {
        "bin": "970436",
        "account": "0011001234567",
        "service": "account",
        "initiation": "dynamic",
        "amount": 150000,
        "purpose": "Le phi ho tich",
        "bill": None,
        "reference": "HT12345",
        "terminal": None,
        "crc": payload[-4:],
    }
    assert misread_status == 1
    assert why.startswith(f"civicpay: bad_crc at {len(payload) - 4}")
