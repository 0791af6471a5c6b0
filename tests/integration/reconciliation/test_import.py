"""Statement import through the API: stored whole, refused whole, never twice; camt.053, MT940 and a bank's CSV."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.clock import FixedClock
from civicpay.settings import Settings
from reconciliation import imports
from reconciliation.model import Direction
from reconciliation.models import BankStatement, StatementFile, StatementLineRow
from reconciliation.parsers import VIETCOMBANK
from tests.conftest import Api, finance_officer
from tests.integration.reconciliation.conftest import ACCOUNT, DAY, NUMBER, Day, WriteStatement
from tests.unit.reconciliation import files


async def _import(api: Api, officer: dict[str, str], path: Path, **params: str) -> Any:
    return await api.client.post(
        "/finance/statements",
        params=params,
        content=await asyncio.to_thread(path.read_bytes),
        headers={**officer, "Content-Type": "application/octet-stream"},
    )


async def _counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    async with sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(StatementFile)) or 0,
            await session.scalar(select(func.count()).select_from(BankStatement)) or 0,
            await session.scalar(select(func.count()).select_from(StatementLineRow)) or 0,
        )


async def test_a_camt053_from_the_ledger_is_stored_whole(
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
    day: Day,
    write_statement: WriteStatement,
) -> None:
    officer = await finance_officer(api, sessions, settings, clock)
    answer = await _import(api, officer, write_statement())
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["account"] == ACCOUNT
    assert body["format"] == "camt"
    assert body["lines"] == len(day.items) == 6
    [statement] = body["statements"]
    assert statement["business_day"] == DAY.isoformat()
    assert statement["opening_vnd"] == day.opening
    assert statement["closing_vnd"] == day.closing
    assert statement["continuous"] is True
    async with sessions() as session:
        lines = (await session.scalars(select(StatementLineRow).order_by(StatementLineRow.sequence))).all()
        stored = (await session.scalars(select(StatementFile))).one()
    assert stored.sha256 == body["sha256"]
    assert stored.via == "api"
    assert stored.imported_by_user_id is not None
    assert [line.amount_vnd for line in lines] == [item.amount for item in day.items]
    assert all(line.raw.startswith("<Ntry") or "Ntry" in line.raw for line in lines)
    assert {line.direction for line in lines} == {"credit", "debit"}


async def test_the_same_file_twice_is_refused_saying_when_it_came_first(
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
    day: Day,
    write_statement: WriteStatement,
) -> None:
    del day
    officer = await finance_officer(api, sessions, settings, clock)
    path = write_statement()
    first = await _import(api, officer, path)
    assert first.status_code == 201, first.text
    again = await _import(api, officer, path, account=ACCOUNT)
    assert again.status_code == 409, again.text
    problem = again.json()
    assert problem["code"] == "statement_already_imported"
    assert problem["first_imported_at"].startswith(clock.now().isoformat(timespec="seconds")[:19])
    assert problem["file_id"] == first.json()["file_id"]
    assert await _counts(sessions) == (1, 1, 6)


async def test_a_statement_of_an_account_we_do_not_hold_is_refused(
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
    write_statement: WriteStatement,
) -> None:
    officer = await finance_officer(api, sessions, settings, clock)
    named = await _import(api, officer, write_statement(account="0071009999999"))
    assert named.status_code == 422, named.text
    assert named.json()["code"] == "bank_account_not_held"
    given = await _import(api, officer, write_statement(name="other.xml", account=""), account="970418:9999999999")
    assert given.status_code == 422, given.text
    assert given.json()["code"] == "bank_account_not_held"
    assert await _counts(sessions) == (0, 0, 0)


async def test_a_truncated_xml_is_refused_and_nothing_is_imported(
    api: Api,
    client: AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
    write_statement: WriteStatement,
) -> None:
    officer = await finance_officer(api, sessions, settings, clock)
    whole = await asyncio.to_thread(write_statement().read_bytes)
    cut = write_statement(name="cut.xml")
    # Cut after the last entry began: every line before it parsed (and would have been written) first.
    await asyncio.to_thread(cut.write_bytes, whole[: whole.rindex(b"<Ntry>") + 40])
    answer = await client.post(
        "/finance/statements",
        content=await asyncio.to_thread(cut.read_bytes),
        headers={**officer, "Content-Type": "application/octet-stream", "Accept-Language": "en"},
    )
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["code"] == "statement_unreadable"
    assert problem["reason"] == "truncated"
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert await _counts(sessions) == (0, 0, 0)
    vietnamese = await _import(api, officer, cut)
    assert vietnamese.json()["title"].startswith("Không đọc được")


async def test_mt940_and_a_bank_csv_import(
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
    day: Day,
    tmp_path: Path,
) -> None:
    del day
    officer = await finance_officer(api, sessions, settings, clock)
    entries = [
        files.Entry(250_000, narrative="NAP TIEN DSTEST", bank_reference="FT1", booked=DAY),
        files.Entry(40_000, Direction.DEBIT, narrative="PHI", bank_reference="FT2", booked=DAY),
    ]
    mt940 = tmp_path / "day.sta"
    mt940.write_text(files.mt940_statement(entries, opening=1_000_000))
    answer = await _import(api, officer, mt940, account=f"970415:{NUMBER}")
    # The MT940's :25: names files.ACCOUNT, not ours: an account other than the one given is refused.
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "statement_account_unknown"

    mt940.write_text(files.mt940_statement(entries, opening=1_000_000).replace(files.ACCOUNT, NUMBER))
    answer = await _import(api, officer, mt940, account=ACCOUNT)
    assert answer.status_code == 201, answer.text
    assert answer.json()["format"] == "mt940"
    assert answer.json()["lines"] == 2
    assert answer.json()["statements"][0]["closing_vnd"] == 1_210_000

    csv = tmp_path / "sao-ke.csv"
    # The next day's export, opening where the MT940 closed.
    next_day = files.bank_csv(VIETCOMBANK, entries, opening=1_210_000).replace(files.ACCOUNT, NUMBER)
    csv.write_text(next_day.replace(f"{files.DAY:%d/%m/%Y}", "02/12/2026"))
    answer = await _import(api, officer, csv, account=ACCOUNT, format="bank_csv")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["format"] == "bank_csv"
    assert body["lines"] == 2
    # It opens where the MT940 of the day before closed.
    assert body["statements"][0]["business_day"] == "2026-12-02"
    assert body["statements"][0]["follows_previous"] is True
    assert await _counts(sessions) == (2, 2, 4)


async def test_a_file_that_is_not_utf8_is_refused_not_a_500(
    api: Api, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: FixedClock, tmp_path: Path
) -> None:
    officer = await finance_officer(api, sessions, settings, clock)
    # As a Windows-1258 export spells "Ngày,Sô tiên": bytes that are not UTF-8.
    latin = tmp_path / "sao-ke.csv"
    await asyncio.to_thread(latin.write_bytes, b"Ng\xe0y,S\xf4 ti\xean\n01/12/2026,1.000\n")
    answer = await _import(api, officer, latin, account=ACCOUNT)
    assert answer.status_code == 422, answer.text
    assert (answer.json()["code"], answer.json()["reason"]) == ("statement_unreadable", "not_utf8")
    assert await _counts(sessions) == (0, 0, 0)


async def test_a_broken_continuity_is_imported_and_flagged(
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
    day: Day,
    write_statement: WriteStatement,
) -> None:
    officer = await finance_officer(api, sessions, settings, clock)
    answer = await _import(api, officer, write_statement(closing=day.closing + 5_000), account=ACCOUNT)
    assert answer.status_code == 201, answer.text
    [statement] = answer.json()["statements"]
    assert statement["continuous"] is False
    async with sessions() as session:
        stored = (await session.scalars(select(BankStatement))).one()
    assert (stored.continuous, stored.gap_vnd) == (False, 5_000)


async def test_the_unique_hash_refuses_the_same_file_even_past_the_first_look(
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
    day: Day,
    write_statement: WriteStatement,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two imports of one file at one moment both find nothing at the first look: the database decides."""
    del day
    officer = await finance_officer(api, sessions, settings, clock)
    path = write_statement()
    assert (await _import(api, officer, path)).status_code == 201
    looks: list[str] = []
    real = imports.already_imported

    async def first_look_misses(session: AsyncSession, sha256: str) -> None:
        looks.append(sha256)
        if len(looks) > 1:  # the look after the UNIQUE refusal is the real one
            await real(session, sha256)

    monkeypatch.setattr(imports, "already_imported", first_look_misses)
    again = await _import(api, officer, path)
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "statement_already_imported"
    assert len(looks) == 2
    assert await _counts(sessions) == (1, 1, 6)


async def test_a_file_with_a_nul_byte_is_refused_whole(
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
    day: Day,
    write_statement: WriteStatement,
) -> None:
    del day
    officer = await finance_officer(api, sessions, settings, clock)
    path = write_statement()
    whole = await asyncio.to_thread(path.read_bytes)
    await asyncio.to_thread(path.write_bytes, whole.replace(b"CT DEN", b"CT\x00DEN", 1))
    answer = await _import(api, officer, path, account=ACCOUNT)
    assert answer.status_code == 422, answer.text
    assert (answer.json()["code"], answer.json()["reason"]) == ("statement_unreadable", "nul_byte")
    assert await _counts(sessions) == (0, 0, 0)
