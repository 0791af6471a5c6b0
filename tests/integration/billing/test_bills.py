"""Bills: billers push them, citizens link their customer codes, see them in one list and pay several at once."""

from __future__ import annotations

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from billing.models import Biller, BillPayment, BillPaymentItem, BillRevision
from tests.billers import BillerDesk, bill
from tests.conftest import Api, Citizen
from wallet import ledger


async def revisions(sessions: async_sessionmaker[AsyncSession], bill_id: int) -> list[tuple[int, int, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(BillRevision.version, BillRevision.amount_vnd, BillRevision.status)
            .where(BillRevision.bill_id == bill_id)
            .order_by(BillRevision.version)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_a_push_is_idempotent_keeps_amendments_and_cancellations_and_refuses_a_paid_bill_alone(
    biller_desk: BillerDesk, api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    evn = await biller_desk.biller()
    first = await biller_desk.push(evn, bill("B1"), bill("B2"), bill("B3"))
    again = await biller_desk.push(evn, bill("B1"), bill("B2"), bill("B3"))
    citizen = await api.register(full_name="Nguyễn Văn An")
    assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    await api.fund(citizen, 500_000)
    ids = {line["bill_id"]: line["id"] for line in first.json()["accepted"]}
    paid = await biller_desk.pay(citizen, ids["B3"])
    changed = await biller_desk.push(
        evn,
        bill("B1", amount_vnd=175_000, due_date="2026-12-20"),
        bill("B2", status="cancelled"),
        bill("B3", amount_vnd=1_000),
        bill("B4"),
        bill("B9", status="cancelled"),
    )
    after_cancel = await biller_desk.push(evn, bill("B2"))
    twice_in_one = await biller_desk.push(evn, bill("B5"), bill("B5", amount_vnd=160_000))

    assert first.status_code == 200, first.text
    assert [line["outcome"] for line in first.json()["accepted"]] == ["created"] * 3
    assert again.json() == {
        "accepted": [{**line, "outcome": "unchanged"} for line in first.json()["accepted"]],
        "refused": [],
    }
    assert paid.status_code == 201, paid.text
    assert [(line["bill_id"], line["outcome"], line["version"]) for line in changed.json()["accepted"]] == [
        ("B1", "amended", 2),
        ("B2", "cancelled", 2),
        ("B4", "created", 1),
    ]
    assert [(line["bill_id"], line["code"]) for line in changed.json()["refused"]] == [
        ("B3", "bill_already_paid"),
        ("B9", "bill_not_found"),
    ]
    assert [(line["bill_id"], line["code"]) for line in after_cancel.json()["refused"]] == [("B2", "bill_cancelled")]
    assert await revisions(sessions, ids["B1"]) == [(1, 150_000, "open"), (2, 175_000, "open")]
    assert await revisions(sessions, ids["B2"]) == [(1, 150_000, "open"), (2, 150_000, "cancelled")]
    assert await revisions(sessions, ids["B3"]) == [(1, 150_000, "open")]
    assert [(line["outcome"], line["version"]) for line in twice_in_one.json()["accepted"]] == [
        ("created", 1),
        ("amended", 2),
    ]
    b5 = twice_in_one.json()["accepted"][0]["id"]
    assert await revisions(sessions, b5) == [(1, 150_000, "open"), (2, 160_000, "open")]
    mine = (await api.client.get("/bills", headers=citizen.headers)).json()
    assert [b["biller_bill_id"] for g in mine["billers"][0]["due_dates"] for b in g["bills"]] == ["B4", "B5", "B1"]
    assert mine["total_vnd"] == 485_000


async def test_a_push_needs_a_billers_key_and_refuses_a_malformed_bill(biller_desk: BillerDesk, api: Api) -> None:
    evn = await biller_desk.biller()
    citizen = await api.register()
    as_citizen = await api.client.post("/biller-api/bills", json={"bills": [bill("B1")]}, headers=citizen.headers)
    zero = await biller_desk.push(evn, bill("B1"), bill("B2", amount_vnd=0))
    text_amount = await biller_desk.push(evn, bill("B1", amount_vnd="150000"))

    assert as_citizen.status_code == 403
    assert zero.status_code == 400, zero.text
    assert "bills[1].amount_vnd" in zero.text or "bills.1.amount_vnd" in zero.text
    assert text_amount.status_code == 400


async def test_a_citizen_finds_the_billers_to_link_at_with_what_each_calls_its_customer_code(
    biller_desk: BillerDesk, api: Api
) -> None:
    water = await biller_desk.biller("Cấp nước Huế", "water")
    school = await biller_desk.biller("Trường THCS Nguyễn Tri Phương", "tuition")
    citizen = await api.register()

    listed = await api.client.get("/billers/directory", headers=citizen.headers)
    admin_only = await api.client.get("/billers", headers=citizen.headers)

    assert listed.status_code == 200, listed.text
    by_id = {biller["id"]: biller for biller in listed.json()}
    assert by_id[water["id"]]["category_label"] == "Tiền nước"
    assert by_id[school["id"]]["code_label"] == "Mã học sinh"
    assert set(by_id[school["id"]]) == {"id", "name", "category", "category_label", "code_label"}
    assert admin_only.status_code == 403


async def test_a_link_needs_the_name_on_the_bills_diacritics_and_case_aside_and_a_household_shares_a_code(
    biller_desk: BillerDesk, api: Api
) -> None:
    water = await biller_desk.biller("Cấp nước Huế", "water")
    await biller_desk.push(water, bill("W1", code="HUE-0001", customer_name="NGUYEN VAN AN"))
    an = await api.register(full_name="Nguyễn Văn An")
    also_an = await api.register(full_name="nguyễn văn  an")
    binh = await api.register(full_name="Trần Thị Bình")

    linked = await biller_desk.link(an, water, "HUE-0001")
    household = await biller_desk.link(also_an, water, "HUE-0001")
    twice = await biller_desk.link(an, water, "HUE-0001")
    stranger = await biller_desk.link(binh, water, "HUE-0001")
    unknown = await biller_desk.link(an, water, "HUE-9999")
    no_biller = await api.client.post(
        "/bill-links", json={"biller_id": 999_999, "customer_code": "HUE-0001"}, headers=an.headers
    )
    listed = await api.client.get("/bill-links", headers=an.headers)
    foreign_delete = await api.client.delete(f"/bill-links/{linked.json()['id']}", headers=binh.headers)
    unlinked = await api.client.delete(f"/bill-links/{linked.json()['id']}", headers=an.headers)
    bills_after = (await api.client.get("/bills", headers=an.headers)).json()
    household_bills = (await api.client.get("/bills", headers=also_an.headers)).json()

    assert linked.status_code == 201, linked.text
    assert linked.json()["customer_name"] == "NGUYEN VAN AN"
    assert household.status_code == 201, household.text
    assert (twice.status_code, twice.json()["code"]) == (409, "bill_link_exists")
    assert (stranger.status_code, stranger.json()["code"]) == (422, "customer_name_mismatch")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "customer_code_unknown")
    assert (no_biller.status_code, no_biller.json()["code"]) == (404, "biller_not_found")
    assert [link["customer_code"] for link in listed.json()] == ["HUE-0001"]
    assert foreign_delete.status_code == 404
    assert unlinked.status_code == 204
    assert bills_after["billers"] == []
    assert household_bills["bill_count"] == 1


async def test_my_bills_are_grouped_by_biller_and_due_date_with_totals_and_overdue_flags(
    biller_desk: BillerDesk, api: Api
) -> None:
    evn = await biller_desk.biller()
    school = await biller_desk.biller("Trường THPT Quốc Học Huế", "tuition")
    citizen = await api.register()
    other = await api.register(full_name="Lê Thị Cúc")
    await biller_desk.push(
        evn,
        bill("E1", amount_vnd=100_000, due_date="2026-11-20", lines=[{"description": "Bậc 1", "amount_vnd": 100_000}]),
        bill("E2", amount_vnd=200_000, due_date="2026-12-15"),
        bill("E3", amount_vnd=300_000, due_date="2026-12-15"),
        bill("X1", code="PC03AA0000002", customer_name="Le Thi Cuc"),
    )
    await biller_desk.push(school, bill("T1", code="HS-42", amount_vnd=1_500_000, due_date="2026-11-23"))
    for biller, code in ((evn, "PC03AA0000001"), (school, "HS-42")):
        assert (await biller_desk.link(citizen, biller, code)).status_code == 201
    assert (await biller_desk.link(other, evn, "PC03AA0000002")).status_code == 201

    mine = await api.client.get("/bills", headers=citizen.headers)
    body = mine.json()
    first_id = body["billers"][0]["due_dates"][0]["bills"][0]["id"]
    one = await api.client.get(f"/bills/{first_id}", headers=citizen.headers)
    not_yours = await api.client.get(f"/bills/{first_id}", headers=other.headers)
    missing = await api.client.get("/bills/999999", headers=other.headers)

    assert mine.status_code == 200, mine.text
    assert (body["total_vnd"], body["total_display"], body["overdue_vnd"], body["bill_count"]) == (
        2_100_000,
        "2.100.000 ₫",
        100_000,
        4,
    )
    electricity, tuition = body["billers"]
    assert (electricity["biller_id"], electricity["category_label"], electricity["total_vnd"]) == (
        evn["id"],
        "Tiền điện",
        600_000,
    )
    assert [(g["due_date"], g["overdue"], g["total_vnd"], len(g["bills"])) for g in electricity["due_dates"]] == [
        ("2026-11-20", True, 100_000, 1),
        ("2026-12-15", False, 500_000, 2),
    ]
    assert electricity["due_dates"][0]["label"] == "Quá hạn từ 20/11/2026"
    assert electricity["due_dates"][0]["bills"][0]["status_label"] == "Quá hạn"
    # Due today in Huế is not overdue yet.
    assert (tuition["category_label"], tuition["due_dates"][0]["overdue"]) == ("Học phí", False)
    assert one.status_code == 200, one.text
    assert one.json()["lines"] == [{"description": "Bậc 1", "amount_vnd": 100_000, "quantity": None}]
    assert one.json()["payments"] == []
    assert not_yours.status_code == missing.status_code == 404
    assert {k: v for k, v in not_yours.json().items() if k != "instance"} == {
        k: v for k, v in missing.json().items() if k != "instance"
    }


async def test_two_bills_are_paid_in_one_entry_and_one_bad_bill_fails_the_whole_payment(
    biller_desk: BillerDesk, api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    evn = await biller_desk.biller()
    water = await biller_desk.biller("Cấp nước Huế", "water")
    citizen = await api.register()
    stranger = await api.register(full_name="Lê Thị Cúc")
    electricity = await biller_desk.push(evn, bill("E1", amount_vnd=120_000), bill("E2", amount_vnd=80_000))
    tap = await biller_desk.push(
        water,
        bill("W1", code="HUE-1", amount_vnd=60_000),
        bill("W2", code="HUE-1", amount_vnd=5_000, status="open"),
        bill("W9", code="HUE-9", customer_name="Le Thi Cuc"),
    )
    await biller_desk.push(water, bill("W2", code="HUE-1", amount_vnd=5_000, status="cancelled"))
    e1, e2 = (line["id"] for line in electricity.json()["accepted"])
    w1, w2, w9 = (line["id"] for line in tap.json()["accepted"])
    assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    assert (await biller_desk.link(citizen, water, "HUE-1")).status_code == 201
    assert (await biller_desk.link(stranger, water, "HUE-9")).status_code == 201
    await api.fund(citizen, 300_000)

    cancelled = await biller_desk.pay(citizen, e1, w2)
    foreign = await biller_desk.pay(citizen, e1, w9)
    unknown = await biller_desk.pay(citizen, e1, 999_999)
    no_key = await api.client.post("/bill-payments", json={"bill_ids": [e1]}, headers=citizen.headers)
    balance_after_refusals = await api.balance(citizen)
    paid = await biller_desk.pay(citizen, w1, e1, key="pay-1")
    replayed = await biller_desk.pay(citizen, w1, e1, key="pay-1")
    again = await biller_desk.pay(citizen, e2, e1)
    one = await api.client.get(f"/bills/{e1}", headers=citizen.headers)
    mine = (await api.client.get("/bills", headers=citizen.headers)).json()

    assert (cancelled.status_code, cancelled.json()["code"], cancelled.json()["bill_id"]) == (409, "bill_not_open", w2)
    assert (foreign.status_code, foreign.json()["code"], foreign.json()["bill_id"]) == (404, "bill_not_found", w9)
    assert (unknown.status_code, unknown.json()["bill_id"]) == (404, 999_999)
    assert no_key.status_code in {400, 428}
    assert balance_after_refusals == 300_000
    assert paid.status_code == 201, paid.text
    assert (paid.json()["amount_vnd"], paid.json()["amount_display"]) == (180_000, "180.000 ₫")
    assert [(line["bill_id"], line["biller_id"], line["amount_vnd"]) for line in paid.json()["bills"]] == [
        (e1, evn["id"], 120_000),
        (w1, water["id"], 60_000),
    ]
    assert replayed.json() == paid.json()
    assert (again.status_code, again.json()["code"], again.json()["bill_id"]) == (409, "bill_already_paid", e1)
    assert await api.balance(citizen) == 120_000
    assert one.json()["status"] == "paid"
    assert one.json()["amount_vnd"] == 0
    assert [p["payment_id"] for p in one.json()["payments"]] == [paid.json()["id"]]
    assert [b["id"] for g in mine["billers"] for d in g["due_dates"] for b in d["bills"]] == [e2]
    async with sessions() as session:
        accounts = {biller.id: biller.account_id for biller in await session.scalars(select(Biller))}
        balances = await ledger.balances(session, list(accounts.values()))
        payments = (await session.execute(select(BillPayment.entry_id, BillPayment.amount_vnd))).all()
        items = await session.scalar(select(func.count()).select_from(BillPaymentItem))
    assert balances[accounts[evn["id"]]].posted_vnd == 120_000
    assert balances[accounts[water["id"]]].posted_vnd == 60_000
    assert [amount for _, amount in payments] == [180_000]  # one payment, one ledger entry, two allocations
    assert items == 2


async def test_ten_thousand_bills_go_in_one_push_and_again_change_nothing(biller_desk: BillerDesk) -> None:
    evn = await biller_desk.biller()
    bills = [bill(f"N{number:05d}", code=f"PC03BB{number:07d}") for number in range(10_000)]
    first = await biller_desk.push(evn, *bills)
    again = await biller_desk.push(evn, *bills)
    too_many = await biller_desk.push(evn, *bills, bill("N10000"))

    assert first.status_code == 200, first.text[:500]
    assert {line["outcome"] for line in first.json()["accepted"]} == {"created"}
    assert len(first.json()["accepted"]) == 10_000
    assert {line["outcome"] for line in again.json()["accepted"]} == {"unchanged"}
    assert too_many.status_code == 400


async def test_a_refused_bill_is_explained_in_vietnamese_unless_english_is_asked_for(biller_desk: BillerDesk) -> None:
    evn = await biller_desk.biller()
    cancel_unknown = {"bills": [bill("B9", status="cancelled")]}
    key = {"X-API-Key": evn["api_key"]}

    vietnamese = await biller_desk.api.client.post("/biller-api/bills", json=cancel_unknown, headers=key)
    english = await biller_desk.api.client.post(
        "/biller-api/bills", json=cancel_unknown, headers={**key, "Accept-Language": "en-US,en;q=0.9,vi;q=0.5"}
    )

    assert vietnamese.json()["refused"] == [
        {"bill_id": "B9", "code": "bill_not_found", "detail": "Không có hóa đơn này để hủy"}
    ]
    assert english.json()["refused"] == [
        {"bill_id": "B9", "code": "bill_not_found", "detail": "There is no such bill to cancel"}
    ]


async def test_a_links_customer_name_is_the_one_the_biller_sent_last_even_when_its_newest_bill_is_paid(
    biller_desk: BillerDesk, api: Api
) -> None:
    evn = await biller_desk.biller()
    pushed = await biller_desk.push(evn, bill("B1", customer_name="NGUYEN VAN AN"), bill("B2"))
    citizen = await api.register(full_name="Nguyễn Văn An")
    assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    await api.fund(citizen, 200_000)
    newest = pushed.json()["accepted"][1]["id"]
    assert (await biller_desk.pay(citizen, newest)).status_code == 201
    # The biller corrects the name; the paid bill B2 (the newest) cannot be amended, so only B1 carries it.
    await biller_desk.push(evn, bill("B1", customer_name="NGUYỄN VĂN AN"))

    listed = await api.client.get("/bill-links", headers=citizen.headers)

    assert [link["customer_name"] for link in listed.json()] == ["NGUYỄN VĂN AN"]


async def test_the_list_of_links_takes_as_many_statements_for_five_links_as_for_one(
    biller_desk: BillerDesk, api: Api, engine: AsyncEngine
) -> None:
    evn = await biller_desk.biller()
    await biller_desk.push(evn, *(bill(f"B{n}", code=f"PC03AA000000{n}") for n in range(5)))
    one, five = await api.register(), await api.register()
    assert (await biller_desk.link(one, evn, "PC03AA0000000")).status_code == 201
    for n in range(5):
        assert (await biller_desk.link(five, evn, f"PC03AA000000{n}")).status_code == 201

    async def statements_for(citizen: Citizen) -> tuple[int, list[dict[str, object]]]:
        statements: list[str] = []

        def seen(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(engine.sync_engine, "before_cursor_execute", seen)
        try:
            listed = await api.client.get("/bill-links", headers=citizen.headers)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", seen)
        return len(statements), listed.json()

    for_one, _ = await statements_for(one)
    for_five, links = await statements_for(five)

    assert len(links) == 5
    assert {link["customer_name"] for link in links} == {"NGUYEN VAN AN"}
    assert for_five == for_one
