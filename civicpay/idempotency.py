"""Idempotency-Key for every money-moving POST, decided by a UNIQUE constraint.

The first request with a key inserts its row and runs; the answer, success or domain error, is
stored in the same transaction as the money it moved. A repeat with the same body gets the stored
answer byte for byte; with another body it gets 409. A concurrent duplicate blocks on the unique
index until the first commits, then replays its answer, so the two never both execute.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import HeaderParameter
from sqlalchemy import LargeBinary, String, UniqueConstraint, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from civicpay.auth.guards import Principal
from civicpay.clock import Clock
from civicpay.db import Base, BigIntPK, UtcDateTime, insert_ignoring_conflict, run_kept_actions, table_of
from civicpay.errors import PROBLEM_JSON, Conflict, DomainError, Language, Text, negotiate_language, render_domain_error

IdempotencyKey = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="A unique value per operation (a UUID, say); a retry with the same key and body replays "
        "the first answer instead of moving money again.",
    ),
]


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("principal", "key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    principal: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


_records = table_of(IdempotencyRecord)
_KEEP_ANSWER = (
    update(_records)
    .where(_records.c.id == bindparam("record"))
    .values(status_code=bindparam("status_code"), response_body=bindparam("response_body"))
)
_STORED_ANSWER = select(_records.c.fingerprint, _records.c.status_code, _records.c.response_body).where(
    _records.c.principal == bindparam("principal"), _records.c.key == bindparam("key")
)


class KeyReused(Conflict):
    code = "idempotency_key_reused"
    title = Text(
        "Idempotency-Key đã được dùng cho một yêu cầu khác",
        "This Idempotency-Key was already used for a different request",
    )


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status: int
    body: bytes
    replayed: bool

    def to_response(self) -> Response[bytes]:
        headers = {"Idempotent-Replayed": "true"} if self.replayed else {}
        media_type = PROBLEM_JSON if self.status >= 400 else "application/json"
        return Response(self.body, status_code=self.status, media_type=media_type, headers=headers)


def fingerprint(method: str, path: str, body: msgspec.Struct) -> str:
    """What makes two requests "the same": route and decoded body, not its whitespace."""
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(msgspec.json.encode(body))
    return digest.hexdigest()


def request_fingerprint(request: Request[Any, Any, Any], body: msgspec.Struct) -> str:
    """The fingerprint of a request to a route, its ids in the path included."""
    return fingerprint(request.method, request.url.path.rstrip("/"), body)


async def run_once(
    session: AsyncSession,
    *,
    principal: str,
    key: str,
    request_fingerprint: str,
    lang: Language,
    now: datetime,
    action: Callable[[], Awaitable[tuple[int, bytes]]],
) -> StoredAnswer:
    claimed = await session.execute(
        insert_ignoring_conflict(session.get_bind().dialect.name, _records, ("principal", "key"), _records.c.id),
        {"principal": principal, "key": key, "fingerprint": request_fingerprint, "created_at": now},
    )
    record_id = claimed.scalar()
    if record_id is None:
        return await _replay(session, principal, key, request_fingerprint)
    try:
        async with session.begin_nested():
            status, body = await action()
    except DomainError as error:
        if not error.replayable:
            raise  # the whole transaction rolls back, key included, so the retry with proof can run
        # The savepoint undid the use case's writes; the refusal itself is the answer to keep.
        await run_kept_actions(session)
        status, body = error.status, render_domain_error(error, lang)
    await session.execute(_KEEP_ANSWER, {"record": record_id, "status_code": status, "response_body": body})
    return StoredAnswer(status, body, replayed=False)


async def _replay(session: AsyncSession, principal: str, key: str, request_fingerprint: str) -> StoredAnswer:
    record = (await session.execute(_STORED_ANSWER, {"principal": principal, "key": key})).one()
    if record.fingerprint != request_fingerprint:
        raise KeyReused(field="header.Idempotency-Key")
    # A conflicting row is always a committed one, with its answer: PostgreSQL makes the INSERT wait
    # for the first transaction, and SQLite runs one writer at a time.
    return StoredAnswer(record.status_code, record.response_body, replayed=True)


class Once:
    """The Idempotency-Key protocol of one money-moving request: what its handler calls with its use case.

    A handler declares itself money-moving with ``**idempotent(...)`` in its route decorator and takes
    ``once`` as a dependency; ``await once(body, use_case)`` then claims the key, runs the use case in
    a savepoint, keeps its answer (or its refusal) and answers, or replays what the key answered first.
    """

    __slots__ = ("_caller", "_key", "_lang", "_request", "_session", "_status", "now")

    def __init__(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        *,
        caller: str,
        key: str,
        now: datetime,
    ) -> None:
        self._request = request
        self._session = session
        self._caller = caller
        self._key = key
        self._status = request.route_handler.status_code or 200
        self._lang = negotiate_language(request.headers.get("accept-language"))
        self.now = now

    async def __call__(self, body: msgspec.Struct, use_case: Callable[[], Awaitable[Any]]) -> Response[bytes]:
        """Answer the request once. ``body`` is the decoded request as the server reads it (normalise
        what means the same first); the path, with its ids, is part of what makes two requests the
        same. ``use_case`` returns what the caller is told (a Struct), kept as JSON."""

        async def action() -> tuple[int, bytes]:
            return self._status, msgspec.json.encode(await use_case())

        answer = await run_once(
            self._session,
            principal=self._caller,
            key=self._key,
            request_fingerprint=request_fingerprint(self._request, body),
            lang=self._lang,
            now=self.now,
            action=action,
        )
        return answer.to_response()


async def provide_once(
    request: Request[Any, Any, Any],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    clock: NamedDependency[Clock],
    idempotency_key: IdempotencyKey,
) -> Once:
    return Once(request, session, caller=principal.idempotency_scope, key=idempotency_key, now=clock.now())


def idempotent(status: int, answer: Any, description: str) -> dict[str, Any]:
    """The route decorator's arguments that make a POST money-moving: a required Idempotency-Key, the
    ``once`` dependency carrying the protocol, and the answer documented under its status."""
    return {
        "status_code": status,
        "responses": {status: ResponseSpec(data_container=answer, description=description, generate_examples=False)},
        "dependencies": {"once": Provide(provide_once)},
    }
