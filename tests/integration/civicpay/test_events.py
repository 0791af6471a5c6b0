"""Announcements leave with their transaction, reach subscribers in any process, and survive a lost listener."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import ExitStack
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from civicpay import events
from civicpay.db import create_session_factory
from civicpay.settings import Settings
from tests.conftest import ON_POSTGRES

ARRIVES_WITHIN = 5.0


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[events.Hub]:
    hub = events.Hub()
    if ON_POSTGRES:
        await hub.listen(settings.database_url)
    yield hub
    await hub.close()


@pytest.fixture
def announcing(engine: AsyncEngine, hub: events.Hub) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine, events.session_info(hub))


async def announce_then_fail(
    transaction: Any, into: async_sessionmaker[AsyncSession] | AsyncSession, status: str
) -> None:
    """Announce inside ``transaction`` (a session's, or a savepoint of one), then fail it."""
    async with transaction as opened:
        session = opened if isinstance(into, async_sessionmaker) else into
        await events.announce(session, "counter:1", {"status": status})
        raise RuntimeError


async def test_only_committed_announcements_arrive_in_order(
    hub: events.Hub, announcing: async_sessionmaker[AsyncSession]
) -> None:
    with hub.subscribe("counter:1") as queue:
        async with announcing.begin() as session:
            await events.announce(session, "counter:1", {"status": "paid"})
            assert queue.empty()  # not before the commit
        with pytest.raises(RuntimeError):
            await announce_then_fail(announcing.begin(), announcing, "rolled back")
        async with announcing.begin() as session:
            await events.announce(session, "counter:2", {"status": "another counter"})
            await events.announce(session, "counter:1", {"status": "cancelled"})
            # A refusal kept by an Idempotency-Key rolls back its savepoint and commits the rest.
            with pytest.raises(RuntimeError):
                await announce_then_fail(session.begin_nested(), session, "savepoint rolled back")
            await events.announce(session, "counter:1", {"status": "refunded"})

        arrived = [await asyncio.wait_for(queue.get(), ARRIVES_WITHIN) for _ in range(3)]

    assert arrived == ['{"status":"paid"}', '{"status":"cancelled"}', '{"status":"refunded"}']
    assert queue.empty()


@pytest.mark.postgres_only
async def test_a_lost_listening_connection_is_restored_and_subscribers_told_to_read_again(
    hub: events.Hub, announcing: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    with hub.subscribe("counter:1") as queue:
        async with engine.begin() as connection:
            await connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'")
            )
        told = await asyncio.wait_for(queue.get(), ARRIVES_WITHIN * 4)
        async with announcing.begin() as session:
            await events.announce(session, "counter:1", {"status": "paid"})
        after = await asyncio.wait_for(queue.get(), ARRIVES_WITHIN)

    assert (told, after) == (events.RESYNC, '{"status":"paid"}')


def test_a_topic_admits_a_screens_worth_of_watchers(hub: events.Hub) -> None:
    with ExitStack() as stack:
        for _ in range(events.MAX_WATCHERS):
            hub.admit("counter:1")
            stack.enter_context(hub.subscribe("counter:1"))
        with pytest.raises(events.TooManyWatchers):
            hub.admit("counter:1")
        hub.admit("counter:2")
    hub.admit("counter:1")
