"""Top-up by card against localstripe as the acquirer, with its webhooks handed to the app by the test.

The ledger invariants are checked after every test (conftest).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from httpx import Response
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.clock import FixedClock
from civicpay.settings import Settings
from tests.card_sandbox import (
    CARD_3DS,
    CARD_DECLINED,
    CARD_OK,
    SECRET_KEY,
    WEBHOOK_SECRET,
    Delivery,
    WebhookInbox,
    tokenise,
)
from tests.conftest import Api, Citizen
from wallet import card_topups, ledger
from wallet.models import CardTopup


@pytest.fixture
def clock() -> FixedClock:
    # The acquirer signs its webhooks with the real time, and the tolerance is judged by our clock.
    return FixedClock(datetime.now(UTC))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Sessions that outlive the refund window the clock is moved across.
    return {"access_token_ttl_seconds": int(timedelta(days=40).total_seconds())}


@pytest.fixture
async def inbox(card_sandbox: str) -> AsyncIterator[WebhookInbox]:
    receiver = WebhookInbox()
    await receiver.start(card_sandbox)
    yield receiver
    await receiver.stop()


async def top_up(api: Api, citizen: Citizen, token: str, amount_vnd: int, *, key: str = "card-1") -> Response:
    headers = {**citizen.headers, "Idempotency-Key": key}
    return await api.client.post(
        "/topups/card", json={"amount_vnd": amount_vnd, "payment_method": token}, headers=headers
    )


async def deliver(api: Api, delivery: Delivery, body: bytes | None = None) -> Response:
    return await api.client.post("/webhooks/card", content=body or delivery.body, headers=delivery.headers)


async def pending_of(api: Api, citizen: Citizen) -> tuple[int, int]:
    """(posted, available) as the citizen's app shows them."""
    wallet = (await api.client.get("/wallets/me", headers=citizen.headers)).json()
    return wallet["balance_vnd"], wallet["available_vnd"]


async def status_of(api: Api, citizen: Citizen, topup_id: int) -> str:
    shown = await api.client.get(f"/topups/card/{topup_id}", headers=citizen.headers)
    assert shown.status_code == 200, shown.text
    status: str = shown.json()["status"]
    return status


async def test_a_card_top_up_is_pending_until_the_acquirer_says_paid_and_a_repeat_says_nothing_new(
    api: Api, card_sandbox: str, inbox: WebhookInbox
) -> None:
    huong = await api.register()

    started = await top_up(api, huong, tokenise(card_sandbox, CARD_OK), 500_000)

    assert started.status_code == 201, started.text
    topup = started.json()
    assert (topup["status"], topup["amount_display"]) == ("pending", "500.000 ₫")
    assert await pending_of(api, huong) == (0, 0)  # held, not yet the citizen's
    paid = await inbox.next("payment_intent.succeeded")
    answers = [await deliver(api, paid) for _ in range(5)]  # the acquirer retrying
    assert {answer.status_code for answer in answers} == {200}
    assert [answer.json()["status"] for answer in answers] == ["succeeded"] * 5
    assert await pending_of(api, huong) == (500_000, 500_000)
    assert await status_of(api, huong, topup["id"]) == "succeeded"
    history = (await api.client.get(f"/wallets/{huong.wallet_id}/history", headers=huong.headers)).json()["items"]
    assert [(item["direction"], item["category"], item["amount_vnd"]) for item in history] == [("in", "topup", 500_000)]
    replay = await top_up(api, huong, tokenise(card_sandbox, CARD_OK), 500_000)
    assert replay.status_code == 409  # same key, another card token: another request


async def test_a_declined_card_gives_the_hold_back_at_once_and_its_answer_is_replayed(
    api: Api, card_sandbox: str, inbox: WebhookInbox, sessions: async_sessionmaker[AsyncSession]
) -> None:
    huong = await api.register()
    token = tokenise(card_sandbox, CARD_DECLINED)

    started = await top_up(api, huong, token, 200_000, key="declined")
    again = await top_up(api, huong, token, 200_000, key="declined")

    assert started.status_code == 201, started.text
    assert (again.content, again.headers["idempotent-replayed"]) == (started.content, "true")
    shown = (await api.client.get(f"/topups/card/{started.json()['id']}", headers=huong.headers)).json()
    assert (shown["status"], shown["failure_code"]) == ("failed", "card_declined")
    async with sessions() as session:
        assert await session.scalar(select(ledger.Hold.status)) == "voided"
    # The acquirer's failure event finds the top-up settled already and changes nothing.
    failed = await deliver(api, await inbox.next("payment_intent.payment_failed"))
    assert (failed.status_code, failed.json()["status"]) == (200, "failed")
    assert await pending_of(api, huong) == (0, 0)


