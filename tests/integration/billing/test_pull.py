"""Bills pulled from billers that answer look-ups: the fake billers (sandbox/billers.py) over a real socket.

A pulled bill is stored and paid like a pushed one; a slow biller is cut off at the deadline and named
stale while the others' bills are served; a dead one opens its circuit, is left alone while it is
open, and is asked again after the cool-down (the app's clock is moved, nothing sleeps).
"""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.models import Bill, BillRevision
from civicpay.clock import FixedClock
from tests.billers import BillerDesk, FakeBillersServer, bill
from tests.conftest import Api, Citizen

HUONG = "Nguyễn Thị Hương"
POWER_CODE, WATER_CODE = "PQ0400123456", "HUEWACO-10234"
COOLDOWN_SECONDS = 30
# A slow biller holds its answer far longer than a look-up waits for it.
SLOW_SECONDS = 30.0


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "billing_pull_timeout_seconds": 0.5,
        "billing_pull_deadline_seconds": 1.0,
        "billing_pull_retries": 1,
        "billing_pull_backoff_seconds": 0.01,
        "billing_pull_breaker_failures": 3,
        "billing_pull_breaker_cooldown_seconds": COOLDOWN_SECONDS,
    }


async def back_office(fake: FakeBillersServer, slug: str, path: str, body: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=fake.url, trust_env=False) as http:
        answer = await http.post(f"/{slug}/back-office/{path}", json=body)
    assert answer.is_success, answer.text


async def my_bills(api: Api, citizen: Citizen) -> dict[str, Any]:
    answer = await api.client.get("/bills", headers=citizen.headers)
    assert answer.status_code == 200, answer.text
    mine: dict[str, Any] = answer.json()
    return mine


def by_biller_bill_id(mine: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        line["biller_bill_id"]: line
        for group in mine["billers"]
        for on_date in group["due_dates"]
        for line in on_date["bills"]
    }


def stale(mine: dict[str, Any]) -> list[tuple[int, str]]:
    return [(line["biller_id"], line["reason"]) for line in mine["stale_billers"]]


async def power_and_water(desk: BillerDesk, api: Api, fake: FakeBillersServer) -> tuple[Citizen, int, int]:
    """Hương, with her codes at the electricity and the water company linked: both answer look-ups."""
    power = await desk.biller("Điện lực Thừa Thiên Huế", "electricity", fake.lookup_url("electricity"))
    water = await desk.biller("Cấp nước Thừa Thiên Huế", "water", fake.lookup_url("water"))
    citizen = await api.register(full_name=HUONG)
    for biller, code in ((power, POWER_CODE), (water, WATER_CODE)):
        linked = await desk.link(citizen, biller, code)
        assert linked.status_code == 201, linked.text
    return citizen, power["id"], water["id"]


async def test_pulled_bills_are_listed_with_the_pushed_ones_and_paid_like_them(
    biller_desk: BillerDesk, api: Api, fake_billers: FakeBillersServer
) -> None:
    citizen, power_id, water_id = await power_and_water(biller_desk, api, fake_billers)
    # A bill the water company issues later is there the next time she looks.
    december = {
        "bill_id": "HW-2026-12-10234",
        "customer_code": WATER_CODE,
        "customer_name": HUONG,
        "period": "2026-12",
        "amount_vnd": 98_000,
        "due_date": "2027-01-15",
        "lines": [{"description": "Nước sạch sinh hoạt", "amount_vnd": 98_000, "quantity": "8 m³"}],
    }
    await back_office(fake_billers, "water", "bills", december)
    await api.fund(citizen, 2_000_000)

    mine = await my_bills(api, citizen)
    bills = by_biller_bill_id(mine)
    detail = await api.client.get(f"/bills/{bills['HW-2026-11-10234']['id']}", headers=citizen.headers)
    paid = await biller_desk.pay(citizen, bills["EVN-2026-11-0001"]["id"], bills["HW-2026-11-10234"]["id"])
    # The companies still list both until they hear of the payment: they stay paid here.
    after = await my_bills(api, citizen)

    assert mine["stale_billers"] == []
    assert set(bills) == {"EVN-2026-11-0001", "HW-2026-11-10234", "HW-2026-12-10234"}
    assert (bills["EVN-2026-11-0001"]["biller_id"], bills["EVN-2026-11-0001"]["amount_vnd"]) == (power_id, 412_350)
    assert (bills["HW-2026-11-10234"]["biller_id"], bills["HW-2026-11-10234"]["amount_vnd"]) == (water_id, 171_600)
    assert mine["total_vnd"] == 412_350 + 171_600 + 98_000
    # Asked when the code was linked and again for the list, it answered the same: still the first version.
    assert detail.json()["version"] == 1
    assert detail.json()["lines"] == [
        {"description": "Nước sạch sinh hoạt", "amount_vnd": 156_000, "quantity": "13 m³"},
        {"description": "Phí bảo vệ môi trường", "amount_vnd": 15_600, "quantity": None},
    ]
    assert paid.status_code == 201, paid.text
    assert paid.json()["amount_vnd"] == 412_350 + 171_600
    assert set(by_biller_bill_id(after)) == {"HW-2026-12-10234"}
    assert after["stale_billers"] == []
    assert await api.balance(citizen) == 2_000_000 - 412_350 - 171_600


