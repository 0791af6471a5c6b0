"""An append-only record of every manual decision: who, when, what, on what, and why.

Also of the few decisions the service takes about people on its own (a sign-in lock and its lifting,
``civicpay.auth.throttle``): those lines have no actor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from civicpay.db import Base, BigIntPK, UtcDateTime


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # None: the service itself decided (migration 0012).
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("auth_user.id"))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


async def record(
    session: AsyncSession,
    *,
    actor_user_id: int | None,
    action: str,
    subject_type: str,
    subject_id: str | int,
    reason: str,
    details: dict[str, Any],
    now: datetime,
) -> None:
    """Write one audit line in the same transaction as the decision it records."""
    await session.execute(
        insert(AuditEntry).values(
            actor_user_id=actor_user_id,
            action=action,
            subject_type=subject_type,
            subject_id=str(subject_id),
            reason=reason,
            details=details,
            at=now,
        )
    )
