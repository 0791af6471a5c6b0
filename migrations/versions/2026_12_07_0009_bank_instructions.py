"""Treasury remittances and suspense returns become instructions to the bank, held until it answers.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

A remittance now has a status (queued, sent, confirmed, rejected), the bank's reason code and
reference, the bank account of ours it leaves, and the hold of its money until the bank answers.
Remittances booked before this revision moved their money at once: they become ``confirmed``, with no
hold and no single paying account (one may have drawn from two). A suspense return is a row of its own
(``suspense_return``) with its hold and status; items returned before this revision stay ``returned``,
their money already booked out, with no row.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
STATUSES = "status IN ('queued', 'sent', 'confirmed', 'rejected')"


def upgrade() -> None:
    with op.batch_alter_table("qr_treasury_remittance") as batch:
        batch.add_column(sa.Column("from_bank_bin", sa.String(length=6), nullable=True))
        batch.add_column(sa.Column("from_account_number", sa.String(length=19), nullable=True))
        batch.add_column(sa.Column("hold_id", ID, nullable=True))
        # Every remittance so far was booked as swept: the money left at once.
        batch.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="confirmed"))
        batch.add_column(sa.Column("reason_code", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("bank_reference", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("resolved_at", TIMESTAMP, nullable=True))
        batch.create_foreign_key(
            op.f("fk_qr_treasury_remittance_hold_id_ledger_hold"), "ledger_hold", ["hold_id"], ["id"]
        )
        batch.create_unique_constraint(op.f("uq_qr_treasury_remittance_hold_id"), ["hold_id"])
        batch.create_index(op.f("ix_qr_treasury_remittance_status"), ["status"])
        batch.create_check_constraint(op.f("ck_qr_treasury_remittance_status_known"), STATUSES)
        batch.create_check_constraint(
            op.f("ck_qr_treasury_remittance_pending_is_held"), "hold_id IS NOT NULL OR status = 'confirmed'"
        )
    op.execute("UPDATE qr_treasury_remittance SET resolved_at = created_at")
    with op.batch_alter_table("qr_treasury_remittance") as batch:
        batch.alter_column("status", existing_type=sa.String(length=16), server_default=None)
    op.create_table(
        "suspense_return",
        sa.Column("id", ID, nullable=False),
        sa.Column("notification_id", ID, nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("hold_id", ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=16), nullable=True),
        sa.Column("bank_reference", sa.String(length=64), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["bank_notification.id"],
            name=op.f("fk_suspense_return_notification_id_bank_notification"),
        ),
        sa.ForeignKeyConstraint(["hold_id"], ["ledger_hold.id"], name=op.f("fk_suspense_return_hold_id_ledger_hold")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suspense_return")),
        sa.UniqueConstraint("reference", name=op.f("uq_suspense_return_reference")),
        sa.UniqueConstraint("hold_id", name=op.f("uq_suspense_return_hold_id")),
    )
    op.create_index(op.f("ix_suspense_return_notification_id"), "suspense_return", ["notification_id"])
    op.create_index(op.f("ix_suspense_return_status"), "suspense_return", ["status"])


def downgrade() -> None:
    raise NotImplementedError(
        "0009 holds money until the bank answers: settle every pending remittance and return, then restore a backup"
    )
