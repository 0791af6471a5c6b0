"""Runs: a statement written from the ledger's own transfers, with breaks planted, reports exactly those breaks."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.clock import FixedClock
from civicpay.settings import Settings
from reconciliation.generator import BankEntry
from reconciliation.model import Direction
from tests.conftest import Api, finance_officer
from tests.integration.reconciliation.conftest import ACCOUNT, DAY, Day, WriteStatement, bank_ref, entries_of


async def _import(api: Api, officer: dict[str, str], path: Path) -> None:
    answer = await api.client.post(
        "/finance/statements",
        params={"account": ACCOUNT},
        content=await asyncio.to_thread(path.read_bytes),
        headers={**officer, "Content-Type": "application/octet-stream"},
    )
    assert answer.status_code == 201, answer.text


async def _run(api: Api, officer: dict[str, str], day: str = DAY.isoformat()) -> dict[str, Any]:
    asked = {"account": ACCOUNT, "date": day}
    answer = await api.client.post("/finance/reconciliation-runs", json=asked, headers=officer)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    again = await api.client.get(f"/finance/reconciliation-runs/{body['id']}", headers=officer)
    assert again.status_code == 200, again.text
    assert again.json() == body
    return body


def _counts(run: dict[str, Any]) -> dict[str, int]:
    names = ("matched", "unmatched_ours", "unmatched_theirs", "amount_mismatches", "duplicates", "reversals")
    return {name: run[name] for name in names}


async def test_the_ledgers_own_statement_reconciles(
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
    day: Day,
    write_statement: WriteStatement,
) -> None:
    officer = await finance_officer(api, sessions, settings, clock)
    await _import(api, officer, write_statement())
    run = await _run(api, officer)
    assert run["status"] == "reconciled"
    assert _counts(run) == {
        "matched": 6,
        "unmatched_ours": 0,
        "unmatched_theirs": 0,
        "amount_mismatches": 0,
        "duplicates": 0,
        "reversals": 0,
    }
    assert run["drift_vnd"] == 0
    assert run["ledger_balance_vnd"] == run["statement_closing_vnd"] == day.closing
    assert run["exceptions"] == []


async def test_planted_breaks_are_reported_exactly(
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
    day: Day,
    write_statement: WriteStatement,
) -> None:
    officer = await finance_officer(api, sessions, settings, clock)
    missing, off, twice = day.by_amount(200_000), day.by_amount(300_000), day.by_amount(400_000)
    entries: list[BankEntry] = []
    for booked, item in zip(entries_of(day.items), day.items, strict=True):
        if item is missing:
            continue  # the bank never booked it
        entry = replace(booked, amount=299_000) if item is off else booked  # booked 1.000 ₫ short
        entries.append(entry)
        if item is twice:
            entries.append(replace(entry, bank_reference=bank_ref(99)))  # booked twice
    extra = BankEntry(77_000, Direction.CREDIT, DAY, bank_ref(77), "CHUYEN KHOAN KHONG RO NOI DUNG")
    entries.append(extra)
    await _import(api, officer, write_statement(entries))

    run = await _run(api, officer)
    assert run["status"] == "exceptions"
    # Matched: the other two credits, the twice-booked one (its first line) and the debit.
    assert _counts(run) == {
        "matched": 4,
        "unmatched_ours": 1,
        "unmatched_theirs": 1,
        "amount_mismatches": 1,
        "duplicates": 1,
        "reversals": 0,
    }
    # The statement's closing sums its lines; the ledger's has everything once, at its amount.
    assert run["drift_vnd"] == -200_000 - 1_000 + 400_000 + 77_000
    found = {
        (e["kind"], e["bank_reference"], e["statement_amount_vnd"], e["our_reference"], e["our_amount_vnd"])
        for e in run["exceptions"]
    }
    assert found == {
        ("unmatched_ours", None, None, missing.reference, 200_000),
        ("unmatched_theirs", bank_ref(77), 77_000, None, None),
        ("amount_mismatch", bank_ref(3), 299_000, off.reference, 300_000),
        ("duplicate", bank_ref(99), 400_000, twice.reference, 400_000),
    }
    assert len(run["exceptions"]) == 4


async def test_a_day_without_a_statement_is_no_statement_never_all_matched(
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
    day: Day,
    write_statement: WriteStatement,
) -> None:
    officer = await finance_officer(api, sessions, settings, clock)
    run = await _run(api, officer)
    assert run["status"] == "no_statement"
    assert run["statement_lines"] == 0
    assert run["ledger_items"] == len(day.items)
    assert run["matched"] == 0
    assert run["statement_closing_vnd"] is None
    assert run["drift_vnd"] is None

    # A statement with no line that day (a quiet day at the bank, whatever our ledger says) is no better.
    await _import(api, officer, write_statement([]))
    empty = await _run(api, officer)
    assert empty["status"] == "no_statement"
    assert empty["file_id"] is not None
    assert empty["statement_lines"] == 0

    # The next day has neither items nor a statement: still no_statement, not "all matched".
    quiet = await _run(api, officer, (DAY + timedelta(days=1)).isoformat())
    assert quiet["status"] == "no_statement"
    assert quiet["ledger_items"] == 0


async def test_a_run_for_an_account_we_do_not_hold_is_refused_and_an_unknown_run_is_404(
    api: Api, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: FixedClock
) -> None:
    officer = await finance_officer(api, sessions, settings, clock)
    answer = await api.client.post(
        "/finance/reconciliation-runs",
        json={"account": "970418:9999999999", "date": DAY.isoformat()},
        headers={**officer, "Accept-Language": "en"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "bank_account_not_held"
    missing = await api.client.get("/finance/reconciliation-runs/424242", headers=officer)
    assert missing.status_code == 404
    assert missing.json()["code"] == "reconciliation_run_not_found"
