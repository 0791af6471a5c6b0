"""The transactional outbox: once after a crash, retried with backoff, given up and redelivered by hand.

The outside party is a real HTTP server on a loopback socket (tests/outbox_party.py); time is the
test's clock, never a sleep.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from civicpay import outbox
from civicpay.audit import AuditEntry
from civicpay.auth.models import Role
from civicpay.clock import FixedClock
from civicpay.db import UnitsOfWork, create_engine, create_session_factory
from civicpay.settings import Settings
from sandbox.bank import Bank
from tests.conftest import Api, create_staff, signed_in
from tests.integration.wallet.test_withdrawals import linked, withdraw
from tests.outbox_party import KIND, Party, handler
from tests.servers import serving

ROOT = Path(__file__).resolve().parents[3]
# Far beyond any wait a subprocess could need to start and commit; reached only when something is wrong.
PROCESS_SECONDS = 60


@pytest.fixture
def party() -> Iterator[tuple[str, Party]]:
    state = Party()
    with serving(state.app()) as url:
        yield url, state


async def message(sessions: async_sessionmaker[AsyncSession], key: str) -> outbox.OutboxMessage:
    async with sessions() as session:
        found = await session.scalar(select(outbox.OutboxMessage).where(outbox.OutboxMessage.key == key))
    assert found is not None
    return found


async def test_a_message_committed_by_a_process_killed_before_delivering_is_delivered_once(
    database_url: str,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    clock: FixedClock,
    party: tuple[str, Party],
) -> None:
    url, seen = party
    writer = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "tests.outbox_party", database_url, "ping-1", clock.now().isoformat()],
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert writer.stdout is not None
        said = await asyncio.wait_for(writer.stdout.readline(), PROCESS_SECONDS)
        assert said == b"claimed\n"
    finally:
        writer.kill()  # SIGKILL: no cleanup, no delivery, its lease left behind
        await asyncio.wait_for(writer.wait(), PROCESS_SECONDS)
    assert writer.returncode == -signal.SIGKILL
    dispatcher = outbox.Dispatcher(UnitsOfWork(sessions), {KIND: handler(url)}, clock)

    while_leased = await dispatcher.drain()
    clock.advance(timedelta(seconds=outbox.RetryPolicy().lease_seconds))
    after_the_lease = await dispatcher.drain()
    again = await dispatcher.drain()

    assert (while_leased, after_the_lease, again) == (0, 1, 0)
    assert seen.acted == Counter({"ping-1": 1})
    delivered = await message(sessions, "ping-1")
    assert (delivered.status, delivered.attempts) == ("delivered", 2)  # the dead process's try counts


async def test_a_failing_party_is_tried_again_after_a_growing_wait(
    sessions: async_sessionmaker[AsyncSession], clock: FixedClock, party: tuple[str, Party]
) -> None:
    url, seen = party
    seen.failures = 2
    policy = outbox.RetryPolicy(max_attempts=5, base_seconds=2, cap_seconds=60)
    # The jitter at its ceiling, so the waits are known: 2 s, then 4 s.
    dispatcher = outbox.Dispatcher(
        UnitsOfWork(sessions), {KIND: handler(url)}, clock, policy=policy, jitter=lambda ceiling: ceiling
    )
    async with sessions.begin() as session:
        await outbox.enqueue(session, kind=KIND, payload={"n": 1}, key="ping-2", now=clock.now())
    started = clock.now()

    waits = []
    for _ in range(2):
        assert await dispatcher.drain() == 1
        failed = await message(sessions, "ping-2")
        assert (failed.status, failed.last_error is not None) == ("pending", True)
        waits.append((failed.attempts, failed.next_attempt_at - clock.now()))
        assert await dispatcher.drain() == 0  # not before its time
        clock.advance(failed.next_attempt_at - clock.now())
    assert await dispatcher.drain() == 1

    assert waits == [(1, timedelta(seconds=2)), (2, timedelta(seconds=4))]
    delivered = await message(sessions, "ping-2")
    assert (delivered.status, delivered.attempts, delivered.delivered_at) == (
        "delivered",
        3,
        started + timedelta(seconds=6),
    )
    assert seen.received == ["ping-2"] * 3  # one key for every try: the party can tell it is one act


def test_the_wait_is_random_below_a_ceiling_that_doubles_up_to_the_cap() -> None:
    policy = outbox.RetryPolicy(base_seconds=2, cap_seconds=60)

    assert [policy.ceiling(attempts) for attempts in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert all(0 <= outbox.full_jitter(10) <= 10 for _ in range(100))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"outbox_max_attempts": 2}


async def test_a_payout_given_up_is_listed_for_admins_and_redelivered_by_hand_once(
    api: Api,
    app: Litestar,
    bank: Bank,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
) -> None:
    huong = await api.register(full_name="Nguyễn Thị Hương")
    await api.fund(huong, 500_000)
    account_id = await linked(api, bank, huong)
    admin = await signed_in(api, await create_staff(sessions, settings, clock, Role.ADMIN, "Phạm Quốc Bảo"))
    bank.down = True
    made = (await withdraw(api, huong, account_id, 150_000)).json()  # the request's own try: the first
    clock.advance(timedelta(seconds=settings.outbox_backoff_cap_seconds))
    await app.state.outbox.drain()  # the second and last

    given_up = await api.client.get("/admin/outbox", params={"status": "given_up"}, headers=admin)
    not_for_citizens = await api.client.get("/admin/outbox", headers=huong.headers)
    bank.down = False
    (entry,) = given_up.json()
    redelivered = await api.client.post(f"/admin/outbox/{entry['id']}/redeliver", headers=admin)
    await app.state.outbox.drain()
    twice = await api.client.post(f"/admin/outbox/{entry['id']}/redeliver", headers=admin)

    assert given_up.status_code == 200, given_up.text
    assert (entry["kind"], entry["key"], entry["attempts"]) == ("payout.send", f"payout:{made['payout_id']}", 2)
    assert "BankUnavailable" in entry["last_error"]
    assert not_for_citizens.status_code == 403
    assert (redelivered.status_code, redelivered.json()["status"], redelivered.json()["attempts"]) == (
        200,
        "pending",
        0,
    )
    assert (twice.status_code, twice.json()["code"]) == (409, "outbox_message_not_given_up")
    shown = (await api.client.get(f"/withdrawals/{made['id']}", headers=huong.headers)).json()
    assert shown["status"] == "sent"
    assert list(bank.payouts) == [made["payout_id"]]
    assert (await api.client.get("/admin/outbox", params={"status": "given_up"}, headers=admin)).json() == []
    async with sessions() as session:
        audited = (await session.scalars(select(AuditEntry))).all()
    assert [(line.action, line.subject_id, line.details["attempts"]) for line in audited] == [
        ("outbox.redeliver", str(entry["id"]), 2)
    ]


@pytest.mark.postgres_only
async def test_without_the_claim_two_dispatchers_deliver_what_both_read_twice(
    settings: Settings, engine: AsyncEngine, clock: FixedClock
) -> None:
    """The race exists: read what is pending, deliver, then mark, with nothing claimed in between."""
    delivered: Counter[str] = Counter()
    async with create_session_factory(engine).begin() as session:
        for number in range(20):
            await outbox.enqueue(session, kind=KIND, payload={}, key=f"naive-{number}", now=clock.now())
    both_have_read = asyncio.Barrier(2)

    async def naive(sessions: async_sessionmaker[AsyncSession]) -> None:
        async with sessions() as session:
            pending = (
                await session.scalars(select(outbox.OutboxMessage).where(outbox.OutboxMessage.status == "pending"))
            ).all()
        await both_have_read.wait()
        for row in pending:
            delivered[row.key] += 1
            async with sessions.begin() as session:
                await session.execute(
                    update(outbox.OutboxMessage).where(outbox.OutboxMessage.id == row.id).values(status="delivered")
                )

    engines = [create_engine(settings) for _ in range(2)]
    try:
        await asyncio.gather(*(naive(create_session_factory(own)) for own in engines))
    finally:
        for own in engines:
            await own.dispose()

    assert set(delivered.values()) == {2}


@pytest.mark.postgres_only
async def test_two_dispatchers_racing_deliver_every_message_exactly_once(
    settings: Settings, engine: AsyncEngine, clock: FixedClock
) -> None:
    count = 300
    delivered: Counter[str] = Counter()
    by_dispatcher: Counter[int] = Counter()

    def counting(number: int) -> outbox.Handler:
        async def deliver(_payload: dict[str, Any], key: str) -> None:
            await asyncio.sleep(0)  # let the other dispatcher in between claim and mark
            delivered[key] += 1
            by_dispatcher[number] += 1

        return deliver

    async with create_session_factory(engine).begin() as session:
        for number in range(count):
            await outbox.enqueue(session, kind=KIND, payload={"n": number}, key=f"race-{number}", now=clock.now())
    engines = [create_engine(settings) for _ in range(2)]  # each its own pool: another process, to the database
    try:
        dispatchers = [
            outbox.Dispatcher(UnitsOfWork(create_session_factory(own)), {KIND: counting(number)}, clock)
            for number, own in enumerate(engines)
        ]
        tried = await asyncio.gather(*(dispatcher.drain() for dispatcher in dispatchers))
    finally:
        for own in engines:
            await own.dispose()

    assert sum(tried) == count
    assert delivered == Counter({f"race-{number}": 1 for number in range(count)})
    assert set(by_dispatcher) == {0, 1}  # both took part


async def test_a_delivery_that_would_outlive_its_lease_is_cut_short_and_tried_again(
    sessions: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    async def never_answers(_payload: dict[str, Any], _key: str) -> None:
        await asyncio.Event().wait()

    policy = outbox.RetryPolicy(lease_seconds=0.01)
    dispatcher = outbox.Dispatcher(UnitsOfWork(sessions), {KIND: never_answers}, clock, policy=policy)
    async with sessions.begin() as session:
        await outbox.enqueue(session, kind=KIND, payload={}, key="hangs", now=clock.now())

    assert await dispatcher.drain() == 1

    cut_short = await message(sessions, "hangs")
    assert (cut_short.status, cut_short.attempts, cut_short.claimed_until) == ("pending", 1, None)
    assert cut_short.last_error is not None
    assert cut_short.last_error.startswith("TimeoutError")
