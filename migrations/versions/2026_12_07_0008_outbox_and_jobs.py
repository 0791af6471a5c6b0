"""The transactional outbox and the periodic jobs' schedule shared by workers.

Payouts were sent by a periodic resend of every queued withdrawal; from here on only an outbox
message sends one. A withdrawal (or merchant settlement) still queued at the upgrade (the bank was
down) gets its message here, so it is sent, under the id the bank may already know it by, rather
than held for ever.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outbox_message",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("claimed_until", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
        sa.UniqueConstraint("key", name=op.f("uq_outbox_message_key")),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'given_up')", name=op.f("ck_outbox_message_status")),
    )
    # The dispatcher's question: pending and due, oldest first.
    op.create_index("ix_outbox_message_status_next_attempt_at", "outbox_message", ["status", "next_attempt_at"])
    op.create_table(
        "periodic_job",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("next_run_at", TIMESTAMP, nullable=False),
        sa.Column("last_started_at", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_periodic_job")),
    )
    _send_queued_payouts()


def _send_queued_payouts() -> None:
    """One ``payout.send`` message per queued withdrawal, as ``wallet.withdrawals`` writes it with the hold."""
    queued = op.get_bind().execute(sa.text("SELECT id, payout_id FROM withdrawal WHERE status = 'queued' ORDER BY id"))
    now = datetime.now(UTC)
    messages = sa.table(
        "outbox_message",
        sa.column("kind", sa.String),
        sa.column("payload", sa.JSON),
        sa.column("key", sa.String),
        sa.column("status", sa.String),
        sa.column("attempts", sa.Integer),
        sa.column("next_attempt_at", TIMESTAMP),
        sa.column("created_at", TIMESTAMP),
    )
    rows = [
        {
            "kind": "payout.send",
            "payload": {"withdrawal_id": withdrawal_id},
            "key": f"payout:{payout_id}",
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for withdrawal_id, payout_id in queued
    ]
    if rows:
        op.bulk_insert(messages, rows)


def downgrade() -> None:
    op.drop_table("periodic_job")
    op.drop_table("outbox_message")