async def test_forged_tampered_or_stale_webhooks_are_refused_and_change_nothing(
    api: Api, card_sandbox: str, inbox: WebhookInbox, clock: FixedClock, settings: Settings
) -> None:
    huong = await api.register()
    topup = (await top_up(api, huong, tokenise(card_sandbox, CARD_OK), 300_000)).json()
    paid = await inbox.next("payment_intent.succeeded")
    timestamp = paid.signature.split(",")[0]

    tampered = await deliver(api, paid, paid.body.replace(b"300000", b"900000"))
    unsigned = await api.client.post("/webhooks/card", content=paid.body, headers={"Content-Type": "application/json"})
    forged = await deliver(api, Delivery(paid.body, f"{timestamp},v1={'0' * 64}"))
    garbled_signature = f"{timestamp},v1=ữ".encode()  # not ASCII: no signature at all, and no 500
    garbled = await api.client.post(
        "/webhooks/card", content=paid.body, headers={b"Stripe-Signature": garbled_signature}
    )
    # Past the tolerance from when the acquirer signed it (under load, seconds after the clock was set).
    signed_at = datetime.fromtimestamp(int(timestamp.removeprefix("t=")), UTC)
    clock.advance(signed_at + timedelta(seconds=settings.card_webhook_tolerance_seconds + 1) - clock.now())
    stale = await deliver(api, paid)

    for refused in (tampered, unsigned, forged, garbled, stale):
        assert refused.status_code == 401, refused.text
        assert refused.json()["errors"][0]["field"] == "header.Stripe-Signature"
    assert await status_of(api, huong, topup["id"]) == "pending"
    assert await pending_of(api, huong) == (0, 0)


def signed_as_the_acquirer(body: bytes, clock: FixedClock) -> Delivery:
    """A body signed with the acquirer's webhook secret, as its real webhooks are: the signature is not the problem."""
    timestamp = int(clock.now().timestamp())
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return Delivery(body, f"t={timestamp},v1={mac}")


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        pytest.param(lambda event: event["data"].update(object=[1, 2]), "data.object", id="object-an-array"),
        pytest.param(
            lambda event: event["data"]["object"].update(last_payment_error="card_declined"),
            "data.object.last_payment_error",
            id="error-a-string",
        ),
        pytest.param(
            lambda event: event["data"]["object"].update(amount="300000"), "data.object.amount", id="amount-a-string"
        ),
        pytest.param(lambda event: event["data"]["object"].pop("status"), "data.object.status", id="no-status"),
        pytest.param(lambda event: event["data"].pop("object"), "data.object", id="no-object"),
        pytest.param(lambda event: event.update(data="x"), "data", id="data-a-string"),
    ],
)
async def test_a_signed_but_malformed_webhook_is_a_400_naming_the_field_and_changes_nothing(
    api: Api,
    card_sandbox: str,
    inbox: WebhookInbox,
    clock: FixedClock,
    spoil: Callable[[dict[str, Any]], object],
    field: str,
) -> None:
    huong = await api.register()
    topup = (await top_up(api, huong, tokenise(card_sandbox, CARD_OK), 300_000)).json()
    paid = await inbox.next("payment_intent.succeeded")
    event = json.loads(paid.body)
    spoil(event)

    refused = await deliver(api, signed_as_the_acquirer(json.dumps(event).encode(), clock))

    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "validation_failed"
    assert [error["field"] for error in refused.json()["errors"]] == [field]
    assert await status_of(api, huong, topup["id"]) == "pending"
    assert await pending_of(api, huong) == (0, 0)
    # The acquirer's own event still goes through.
    assert (await deliver(api, paid)).json()["status"] == "succeeded"
    assert await pending_of(api, huong) == (300_000, 300_000)


