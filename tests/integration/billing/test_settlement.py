"""Billers' settlement: a business day's bill payments become one payout to the biller's bank account, with a report."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import Response
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.models import Biller
from billing.settlements import SETTLEMENT
from civicpay.auth.models import Role
from civicpay.bootstrap import Services
from civicpay.cli import main
from civicpay.clock import FixedClock
from civicpay.money import Category
from civicpay.settings import Settings
from sandbox.bank import Bank
from tests.billers import BillerDesk, bill
from tests.conftest import BANK_API_SECRET, Api, Citizen, bank_settles, create_staff, signed_in
from wallet import ledger, wallet_pool_account
from wallet.bank_payouts import Payout


class Officer:
    """A finance officer, signed in again whenever the test moves the clock past the token's life."""

    def __init__(self, api: Api, phone: str) -> None:
        self.api, self.phone = api, phone
        self.headers: dict[str, str] = {}

    async def sign_in(self) -> Officer:
        self.headers = await signed_in(self.api, self.phone)
        return self

    async def settle(self, key: str) -> Response:
        headers = {**self.headers, "Idempotency-Key": key}
        return await self.api.client.post("/billers/settlements", headers=headers)


async def officer(
    api: Api, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: FixedClock
) -> Officer:
    phone = await create_staff(sessions, settings, clock, Role.FINANCE_OFFICER, "Hoàng Minh Châu")
    return await Officer(api, phone).sign_in()


async def payable(sessions: async_sessionmaker[AsyncSession], biller_id: int) -> tuple[int, int]:
    """The biller's payable: (posted, available); a settlement on its way holds what it pays."""
    async with sessions() as session:
        biller = await session.get(Biller, biller_id)
        assert biller is not None
        balance = (await ledger.balances(session, [biller.account_id]))[biller.account_id]
        return balance.posted_vnd, balance.available_vnd


