"""The sweep of collected fees to each agency's Treasury account (Circular 74/2022), and its 24-hour report.

Each remittance is an instruction to the bank from one of our bank accounts, held until the bank confirms
(the money leaves) or rejects it (the fees wait, unswept, for the next sweep).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.clock import FixedClock
from civicpay.outbox import Dispatcher
from civicpay.settings import Settings
from qr.collections import office_account_code
from qr.treasury import REMITTANCE
from sandbox.bank import Bank
from tests.conftest import (
    Api,
    account_balance,
    bank_decides,
    bank_settles,
    deliver_callback,
    finance_officer,
    signed_in,
)
from tests.desk import OFFICE, Desk, open_office, pay_by_bank
from tests.integration.wallet.test_bank_accounts_held import Books
from wallet.bank_payouts import TreasuryPayout

Sessions = async_sessionmaker[AsyncSession]


async def _sweep(api: Api, officer: dict[str, str], key: str) -> list[dict[str, Any]]:
    swept = await api.client.post("/finance/treasury/sweep", headers={**officer, "Idempotency-Key": key})
    assert swept.status_code == 200, swept.text
    remittances: list[dict[str, Any]] = swept.json()["remittances"]
    return remittances


async def _remittances(api: Api, officer: dict[str, str]) -> dict[str, dict[str, Any]]:
    listed = await api.client.get("/finance/treasury/remittances", headers=officer)
    assert listed.status_code == 200, listed.text
    return {line["reference"]: line for line in listed.json()}


async def _fees_paid_both_ways(desk: Desk, api: Api, settings: Settings, clock: FixedClock) -> None:
    """30.000 ₫ paid from a wallet (the money is in the pool), 50.000 ₫ by bank transfer (in the office's account)."""
    citizen = await api.register()
    await api.fund(citizen, 100_000)
    by_wallet = await desk.collect(30_000)
    assert (await desk.pay(citizen, by_wallet["vietqr"])).status_code == 201
    by_bank = await desk.collect(50_000)
    assert (await pay_by_bank(api, settings, clock, code=by_bank["reference"], amount_vnd=50_000)).status_code == 200


async def test_the_sweep_sends_each_agencys_fees_once_and_reports_the_late_ones_until_confirmed(
    desk: Desk, api: Api, bank_server: tuple[str, Bank], settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    other = await open_office(
        api,
        desk.admin,
        code="THUANHOA",
        account_number="0161009999999",
        agency_code="UBND-TH",
        treasury_account="3511.0.2",
    )
    counter = await api.client.post(f"/offices/{other['id']}/counters", json={"name": "Quầy 1"}, headers=desk.admin)
    citizen = await api.register()
    await api.fund(citizen, 1_000_000)
    early = await desk.collect(40_000)
    await desk.pay(citizen, early["vietqr"])
    clock.advance(timedelta(hours=25))
    await desk.sign_in_again()
    citizen.headers = await signed_in(api, citizen.phone)
    recent = await desk.collect(60_000)
    await pay_by_bank(api, settings, clock, code=recent["reference"], amount_vnd=60_000)
    moved = await api.client.post(f"/offices/{other['id']}/clerks", json={"phone": desk.phones[1]}, headers=desk.admin)
    theirs = await desk.collect(25_000, counter_id=counter.json()["id"])
    await desk.pay(citizen, theirs["vietqr"])
    officer = await finance_officer(api, sessions, settings, clock)

    overdue = (await api.client.get("/finance/treasury/overdue", headers=officer)).json()
    swept = await api.client.post("/finance/treasury/sweep", headers={**officer, "Idempotency-Key": "sweep-1"})
    again = await api.client.post("/finance/treasury/sweep", headers={**officer, "Idempotency-Key": "sweep-2"})
    on_its_way = (await api.client.get("/finance/treasury/overdue", headers=officer)).json()
    for line in swept.json()["remittances"]:
        assert (await bank_settles(api, bank_server[0], line["reference"], "confirmed")).status_code == 200
    after = (await api.client.get("/finance/treasury/overdue", headers=officer)).json()

    assert moved.status_code == 204
    assert [(item["reference"], item["hours_waiting"]) for item in overdue] == [(early["reference"], 25)]
    assert swept.status_code == 200, swept.text
    pool = (settings.wallet_pool_bank_bin, settings.wallet_pool_account_number)
    # One remittance per agency and bank account of ours the fees are in.
    lines = {
        (line["agency_code"], (line["from_bank_bin"], line["from_account_number"])): line
        for line in swept.json()["remittances"]
    }
    assert {key: (line["amount_vnd"], line["collections"]) for key, line in lines.items()} == {
        (OFFICE["agency_code"], (OFFICE["bank_bin"], OFFICE["account_number"])): (60_000, 1),
        (OFFICE["agency_code"], pool): (40_000, 1),
        ("UBND-TH", pool): (25_000, 1),
    }
    # Answered before the commit, then sent to the bank right after it.
    assert {line["status"] for line in lines.values()} == {"queued"}
    assert lines[("UBND-TH", pool)]["treasury_account"] == "3511.0.2"
    assert [item["reference"] for item in swept.json()["overdue"]] == [early["reference"]]
    # Nothing left to send; the late fee is still late until the bank confirms it reached the Treasury.
    assert again.json()["remittances"] == []
    assert [item["reference"] for item in again.json()["overdue"]] == [early["reference"]]
    assert [item["reference"] for item in on_its_way] == [early["reference"]]
    assert after == []
    assert await account_balance(sessions, office_account_code(OFFICE["code"])) == 0
    assert await account_balance(sessions, office_account_code("THUANHOA")) == 0


async def test_a_sweep_the_bank_confirms_leaves_our_bank_account_and_a_replayed_callback_changes_nothing(
    desk: Desk, api: Api, bank: Bank, bank_server: tuple[str, Bank], settings: Settings, clock: FixedClock
) -> None:
    books = Books(api, await finance_officer(api, api.sessions, settings, clock))
    office = (OFFICE["bank_bin"], OFFICE["account_number"])
    pool = (settings.wallet_pool_bank_bin, settings.wallet_pool_account_number)
    await _fees_paid_both_ways(desk, api, settings, clock)
    start = await books.balances()

    swept = await _sweep(api, books.officer, "sweep-1")
    held = await books.report()
    by_source = {(line["from_bank_bin"], line["from_account_number"]): line for line in swept}
    callback = await bank_decides(bank_server[0], by_source[office]["reference"], "confirmed")
    confirmed = await deliver_callback(api, callback)
    replayed = await deliver_callback(api, callback)
    await bank_settles(api, bank_server[0], by_source[pool]["reference"], "confirmed")
    moved = await books.moved_since(start)
    shown = await _remittances(api, books.officer)

    assert REMITTANCE.decode(by_source[office]["reference"]) is not None
    # Held at the sweep: still in the account, no longer available to send.
    accounts = {(line["bank_bin"], line["account_number"]): line for line in held["accounts"]}
    assert accounts[office]["available_vnd"] == accounts[office]["balance_vnd"] - 50_000
    assert (confirmed.status_code, confirmed.json()["changed"]) == (200, True)
    assert (replayed.status_code, replayed.json()["changed"], replayed.json()["status"]) == (200, False, "confirmed")
    assert moved == {office: -50_000, pool: -30_000}
    sent = bank.payouts[by_source[office]["reference"]]
    assert isinstance(sent, TreasuryPayout)
    assert (sent.from_bank_bin, sent.from_account_number) == office
    assert (sent.treasury_account, sent.agency_code, sent.amount_vnd) == (
        OFFICE["treasury_account"],
        OFFICE["agency_code"],
        50_000,
    )
    assert {line["status"] for line in shown.values()} == {"confirmed"}
    assert await _sweep(api, books.officer, "sweep-2") == []


async def test_a_sweep_the_bank_rejects_leaves_its_fees_unswept_for_the_next_one(
    desk: Desk, api: Api, bank: Bank, bank_server: tuple[str, Bank], settings: Settings, clock: FixedClock
) -> None:
    books = Books(api, await finance_officer(api, api.sessions, settings, clock))
    office = (OFFICE["bank_bin"], OFFICE["account_number"])
    await _fees_paid_both_ways(desk, api, settings, clock)
    start = await books.balances()
    by_source = {
        (line["from_bank_bin"], line["from_account_number"]): line for line in await _sweep(api, books.officer, "1")
    }
    first = by_source[office]["reference"]

    rejected = await bank_settles(api, bank_server[0], first, "rejected", "AC01")
    contradiction = await bank_settles(api, bank_server[0], first, "confirmed")
    shown = await _remittances(api, books.officer)
    after_rejection = await books.report()
    owed_to_the_agency = await account_balance(api.sessions, office_account_code(OFFICE["code"]))
    resent = await _sweep(api, books.officer, "2")
    shown_again = await _remittances(api, books.officer)

    assert (rejected.status_code, rejected.json()["status"]) == (200, "rejected")
    assert (contradiction.status_code, contradiction.json()["code"]) == (409, "payout_contradiction")
    assert (shown[first]["status"], shown[first]["reason_code"]) == ("rejected", "AC01")
    # Back where they were: nothing left the office's account, nothing of it is held.
    accounts = {(line["bank_bin"], line["account_number"]): line for line in after_rejection["accounts"]}
    assert accounts[office]["balance_vnd"] == accounts[office]["available_vnd"] == start[office]
    assert owed_to_the_agency == 50_000
    # The next sweep sends the same fees again, under a reference of its own.
    [again] = resent
    assert (again["amount_vnd"], again["collections"]) == (50_000, 1)
    assert (again["from_bank_bin"], again["from_account_number"]) == office
    assert again["reference"] != first
    assert sorted(bank.payouts) == sorted([*[line["reference"] for line in by_source.values()], again["reference"]])
    assert (shown_again[first]["status"], shown_again[again["reference"]]["status"]) == ("rejected", "sent")


async def test_a_sweep_while_the_bank_is_down_is_sent_later_once(
    desk: Desk, api: Api, app: Litestar, bank: Bank, settings: Settings, clock: FixedClock
) -> None:
    officer = await finance_officer(api, api.sessions, settings, clock)
    citizen = await api.register()
    await api.fund(citizen, 100_000)
    fee = await desk.collect(30_000)
    assert (await desk.pay(citizen, fee["vietqr"])).status_code == 201
    bank.down = True

    [queued] = await _sweep(api, officer, "sweep-1")
    outbox: Dispatcher = app.state.outbox
    not_yet_due = await outbox.drain()  # the sweep's own try failed: the next waits out its backoff
    bank.down = False
    clock.advance(timedelta(seconds=settings.outbox_backoff_cap_seconds))
    sent = await outbox.drain()
    clock.advance(timedelta(seconds=settings.outbox_backoff_cap_seconds))
    sent_again = await outbox.drain()
    shown = await _remittances(api, officer)

    assert queued["status"] == "queued"
    assert (not_yet_due, sent, sent_again) == (0, 1, 0)
    assert shown[queued["reference"]]["status"] == "sent"
    assert list(bank.payouts) == [queued["reference"]]


async def test_only_finance_officers_sweep(desk: Desk, api: Api) -> None:
    citizen = await api.register()

    by_clerk = await api.client.post("/finance/treasury/sweep", headers={**desk.clerk, "Idempotency-Key": "s"})
    by_citizen = await api.client.get("/finance/treasury/overdue", headers=citizen.headers)

    assert (by_clerk.status_code, by_citizen.status_code) == (403, 403)
