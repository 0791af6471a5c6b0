"""The in-app inbox (hộp thư thông báo): what the service tells a person, in Vietnamese and English.

A platform piece, like the outbox: any room writes a message with ``notify`` in the unit of work
that decided it (so a message about a payment exists exactly when the payment does), and people
read theirs through ``GET /notifications``. The texts are stored rendered, in both languages,
beside a stable ``kind`` and its ``params``: the inbox never has to know the rooms' templates, and
an app may still build its own text from the code.

``key`` makes a message once-only where the writer says so (a bill's reminder, say): a second
``notify`` with the same ``(user_id, key)`` is ignored by the UNIQUE constraint, so two workers
writing it at once still leave one.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, cast

import msgspec
from litestar import Controller, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.params import PathParameter, QueryParameter
from sqlalchemy import JSON, CursorResult, ForeignKey, Index, String, UniqueConstraint, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from civicpay.auth.guards import Principal
from civicpay.clock import Clock
from civicpay.db import MAX_ID, Base, BigIntPK, UtcDateTime, insert_ignoring_conflict, table_of
from civicpay.errors import InvalidField, NotFound, Text


class Notification(Base):
    """One message in one person's inbox; ``read_at`` is set once they have opened it."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        # The inbox is read newest first, per person; the unread count uses the same index.
        Index("ix_notification_inbox", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id"))
    kind: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    title_vi: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    body_vi: Mapped[str] = mapped_column(String(1000))
    body_en: Mapped[str] = mapped_column(String(1000))
    # Once-only messages name themselves (NULLs never clash, so other messages repeat freely).
    key: Mapped[str | None] = mapped_column(String(120), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


_notifications = table_of(Notification)


async def notify(
    session: AsyncSession,
    user_id: int,
    *,
    kind: str,
    title: Text,
    body: Text,
    now: datetime,
    params: dict[str, Any] | None = None,
    key: str | None = None,
) -> bool:
    """Put a message in a person's inbox, in the caller's transaction; False when ``key`` was already used."""
    values = {
        "user_id": user_id,
        "kind": kind,
        "params": params or {},
        "title_vi": title.vi[:200],
        "title_en": title.en[:200],
        "body_vi": body.vi[:1000],
        "body_en": body.en[:1000],
        "key": key,
        "created_at": now,
        "read_at": None,
    }
    if key is None:
        await session.execute(_notifications.insert(), values)
        return True
    statement = insert_ignoring_conflict(
        session.get_bind().dialect.name, _notifications, ("user_id", "key"), _notifications.c.id
    )
    return (await session.execute(statement, values)).first() is not None


class Bilingual(msgspec.Struct):
    vi: str
    en: str


class NotificationView(msgspec.Struct):
    id: int
    kind: Annotated[str, msgspec.Meta(description="Stable code of the message (`bill_autopay_paid`, ...)")]
    params: dict[str, Any]
    title: Bilingual
    body: Bilingual
    created_at: datetime
    read: bool


class NotificationPage(msgspec.Struct):
    items: list[NotificationView]
    unread_count: int
    next_cursor: str | None


class NotificationNotFound(NotFound):
    """Unknown, or another person's: the two answer alike."""

    code = "notification_not_found"
    title = Text("Không tìm thấy thông báo", "Notification not found")


def _encode_cursor(notification_id: int) -> str:
    return base64.urlsafe_b64encode(f"n{notification_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    # The wallet history's cursor shape (an opaque last id seen), so clients page both alike.
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith("n") and raw[1:].isdigit() and int(raw[1:]) <= MAX_ID:
            return int(raw[1:])
    except ValueError:
        pass
    raise InvalidField(Text("Con trỏ phân trang không hợp lệ", "The pagination cursor is not valid"), field="cursor")


def _view(row: Notification) -> NotificationView:
    return NotificationView(
        id=row.id,
        kind=row.kind,
        params=row.params,
        title=Bilingual(row.title_vi, row.title_en),
        body=Bilingual(row.body_vi, row.body_en),
        created_at=row.created_at,
        read=row.read_at is not None,
    )


async def inbox(session: AsyncSession, *, user_id: int, cursor: str | None, limit: int) -> NotificationPage:
    """Newest first; the cursor is the last message seen, so pages stay stable as new ones arrive."""
    query = select(Notification).where(Notification.user_id == user_id)
    if cursor is not None:
        query = query.where(Notification.id < _decode_cursor(cursor))
    rows = list(await session.scalars(query.order_by(Notification.id.desc()).limit(limit + 1)))
    unread = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
    return NotificationPage(
        items=[_view(row) for row in rows[:limit]],
        unread_count=unread or 0,
        next_cursor=_encode_cursor(rows[limit - 1].id) if len(rows) > limit else None,
    )


async def mark_read(session: AsyncSession, *, user_id: int, notification_id: int, now: datetime) -> NotificationView:
    """Read once: reading it again keeps the first time."""
    row = await session.get(Notification, notification_id)
    if row is None or row.user_id != user_id:
        raise NotificationNotFound()
    if row.read_at is None:
        row.read_at = now
        await session.flush()
    return _view(row)


async def mark_all_read(session: AsyncSession, *, user_id: int, now: datetime) -> int:
    """Every unread message of the person read now; how many that was."""
    result = await session.execute(
        update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None)).values(read_at=now)
    )
    # An UPDATE's result is a cursor result, which counts the rows it changed.
    return cast("CursorResult[Any]", result).rowcount


NotificationId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]


class MarkedRead(msgspec.Struct):
    marked: int


async def people_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Every signed-in person, whatever their role, has an inbox; a machine's API key has none (403)."""
    if connection.scope.get("method") == "OPTIONS":
        return  # a CORS preflight carries no credentials and reveals nothing but the methods
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal) or principal.kind != "user":
        raise PermissionDeniedException()


class NotificationController(Controller):
    path = "/notifications"
    tags = ["notifications"]
    guards = [people_only]

    @get("/", operation_id="listNotifications")
    async def list_mine(
        self,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        cursor: Annotated[str | None, QueryParameter(max_length=64)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> NotificationPage:
        """Your messages newest first, with how many are unread; pass ``next_cursor`` back as ``cursor``."""
        return await inbox(session, user_id=principal.user_id, cursor=cursor, limit=limit)

    @post("/{notification_id:int}/read", operation_id="readNotification", status_code=200)
    async def read(
        self,
        notification_id: NotificationId,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
    ) -> NotificationView:
        """Mark one of your messages read; another person's answers 404."""
        return await mark_read(session, user_id=principal.user_id, notification_id=notification_id, now=clock.now())

    @post("/read-all", operation_id="readAllNotifications", status_code=200)
    async def read_all(
        self,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
    ) -> MarkedRead:
        """Mark every message of yours read."""
        return MarkedRead(await mark_all_read(session, user_id=principal.user_id, now=clock.now()))