async def test_a_code_the_biller_does_not_have_or_under_another_name_is_not_linked(
    biller_desk: BillerDesk, api: Api, fake_billers: FakeBillersServer
) -> None:
    power = await biller_desk.biller("Điện lực Thừa Thiên Huế", "electricity", fake_billers.lookup_url("electricity"))
    citizen = await api.register(full_name=HUONG)

    unknown = await biller_desk.link(citizen, power, "PQ0499999999")
    someone_elses = await biller_desk.link(citizen, power, "PQ0400234567")  # Trần Văn Minh's

    assert (unknown.status_code, unknown.json()["code"]) == (422, "customer_code_unknown")
    assert (someone_elses.status_code, someone_elses.json()["code"]) == (422, "customer_name_mismatch")


async def test_a_slow_biller_is_cut_off_and_named_stale_while_the_others_bills_are_served(
    biller_desk: BillerDesk, api: Api, fake_billers: FakeBillersServer
) -> None:
    citizen, _power_id, water_id = await power_and_water(biller_desk, api, fake_billers)
    await back_office(fake_billers, "water", "mode", {"mode": "slow", "delay_seconds": SLOW_SECONDS})
    new_power_bill = {
        "bill_id": "EVN-2026-12-0001",
        "customer_code": POWER_CODE,
        "customer_name": HUONG,
        "period": "2026-12",
        "amount_vnd": 380_000,
        "due_date": "2027-01-15",
    }
    await back_office(fake_billers, "electricity", "bills", new_power_bill)

    started = time.monotonic()
    mine = await my_bills(api, citizen)
    took = time.monotonic() - started

    assert stale(mine) == [(water_id, "timeout")]
    assert mine["stale_billers"][0]["biller_name"] == "Cấp nước Thừa Thiên Huế"
    assert mine["stale_billers"][0]["reason_label"].startswith("Đơn vị thu chưa phản hồi kịp")
    # The electricity company was asked too (its new bill is there), and the water company's bill is
    # served as it was stored when the code was linked.
    assert set(by_biller_bill_id(mine)) == {"EVN-2026-11-0001", "EVN-2026-12-0001", "HW-2026-11-10234"}
    # Well within the slow biller's delay: cut off at the try's timeout (0.5 s), whatever the machine's load.
    assert took < SLOW_SECONDS / 3


