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
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

PG_CHANNEL = "civicpay_events"
_PENDING = "civicpay.announcements"
_HUB = "civicpay.hub"
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")
# A slow or gone subscriber must not hold the others back: it loses announcements past this many.
_QUEUE_LIMIT = 100


class Hub:
    """This process's subscribers, by topic; what is published reaches each of them once."""

    def __init__(self) -> None:
        self._subscribers: defaultdict[str, set[asyncio.Queue[str]]] = defaultdict(set)
        self._listener: Any = None

    def publish(self, topic: str, message: str) -> None:
        for queue in list(self._subscribers.get(topic, ())):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message)

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
        import asyncpg  # noqa: PLC0415 - only PostgreSQL deployments need the driver here

        url = make_url(database_url).set(drivername="postgresql")
        self._listener = await asyncpg.connect(url.render_as_string(hide_password=False))
        await self._listener.add_listener(PG_CHANNEL, self._deliver)

    async def close(self) -> None:
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
        session.info.setdefault(_PENDING, []).append((topic, body))


@event.listens_for(Session, "after_commit")
def _publish_committed(session: Session) -> None:
    hub: Hub | None = session.info.get(_HUB)
    for topic, body in session.info.pop(_PENDING, []):
        if hub is not None:
            hub.publish(topic, body)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