async def test_a_late_webhook_is_recovered_by_asking_the_acquirer(
    api: Api,
    app: Litestar,
    card_sandbox: str,
    inbox: WebhookInbox,
    clock: FixedClock,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    huong = await api.register()
    topup = (await top_up(api, huong, tokenise(card_sandbox, CARD_OK), 250_000)).json()
    paid = await inbox.next("payment_intent.succeeded")  # ... and lost on its way to us

    too_soon = await card_topups.requery(app.state.units, app.state.acquirer, settings, now=clock.now())
    clock.advance(timedelta(seconds=settings.card_requery_after_seconds))
    recovered = await card_topups.requery(app.state.units, app.state.acquirer, settings, now=clock.now())

    assert too_soon == []
    assert [(item.id, item.status) for item in recovered] == [(topup["id"], "succeeded")]
    assert await pending_of(api, huong) == (250_000, 250_000)
    # The webhook turning up after all changes nothing.
    late = await deliver(api, paid)
    assert (late.status_code, late.json()["status"]) == (200, "succeeded")
    assert await pending_of(api, huong) == (250_000, 250_000)


async def test_a_card_never_authenticated_is_cancelled_and_its_hold_voided(
    api: Api,
    app: Litestar,
    card_sandbox: str,
    clock: FixedClock,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    huong = await api.register()
    topup = (await top_up(api, huong, tokenise(card_sandbox, CARD_3DS), 150_000)).json()

    clock.advance(timedelta(seconds=settings.card_requery_after_seconds))
    still_waiting = await card_topups.requery(app.state.units, app.state.acquirer, settings, now=clock.now())
    clock.advance(timedelta(seconds=settings.card_abandon_after_seconds))
    abandoned = await card_topups.requery(app.state.units, app.state.acquirer, settings, now=clock.now())

    assert (topup["status"], still_waiting) == ("pending", [])
    assert [(item.id, item.status) for item in abandoned] == [(topup["id"], "canceled")]
    async with sessions() as session:
        held = await session.scalar(select(ledger.Hold))
        assert held is not None
        assert held.status == "voided"
    assert await pending_of(api, huong) == (0, 0)


async def paid_top_up(api: Api, card_sandbox: str, inbox: WebhookInbox, citizen: Citizen, amount_vnd: int) -> int:
    topup = (await top_up(api, citizen, tokenise(card_sandbox, CARD_OK), amount_vnd, key="paid")).json()
    assert (await deliver(api, await inbox.next("payment_intent.succeeded"))).status_code == 200
    topup_id: int = topup["id"]
    return topup_id


async def refund(api: Api, citizen: Citizen, topup_id: int, key: str, amount_vnd: int | None = None) -> Response:
    body = {} if amount_vnd is None else {"amount_vnd": amount_vnd}
    headers = {**citizen.headers, "Idempotency-Key": key}
    return await api.client.post(f"/topups/card/{topup_id}/refund", json=body, headers=headers)


async def test_a_top_up_is_refunded_to_its_card_in_parts_never_beyond_it(
    api: Api, card_sandbox: str, inbox: WebhookInbox
) -> None:
    huong = await api.register()
    topup_id = await paid_top_up(api, card_sandbox, inbox, huong, 500_000)

    part = await refund(api, huong, topup_id, "r-1", 200_000)
    rest = await refund(api, huong, topup_id, "r-2")
    beyond = await refund(api, huong, topup_id, "r-3", 1)

    assert (part.status_code, part.json()["refunded_vnd"]) == (200, 200_000), part.text
    assert (rest.status_code, rest.json()["refunded_vnd"]) == (200, 500_000), rest.text
    assert (beyond.status_code, beyond.json()["code"], beyond.json()["refundable_vnd"]) == (
        422,
        "refund_not_allowed",
        0,
    )
    assert await pending_of(api, huong) == (0, 0)
    refunds = acquirer_refunds(card_sandbox, part.json()["payment_intent_id"])
    assert sorted(refunds) == [200_000, 300_000]


def acquirer_refunds(card_sandbox: str, intent_id: str) -> list[int]:
    """The refunds as the acquirer lists them."""
    listed = httpx.get(f"{card_sandbox}/v1/refunds", params={"payment_intent": intent_id}, auth=(SECRET_KEY, ""))
    return [int(item["amount"]) for item in listed.json()["data"]]


async def test_a_refund_needs_the_money_still_in_the_wallet_and_the_window_open(
    api: Api, card_sandbox: str, inbox: WebhookInbox, clock: FixedClock, settings: Settings
) -> None:
    huong, minh = await api.register(), await api.register()
    topup_id = await paid_top_up(api, card_sandbox, inbox, huong, 300_000)
    assert (await api.transfer(huong, minh, 250_000)).status_code == 201

    spent = await refund(api, huong, topup_id, "r-1")
    not_theirs = await refund(api, minh, topup_id, "r-2", 10_000)
    clock.advance(timedelta(days=settings.card_refund_days, seconds=1))
    too_late = await refund(api, huong, topup_id, "r-3", 10_000)

    assert (spent.status_code, spent.json()["code"]) == (422, "insufficient_funds")
    assert (not_theirs.status_code, not_theirs.json()["code"]) == (404, "card_topup_not_found")
    missing = await refund(api, minh, topup_id + 1000, "r-4", 10_000)
    assert missing.json() == not_theirs.json()
    seen, unseen = [await api.client.get(f"/topups/card/{n}", headers=minh.headers) for n in (topup_id, topup_id + 1)]
    assert seen.status_code == unseen.status_code == 404
    assert seen.json() == unseen.json()
    assert (too_late.status_code, too_late.json()["code"]) == (422, "refund_not_allowed")
    assert await pending_of(api, huong) == (50_000, 50_000)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount_vnd": 100_000, "payment_method": "4242424242424242"}, "payment_method"),
        ({"amount_vnd": 0, "payment_method": "pm_x"}, "amount_vnd"),
        ({"amount_vnd": 100_000_001, "payment_method": "pm_x"}, "amount_vnd"),
    ],
)
async def test_bad_input_names_the_field_and_holds_nothing(
    api: Api, body: dict[str, Any], field: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    huong = await api.register()

    refused = await api.client.post(
        "/topups/card", json=body, headers={**huong.headers, "Idempotency-Key": "bad", "Accept-Language": "en"}
    )

    assert refused.status_code in {400, 422}, refused.text
    assert refused.json()["errors"][0]["field"] == field
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ledger.Hold)) == 0


