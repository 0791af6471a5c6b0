"""Billers' notifications of payments: one signed webhook per biller in a payment, through the outbox.

``enqueue_payment`` writes them in the payment's own transaction, so a payment that rolls back
notifies nobody and one that commits notifies each of its billers at least once; every payment path
(the wallet's, a bank app's) calls it where its payment row is written. After the commit the outbox
delivers each (``handler``): a POST of the JSON body to the biller's ``webhook_url`` with

- ``X-Civicpay-Delivery``: the outbox message's key, the same on every try and every redelivery, so
  the biller acts on a notification once however often it comes;
- ``X-Civicpay-Timestamp``: unix seconds at the try, so the biller can refuse old replays;
- ``X-Civicpay-Signature``: ``v1=`` + hex HMAC-SHA256 under the biller's ``webhook_secret`` of
  ``f"{timestamp}."`` followed by the raw body (Stripe's scheme: the timestamp is signed with the body).

The payer's request does not wait for the biller: the commit wakes its own process's dispatcher (the
worker inside ``make run``), and the workers' rounds take it otherwise. A 2xx is the acknowledgement;
any other answer, or none, is tried again on the outbox's backoff and given up after its tries, when
an admin may redeliver it (a delivered one too, for a biller that lost it). Each try is logged
(``WebhookAttempt``): a biller's delivery log (``GET /billers/{id}/deliveries``, and
``GET /biller-api/deliveries`` for the biller itself) is these rows beside their outbox message.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import schemas as s
from billing.errors import BillerNotFound, WebhookDeliveryNotFound
from billing.models import Bill, Biller, BillPayment, BillPaymentItem, WebhookAttempt, WebhookDelivery
from civicpay import outbox
from civicpay.clock import Clock
from civicpay.db import UnitsOfWork

logger = logging.getLogger(__name__)

# The outbox kind under which bootstrap registers ``handler``.
KIND = "billing.webhook"
# The one event so far: bills of this biller were paid.
BILLS_PAID = "bills.paid"
# Vietnam keeps +07:00 all year (no daylight saving), and billers' systems expect local times.
_VIETNAM = timezone(timedelta(hours=7))
# How much of a biller's answer the attempt log keeps: enough to see why, never a whole page.
_ERROR_CHARS = 300


class WebhookRefused(Exception):
    """The biller answered, but not with a 2xx: the outbox tries again."""


# A page of the delivery log: its default and its most. A busy biller has thousands of deliveries a day.
DELIVERIES_PAGE = 100
DELIVERIES_PAGE_MAX = 500


def delivery_key(payment_id: int, biller_id: int) -> str:
    return f"biller-webhook:{payment_id}:{biller_id}"


def local_iso(moment: datetime) -> str:
    return moment.astimezone(_VIETNAM).isoformat(timespec="seconds")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Civicpay-Signature`` value; a biller checks it with ``hmac.compare_digest``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


async def enqueue_payment(session: AsyncSession, *, payment_id: int, now: datetime) -> list[str]:
    """One notification per biller in the payment, in the caller's transaction; their delivery keys.

    Call it once the payment's items are flushed. The body is fixed here, so every try and every
    redelivery sends the same bytes but for the timestamp, which the signature covers.
    """
    payment = await session.get(BillPayment, payment_id)
    if payment is None:
        raise ValueError(f"no bill payment {payment_id}")
    rows = await session.execute(
        select(Bill, BillPaymentItem.amount_vnd)
        .join(BillPaymentItem, BillPaymentItem.bill_id == Bill.id)
        .where(BillPaymentItem.payment_id == payment_id)
        .order_by(Bill.biller_id, Bill.id)
    )
    by_biller: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for bill, amount_vnd in rows:
        by_biller[bill.biller_id].append(
            {
                "bill_id": bill.external_id,
                "customer_code": bill.customer_code,
                "period": bill.period,
                "amount_vnd": amount_vnd,
            }
        )
    keys = []
    for biller_id, bills in by_biller.items():
        key = delivery_key(payment_id, biller_id)
        body = {
            "event": BILLS_PAID,
            "payment_id": payment_id,
            "payment_reference": payment.reference,
            "paid_at": local_iso(payment.created_at),
            "amount_vnd": sum(line["amount_vnd"] for line in bills),
            "bills": bills,
        }
        # The outbox row carries no secret nor URL: they are read at each try, so a biller's new URL applies.
        # ``wait=False``: the payer's answer never waits on a biller's server, however slow it is.
        payload = {"biller_id": biller_id, "body": body}
        await outbox.enqueue(session, kind=KIND, payload=payload, key=key, now=now, wait=False)
        session.add(
            WebhookDelivery(
                biller_id=biller_id, payment_id=payment_id, event=BILLS_PAID, outbox_key=key, created_at=now
            )
        )
        keys.append(key)
    await session.flush()
    return keys


def handler(units: UnitsOfWork, http: httpx.AsyncClient, clock: Clock) -> outbox.Handler:
    """Delivers ``KIND`` messages (registered with the outbox dispatcher under that kind)."""

    async def send(payload: dict[str, Any], key: str) -> None:
        async with units() as unit:
            biller = await unit.session.get(Biller, payload["biller_id"])
            delivery_id = await unit.session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.outbox_key == key))
            if biller is None or delivery_id is None:
                raise LookupError(f"no biller or delivery for {key}")
            url, secret = biller.webhook_url, biller.webhook_secret
        body = msgspec.json.encode(payload["body"], order="sorted")
        attempted_at = clock.now()
        timestamp = int(attempted_at.timestamp())
        headers = {
            "Content-Type": "application/json",
            "X-Civicpay-Delivery": key,
            "X-Civicpay-Timestamp": str(timestamp),
            "X-Civicpay-Signature": signature(secret, timestamp, body),
        }
        status_code: int | None = None
        error: str | None = None
        try:
            # Streamed, and only the start of the answer read: a biller's server cannot make us hold a huge body.
            async with http.stream("POST", url, content=body, headers=headers) as answer:
                status_code = answer.status_code
                if not answer.is_success:
                    error = f"HTTP {status_code}: {await _start_of(answer)}"
        except httpx.HTTPError as failure:
            # The exception's name only: its text may quote the URL, which may carry the biller's credentials.
            error = type(failure).__name__
        async with units() as unit:
            unit.session.add(
                WebhookAttempt(
                    delivery_id=delivery_id,
                    attempted_at=attempted_at,
                    status_code=status_code,
                    error=error[:_ERROR_CHARS] if error else None,
                )
            )
        if error is not None:
            raise WebhookRefused(error)

    return send


async def _start_of(answer: httpx.Response) -> str:
    start = b""
    async for chunk in answer.aiter_bytes():
        start += chunk
        if len(start) >= _ERROR_CHARS:
            break
    return start[:_ERROR_CHARS].decode(errors="replace")


async def _views(
    session: AsyncSession,
    biller_id: int,
    *,
    limit: int,
    delivery_id: int | None = None,
    before_id: int | None = None,
) -> list[s.WebhookDelivery]:
    query = (
        select(WebhookDelivery, outbox.OutboxMessage)
        .join(outbox.OutboxMessage, outbox.OutboxMessage.key == WebhookDelivery.outbox_key)
        .where(WebhookDelivery.biller_id == biller_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if delivery_id is not None:
        query = query.where(WebhookDelivery.id == delivery_id)
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    rows = (await session.execute(query)).all()
    tries: dict[int, list[s.WebhookTry]] = defaultdict(list)
    if rows:
        for attempt in await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_([delivery.id for delivery, _ in rows]))
            .order_by(WebhookAttempt.id)
        ):
            tries[attempt.delivery_id].append(s.WebhookTry(attempt.attempted_at, attempt.status_code, attempt.error))
    return [
        s.WebhookDelivery(
            id=delivery.id,
            payment_id=delivery.payment_id,
            event=delivery.event,
            status=outbox.OutboxStatus(message.status),
            attempts=message.attempts,
            last_error=message.last_error,
            last_attempt_at=tries[delivery.id][-1].attempted_at if tries[delivery.id] else None,
            delivered_at=message.delivered_at,
            created_at=delivery.created_at,
            tries=tries[delivery.id],
        )
        for delivery, message in rows
    ]


async def deliveries(
    session: AsyncSession, biller_id: int, *, limit: int = DELIVERIES_PAGE, before_id: int | None = None
) -> list[s.WebhookDelivery]:
    """A page of a biller's notifications, newest first, each with its state and every try.

    The next page is the one ``before_id`` the last id of this one: ids only grow, so a page read while
    payments go on neither repeats nor skips a delivery (new ones are on the first page, not in between).
    """
    if await session.get(Biller, biller_id) is None:
        raise BillerNotFound()
    return await _views(session, biller_id, limit=limit, before_id=before_id)


async def redeliver(
    session: AsyncSession, *, biller_id: int, delivery_id: int, actor_user_id: int, now: datetime
) -> s.WebhookDelivery:
    """Send a notification again, given up or delivered, under its own delivery key; audited by the outbox."""
    if await session.get(Biller, biller_id) is None:
        raise BillerNotFound()
    message_id = await session.scalar(
        select(outbox.OutboxMessage.id)
        .join(WebhookDelivery, WebhookDelivery.outbox_key == outbox.OutboxMessage.key)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.biller_id == biller_id)
    )
    if message_id is None:
        raise WebhookDeliveryNotFound(delivery_id=delivery_id)
    await outbox.redeliver(session, message_id, actor_user_id=actor_user_id, now=now, delivered_too=True)
    (view,) = await _views(session, biller_id, limit=1, delivery_id=delivery_id)
    return view
