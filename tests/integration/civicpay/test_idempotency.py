"""Idempotency-Key: a retried transfer moves money once and gets its first answer back."""

from __future__ import annotations

import asyncio

import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.clock import FixedClock
from civicpay.settings import Settings
from tests.conftest import Api, finance_officer


async def test_a_retry_with_the_same_key_and_body_replays_the_first_answer(api: Api) -> None:
    huong, minh = await api.register(), await api.register()
    await api.fund(huong, 500_000)

    first = await api.transfer(huong, minh, 120_000, key="pay-lunch-1")
    retry = await api.transfer(huong, minh, 120_000, key="pay-lunch-1")

    assert first.status_code == retry.status_code == 201
    assert retry.content == first.content
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await api.balance(huong) == 380_000


async def test_the_same_key_with_another_body_is_a_conflict_and_moves_nothing(api: Api) -> None:
    huong, minh = await api.register(), await api.register()
    await api.fund(huong, 500_000)
    await api.transfer(huong, minh, 120_000, key="k-1")

    other = await api.transfer(huong, minh, 999, key="k-1")

    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    assert other.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert await api.balance(huong) == 380_000


async def test_a_refusal_is_replayed_too_even_after_the_money_arrives(api: Api) -> None:
    """Like Stripe: the key names one attempt; a new attempt needs a new key."""
    huong, minh = await api.register(), await api.register()

    refused = await api.transfer(huong, minh, 50_000, key="early")
    await api.fund(huong, 100_000)
    replayed = await api.transfer(huong, minh, 50_000, key="early")
    fresh = await api.transfer(huong, minh, 50_000, key="later")

    assert refused.status_code == replayed.status_code == 422
    assert replayed.content == refused.content
    assert fresh.status_code == 201
    assert await api.balance(huong) == 50_000


async def test_keys_belong_to_their_caller(api: Api) -> None:
    huong, minh = await api.register(), await api.register()
    await api.fund(huong, 10_000)
    await api.fund(minh, 10_000)

    assert (await api.transfer(huong, minh, 1_000, key="same")).status_code == 201
    assert (await api.transfer(minh, huong, 2_000, key="same")).status_code == 201
    assert (await api.balance(huong), await api.balance(minh)) == (11_000, 9_000)


@pytest.mark.parametrize("header", [None, "", "has space", "x" * 256])
async def test_a_money_moving_post_needs_a_well_formed_key(api: Api, header: str | None) -> None:
    huong, minh = await api.register(), await api.register()
    await api.fund(huong, 10_000)
    headers = dict(huong.headers)
    if header is not None:
        headers["Idempotency-Key"] = header

    refused = await api.client.post("/transfers", json={"to_phone": minh.phone, "amount_vnd": 1}, headers=headers)

    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert await api.balance(huong) == 10_000


async def test_concurrent_duplicates_execute_once(api: Api) -> None:
    huong, minh = await api.register(), await api.register()
    await api.fund(huong, 1_000_000)

    answers = await asyncio.gather(*(api.transfer(huong, minh, 10_000, key="tap-tap-tap") for _ in range(12)))

    assert {answer.status_code for answer in answers} == {201}
    assert len({answer.content for answer in answers}) == 1
    assert sum("idempotent-replayed" not in answer.headers for answer in answers) == 1
    assert await api.balance(huong) == 990_000
    assert await api.balance(minh) == 10_000


async def test_a_post_without_a_body_says_so_in_both_languages(api: Api) -> None:
    huong = await api.register()
    headers = {**huong.headers, "Idempotency-Key": "no-body"}

    vietnamese = await api.client.post("/transfers", headers=headers)
    english = await api.client.post("/transfers", headers={**headers, "Accept-Language": "en"})

    assert vietnamese.status_code == english.status_code == 400
    assert vietnamese.json()["errors"] == [{"field": "body", "message": "Cần nội dung yêu cầu dạng JSON"}]
    assert english.json()["errors"] == [{"field": "body", "message": "A JSON request body is required"}]


async def test_the_same_phone_written_another_way_is_the_same_request(api: Api) -> None:
    huong, minh = await api.register(), await api.register()
    await api.fund(huong, 100_000)
    spaced = f"{minh.phone[:4]} {minh.phone[4:7]} {minh.phone[7:]}"

    first = await api.transfer(huong, minh.phone, 10_000, key="same-phone")
    retry = await api.transfer(huong, spaced, 10_000, key="same-phone")

    assert retry.status_code == first.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert await api.balance(huong) == 90_000


# POSTs that move no money: signing up and in, staff and office set-up, a collection opened or cancelled
# (money moves when it is paid), a bank account linked, and the outside parties' signed messages, which
# are made idempotent by the sender's own ids instead; an outbox message redelivered by an admin carries its
# own key to the other side, which acts on it once. A biller's push is idempotent by its own bill ids.
MOVES_NO_MONEY = {
    "redeliverOutboxMessage",
    "redeliverBillerDelivery",
    # Marking inbox messages read.
    "readNotification",
    "readAllNotifications",
    "login",
    "confirmTotpEnrolment",
    "startTotpEnrolment",
    "registerCitizen",
    "createApiKey",
    "createStaff",
    "receiveBankNotification",
    "receiveCardEvent",
    "receivePayoutResult",
    # A bank's pain.002: idempotent by each item's state (a final item is left as it is).
    "receivePaymentStatusReport",
    "linkBankAccount",
    "assignClerk",
    "createCounter",
    "createOffice",
    "cancelCollection",
    "createCollection",
    "registerMerchant",
    "createBiller",
    "pushBills",
    "linkCustomerCode",
    # Reconciliation records what the bank and the ledger say; it moves no money. A file sent twice is refused by
    # its hash, and a run made twice is two runs, each as it came out.
    "importStatement",
    "createReconciliationRun",
    # An exception matched by hand or carried, and a day closed, change the queue, not the money; a suspense
    # adjustment is only proposed here (its approval posts it, under an Idempotency-Key).
    "matchReconciliationExceptionsByHand",
    "carryReconciliationException",
    "proposeReconciliationAdjustment",
    "closeReconciliationDay",
    # A programme opens empty accounts; a funding is recorded pending (its approval moves the money); a batch's
    # upload only validates (its approval holds the money).
    "createProgramme",
    "recordProgrammeFunding",
    "uploadDisbursementBatch",
}


def test_every_money_moving_post_requires_an_idempotency_key(app: Litestar) -> None:
    """A new POST must either declare itself money-moving (``**idempotent(...)``) or be named here as not."""
    document = app.openapi_schema.to_schema()
    undeclared = []
    for path, item in document["paths"].items():
        post = item.get("post")
        if post is None or post["operationId"] in MOVES_NO_MONEY:
            continue
        headers = {
            parameter["name"]: parameter for parameter in post.get("parameters", []) if parameter["in"] == "header"
        }
        if not headers.get("Idempotency-Key", {}).get("required"):
            undeclared.append(f"{post['operationId']} {path}")
    assert undeclared == []


async def test_a_money_moving_post_without_a_key_is_refused_naming_the_header(
    api: Api, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: FixedClock
) -> None:
    officer = await finance_officer(api, sessions, settings, clock)

    keyless = await api.client.post("/merchants/settlements", headers=officer)

    assert keyless.status_code == 400
    assert "Idempotency-Key" in keyless.text
