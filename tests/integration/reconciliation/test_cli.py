"""`civicpay recon import FILE --account BIN:NUMBER` and `civicpay recon run … --json`, as from a shell."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.cli import main
from reconciliation.models import StatementFile, StatementLineRow
from tests.integration.reconciliation.conftest import ACCOUNT, DAY, Day, WriteStatement, entries_of

pytestmark = pytest.mark.usefixtures("command_shell")


async def civicpay(capsys: pytest.CaptureFixture[str], *arguments: str, lang: str = "en") -> tuple[int, str, str]:
    """The command in its own thread and event loop, as from a shell."""
    with pytest.raises(SystemExit) as ended:
        await asyncio.to_thread(main, ["--lang", lang, "recon", *arguments])
    out, err = capsys.readouterr()
    return int(ended.value.code or 0), out.strip(), err.strip()


async def _stored(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessions() as session:
        files = await session.scalar(select(func.count()).select_from(StatementFile)) or 0
        lines = await session.scalar(select(func.count()).select_from(StatementLineRow)) or 0
    return files, lines


async def test_import_then_run_as_json(
    capsys: pytest.CaptureFixture[str],
    sessions: async_sessionmaker[AsyncSession],
    day: Day,
    write_statement: WriteStatement,
) -> None:
    off = day.by_amount(500_000)
    pairs = zip(entries_of(day.items), day.items, strict=True)
    entries = [replace(entry, amount=501_000) if item is off else entry for entry, item in pairs]
    path = write_statement(entries, name="sao-ke.xml")
    code, out, err = await civicpay(capsys, "import", str(path), "--account", ACCOUNT)
    assert (code, err) == (0, "")
    assert "6 line(s) in 1 statement(s) imported" in out
    assert f"for {ACCOUNT} (camt)" in out
    assert await _stored(sessions) == (1, 6)
    async with sessions() as session:
        stored = (await session.scalars(select(StatementFile))).one()
    assert (stored.via, stored.imported_by_user_id, stored.file_name) == ("cli", None, "sao-ke.xml")

    code, out, err = await civicpay(capsys, "run", "--account", ACCOUNT, "--date", DAY.isoformat(), "--json")
    assert code == 1  # a day with an exception is the command's "no"
    run = json.loads(out)
    assert run["status"] == "exceptions"
    assert run["account"] == ACCOUNT
    assert run["date"] == DAY.isoformat()
    assert (run["matched"], run["amount_mismatches"], run["unmatched_ours"], run["unmatched_theirs"]) == (5, 1, 0, 0)
    assert run["drift_vnd"] == 1_000
    [exception] = run["exceptions"]
    assert exception["kind"] == "amount_mismatch"
    assert exception["statement_amount_vnd"] == 501_000
    assert exception["our_reference"] == off.reference
    assert exception["our_amount_vnd"] == 500_000
    assert exception["bank_reference"]

    code, out, _ = await civicpay(capsys, "run", "--account", ACCOUNT, "--date", DAY.isoformat())
    assert code == 1
    assert f"{DAY.isoformat()}: exceptions" in out
    assert off.reference is not None
    assert off.reference in out


async def test_the_same_file_twice_and_a_truncated_file_are_refused_in_one_line(
    capsys: pytest.CaptureFixture[str],
    sessions: async_sessionmaker[AsyncSession],
    day: Day,
    write_statement: WriteStatement,
) -> None:
    del day
    path = write_statement()
    assert (await civicpay(capsys, "import", str(path), "--account", ACCOUNT))[0] == 0
    code, out, err = await civicpay(capsys, "import", str(path), "--account", ACCOUNT)
    assert code == 2
    assert out == ""
    assert "first imported at" in err
    assert err.endswith("(statement_already_imported)")
    assert len(err.splitlines()) == 1

    whole = await asyncio.to_thread(path.read_bytes)
    cut = path.with_name("cut.xml")
    await asyncio.to_thread(cut.write_bytes, whole[: len(whole) - 30])
    code, _, err = await civicpay(capsys, "import", str(cut), "--account", ACCOUNT, lang="vi")
    assert code == 2
    assert err.endswith("(statement_unreadable)")
    assert len(err.splitlines()) == 1
    assert await _stored(sessions) == (1, 6)


async def test_no_statement_is_reported_as_such(
    capsys: pytest.CaptureFixture[str], day: Day, write_statement: WriteStatement
) -> None:
    del day, write_statement
    code, out, _ = await civicpay(capsys, "run", "--account", ACCOUNT, "--date", DAY.isoformat(), "--json")
    assert code == 1
    run = json.loads(out)
    assert run["status"] == "no_statement"
    assert run["exceptions"] == []
    code, _, err = await civicpay(capsys, "run", "--account", "970418:9999999999", "--date", DAY.isoformat())
    assert code == 2
    assert err.endswith("(bank_account_not_held)")
    code, _, err = await civicpay(capsys, "run", "--account", "VCB-123", "--date", DAY.isoformat())
    assert code == 2
    assert "BIN:NUMBER" in err
