"""Top-up by bank transfer: incoming-transfer notifications, and the audit log of manual decisions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

The audit log is append-only on both databases, like the ledger's money rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", ID, nullable=False),
        sa.Column("actor_user_id", ID, nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["actor_user_id"], ["auth_user.id"], name=op.f("fk_audit_log_actor_user_id_auth_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_subject", "audit_log", ["subject_type", "subject_id"])
    op.create_table(
        "bank_notification",
        sa.Column("id", ID, nullable=False),
        sa.Column("bank_notification_id", sa.String(length=64), nullable=False),
        sa.Column("bank", sa.String(length=32), nullable=False),
        sa.Column("account_number", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.String(length=500), nullable=False),
        sa.Column("bank_reference", sa.String(length=64), nullable=False),
        sa.Column("running_balance_vnd", sa.BigInteger(), nullable=True),
        sa.Column("transaction_at", TIMESTAMP, nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("suspense_reason", sa.String(length=32), nullable=True),
        sa.Column("wallet_id", ID, nullable=True),
        sa.Column("transfer_id", ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["ledger_transfer.id"], name=op.f("fk_bank_notification_transfer_id_ledger_transfer")
        ),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallet.id"], name=op.f("fk_bank_notification_wallet_id_wallet")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_notification")),
        sa.UniqueConstraint("bank_notification_id", name=op.f("uq_bank_notification_bank_notification_id")),
    )
    op.create_index("ix_bank_notification_outcome", "bank_notification", ["outcome"])
    if op.get_bind().dialect.name == "postgresql":
        # ledger_append_only() comes from revision 0001.
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log"
            " FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{action.lower()} BEFORE {action} ON audit_log"
                " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )


def downgrade() -> None:
    op.drop_table("bank_notification")
    op.drop_table("audit_log")
