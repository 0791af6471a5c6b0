"""Sign-in failures counted per phone and client address, and per address; the service's own audit lines.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

``auth_login_throttle`` counted failed sign-ins per phone number, so anyone anywhere could lock a citizen
out with five wrong passwords. ``auth_sign_in_throttle`` counts them per (phone, client address), plus one
row per address (``phone`` empty) for every phone tried from it (``civicpay.auth.throttle``). The old
counters are only minutes of memory and are not carried over.

``audit_log.actor_user_id`` may now be empty: a line the service wrote of its own accord (a sign-in lock
and its lifting) has no person behind it. On SQLite the column change rebuilds the table, which drops its
append-only triggers; they are made again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def _sqlite_audit_triggers() -> None:
    """audit_log's append-only triggers on SQLite, as migration 0002 made them."""
    for action in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{action.lower()}")
        op.execute(
            f"CREATE TRIGGER audit_log_no_{action.lower()} BEFORE {action} ON audit_log"
            " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )


def _actor_nullable(nullable: bool) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{action}")
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column(
            "actor_user_id", existing_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=nullable
        )
    if sqlite:
        _sqlite_audit_triggers()


def upgrade() -> None:
    op.create_table(
        "auth_sign_in_throttle",
        sa.Column("phone", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", TIMESTAMP, nullable=True),
        sa.Column("last_failure_at", TIMESTAMP, nullable=True),
        sa.Column("locked_until", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("phone", "address", name=op.f("pk_auth_sign_in_throttle")),
    )
    op.drop_table("auth_login_throttle")
    _actor_nullable(True)


def downgrade() -> None:
    # A line with no actor cannot be given one, nor removed from an append-only log: refuse, rather than
    # leave the column looser than 0011 says or rewrite the record.
    if op.get_bind().execute(sa.text("SELECT count(*) FROM audit_log WHERE actor_user_id IS NULL")).scalar():
        raise RuntimeError("audit_log holds lines written by the service itself (no actor); 0011 cannot hold them")
    _actor_nullable(False)
    op.create_table(
        "auth_login_throttle",
        sa.Column("phone", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_auth_login_throttle")),
    )
    op.drop_table("auth_sign_in_throttle")