async def test_a_dead_biller_opens_its_circuit_is_not_asked_while_open_and_is_asked_again_after_the_cool_down(
    biller_desk: BillerDesk, api: Api, fake_billers: FakeBillersServer, clock: FixedClock
) -> None:
    citizen, _, water_id = await power_and_water(biller_desk, api, fake_billers)
    water = fake_billers.company("water")
    await back_office(fake_billers, "water", "mode", {"mode": "down"})
    asked_before = water.lookups

    failing = [stale(await my_bills(api, citizen)) for _ in range(3)]
    asked_while_failing = water.lookups - asked_before
    open_circuit = await my_bills(api, citizen)
    asked_while_open = water.lookups - asked_before
    clock.advance(timedelta(seconds=COOLDOWN_SECONDS - 1))
    still_open = stale(await my_bills(api, citizen))
    clock.advance(timedelta(seconds=1))
    failed_trial = stale(await my_bills(api, citizen))  # half-open: one trial, and the biller is still down
    after_trial = water.lookups - asked_before
    reopened = stale(await my_bills(api, citizen))
    clock.advance(timedelta(seconds=COOLDOWN_SECONDS))
    await back_office(fake_billers, "water", "mode", {"mode": "ok"})
    recovered = await my_bills(api, citizen)
    closed_again = await my_bills(api, citizen)

    assert failing == [[(water_id, "unavailable")]] * 3
    assert asked_while_failing == 3 * 2, "each look-up of a 503 is tried once more"
    assert stale(open_circuit) == [(water_id, "circuit_open")]
    assert asked_while_open == asked_while_failing, "not asked while the circuit is open"
    # Its stored bill is still served, and the electricity company's.
    assert set(by_biller_bill_id(open_circuit)) == {"EVN-2026-11-0001", "HW-2026-11-10234"}
    assert still_open == [(water_id, "circuit_open")]
    assert failed_trial == [(water_id, "unavailable")]
    assert after_trial == asked_while_failing + 2
    assert reopened == [(water_id, "circuit_open")]
    assert recovered["stale_billers"] == []
    assert closed_again["stale_billers"] == []
    assert water.lookups - asked_before == after_trial + 2, "closed again: asked on every look"


def closed_port() -> int:
    """A port nothing listens on: bound, then let go."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_an_unreachable_biller_is_unavailable_and_its_pushed_bills_are_still_served(
    biller_desk: BillerDesk, api: Api, fake_billers: FakeBillersServer
) -> None:
    nowhere = f"http://127.0.0.1:{closed_port()}/customers/{{customer_code}}/bills"
    school = await biller_desk.biller("Trường THCS Nguyễn Tri Phương", "tuition", nowhere)
    power = await biller_desk.biller("Điện lực Thừa Thiên Huế", "electricity", fake_billers.lookup_url("electricity"))
    pushed = await biller_desk.push(school, bill("HP-12", code="HS-2026-0417", customer_name=HUONG))
    citizen = await api.register(full_name=HUONG)
    for biller, code in ((school, "HS-2026-0417"), (power, POWER_CODE)):
        linked = await biller_desk.link(citizen, biller, code)
        assert linked.status_code == 201, linked.text

    mine = await my_bills(api, citizen)

    assert pushed.status_code == 200, pushed.text
    assert stale(mine) == [(school["id"], "unavailable")]
    assert set(by_biller_bill_id(mine)) == {"HP-12", "EVN-2026-11-0001"}


async def test_a_household_looking_at_once_gets_one_row_per_new_bill(
    biller_desk: BillerDesk, api: Api, fake_billers: FakeBillersServer, sessions: async_sessionmaker[AsyncSession]
) -> None:
    power = await biller_desk.biller("Điện lực Thừa Thiên Huế", "electricity", fake_billers.lookup_url("electricity"))
    household = [await api.register(full_name=HUONG) for _ in range(3)]
    for citizen in household:
        linked = await biller_desk.link(citizen, power, POWER_CODE)
        assert linked.status_code == 201, linked.text
    december = {
        "bill_id": "EVN-2026-12-0001",
        "customer_code": POWER_CODE,
        "customer_name": HUONG,
        "period": "2026-12",
        "amount_vnd": 380_000,
        "due_date": "2027-01-15",
    }
    await back_office(fake_billers, "electricity", "bills", december)

    # Each pulls the new bill and writes it: the push's lock on the biller lets one create it.
    seen = await asyncio.gather(*(my_bills(api, citizen) for citizen in household))

    ids = {by_biller_bill_id(mine)["EVN-2026-12-0001"]["id"] for mine in seen}
    assert len(ids) == 1
    async with sessions() as session:
        rows = await session.scalar(
            select(func.count())
            .select_from(Bill)
            .where(Bill.biller_id == power["id"], Bill.external_id == "EVN-2026-12-0001")
        )
        versions = await session.scalar(
            select(func.count()).select_from(BillRevision).where(BillRevision.bill_id == ids.pop())
        )
    assert (rows, versions) == (1, 1)
