"""Billers' payment notifications: signed, one per biller, retried until acknowledged, logged, redelivered.

Each biller's webhook is a real HTTP endpoint (``tests.billers.WebhookInbox``); later tries are driven
by moving the test's clock past the outbox's backoff and draining its dispatcher, never by sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import payments
from billing import schemas as s
from billing.models import PAYMENT_REFERENCE, Biller, WebhookDelivery
from civicpay import outbox
from civicpay.audit import AuditEntry
from civicpay.bootstrap import Services
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from tests.billers import Arrived, BillerDesk, WebhookInbox, bill
from tests.conftest import Api, Citizen


def verifies(arrived: Arrived, secret: str) -> bool:
    """What a biller does with what arrived: recompute the signature over the timestamp and the raw body."""
    timestamp = arrived.headers["x-civicpay-timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + arrived.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(arrived.headers["x-civicpay-signature"], f"v1={expected}")


async def paying_citizen(biller_desk: BillerDesk, api: Api, *billers: dict[str, Any]) -> tuple[Citizen, list[int]]:
    """A citizen linked to each biller, one 100,000 ₫ bill at each, and the money to pay them."""
    citizen = await api.register()
    bill_ids = []
    for number, biller in enumerate(billers):
        pushed = await biller_desk.push(biller, bill(f"B{number}", code=f"KH-{number}", amount_vnd=100_000))
        bill_ids.append(pushed.json()["accepted"][0]["id"])
        assert (await biller_desk.link(citizen, biller, f"KH-{number}")).status_code == 201
    await api.fund(citizen, 1_000_000)
    return citizen, bill_ids


async def log(api: Api, biller_desk: BillerDesk, biller: dict[str, Any]) -> list[dict[str, Any]]:
    answer = await api.client.get(f"/billers/{biller['id']}/deliveries", headers=biller_desk.admin)
    assert answer.status_code == 200, answer.text
    deliveries: list[dict[str, Any]] = answer.json()
    return deliveries


async def next_try(services: Services, clock: FixedClock, settings: Settings) -> int:
    """Past the longest backoff the outbox may have drawn, then one round of its dispatcher."""
    clock.advance(timedelta(seconds=settings.outbox_backoff_cap_seconds))
    return await services.outbox.drain()


async def test_a_payment_sends_each_biller_one_notification_signed_with_its_own_secret(
    biller_desk: BillerDesk, api: Api, webhook_inbox: WebhookInbox, services: Services, clock: FixedClock
) -> None:
    evn = await biller_desk.biller()
    water = await biller_desk.biller("Cấp nước Huế", "water")
    citizen = await api.register()
    electricity = await biller_desk.push(
        evn, bill("E1", amount_vnd=120_000, period="2026-10"), bill("E2", amount_vnd=80_000)
    )
    tap = await biller_desk.push(water, bill("W1", code="HUE-1", amount_vnd=60_000))
    e1, e2 = (line["id"] for line in electricity.json()["accepted"])
    (w1,) = (line["id"] for line in tap.json()["accepted"])
    assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    assert (await biller_desk.link(citizen, water, "HUE-1")).status_code == 201
    await api.fund(citizen, 500_000)

    paid = await biller_desk.pay(citizen, e1, w1, e2)
    before_the_dispatcher = list(webhook_inbox.arrived)
    delivered = await services.outbox.drain()
    nothing_left = await services.outbox.drain()

    assert paid.status_code == 201, paid.text
    payment_id = paid.json()["id"]
    assert before_the_dispatcher == []  # the payer's answer never waits on a biller's server
    assert (delivered, nothing_left) == (2, 0)
    (to_evn,) = webhook_inbox.at(evn)
    (to_water,) = webhook_inbox.at(water)
    assert len(webhook_inbox.arrived) == 2
    for arrived, biller in ((to_evn, evn), (to_water, water)):
        assert arrived.headers["x-civicpay-delivery"] == f"biller-webhook:{payment_id}:{biller['id']}"
        assert arrived.headers["x-civicpay-timestamp"] == str(int(clock.now().timestamp()))
        assert arrived.headers["content-type"] == "application/json"
        assert verifies(arrived, biller["webhook_secret"])
    assert not verifies(to_evn, water["webhook_secret"])
    assert not verifies(
        Arrived(to_evn.path, to_evn.headers, to_evn.body.replace(b"120000", b"12000")), evn["webhook_secret"]
    )
    body = json.loads(to_evn.body)
    assert body == {
        "event": "bills.paid",
        "payment_id": payment_id,
        "payment_reference": PAYMENT_REFERENCE.encode(payment_id),
        "paid_at": "2026-11-23T10:00:00+07:00",
        "amount_vnd": 200_000,
        "bills": [
            {"bill_id": "E1", "customer_code": "PC03AA0000001", "period": "2026-10", "amount_vnd": 120_000},
            {"bill_id": "E2", "customer_code": "PC03AA0000001", "period": "2026-11", "amount_vnd": 80_000},
        ],
    }
    assert len(body["payment_reference"]) == 16
    assert [line["bill_id"] for line in json.loads(to_water.body)["bills"]] == ["W1"]
    (shown,) = await log(api, biller_desk, evn)
    assert (shown["payment_id"], shown["event"], shown["status"], shown["attempts"]) == (
        payment_id,
        "bills.paid",
        "delivered",
        1,
    )
    assert [(t["http_status"], t["error"]) for t in shown["tries"]] == [(200, None)]
    assert shown["delivered_at"] is not None
    assert shown["last_attempt_at"] == shown["tries"][0]["attempted_at"]
    assert await api.balance(citizen) == 240_000


async def test_a_biller_answering_500_twice_gets_the_notification_on_the_third_try(
    biller_desk: BillerDesk,
    api: Api,
    webhook_inbox: WebhookInbox,
    services: Services,
    clock: FixedClock,
    settings: Settings,
) -> None:
    evn = await biller_desk.biller()
    citizen, (bill_id,) = await paying_citizen(biller_desk, api, evn)
    webhook_inbox.answers[evn["webhook_url"].removeprefix(biller_desk.inbox_url)] = [500, 500]

    paid = await biller_desk.pay(citizen, bill_id)
    first = await services.outbox.drain()
    (after_one,) = await log(api, biller_desk, evn)
    too_soon = await api.client.post(
        f"/billers/{evn['id']}/deliveries/{after_one['id']}/redeliver", headers=biller_desk.admin
    )
    second = await next_try(services, clock, settings)
    third = await next_try(services, clock, settings)
    fourth = await next_try(services, clock, settings)
    (after_three,) = await log(api, biller_desk, evn)

    assert paid.status_code == 201, paid.text
    assert (after_one["status"], after_one["attempts"], after_one["delivered_at"]) == ("pending", 1, None)
    assert after_one["last_error"].startswith("WebhookRefused: HTTP 500")
    assert (too_soon.status_code, too_soon.json()["code"]) == (409, "outbox_message_pending")
    assert (first, second, third, fourth) == (1, 1, 1, 0)
    assert (after_three["status"], after_three["attempts"], after_three["last_error"]) == ("delivered", 3, None)
    assert [t["http_status"] for t in after_three["tries"]] == [500, 500, 200]
    assert after_three["last_attempt_at"] == after_three["tries"][-1]["attempted_at"]
    assert after_three["delivered_at"] == after_three["last_attempt_at"]
    arrived = webhook_inbox.at(evn)
    assert len(arrived) == 3
    assert {a.headers["x-civicpay-delivery"] for a in arrived} == {f"biller-webhook:{paid.json()['id']}:{evn['id']}"}
    assert len({a.body for a in arrived}) == 1  # the same bytes each time; only the timestamp moves
    assert all(verifies(a, evn["webhook_secret"]) for a in arrived)


@pytest.mark.parametrize("settings_overrides", [{"outbox_max_attempts": 2}])
async def test_a_given_up_notification_is_redelivered_by_an_admin_and_a_delivered_one_sent_again(
    biller_desk: BillerDesk,
    api: Api,
    webhook_inbox: WebhookInbox,
    services: Services,
    clock: FixedClock,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    evn = await biller_desk.biller()
    water = await biller_desk.biller("Cấp nước Huế", "water")
    citizen, (bill_id,) = await paying_citizen(biller_desk, api, evn)
    webhook_inbox.answers[evn["webhook_url"].removeprefix(biller_desk.inbox_url)] = [503, 503]
    await biller_desk.pay(citizen, bill_id)
    await services.outbox.drain()
    await next_try(services, clock, settings)

    (given_up,) = await log(api, biller_desk, evn)
    path = f"/billers/{evn['id']}/deliveries/{given_up['id']}/redeliver"
    redelivered = await api.client.post(path, headers=biller_desk.admin)  # delivered right after its commit
    (after,) = await log(api, biller_desk, evn)
    again = await api.client.post(path, headers={**biller_desk.admin, "Accept-Language": "en"})
    (after_again,) = await log(api, biller_desk, evn)
    as_citizen = await api.client.post(path, headers=citizen.headers)
    as_biller = await api.client.post(path, headers={"X-API-Key": evn["api_key"]})
    of_another = await api.client.post(
        f"/billers/{water['id']}/deliveries/{given_up['id']}/redeliver", headers=biller_desk.admin
    )
    unknown = await api.client.post(f"/billers/{evn['id']}/deliveries/999999/redeliver", headers=biller_desk.admin)
    unknown_en = await api.client.post(
        f"/billers/{evn['id']}/deliveries/999999/redeliver", headers={**biller_desk.admin, "Accept-Language": "en"}
    )
    no_biller = await api.client.get("/billers/999999/deliveries", headers=biller_desk.admin)

    assert (given_up["status"], given_up["attempts"]) == ("given_up", 2)
    assert [t["http_status"] for t in given_up["tries"]] == [503, 503]
    assert (redelivered.status_code, redelivered.json()["status"], redelivered.json()["attempts"]) == (
        200,
        "pending",
        0,
    )
    assert (after["status"], after["attempts"]) == ("delivered", 1)
    assert [t["http_status"] for t in after["tries"]] == [503, 503, 200]
    assert again.status_code == 200, again.text
    assert (after_again["status"], [t["http_status"] for t in after_again["tries"]]) == (
        "delivered",
        [503, 503, 200, 200],
    )
    arrived = webhook_inbox.at(evn)
    assert len(arrived) == 4
    assert len({a.headers["x-civicpay-delivery"] for a in arrived}) == 1  # the biller sees one notification
    assert (as_citizen.status_code, as_biller.status_code) == (403, 403)
    assert (of_another.status_code, of_another.json()["code"]) == (404, "webhook_delivery_not_found")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "webhook_delivery_not_found")
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert unknown.json()["title"] == "Không tìm thấy lần gửi thông báo"
    assert unknown_en.json()["title"] == "Webhook delivery not found"
    assert (no_biller.status_code, no_biller.json()["code"]) == (404, "biller_not_found")
    async with sessions() as session:
        audited = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert [(line.action, line.reason) for line in audited] == [
        ("outbox.redeliver", "redelivered by hand after it was given up"),
        ("outbox.redeliver", "sent again by hand after it was delivered"),
    ]
    assert all(line.details["key"] == arrived[0].headers["x-civicpay-delivery"] for line in audited)


async def test_a_biller_that_cannot_be_reached_is_tried_again_at_the_url_it_has_now(
    biller_desk: BillerDesk,
    api: Api,
    webhook_inbox: WebhookInbox,
    services: Services,
    clock: FixedClock,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    evn = await biller_desk.biller()
    citizen, (bill_id,) = await paying_citizen(biller_desk, api, evn)

    async def point_webhook_at(url: str) -> None:
        async with sessions.begin() as session:
            await session.execute(update(Biller).where(Biller.id == evn["id"]).values(webhook_url=url))

    await point_webhook_at("http://127.0.0.1:9/hooks/closed")  # the discard port: nobody listens
    await biller_desk.pay(citizen, bill_id)
    await services.outbox.drain()
    (unreachable,) = await log(api, biller_desk, evn)
    await point_webhook_at(evn["webhook_url"])
    await next_try(services, clock, settings)
    (reached,) = await log(api, biller_desk, evn)

    assert (unreachable["status"], unreachable["last_error"]) == ("pending", "WebhookRefused: ConnectError")
    assert [(t["http_status"], t["error"]) for t in unreachable["tries"]] == [(None, "ConnectError")]
    assert reached["status"] == "delivered"
    assert [t["http_status"] for t in reached["tries"]] == [None, 200]
    (arrived,) = webhook_inbox.at(evn)
    assert verifies(arrived, evn["webhook_secret"])


class RolledBack(Exception):
    pass


async def test_a_payment_rolled_back_notifies_nobody(
    biller_desk: BillerDesk,
    api: Api,
    webhook_inbox: WebhookInbox,
    services: Services,
    sessions: async_sessionmaker[AsyncSession],
    clock: FixedClock,
) -> None:
    evn = await biller_desk.biller()
    citizen, (bill_id,) = await paying_citizen(biller_desk, api, evn)

    async def pay_then_fail() -> None:
        async with services.units() as unit:
            await payments.pay_bills(
                unit.session,
                services.settings,
                services.calendar,
                user_id=citizen.user_id,
                data=s.BillPaymentCreate(bill_ids=[bill_id]),
                otp=None,
                now=clock.now(),
            )
            assert await unit.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
            raise RolledBack  # after the notification was written, before the commit

    with pytest.raises(RolledBack):
        await pay_then_fail()
    refused = await biller_desk.pay(citizen, bill_id, 999_999)  # one bad bill: the whole payment fails
    delivered = await services.outbox.drain()

    assert refused.status_code == 404
    assert delivered == 0
    assert webhook_inbox.arrived == []
    assert await log(api, biller_desk, evn) == []
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(outbox.OutboxMessage)) == 0
    assert await api.balance(citizen) == 1_000_000


async def test_a_billers_log_is_read_with_its_own_api_key_and_shows_no_other_billers(
    biller_desk: BillerDesk, api: Api, webhook_inbox: WebhookInbox, services: Services
) -> None:
    evn = await biller_desk.biller()
    water = await biller_desk.biller("Cấp nước Huế", "water")
    school = await biller_desk.biller("Trường THPT Quốc Học Huế", "tuition")
    citizen, (electricity_bill, water_bill) = await paying_citizen(biller_desk, api, evn, water)
    paid = await biller_desk.pay(citizen, electricity_bill, water_bill)
    await services.outbox.drain()

    own = await api.client.get("/biller-api/deliveries", headers={"X-API-Key": evn["api_key"]})
    others = await api.client.get("/biller-api/deliveries", headers={"X-API-Key": water["api_key"]})
    none = await api.client.get("/biller-api/deliveries", headers={"X-API-Key": school["api_key"]})
    as_citizen = await api.client.get("/biller-api/deliveries", headers=citizen.headers)
    admin_view = await log(api, biller_desk, evn)
    admin_only = await api.client.get(f"/billers/{evn['id']}/deliveries", headers={"X-API-Key": evn["api_key"]})

    assert paid.status_code == 201, paid.text
    assert own.status_code == 200, own.text
    assert own.json() == admin_view
    assert [(d["payment_id"], d["status"]) for d in own.json()] == [(paid.json()["id"], "delivered")]
    (theirs,) = others.json()
    assert theirs["id"] != own.json()[0]["id"]
    assert none.json() == []
    assert as_citizen.status_code == 403
    assert admin_only.status_code == 403
    assert len(webhook_inbox.arrived) == 2


async def test_the_delivery_log_pages_newest_first_and_an_older_page_is_still_redelivered(
    biller_desk: BillerDesk, api: Api, webhook_inbox: WebhookInbox, services: Services
) -> None:
    evn = await biller_desk.biller()
    citizen = await api.register()
    pushed = await biller_desk.push(evn, *(bill(f"B{n}", amount_vnd=10_000) for n in range(3)))
    assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    await api.fund(citizen, 100_000)
    payments_made = [(await biller_desk.pay(citizen, line["id"])).json()["id"] for line in pushed.json()["accepted"]]
    await services.outbox.drain()
    path = f"/billers/{evn['id']}/deliveries"

    first = await api.client.get(path, params={"limit": 2}, headers=biller_desk.admin)
    second = await api.client.get(
        path, params={"limit": 2, "before_id": first.json()[-1]["id"]}, headers=biller_desk.admin
    )
    past_the_end = await api.client.get(path, params={"before_id": second.json()[-1]["id"]}, headers=biller_desk.admin)
    own = await api.client.get(
        "/biller-api/deliveries",
        params={"limit": 1, "before_id": first.json()[0]["id"]},
        headers={"X-API-Key": evn["api_key"]},
    )
    refused = await api.client.get(path, params={"limit": 0}, headers=biller_desk.admin)
    oldest = second.json()[0]
    redelivered = await api.client.post(f"{path}/{oldest['id']}/redeliver", headers=biller_desk.admin)
    await services.outbox.drain()

    assert [d["payment_id"] for d in first.json()] == payments_made[:0:-1]  # the two newest, newest first
    assert [d["payment_id"] for d in second.json()] == payments_made[:1]
    assert past_the_end.json() == []
    assert own.json() == first.json()[1:]  # the biller pages its own log alike
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "validation_failed"
    assert [error["field"] for error in refused.json()["errors"]] == ["query.limit"]
    assert redelivered.status_code == 200, redelivered.text
    assert len(webhook_inbox.at(evn)) == 4  # three payments, and the oldest one again
