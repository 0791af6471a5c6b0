"""The three-way fee check: each fee collected (ledger), swept (our bank's debit line) and credited at the Treasury
(the KBNN statement's line), with the 24-hour rule of Circular 74/2022 flagged per agency."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.bootstrap import Services
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from reconciliation.generator import BankEntry, camt053, closing_of, entry_of, kbnn_csv
from reconciliation.model import Direction
from reconciliation.models import StatementFile
from reconciliation.runs import day_bounds, ledger_balance_at, our_side
from sandbox.bank import Bank
from tests.conftest import Api, bank_settles, finance_officer
from tests.desk import OFFICE, Desk, pay_by_bank
from wallet import ledger

SWEPT_ON = date(2026, 11, 24)  # the day after START's, 25 hours on


def _write(path: Path, chunks: Any) -> Path:
    path.write_bytes(b"".join(chunks))
    return path


async def _import(api: Api, officer: dict[str, str], path: Path, account: str | None = None) -> Any:
    return await api.client.post(
        "/finance/statements",
        params={"account": account} if account else {},
        content=await asyncio.to_thread(path.read_bytes),
        headers={**officer, "Content-Type": "application/octet-stream"},
    )


async def _three_way(api: Api, officer: dict[str, str]) -> dict[str, Any]:
    found = await api.client.get("/finance/fee-reconciliation", params={"date": SWEPT_ON.isoformat()}, headers=officer)
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


async def _office_statement(services: Services, sessions: async_sessionmaker[AsyncSession], folder: Path) -> Path:
    """Our bank's camt.053 of the office's account for the day, as the ledger has it (the sweep's debit in it)."""
    async with sessions() as session:
        account = await ledger.bank_account_of(session, OFFICE["bank_bin"], OFFICE["account_number"])
        assert account is not None
        start, end = day_bounds(services.calendar, SWEPT_ON)
        items, _ = await our_side(session, account, start, end, SWEPT_ON)
        opening = await ledger_balance_at(session, account, start)
    entries = [entry_of(item, f"FT26328{n:06d}") for n, item in enumerate(items, start=1)]
    closing = closing_of(opening, entries)
    return _write(
        folder / "office.xml",
        camt053(account=OFFICE["account_number"], day=SWEPT_ON, opening=opening, closing=closing, entries=entries),
    )


def _treasury(folder: Path, name: str, entries: list[BankEntry], account: str = OFFICE["treasury_account"]) -> Path:
    closing = closing_of(0, entries)
    return _write(folder / name, kbnn_csv(account=account, day=SWEPT_ON, opening=0, closing=closing, entries=entries))


async def test_a_missing_treasury_line_and_a_sweep_past_24_hours_are_flagged_for_the_agency(
    desk: Desk,
    api: Api,
    services: Services,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
    bank_server: tuple[str, Bank],
    tmp_path: Path,
) -> None:
    early = await desk.collect(40_000)
    assert (await pay_by_bank(api, settings, clock, code=early["reference"], amount_vnd=40_000)).status_code == 200
    clock.advance(timedelta(hours=25))
    await desk.sign_in_again()
    recent = await desk.collect(60_000)
    assert (await pay_by_bank(api, settings, clock, code=recent["reference"], amount_vnd=60_000)).status_code == 200
    officer = await finance_officer(api, sessions, settings, clock)
    swept = await api.client.post("/finance/treasury/sweep", headers={**officer, "Idempotency-Key": "sweep-1"})
    [remittance] = swept.json()["remittances"]
    assert (await bank_settles(api, bank_server[0], remittance["reference"], "confirmed")).status_code == 200
    office = f"{OFFICE['bank_bin']}:{OFFICE['account_number']}"
    assert (
        await _import(api, officer, await _office_statement(services, sessions, tmp_path), office)
    ).status_code == 201
    stranger = await _import(api, officer, _treasury(tmp_path, "other.csv", [], account="3511.0.9999999"))
    without = await _import(api, officer, _treasury(tmp_path, "kbnn-1.csv", []))

    before = await _three_way(api, officer)

    assert (stranger.status_code, stranger.json()["code"]) == (422, "bank_account_not_held")
    assert (without.status_code, without.json()["account"]) == (201, f"KBNN:{OFFICE['treasury_account']}")
    by_fee = {fee["reference"]: fee for fee in before["fees"]}
    assert list(by_fee) == [early["reference"], recent["reference"]]  # swept that day, paid that day
    for fee in by_fee.values():
        assert fee["remittance_reference"] == remittance["reference"]
        assert (fee["bank_line"]["status"], fee["bank_line"]["amount_vnd"]) == ("found", 100_000)
        assert fee["treasury_line"]["status"] == "missing"
    assert by_fee[early["reference"]]["late"] is True
    assert by_fee[early["reference"]]["hours_to_treasury"] == 25.0
    assert by_fee[early["reference"]]["problems"] == ["treasury_line_missing", "late"]
    assert (by_fee[recent["reference"]]["late"], by_fee[recent["reference"]]["problems"]) == (
        False,
        ["treasury_line_missing"],
    )
    [agency] = before["agencies"]
    assert agency == {
        "agency_code": OFFICE["agency_code"],
        "agency_name": OFFICE["agency_name"],
        "fees": 2,
        "amount_vnd": 100_000,
        "complete": 0,
        "late": 1,
        "treasury_missing": 2,
        "flagged": True,
    }
    assert before["clean"] is False

    # The Treasury's next statement of the day shows the remittance: only the 24 hours are left to answer for.
    arrived = BankEntry(
        100_000, Direction.CREDIT, SWEPT_ON, "CT-0001", "Nop phi", end_to_end_id=remittance["reference"]
    )
    assert (await _import(api, officer, _treasury(tmp_path, "kbnn-2.csv", [arrived]))).status_code == 201
    after = await _three_way(api, officer)
    by_fee = {fee["reference"]: fee for fee in after["fees"]}
    assert by_fee[early["reference"]]["treasury_line"]["status"] == "found"
    assert by_fee[early["reference"]]["problems"] == ["late"]
    assert by_fee[recent["reference"]]["problems"] == []
    assert {key: after["agencies"][0][key] for key in ("complete", "late", "treasury_missing", "flagged")} == {
        "complete": 1,
        "late": 1,
        "treasury_missing": 0,
        "flagged": True,
    }
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(StatementFile)) == 3  # the stranger's: none


async def test_only_finance_officers_see_the_fee_check(desk: Desk, api: Api) -> None:
    refused = await api.client.get("/finance/fee-reconciliation", params={"date": "2026-11-24"}, headers=desk.clerk)
    assert refused.status_code == 403
