"""The sweep of collected fees to each agency's Treasury account (Circular 74/2022), and its 24-hour report."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.clock import FixedClock
from civicpay.settings import Settings
from qr.collections import office_account_code
from tests.conftest import Api, account_balance, finance_officer, signed_in
from tests.desk import OFFICE, Desk, open_office, pay_by_bank

Sessions = async_sessionmaker[AsyncSession]


async def test_the_sweep_sends_each_agencys_fees_once_and_reports_the_late_ones(
    desk: Desk, api: Api, settings: Settings, clock: FixedClock, sessions: Sessions
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
    after = (await api.client.get("/finance/treasury/overdue", headers=officer)).json()

    assert moved.status_code == 204
    assert [(item["reference"], item["hours_waiting"]) for item in overdue] == [(early["reference"], 25)]
    assert swept.status_code == 200, swept.text
    lines = {line["agency_code"]: line for line in swept.json()["remittances"]}
    assert (lines[OFFICE["agency_code"]]["amount_vnd"], lines[OFFICE["agency_code"]]["collections"]) == (100_000, 2)
    assert (lines["UBND-TH"]["amount_vnd"], lines["UBND-TH"]["treasury_account"]) == (25_000, "3511.0.2")
    assert [item["reference"] for item in swept.json()["overdue"]] == [early["reference"]]
    assert again.json() == {"remittances": [], "overdue": []}
    assert after == []
    assert await account_balance(sessions, office_account_code(OFFICE["code"])) == 0
    assert await account_balance(sessions, office_account_code("THUANHOA")) == 0


async def test_only_finance_officers_sweep(desk: Desk, api: Api) -> None:
    citizen = await api.register()

    by_clerk = await api.client.post("/finance/treasury/sweep", headers={**desk.clerk, "Idempotency-Key": "s"})
    by_citizen = await api.client.get("/finance/treasury/overdue", headers=citizen.headers)

    assert (by_clerk.status_code, by_citizen.status_code) == (403, 403)
