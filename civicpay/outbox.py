"""The transactional outbox: work on outside parties written with the money, delivered after the commit.

A request to an outside party (confirm a card's PaymentIntent, send a payout to the bank) is a row
written by ``enqueue`` in the same transaction as the money it concerns, so it exists exactly when
that money moved: a rollback takes it away, a crash after the commit leaves it for whoever comes next.
Any process's ``Dispatcher`` delivers it: it claims due rows in a short transaction by setting a lease
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so dispatchers in many processes take disjoint rows; on
SQLite every transaction already takes the one write lock at BEGIN), calls the handler registered
for the row's kind outside any transaction, and marks the row delivered. A handler that fails is
tried again after an exponential backoff with full jitter, and given up after a number of tries: a
given-up row waits for an admin, who may redeliver it (``GET /admin/outbox``, ``civicpay outbox``).

Delivery is at least once (a crash between the other side's answer and our mark means one more
delivery), so every delivery carries the row's own key as its idempotency key at the other side: a
redelivery there finds the first and acts once.

The unit of work that wrote a message has it delivered right after its commit, by its own process's
dispatcher (``Doorbell.written``), so a request's answer is as prompt as before the outbox and a
periodic job's payouts go out at once; the dispatchers' rounds (``civicpay worker``) take what
failed, what a crash left, and what was written where no dispatcher answers.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter
from sqlalchemy import JSON, CheckConstraint, Index, Integer, String, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from civicpay import audit
from civicpay.auth.guards import Principal, requires
from civicpay.auth.models import Role
from civicpay.clock import Clock
from civicpay.db import (
    MAX_ID,
    Base,
    BigIntPK,
    UnitsOfWork,
    UtcDateTime,
    after_commit,
    insert_ignoring_conflict,
    table_of,
)
from civicpay.errors import Conflict, NotFound, Text

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], str], Awaitable[None]]
"""Delivers one message: its payload and its delivery key; raising means "try again later"."""

_DOORBELL = "civicpay.outbox.doorbell"
# Rows one claim takes: delivered concurrently, so a slow party holds back at most this many.
_BATCH = 20


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    GIVEN_UP = "given_up"


class OutboxMessage(Base):
    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_status_next_attempt_at", "status", "next_attempt_at"),
        CheckConstraint("status IN ('pending', 'delivered', 'given_up')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


_messages = table_of(OutboxMessage)


class Doorbell:
    """What a commit that wrote messages tells this process: its dispatcher delivers them at once.

    ``written`` is called after the commit (``civicpay.db.after_commit``): the process's dispatcher
    answers it by delivering those messages before the request that wrote them answers. Messages
    written where no dispatcher answers (or that fail) are left to the dispatchers' rounds.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._answer: Callable[[Collection[str]], Awaitable[int]] | None = None

    def answered_by(self, deliver: Callable[[Collection[str]], Awaitable[int]]) -> None:
        self._answer = deliver

    def written(self, keys: Collection[str]) -> Awaitable[int] | None:
        if self._answer is None:
            self.ring()
            return None
        return self._answer(keys)

    def ring(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout_seconds: float) -> bool:
        """True when rung (since the last ``clear``) within the timeout."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout_seconds)
        except TimeoutError:
            return False
        return True


def session_info(doorbell: Doorbell) -> dict[str, Any]:
    """What a session factory gives its sessions so that what they write is delivered after their commit."""
    return {_DOORBELL: doorbell}


async def enqueue(
    session: AsyncSession, *, kind: str, payload: dict[str, Any], key: str, now: datetime, wait: bool = True
) -> None:
    """Write a message in the caller's transaction; the same key again is the same message.

    ``key`` names the act at the other side (``payout:WD…``) and travels with every delivery as its
    idempotency key there. ``wait=False``: the unit of work that wrote it does not wait for its delivery
    after the commit, it only wakes this process's dispatcher (if it runs one; else the dispatchers'
    rounds take it): for a notification whose answer the writer's caller does not need.
    """
    await session.execute(
        insert_ignoring_conflict(session.get_bind().dialect.name, _messages, ("key",)),
        {
            "kind": kind,
            "payload": payload,
            "key": key,
            "status": OutboxStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
    )
    _deliver_after_commit(session, key, wait=wait)


def _deliver_after_commit(session: AsyncSession, key: str, *, wait: bool = True) -> None:
    """Have this process deliver the message as soon as the unit of work that wrote it commits."""
    doorbell: Doorbell | None = session.info.get(_DOORBELL)
    if doorbell is not None:
        after_commit(session, (lambda: doorbell.written([key])) if wait else doorbell.ring)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a message is tried (``CIVICPAY_OUTBOX_*`` settings)."""

    max_attempts: int = 10
    base_seconds: float = 2.0
    cap_seconds: float = 900.0
    # Longer than any handler's own timeouts: a lease that runs out lets another dispatcher deliver again.
    lease_seconds: float = 120.0
    # How long the unit of work that wrote a message waits for its delivery (a request, before it answers).
    prompt_seconds: float = 10.0

    def ceiling(self, attempts: int) -> float:
        """The longest wait after the ``attempts``-th failed try: base · 2^(attempts-1), capped."""
        return float(min(self.cap_seconds, self.base_seconds * 2 ** min(attempts - 1, 62)))


# Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): a uniform wait below the
# ceiling, so many messages failing together do not all come back together. Not a secret.
_RANDOM = random.Random()  # noqa: S311


def full_jitter(ceiling: float) -> float:
    return _RANDOM.uniform(0, ceiling)


@dataclass(frozen=True)
class _Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    key: str
    attempts: int
    lease_until: datetime


class Dispatcher:
    """Claims due messages, delivers each through the handler of its kind, records the outcome.

    Safe in any number of processes at once: a message is delivered by whoever holds its lease.
    """

    def __init__(
        self,
        units: UnitsOfWork,
        handlers: Mapping[str, Handler],
        clock: Clock,
        *,
        policy: RetryPolicy | None = None,
        doorbell: Doorbell | None = None,
        jitter: Callable[[float], float] = full_jitter,
    ) -> None:
        self._units = units
        self._handlers = dict(handlers)
        self._clock = clock
        self._policy = policy or RetryPolicy()
        self.doorbell = doorbell or Doorbell()
        self.doorbell.answered_by(self.deliver)
        self._jitter = jitter
        self._stopping = False

    async def deliver(self, keys: Collection[str]) -> int:
        """Deliver these messages now if they are due and nobody holds them; how many were tried.

        Called after a commit, whose answer must not turn into an error nor wait long: whatever fails
        or takes longer than ``prompt_seconds`` here is logged and left to the dispatchers' rounds (a
        try cut short keeps its lease, so nobody delivers it again before that try is over).
        """
        if not keys:
            return 0
        try:
            async with asyncio.timeout(self._policy.prompt_seconds):
                claimed = await self._claim(keys=keys, skip=())
                await asyncio.gather(*(self._deliver_one(message) for message in claimed))
        except Exception:
            logger.exception("outbox: delivering %s at once failed; the dispatchers try again", sorted(keys))
            return 0
        return len(claimed)

    async def drain(self) -> int:
        """Deliver everything due now, trying each message at most once; how many were tried.

        Tests call this to run delivery to completion; the loop of ``run`` calls it when woken.
        """
        tried: set[int] = set()
        while not self._stopping and (claimed := await self._claim(keys=None, skip=tried)):
            tried.update(message.id for message in claimed)
            await asyncio.gather(*(self._deliver_one(message) for message in claimed))
        return len(tried)

    async def run(self, poll_seconds: float) -> None:
        """Deliver when the doorbell rings, else every ``poll_seconds``, until ``stop``."""
        while not self._stopping:
            self.doorbell.clear()  # before draining: a ring during the drain makes the next wait return at once
            try:
                await self.drain()
            except Exception:  # the database may be restarting: the next round tries again
                logger.exception("outbox: delivering failed; trying again in %s s", poll_seconds)
            if not self._stopping:
                await self.doorbell.wait(poll_seconds)

    def stop(self) -> None:
        """End ``run`` once the deliveries under way are done."""
        self._stopping = True
        self.doorbell.ring()

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def _claim(self, *, keys: Collection[str] | None, skip: Collection[int]) -> list[_Claimed]:
        now = self._clock.now()
        lease_until = now + timedelta(seconds=self._policy.lease_seconds)
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING.value,
                OutboxMessage.next_attempt_at <= now,
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now),
                # Only kinds this process can deliver: an older worker must not spend a newer kind's tries.
                OutboxMessage.kind.in_(self._handlers),
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(_BATCH)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        if keys is not None:
            query = query.where(OutboxMessage.key.in_(keys))
        if skip:
            query = query.where(OutboxMessage.id.not_in(skip))
        async with self._units() as unit:
            rows = (await unit.session.scalars(query)).all()
            for row in rows:
                # Counted at the claim: a process killed mid-delivery has still spent a try.
                row.attempts += 1
                row.claimed_until = lease_until
            return [_Claimed(row.id, row.kind, dict(row.payload), row.key, row.attempts, lease_until) for row in rows]

    async def _deliver_one(self, message: _Claimed) -> None:
        # Never past the lease (what is left of it after the claim, less a tenth to record the outcome):
        # after it another dispatcher may deliver too, and this try must be over.
        left = (message.lease_until - self._clock.now()).total_seconds() - self._policy.lease_seconds / 10
        try:
            async with asyncio.timeout(max(left, 0.0)):
                await self._handlers[message.kind](message.payload, message.key)
        except Exception as error:  # any failure of the other side or of ours: try again later
            await self._failed(message, error)
        else:
            await self._finish(
                message, status=OutboxStatus.DELIVERED.value, delivered_at=self._clock.now(), last_error=None
            )

    async def _failed(self, message: _Claimed, error: Exception) -> None:
        reason = f"{type(error).__name__}: {error}"[:500]
        if message.attempts >= self._policy.max_attempts:
            logger.error(
                "outbox: gave up %s %s (key %s) after %s tries: %s",
                message.kind,
                message.id,
                message.key,
                message.attempts,
                reason,
            )
            await self._finish(message, status=OutboxStatus.GIVEN_UP.value, last_error=reason)
            return
        wait = self._jitter(self._policy.ceiling(message.attempts))
        logger.warning(
            "outbox: %s %s failed (try %s), again in %.1f s: %s",
            message.kind,
            message.id,
            message.attempts,
            wait,
            reason,
        )
        await self._finish(message, next_attempt_at=self._clock.now() + timedelta(seconds=wait), last_error=reason)

    async def _finish(self, message: _Claimed, **values: Any) -> None:
        """Record the outcome of our try, unless the message has been claimed again since.

        A delivery that outlived its lease may have been taken over (its try count moved on); the
        newer try's outcome is the one to keep.
        """
        async with self._units() as unit:
            await unit.session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == message.id,
                    OutboxMessage.status == OutboxStatus.PENDING.value,
                    OutboxMessage.attempts == message.attempts,
                )
                .values(claimed_until=None, **values)
            )