async def invariants_hold(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        assert await ledger.check_invariants(session) == []


async def next_day(clock: FixedClock, api: Api, citizen: Citizen, desk: Officer) -> Citizen:
    clock.advance(timedelta(days=1))
    await desk.sign_in()
    return replace(citizen, headers=await signed_in(api, citizen.phone))


def parse_csv(content: bytes) -> tuple[dict[str, str], list[dict[str, str]]]:
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    blank = rows.index([])
    header = {row[0]: row[1] for row in rows[:blank]}
    columns = rows[blank + 1]
    return header, [dict(zip(columns, row, strict=True)) for row in rows[blank + 2 :]]


async def pay_ok(desk: BillerDesk, citizen: Citizen, *bill_ids: int) -> dict[str, Any]:
    paid = await desk.pay(citizen, *bill_ids)
    assert paid.status_code == 201, paid.text
    body: dict[str, Any] = paid.json()
    return body


async def test_a_days_bill_payments_become_one_payout_per_biller_with_a_report_and_a_second_run_pays_nothing(
    biller_desk: BillerDesk,
    api: Api,
    bank: Bank,
    bank_server: tuple[str, Bank],
    clock: FixedClock,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    evn = await biller_desk.biller()
    water = await biller_desk.biller("Cấp nước Huế", "water")
    pushed = await biller_desk.push(
        evn, bill("E1", period="2026-10"), bill("E2", amount_vnd=210_000), bill("E3", amount_vnd=99_000)
    )
    ids = {line["bill_id"]: line["id"] for line in pushed.json()["accepted"]}
    w1 = (await biller_desk.push(water, bill("W1", code="HUE-0001", amount_vnd=80_000))).json()["accepted"][0]["id"]
    citizen = await api.register(full_name="Nguyễn Văn An")
    assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    assert (await biller_desk.link(citizen, water, "HUE-0001")).status_code == 201
    await api.fund(citizen, 1_000_000)
    desk = await officer(api, sessions, settings, clock)

    first = await pay_ok(biller_desk, citizen, ids["E1"], w1)  # one payment, two billers
    second = await pay_ok(biller_desk, citizen, ids["E2"])
    too_early = await desk.settle("today")  # paid today: after today's cut-off, so tomorrow's
    citizen = await next_day(clock, api, citizen, desk)
    await pay_ok(biller_desk, citizen, ids["E3"])  # after the cut-off the settlement closes at
    settled = await desk.settle("day-2")
    replayed = await desk.settle("day-2")
    sent_by_then = dict(bank.payouts)
    again = await desk.settle("day-2-again")
    await invariants_hold(sessions)
    held = await payable(sessions, evn["id"])

    assert too_early.status_code == 200, too_early.text
    assert too_early.json() == []
    assert settled.status_code == 200, settled.text
    by_biller = {line["biller_id"]: line for line in settled.json()}
    assert sorted(by_biller) == sorted([evn["id"], water["id"]])
    line = by_biller[evn["id"]]
    assert (line["amount_vnd"], line["amount_display"], line["bill_count"]) == (360_000, "360.000 ₫", 2)
    assert line["business_day"] == "2026-11-24"
    # Midnight in Huế on the 24th: the 23rd's payments, and none of the 24th's.
    assert datetime.fromisoformat(line["cutoff_at"]) == datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    reference = line["reference"]
    assert len(reference) == 16
    assert SETTLEMENT.decode(reference) is not None
    payout = bank.payouts[reference]
    assert isinstance(payout, Payout)
    assert (payout.amount_vnd, payout.bank_bin, payout.account_number) == (360_000, "970436", evn["account_number"])
    assert (payout.from_bank_bin, payout.from_account_number) == (
        settings.wallet_pool_bank_bin,
        settings.wallet_pool_account_number,
    )
    assert payout.description == f"CIVICPAY THU HO {reference}"
    assert by_biller[water["id"]]["amount_vnd"] == 80_000
    assert replayed.content == settled.content
    assert again.json() == []  # once a business day per biller
    assert bank.payouts == sent_by_then  # neither the replay nor the second run sent anything
    assert held == (459_000, 99_000)  # E1 and E2 held on their way; E3 waits for tomorrow

    confirmed = await bank_settles(api, bank_server[0], reference, "confirmed")
    await invariants_hold(sessions)
    drained = await payable(sessions, evn["id"])
    mine = await api.client.get("/biller-api/settlements", headers={"X-API-Key": evn["api_key"]})
    as_csv = await api.client.get(
        f"/biller-api/settlements/{line['id']}/report.csv", headers={"X-API-Key": evn["api_key"]}
    )
    as_xlsx = await api.client.get(
        f"/biller-api/settlements/{line['id']}/report.xlsx", headers={"X-API-Key": evn["api_key"]}
    )
    by_officer = await api.client.get(f"/billers/settlements/{line['id']}/report.csv", headers=desk.headers)

    assert confirmed.status_code == 200, confirmed.text
    assert drained == (99_000, 99_000)
    assert [(s["id"], s["status"]) for s in mine.json()] == [(line["id"], "confirmed")]
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert f"{reference}-2026-11-24.csv" in as_csv.headers["content-disposition"]
    header, rows = parse_csv(as_csv.content)
    assert header == {
        "biller": "Điện lực Thừa Thiên Huế",
        "biller_id": str(evn["id"]),
        "business_day": "2026-11-24",
        "reference": reference,
        "total_vnd": "360000",
        "count": "2",
        "bank_bin": "970436",
        "bank_account": evn["account_number"],
        "account_holder": "ĐIỆN LỰC THỪA THIÊN HUẾ",
        "status": "confirmed",
    }
    paid_at = "2026-11-23T10:00:00+07:00"  # 03:00 UTC, as Huế reads it
    assert rows == [
        {
            "biller_bill_id": "E1",
            "customer_code": "PC03AA0000001",
            "period": "2026-10",
            "amount_vnd": "150000",
            "paid_at": paid_at,
            "payment_id": str(first["id"]),
        },
        {
            "biller_bill_id": "E2",
            "customer_code": "PC03AA0000001",
            "period": "2026-11",
            "amount_vnd": "210000",
            "paid_at": paid_at,
            "payment_id": str(second["id"]),
        },
    ]
    assert sum(int(row["amount_vnd"]) for row in rows) == int(header["total_vnd"])
    assert as_xlsx.status_code == 200, as_xlsx.text
    sheet = load_workbook(io.BytesIO(as_xlsx.content), read_only=True).active
    assert sheet is not None
    cells = [tuple(cell for cell in row) for row in sheet.iter_rows(values_only=True)]
    assert cells[0] == ("biller", "Điện lực Thừa Thiên Huế")
    assert cells[3] == ("reference", reference)
    assert cells[4] == ("total_vnd", 360_000)
    assert cells[-3] == ("biller_bill_id", "customer_code", "period", "amount_vnd", "paid_at", "payment_id")
    assert cells[-2:] == [
        ("E1", "PC03AA0000001", "2026-10", 150_000, paid_at, first["id"]),
        ("E2", "PC03AA0000001", "2026-11", 210_000, paid_at, second["id"]),
    ]
    assert by_officer.status_code == 200
    assert by_officer.content == as_csv.content

    citizen = await next_day(clock, api, citizen, desk)
    third_day = await desk.settle("day-3")
    await invariants_hold(sessions)

    assert [(s["biller_id"], s["amount_vnd"], s["bill_count"]) for s in third_day.json()] == [(evn["id"], 99_000, 1)]


async def test_a_rejected_payout_returns_the_money_to_the_payable_and_the_next_days_run_pays_it(
    biller_desk: BillerDesk,
    api: Api,
    bank: Bank,
    bank_server: tuple[str, Bank],
    clock: FixedClock,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    services: Services,
) -> None:
    evn = await biller_desk.biller()
    (pushed,) = (await biller_desk.push(evn, bill("E1"))).json()["accepted"]
    citizen = await api.register()
    assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    await api.fund(citizen, 500_000)
    desk = await officer(api, sessions, settings, clock)
    await pay_ok(biller_desk, citizen, pushed["id"])
    citizen = await next_day(clock, api, citizen, desk)

    (job,) = [job for job in services.jobs if job.name == "biller settlement"]
    made = await services.settle_billers()  # the workers' job
    await services.outbox.drain()  # what the job wrote goes to the bank
    (first,) = made
    rejected = await bank_settles(api, bank_server[0], first.reference, "rejected", "AC04")
    await invariants_hold(sessions)
    back = await payable(sessions, evn["id"])
    same_day = await desk.settle("after-rejection")
    listed = await api.client.get(f"/billers/settlements?biller_id={evn['id']}", headers=desk.headers)

    assert first.reference in bank.payouts
    assert rejected.status_code == 200, rejected.text
    assert back == (150_000, 150_000)  # the money is back on the payable
    assert same_day.json() == []  # the day had its settlement; the next day's run pays it
    assert [(s["status"], s["reason_code"]) for s in listed.json()] == [("rejected", "AC04")]

    citizen = await next_day(clock, api, citizen, desk)
    retried = await desk.settle("next-day")
    await invariants_hold(sessions)
    (second,) = retried.json()
    confirmed = await bank_settles(api, bank_server[0], second["reference"], "confirmed")
    await invariants_hold(sessions)
    old_report = await api.client.get(
        f"/biller-api/settlements/{first.id}/report.csv", headers={"X-API-Key": evn["api_key"]}
    )
    new_report = await api.client.get(
        f"/biller-api/settlements/{second['id']}/report.csv", headers={"X-API-Key": evn["api_key"]}
    )

    assert job.every_seconds == settings.biller_settlement_interval_seconds
    assert (second["amount_vnd"], second["bill_count"], second["business_day"]) == (150_000, 1, "2026-11-25")
    assert second["reference"] != first.reference
    assert confirmed.status_code == 200, confirmed.text
    assert await payable(sessions, evn["id"]) == (0, 0)
    # The rejected settlement's report still says what it tried to pay; the new one pays the same bill.
    old_header, old_rows = parse_csv(old_report.content)
    new_header, new_rows = parse_csv(new_report.content)
    assert (old_header["status"], new_header["status"]) == ("rejected", "confirmed")
    assert [row["biller_bill_id"] for row in old_rows] == [row["biller_bill_id"] for row in new_rows] == ["E1"]


async def test_a_biller_sees_only_its_own_settlements_and_an_officer_sees_any(
    biller_desk: BillerDesk,
    api: Api,
    clock: FixedClock,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    evn = await biller_desk.biller()
    water = await biller_desk.biller("Cấp nước Huế", "water")
    (pushed,) = (await biller_desk.push(evn, bill("E1"))).json()["accepted"]
    citizen = await api.register()
    assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    await api.fund(citizen, 500_000)
    desk = await officer(api, sessions, settings, clock)
    await pay_ok(biller_desk, citizen, pushed["id"])
    citizen = await next_day(clock, api, citizen, desk)
    (made,) = (await desk.settle("one")).json()
    await invariants_hold(sessions)

    foreign = await api.client.get(
        f"/biller-api/settlements/{made['id']}/report.csv",
        headers={"X-API-Key": water["api_key"], "Accept-Language": "vi"},
    )
    foreign_xlsx = await api.client.get(
        f"/biller-api/settlements/{made['id']}/report.xlsx",
        headers={"X-API-Key": water["api_key"], "Accept-Language": "en"},
    )
    unknown = await api.client.get("/biller-api/settlements/999999/report.csv", headers={"X-API-Key": evn["api_key"]})
    others_list = await api.client.get("/biller-api/settlements", headers={"X-API-Key": water["api_key"]})
    as_citizen = await api.client.get(f"/billers/settlements/{made['id']}/report.csv", headers=citizen.headers)
    citizen_settles = await api.client.post(
        "/billers/settlements", headers={**citizen.headers, "Idempotency-Key": "citizen"}
    )
    by_officer = await api.client.get(f"/billers/settlements/{made['id']}/report.xlsx", headers=desk.headers)
    officer_unknown = await api.client.get("/billers/settlements/999999/report.xlsx", headers=desk.headers)

    assert foreign.status_code == 404
    assert foreign.headers["content-type"].startswith("application/problem+json")
    assert (foreign.json()["code"], foreign.json()["title"]) == (
        "settlement_not_found",
        "Không tìm thấy phiên quyết toán",
    )
    assert (foreign_xlsx.status_code, foreign_xlsx.json()["title"]) == (404, "Settlement not found")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "settlement_not_found")
    assert others_list.json() == []
    assert as_citizen.status_code == citizen_settles.status_code == 403
    assert by_officer.status_code == 200
    assert by_officer.content.startswith(b"PK")  # a zip: the XLSX container
    assert (officer_unknown.status_code, officer_unknown.json()["code"]) == (404, "settlement_not_found")


@pytest.mark.usefixtures("command_shell")
async def test_the_settle_command_pays_each_biller_once_a_day(
    biller_desk: BillerDesk,
    api: Api,
    bank: Bank,
    bank_server: tuple[str, Bank],
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CIVICPAY_BANK_API_BASE", bank_server[0])
    monkeypatch.setenv("CIVICPAY_BANK_API_SECRET", BANK_API_SECRET)
    evn = await biller_desk.biller()
    (pushed,) = (await biller_desk.push(evn, bill("E1", amount_vnd=64_000))).json()["accepted"]
    citizen = await api.register()
    assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    await api.fund(citizen, 100_000)
    await pay_ok(biller_desk, citizen, pushed["id"])
    # The command reads the system clock: the payment, made at the test's clock, is days before its cut-off.

    # On a terminal (rich believes TTY_COMPATIBLE) and not under CI, as the other commands it shows a bar.
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.delenv("CI", raising=False)
    bar = ""

    async def run() -> tuple[int, str]:
        nonlocal bar
        with pytest.raises(SystemExit) as ended:
            await asyncio.to_thread(main, ["billing", "settle"])
        said = capsys.readouterr()
        bar = bar or said.err
        return int(ended.value.code or 0), said.out

    status, out = await run()
    again_status, again = await run()

    assert (status, again_status) == (0, 0)
    assert "settling billers" in bar
    assert "1/1" in bar  # the one biller, counted
    (payout,) = bank.payouts.values()
    assert payout.amount_vnd == 64_000
    assert f"biller {evn['id']}: {payout.payout_id} of 64000 ₫ for 1 bill(s)" in out
    assert "1 biller payout(s) queued" in out
    assert "0 biller payout(s) queued" in again


async def test_one_billers_failed_settlement_leaves_the_others_paid(
    biller_desk: BillerDesk,
    api: Api,
    clock: FixedClock,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    services: Services,
) -> None:
    evn = await biller_desk.biller()
    water = await biller_desk.biller("Cấp nước Huế", "water")
    (e1,) = (await biller_desk.push(evn, bill("E1"))).json()["accepted"]
    (w1,) = (await biller_desk.push(water, bill("W1", code="HUE-0001", amount_vnd=80_000))).json()["accepted"]
    citizen = await api.register()
    assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    assert (await biller_desk.link(citizen, water, "HUE-0001")).status_code == 201
    await api.fund(citizen, 500_000)
    await pay_ok(biller_desk, citizen, e1["id"], w1["id"])
    async with sessions.begin() as session:  # the electricity company's payable short of its bills, somehow
        biller = await session.get(Biller, evn["id"])
        assert biller is not None
        pool = await wallet_pool_account(session, settings, clock.now())
        short = ledger.TransferSpec(biller.account_id, pool, 1_000, Category.INTERNAL, "TEST")
        await ledger.post_entry(session, [short], now=clock.now(), description="test: a payable short")
    clock.advance(timedelta(days=1))

    made = await services.settle_billers()
    await invariants_hold(sessions)

    assert [(s.biller_id, s.amount_vnd) for s in made] == [(water["id"], 80_000)]
    assert await payable(sessions, evn["id"]) == (149_000, 149_000)  # nothing held, nothing lost