async def test_an_unknown_card_token_is_refused_by_name(api: Api) -> None:
    huong = await api.register()

    refused = await top_up(api, huong, "pm_doesnotexist", 100_000)

    assert (refused.status_code, refused.json()["code"]) == (422, "validation_failed")
    assert refused.json()["errors"][0]["field"] == "payment_method"


async def test_a_refund_whose_answer_was_lost_is_booked_once_and_a_stray_one_stops_the_next(
    api: Api, card_sandbox: str, inbox: WebhookInbox, sessions: async_sessionmaker[AsyncSession]
) -> None:
    huong = await api.register()
    topup_id = await paid_top_up(api, card_sandbox, inbox, huong, 500_000)
    async with sessions() as session:
        intent_id = await session.scalar(select(CardTopup.payment_intent_id).where(CardTopup.id == topup_id))
    assert intent_id is not None

    def refund_at_acquirer(amount_vnd: int, key: str) -> None:
        """What the acquirer did before our side rolled back (a timeout): our books never saw it."""
        made = httpx.post(
            f"{card_sandbox}/v1/refunds",
            auth=(SECRET_KEY, ""),
            data={"payment_intent": intent_id, "amount": str(amount_vnd), "metadata[civicpay_key]": key},
        )
        made.raise_for_status()

    refund_at_acquirer(100_000, card_topups.acquirer_key_for("refund", f"user:{huong.user_id}", "lost"))
    retried = await refund(api, huong, topup_id, "lost", 100_000)
    refund_at_acquirer(50_000, "somebody-else")
    stopped = await refund(api, huong, topup_id, "next", 10_000)

    assert (retried.status_code, retried.json()["refunded_vnd"]) == (200, 100_000), retried.text
    assert (stopped.status_code, stopped.json()["code"]) == (409, "card_refunds_disagree")
    assert sorted(acquirer_refunds(card_sandbox, intent_id)) == [50_000, 100_000]  # none made twice
    assert await pending_of(api, huong) == (400_000, 400_000)