class OutboxEntry(msgspec.Struct):
    id: int
    kind: str
    key: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]


def _entry(row: OutboxMessage) -> OutboxEntry:
    return OutboxEntry(
        id=row.id,
        kind=row.kind,
        key=row.key,
        status=OutboxStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        payload=row.payload,
    )


async def listed(session: AsyncSession, *, status: OutboxStatus | None, limit: int = 100) -> list[OutboxEntry]:
    """Messages, oldest first; given-up ones are what an admin must look at."""
    query = select(OutboxMessage).order_by(OutboxMessage.id).limit(limit)
    if status is not None:
        query = query.where(OutboxMessage.status == status.value)
    return [_entry(row) for row in await session.scalars(query)]


async def one(session: AsyncSession, message_id: int) -> OutboxEntry:
    row = await session.get(OutboxMessage, message_id)
    if row is None:
        raise OutboxMessageNotFound()
    return _entry(row)


class OutboxMessageNotFound(NotFound):
    code = "outbox_message_not_found"
    title = Text("Không tìm thấy thông điệp", "Outbox message not found")


class NotGivenUp(Conflict):
    code = "outbox_message_not_given_up"
    title = Text("Chỉ gửi lại được thông điệp đã bị bỏ", "Only a given-up message can be redelivered by hand")


class StillPending(Conflict):
    code = "outbox_message_pending"
    title = Text("Thông điệp vẫn đang chờ gửi", "The message is still waiting to be delivered")


async def redeliver(
    session: AsyncSession,
    message_id: int,
    *,
    actor_user_id: int | None,
    now: datetime,
    delivered_too: bool = False,
) -> OutboxEntry:
    """Put a given-up message back in line with its tries counted afresh; its key stays, so it acts once.

    ``delivered_too``: a delivered message may be sent again as well, for a party that asks for a copy
    of what it acknowledged (a biller's notification); the same key lets it see the copy for one.
    Audited when a person asks (``actor_user_id``); an operator's command is in the server's own log.
    """
    row = await session.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise OutboxMessageNotFound()
    if delivered_too and row.status == OutboxStatus.PENDING:
        raise StillPending(status=row.status)
    if not delivered_too and row.status != OutboxStatus.GIVEN_UP:
        raise NotGivenUp(status=row.status)
    if actor_user_id is not None:
        await audit.record(
            session,
            actor_user_id=actor_user_id,
            action="outbox.redeliver",
            subject_type="outbox_message",
            subject_id=row.id,
            reason=(
                "redelivered by hand after it was given up"
                if row.status == OutboxStatus.GIVEN_UP
                else "sent again by hand after it was delivered"
            ),
            details={"kind": row.kind, "key": row.key, "attempts": row.attempts, "last_error": row.last_error},
            now=now,
        )
    row.status = OutboxStatus.PENDING.value
    row.attempts = 0
    row.next_attempt_at = now
    row.claimed_until = None
    await session.flush()
    _deliver_after_commit(session, row.key)
    return _entry(row)


MessageId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
StatusFilter = Annotated[OutboxStatus | None, QueryParameter(description="only messages in this state")]


class OutboxController(Controller):
    path = "/admin/outbox"
    tags = ["admin"]
    guards = [requires(Role.ADMIN)]

    @get("/", operation_id="listOutbox")
    async def list_messages(
        self, session: NamedDependency[AsyncSession], status: StatusFilter = None
    ) -> list[OutboxEntry]:
        """Messages to outside parties (``status=given_up``: the ones that need a person)."""
        return await listed(session, status=status)

    @post("/{message_id:int}/redeliver", operation_id="redeliverOutboxMessage", status_code=200)
    async def redeliver(
        self,
        message_id: MessageId,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
    ) -> OutboxEntry:
        """Try a given-up message again, as if new (its delivery key is the same: it still acts once); audited."""
        return await redeliver(session, message_id, actor_user_id=principal.user_id, now=clock.now())
