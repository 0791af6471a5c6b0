"""The screen at a counter that faces the citizen: the open collection's VietQR, and "paid" the moment it is.

``GET /counter/{id}`` renders the counter's latest collection on the server; the page then listens to
``GET /counter/{id}/events`` (Server-Sent Events). The stream subscribes to the counter's topic before
it reads the current state, so a payment landing between the two is never missed: the first event is
the state as it is now, and every later one is an announcement of a committed change, from whichever
app process took the payment (``civicpay.events``). The page is public, like the screen itself: it
shows the office, amount, procedure and reference, never the payer's name nor the dossier number.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import PathParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay import events, web
from civicpay.clock import Clock
from civicpay.db import MAX_ID, UnitsOfWork
from civicpay.money import format_vnd
from qr import render
from qr.collections import counter_at, counter_topic, current_status, payment_code, state_message
from qr.models import CollectionStatus, Counter, FeeCollection, Office

CounterId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
# Keep idle proxies from closing the stream, and end it now and then so the browser reconnects
# (EventSource does by itself) instead of holding a server's shutdown hostage.
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 600.0
_STATUS_WORDS = {
    CollectionStatus.OPEN: ("Mời quét mã VietQR để thanh toán / Scan to pay", ""),
    CollectionStatus.PAID: ("ĐÃ THANH TOÁN / PAID", "paid"),
    CollectionStatus.EXPIRED: ("ĐÃ HẾT HẠN / EXPIRED", "closed"),
    CollectionStatus.CANCELLED: ("ĐÃ HỦY / CANCELLED", "closed"),
    CollectionStatus.REFUNDED: ("ĐÃ HOÀN TIỀN / REFUNDED", "closed"),
}


async def _latest(session: AsyncSession, counter_id: int) -> FeeCollection | None:
    latest: FeeCollection | None = await session.scalar(
        select(FeeCollection).where(FeeCollection.counter_id == counter_id).order_by(FeeCollection.id.desc()).limit(1)
    )
    return latest


def _collection_block(collection: FeeCollection, office: Office, now: datetime) -> str:
    status = current_status(collection, now)
    words, css = _STATUS_WORDS[status]
    image = base64.b64encode(render.svg(payment_code(collection, office), box_size=8)).decode()
    receipt = f"Biên lai / Receipt: {collection.receipt_number}" if collection.receipt_number else ""
    return f"""
  <div class="qr"><img alt="VietQR" src="data:image/svg+xml;base64,{image}"></div>
  <div class="amount">{html.escape(format_vnd(collection.amount_vnd))}</div>
  <div>Đơn vị thụ hưởng / Payee: <strong>{html.escape(office.name)}</strong></div>
  <div class="muted">{html.escape(collection.procedure_name)}</div>
  <div class="muted">Mã thanh toán / Reference: <strong>{html.escape(collection.reference)}</strong></div>
  <div id="status" class="{css}">{html.escape(words)}</div>
  <div id="receipt" class="muted">{html.escape(receipt)}</div>"""


async def page(session: AsyncSession, counter_id: int, now: datetime) -> str:
    place = await counter_at(session, counter_id)
    collection = await _latest(session, counter_id)
    if collection is None:
        content = '<div id="status">Mời quý khách chờ / Please wait</div>'
        expires_in_ms, body_class = 0, ""
    else:
        content = _collection_block(collection, place.office, now)
        open_now = current_status(collection, now) == CollectionStatus.OPEN
        expires_in_ms = int((collection.expires_at - now).total_seconds() * 1000) if open_now else 0
        body_class = "" if open_now else "done"
    return web.template("counter.html").substitute(
        counter_name=html.escape(place.counter.name),
        office_name=html.escape(place.office.name),
        collection_id=collection.id if collection else "",
        expires_in_ms=expires_in_ms,
        body_class=body_class,
        content=content,
    )


def _state(collection: FeeCollection | None, now: datetime) -> str:
    """The same message an announcement carries (``qr.collections.announce``), for the state as it is now."""
    if collection is None:
        state: dict[str, object] = {"collection_id": None, "status": None, "receipt_number": None}
    else:
        state = state_message(collection, now)
    return json.dumps(state, separators=(",", ":"), ensure_ascii=False)


async def _state_now(units: UnitsOfWork, clock: Clock, counter_id: int) -> str:
    async with units() as unit:
        return _state(await _latest(unit.session, counter_id), clock.now())


async def state_stream(
    queue: asyncio.Queue[str], units: UnitsOfWork, clock: Clock, counter_id: int
) -> AsyncIterator[ServerSentEventMessage]:
    """``state`` now, then each announcement; the state read again whenever announcements may have been lost."""
    yield ServerSentEventMessage(event="state", data=await _state_now(units, clock, counter_id), retry=1000)
    loop = asyncio.get_running_loop()
    ends = loop.time() + STREAM_SECONDS
    while (left := ends - loop.time()) > 0:
        try:
            message = await asyncio.wait_for(queue.get(), timeout=min(KEEPALIVE_SECONDS, left))
        except TimeoutError:
            yield ServerSentEventMessage(comment="keep-alive")
            continue
        if message == events.RESYNC:
            message = await _state_now(units, clock, counter_id)
        yield ServerSentEventMessage(event="state", data=message)


async def _subscribed(
    hub: events.Hub, units: UnitsOfWork, clock: Clock, counter_id: int
) -> AsyncIterator[ServerSentEventMessage]:
    """Subscribed before the first state is read, so nothing committed in between is missed."""
    with hub.subscribe(counter_topic(counter_id)) as queue:
        async for message in state_stream(queue, units, clock, counter_id):
            yield message


class CounterScreen(msgspec.Struct, frozen=True):
    """A counter's public screen, as the front page lists it."""

    counter_id: int
    counter_name: str
    office_name: str

    @property
    def url(self) -> str:
        return f"/counter/{self.counter_id}"


async def counter_screens(session: AsyncSession, limit: int = 100) -> list[CounterScreen]:
    """Every counter's screen (public, like the screens), by office and counter, at most ``limit``."""
    rows = await session.execute(
        select(Counter.id, Counter.name, Office.name)
        .join(Office, Office.id == Counter.office_id)
        .order_by(Office.name, Counter.name, Counter.id)
        .limit(limit)
    )
    return [CounterScreen(counter_id, counter_name, office_name) for counter_id, counter_name, office_name in rows]


class CounterDisplayController(Controller):
    path = "/counter/{counter_id:int}"
    tags = ["counter display"]

    @get("/", operation_id="counterDisplay", exclude_from_auth=True, media_type=MediaType.HTML)
    async def show(
        self, counter_id: CounterId, session: NamedDependency[AsyncSession], clock: NamedDependency[Clock]
    ) -> Response[str]:
        """The counter's screen (HTML): the open collection's VietQR, turning to "ĐÃ THANH TOÁN / PAID" live."""
        return Response(await page(session, counter_id, clock.now()), media_type=MediaType.HTML)

    @get("/events", operation_id="counterEvents", exclude_from_auth=True, errors=[events.TooManyWatchers])
    async def follow(
        self, counter_id: CounterId, request: Request[Any, Any, Any], session: NamedDependency[AsyncSession]
    ) -> ServerSentEvent:
        """Server-Sent Events: ``state`` now, then each committed change of the counter's collection.

        The stream reads with short sessions of its own: the request's is closed before streaming starts.
        """
        await counter_at(session, counter_id)  # 404 for a counter that does not exist
        state = request.app.state
        state.events.admit(counter_topic(counter_id))  # 429 past a screen's worth of watchers
        return ServerSentEvent(_subscribed(state.events, state.units, state.clock, counter_id))
