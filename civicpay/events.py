"""Live announcements (a fee collection was paid) fanned out to the pages that watch for them.

An announcement is made inside the transaction that caused it and reaches listeners only if that
transaction commits, so a screen never shows "paid" for a payment that rolled back:

- on PostgreSQL it is a ``pg_notify`` on one channel, which PostgreSQL delivers at commit to every
  app process's listening connection, so a payment taken by one process reaches a page served by
  another without any broker;
- on SQLite (one process) it waits in the session and is published in process after the commit.

Each process's ``Hub`` hands what arrives to the local subscribers of the topic it names.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from civicpay.db import made_within
from civicpay.errors import DomainError, Text

logger = logging.getLogger(__name__)

PG_CHANNEL = "civicpay_events"
_PENDING = "civicpay.announcements"
_HUB = "civicpay.hub"
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")
# A slow or gone subscriber must not hold the others back: it loses announcements past this many.
_QUEUE_LIMIT = 100
# Screens one topic may have in one process: a counter has one or two, a public page must not be a lever.
MAX_WATCHERS = 50
# Published to every topic when announcements may have been missed: read the state again.
RESYNC = "resync"


class TooManyWatchers(DomainError):
    code = "too_many_watchers"
    status = 429
    title = Text("Quá nhiều màn hình đang theo dõi", "Too many screens are watching this")


class Hub:
    """This process's subscribers, by topic; what is published reaches each of them once.

    On PostgreSQL a connection of its own listens for every process's announcements. If that
    connection is lost, announcements made meanwhile are lost with it: the hub reconnects (backing
    off up to 30 s) and then publishes ``RESYNC`` to every topic, so each subscriber reads the state
    again from the database instead of waiting for news that will never come.
    """

    def __init__(self) -> None:
        self._subscribers: defaultdict[str, set[asyncio.Queue[str]]] = defaultdict(set)
        self._listener: Any = None
        self._dsn: str | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._closing = False

    def publish(self, topic: str, message: str) -> None:
        for queue in list(self._subscribers.get(topic, ())):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message)

    def admit(self, topic: str) -> None:
        """Refuse one more subscriber to a topic that has as many as a topic may have."""
        if len(self._subscribers.get(topic, ())) >= MAX_WATCHERS:
            raise TooManyWatchers()

    @contextlib.contextmanager
    def subscribe(self, topic: str) -> Any:
        """A queue receiving the topic's messages while the ``with`` block lasts."""
        queue: asyncio.Queue[str] = asyncio.Queue(_QUEUE_LIMIT)
        self._subscribers[topic].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[topic].discard(queue)
            if not self._subscribers[topic]:
                del self._subscribers[topic]

    def _deliver(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            envelope = json.loads(payload)
            self.publish(envelope["topic"], envelope["message"])
        except (ValueError, KeyError, TypeError):
            logger.warning("ignored a malformed announcement on %s", PG_CHANNEL)

    async def listen(self, database_url: str) -> None:
        """On PostgreSQL, take every process's announcements from a connection of our own."""
        self._dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        await self._connect()

    async def _connect(self) -> None:
        import asyncpg  # noqa: PLC0415 - only PostgreSQL deployments need the driver here

        assert self._dsn is not None  # noqa: S101 - set by listen()
        listener = await asyncpg.connect(self._dsn)
        await listener.add_listener(PG_CHANNEL, self._deliver)
        listener.add_termination_listener(self._lost)
        self._listener = listener

    def _lost(self, _connection: Any) -> None:
        if self._closing:
            return
        logger.error("lost the connection listening for announcements; reconnecting")
        self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = 0.5
        while not self._closing:
            try:
                await self._connect()
            except Exception:  # the database may be restarting: any failure is tried again
                logger.warning("announcements: reconnecting in %.1f s", delay, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            logger.info("announcements: listening again")
            for topic in list(self._subscribers):
                self.publish(topic, RESYNC)
            return

    async def close(self) -> None:
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            await asyncio.gather(self._reconnecting, return_exceptions=True)
        if self._listener is not None:
            await self._listener.close()
            self._listener = None


def session_info(hub: Hub) -> dict[str, Any]:
    """What a session factory gives its sessions so their after-commit announcements reach ``hub`` (SQLite)."""
    return {_HUB: hub}


async def announce(session: AsyncSession, topic: str, message: dict[str, Any]) -> None:
    """Announce ``message`` to the topic's subscribers once this session's transaction commits."""
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str)
    if session.get_bind().dialect.name == "postgresql":
        payload = json.dumps({"topic": topic, "message": body}, separators=(",", ":"), ensure_ascii=False)
        await session.execute(_NOTIFY, {"channel": PG_CHANNEL, "payload": payload})
    else:
        # Kept with the (sub)transaction it was made in: a savepoint rolled back takes its own with it.
        made_in = session.sync_session.get_nested_transaction() or session.sync_session.get_transaction()
        session.info.setdefault(_PENDING, []).append((topic, body, made_in))


@event.listens_for(Session, "after_commit")
def _publish_committed(session: Session) -> None:
    hub: Hub | None = session.info.get(_HUB)
    for topic, body, _ in session.info.pop(_PENDING, []):
        if hub is not None:
            hub.publish(topic, body)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """Drop what was announced in the rolled-back transaction or savepoint, and only that."""
    if pending := session.info.get(_PENDING):
        session.info[_PENDING] = [entry for entry in pending if not made_within(entry[2], previous_transaction)]
