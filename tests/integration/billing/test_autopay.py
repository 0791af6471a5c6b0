"""Auto-pay on the due date within a monthly ceiling, reminders before it, and the inbox that tells the citizen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.models import AutopayAttempt, Bill, BillPaymentItem
from civicpay.bootstrap import Services
from civicpay.clock import FixedClock
from civicpay.errors import Text
from civicpay.notifications import notify
from tests.billers import BillerDesk, bill
from tests.conftest import Api, Citizen, signed_in
from wallet import ledger

# Business-day edges in Huế (UTC+7): the last minute of 14 December and the first of the 15th, the due date.
EVE_OF_DUE = datetime(2026, 12, 14, 16, 59, tzinfo=UTC)
DUE_DAY = datetime(2026, 12, 14, 17, 0, tzinfo=UTC)
CODE = "PC03AA0000001"


async def sound(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        assert await ledger.check_invariants(session) == []


async def linked(biller_desk: BillerDesk, citizen: Citizen, biller: dict[str, Any], code: str = CODE) -> int:
    made = await biller_desk.link(citizen, biller, code)
    assert made.status_code == 201, made.text
    link_id: int = made.json()["id"]
    return link_id


async def autopay(api: Api, citizen: Citizen, link_id: int, ceiling: int) -> dict[str, Any]:
    answer = await api.client.put(
        f"/bill-links/{link_id}/autopay", json={"monthly_ceiling_vnd": ceiling}, headers=citizen.headers
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def inbox(api: Api, citizen: Citizen, **params: Any) -> dict[str, Any]:
    # The clock moved weeks on: the morning's access token has expired, so sign in again as the app would.
    citizen.headers = await signed_in(api, citizen.phone)
    answer = await api.client.get("/notifications", headers=citizen.headers, params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def outcomes(services: Services) -> list[tuple[str, str | None]]:
    return [(result.outcome.value, result.reason) for result in await services.pay_due_bills()]


async def bill_ids(pushed: Any) -> list[int]:
    return [line["id"] for line in pushed.json()["accepted"]]


async def test_a_bill_is_paid_on_its_due_date_once_and_the_citizen_is_told(
    biller_desk: BillerDesk,
    api: Api,
    services: Services,
    clock: FixedClock,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    evn = await biller_desk.biller()
    citizen = await api.register()
    (e1,) = await bill_ids(await biller_desk.push(evn, bill("E1", amount_vnd=150_000)))
    link_id = await linked(biller_desk, citizen, evn)
    await api.fund(citizen, 500_000)

    turned_on = await autopay(api, citizen, link_id, 300_000)
    listed = (await api.client.get("/bill-links", headers=citizen.headers)).json()
    before = await outcomes(services)
    clock.current = EVE_OF_DUE
    on_the_eve = await outcomes(services)
    clock.current = DUE_DAY
    on_the_day = await outcomes(services)
    again = await outcomes(services)
    messages = await inbox(api, citizen)

    assert turned_on["autopay"] == {
        "monthly_ceiling_vnd": 300_000,
        "monthly_ceiling_display": "300.000 ₫",
        "active_from": "2026-11-23",
    }
    assert listed[0]["autopay"] == turned_on["autopay"]
    assert (before, on_the_eve) == ([], [])
    assert on_the_day == [("paid", None)]
    assert again == []
    assert await api.balance(citizen) == 350_000
    async with sessions() as session:
        assert await session.scalar(select(Bill.status).where(Bill.id == e1)) == "paid"
        assert await session.scalar(select(func.count()).select_from(BillPaymentItem)) == 1
    assert messages["unread_count"] == 1
    (paid,) = messages["items"]
    assert paid["kind"] == "bill_autopay_paid"
    assert paid["params"]["bill_id"] == e1
    assert paid["title"] == {"vi": "Đã tự động thanh toán hóa đơn", "en": "Bill paid automatically"}
    assert "150.000 ₫" in paid["body"]["vi"]
    assert "paid from your wallet" in paid["body"]["en"]
    await sound(sessions)


async def test_over_the_monthly_ceiling_the_bill_is_not_paid_and_the_failure_is_told_once(
    biller_desk: BillerDesk,
    api: Api,
    services: Services,
    clock: FixedClock,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    evn = await biller_desk.biller()
    citizen = await api.register()
    first, second = await bill_ids(
        await biller_desk.push(evn, bill("E1", amount_vnd=150_000), bill("E2", amount_vnd=100_000))
    )
    await autopay(api, citizen, await linked(biller_desk, citizen, evn), 200_000)
    await api.fund(citizen, 1_000_000)

    clock.current = DUE_DAY
    on_the_day = await outcomes(services)
    later_that_day = await outcomes(services)
    messages = await inbox(api, citizen)

    # The first fits under the ceiling; the second would take the month's auto-payments to 250.000 ₫.
    assert on_the_day == [("paid", None), ("failed", "autopay_ceiling_exceeded")]
    assert later_that_day == []
    assert await api.balance(citizen) == 850_000
    async with sessions() as session:
        assert await session.scalar(select(Bill.status).where(Bill.id == second)) == "open"
        assert await session.scalar(select(Bill.status).where(Bill.id == first)) == "paid"
    assert [item["kind"] for item in messages["items"]] == ["bill_autopay_failed", "bill_autopay_paid"]
    failed = messages["items"][0]
    assert failed["params"]["reason"] == "autopay_ceiling_exceeded"
    assert "200.000 ₫" in failed["body"]["vi"]
    assert "over the auto-pay ceiling" in failed["body"]["en"]
    await sound(sessions)


async def test_without_the_funds_or_needing_an_otp_nothing_is_paid_and_each_failure_is_told_once(
    biller_desk: BillerDesk,
    api: Api,
    services: Services,
    clock: FixedClock,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    evn = await biller_desk.biller()
    water = await biller_desk.biller("Cấp nước Huế", "water")
    citizen = await api.register()
    (small,) = await bill_ids(await biller_desk.push(evn, bill("E1", amount_vnd=150_000)))
    # Above 10.000.000 ₫ a payment needs step-up (Decision 2345), which no one is there to give.
    (large,) = await bill_ids(
        await biller_desk.push(water, bill("W1", code="HUE-0001", amount_vnd=10_500_000, due_date="2026-12-16"))
    )
    await autopay(api, citizen, await linked(biller_desk, citizen, evn), 50_000_000)
    await autopay(api, citizen, await linked(biller_desk, citizen, water, "HUE-0001"), 50_000_000)
    await api.fund(citizen, 100_000)
    clock.current = DUE_DAY
    poor = await outcomes(services)
    await api.fund(citizen, 20_000_000)  # a top-up later does not make auto-pay try the first again
    clock.current = DUE_DAY + timedelta(days=1)
    needs_otp = await outcomes(services)
    again = await outcomes(services)
    messages = await inbox(api, citizen)

    assert poor == [("failed", "insufficient_funds")]
    assert needs_otp == [("failed", "step_up_required")]
    assert again == []
    assert await api.balance(citizen) == 20_100_000
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(BillPaymentItem)) == 0
        assert list(await session.scalars(select(Bill.status).where(Bill.id.in_([small, large])))) == ["open"] * 2
    assert sorted(item["params"]["reason"] for item in messages["items"]) == ["insufficient_funds", "step_up_required"]
    assert {item["kind"] for item in messages["items"]} == {"bill_autopay_failed"}
    assert any("Insufficient available balance" in item["body"]["en"] for item in messages["items"])
    await sound(sessions)


async def test_a_household_with_auto_pay_on_one_code_pays_the_bill_once_and_only_the_payer_is_told(
    biller_desk: BillerDesk,
    api: Api,
    services: Services,
    clock: FixedClock,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    evn = await biller_desk.biller()
    an, also_an = await api.register(), await api.register(full_name="nguyễn văn an")
    await biller_desk.push(evn, bill("E1", amount_vnd=150_000))
    for citizen in (an, also_an):
        await autopay(api, citizen, await linked(biller_desk, citizen, evn), 500_000)
        await api.fund(citizen, 500_000)

    clock.current = DUE_DAY
    on_the_day = await outcomes(services)
    payers_box, others_box = await inbox(api, an), await inbox(api, also_an)

    assert on_the_day == [("paid", None), ("skipped", "bill_paid")]
    assert await api.balance(an) + await api.balance(also_an) == 850_000
    assert [item["kind"] for item in payers_box["items"]] == ["bill_autopay_paid"]
    assert others_box["items"] == []
    await sound(sessions)


async def test_bills_overdue_when_turning_on_are_left_and_turning_off_stops_it(
    biller_desk: BillerDesk,
    api: Api,
    services: Services,
    clock: FixedClock,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    evn = await biller_desk.biller()
    citizen = await api.register()
    stranger = await api.register(full_name="Trần Thị Bình")
    await biller_desk.push(evn, bill("OLD", due_date="2026-11-20"), bill("NEW"))
    link_id = await linked(biller_desk, citizen, evn)
    await api.fund(citizen, 500_000)
    foreign = await api.client.put(
        f"/bill-links/{link_id}/autopay", json={"monthly_ceiling_vnd": 1}, headers=stranger.headers
    )
    zero = await api.client.put(
        f"/bill-links/{link_id}/autopay", json={"monthly_ceiling_vnd": 0}, headers=citizen.headers
    )
    await autopay(api, citizen, link_id, 500_000)

    overdue_left = await outcomes(services)
    off = await api.client.delete(f"/bill-links/{link_id}/autopay", headers=citizen.headers)
    clock.current = DUE_DAY
    after_off = await outcomes(services)
    citizen.headers = await signed_in(api, citizen.phone)  # the morning's token has expired by the due date

    assert (foreign.status_code, foreign.json()["code"]) == (404, "bill_link_not_found")
    assert zero.status_code == 400, zero.text
    assert overdue_left == []
    assert (off.status_code, off.json()["autopay"]) == (200, None)
    assert after_off == []
    assert await api.balance(citizen) == 500_000
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(AutopayAttempt)) == 0
    await sound(sessions)


async def test_reminders_arrive_n_days_before_once_per_citizen_and_each_reads_only_their_own(
    biller_desk: BillerDesk, api: Api, services: Services, clock: FixedClock
) -> None:
    evn = await biller_desk.biller()
    an, also_an = await api.register(), await api.register(full_name="NGUYEN VAN AN")
    stranger = await api.register(full_name="Trần Thị Bình")
    (e1, _) = await bill_ids(await biller_desk.push(evn, bill("E1"), bill("E2", due_date="2026-12-31")))
    for citizen in (an, also_an):
        await linked(biller_desk, citizen, evn)

    clock.current = datetime(2026, 12, 11, 3, 0, tzinfo=UTC)  # four days before 15 December, in Huế
    four_days_before = await services.remind_of_bills()
    clock.current = datetime(2026, 12, 12, 3, 0, tzinfo=UTC)
    three_days_before = await services.remind_of_bills()
    again = await services.remind_of_bills()
    clock.current = datetime(2026, 12, 14, 3, 0, tzinfo=UTC)
    next_day = await services.remind_of_bills()
    mine = await inbox(api, an)
    theirs = await inbox(api, also_an)
    nothing = await inbox(api, stranger)
    read_foreign = await api.client.post(f"/notifications/{theirs['items'][0]['id']}/read", headers=an.headers)
    read = await api.client.post(f"/notifications/{mine['items'][0]['id']}/read", headers=an.headers)
    after_read = await inbox(api, an)
    as_biller = await api.client.get("/notifications", headers={"X-API-Key": evn["api_key"]})

    assert (four_days_before, three_days_before, again, next_day) == (0, 2, 0, 0)
    for box in (mine, theirs):
        (reminder,) = box["items"]
        assert reminder["kind"] == "bill_due_soon"
        assert reminder["params"]["bill_id"] == e1
        assert reminder["title"] == {"vi": "Hóa đơn sắp đến hạn thanh toán", "en": "A bill is due soon"}
        assert "15/12/2026" in reminder["body"]["vi"]
        assert box["unread_count"] == 1
    assert mine["items"][0]["id"] != theirs["items"][0]["id"]
    assert nothing == {"items": [], "unread_count": 0, "next_cursor": None}
    assert (read_foreign.status_code, read_foreign.json()["code"]) == (404, "notification_not_found")
    assert (read.status_code, read.json()["read"]) == (200, True)
    assert after_read["unread_count"] == 0
    assert as_biller.status_code == 403  # a machine's key has no inbox


async def test_the_inbox_pages_newest_first_and_reads_all_at_once(
    api: Api, services: Services, clock: FixedClock
) -> None:
    citizen = await api.register()
    async with services.units() as unit:
        for number in range(3):
            await notify(
                unit.session,
                citizen.user_id,
                kind="test",
                title=Text(f"Tin {number}", f"Message {number}"),
                body=Text("nội dung", "body"),
                now=clock.now(),
            )
        once = await notify(
            unit.session,
            citizen.user_id,
            kind="test",
            title=Text("a", "a"),
            body=Text("b", "b"),
            key="k",
            now=clock.now(),
        )
        twice = await notify(
            unit.session,
            citizen.user_id,
            kind="test",
            title=Text("a", "a"),
            body=Text("b", "b"),
            key="k",
            now=clock.now(),
        )

    first = await inbox(api, citizen, limit=2)
    second = await inbox(api, citizen, limit=2, cursor=first["next_cursor"])
    bad = await api.client.get("/notifications", params={"cursor": "nonsense"}, headers=citizen.headers)
    marked = await api.client.post("/notifications/read-all", headers=citizen.headers)
    after = await inbox(api, citizen)

    assert (once, twice) == (True, False)
    assert [item["title"]["en"] for item in first["items"]] == ["a", "Message 2"]
    assert [item["title"]["en"] for item in second["items"]] == ["Message 1", "Message 0"]
    assert second["next_cursor"] is None
    assert first["unread_count"] == 4
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_failed")
    assert (marked.status_code, marked.json()) == (200, {"marked": 4})
    assert after["unread_count"] == 0
