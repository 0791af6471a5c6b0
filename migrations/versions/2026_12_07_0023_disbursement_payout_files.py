"""Disbursement bank payout files: the pain.001 files sent per destination bank, and each bank item's file,
its new states (sent to bank, confirmed by the bank), the bank's rejection text and the follow-up flag.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07

The item's state CHECK is widened in a batch (SQLite rebuilds the table); every
existing row keeps a state it had, so the downgrade narrows it back once no item is in a new state.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD_STATES = "status IN ('invalid', 'valid', 'queued', 'paid_to_wallet', 'pending_bank', 'failed')"
NEW_STATES = (
    "status IN ('invalid', 'valid', 'queued', 'paid_to_wallet', 'pending_bank', 'sent_to_bank',"
    " 'bank_confirmed', 'failed')"
)


def upgrade() -> None:
    op.create_table(
        "disbursement_payout_file",
        sa.Column("id", ID, nullable=False),
        sa.Column("batch_id", ID, nullable=False),
        sa.Column("reference", sa.String(length=35), nullable=False),
        sa.Column("bank_bin", sa.String(length=10), nullable=False),
        sa.Column("debtor_bank_bin", sa.String(length=10), nullable=False),
        sa.Column("debtor_account_number", sa.String(length=30), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("total_vnd", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'completed')", name=op.f("ck_disbursement_payout_file_status_known")
        ),
        sa.CheckConstraint("item_count > 0 AND total_vnd > 0", name=op.f("ck_disbursement_payout_file_not_empty")),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["disbursement_batch.id"],
            name=op.f("fk_disbursement_payout_file_batch_id_disbursement_batch"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disbursement_payout_file")),
        sa.UniqueConstraint("reference", name=op.f("uq_disbursement_payout_file_reference")),
    )
    op.create_index(op.f("ix_disbursement_payout_file_batch_id"), "disbursement_payout_file", ["batch_id"])
    with op.batch_alter_table("disbursement_item") as batch:
        batch.add_column(sa.Column("payout_file_id", ID, nullable=True))
        batch.add_column(sa.Column("failure_detail", sa.String(length=140), nullable=True))
        batch.add_column(sa.Column("follow_up", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.create_foreign_key(
            op.f("fk_disbursement_item_payout_file_id_disbursement_payout_file"),
            "disbursement_payout_file",
            ["payout_file_id"],
            ["id"],
        )
        batch.create_index(op.f("ix_disbursement_item_payout_file_id"), ["payout_file_id"])
        batch.drop_constraint(op.f("ck_disbursement_item_status_known"), type_="check")
        batch.create_check_constraint(op.f("ck_disbursement_item_status_known"), NEW_STATES)


def downgrade() -> None:
    with op.batch_alter_table("disbursement_item") as batch:
        batch.drop_constraint(op.f("ck_disbursement_item_status_known"), type_="check")
        batch.create_check_constraint(op.f("ck_disbursement_item_status_known"), OLD_STATES)
        batch.drop_index(op.f("ix_disbursement_item_payout_file_id"))
        batch.drop_constraint(op.f("fk_disbursement_item_payout_file_id_disbursement_payout_file"), type_="foreignkey")
        batch.drop_column("follow_up")
        batch.drop_column("failure_detail")
        batch.drop_column("payout_file_id")
    op.drop_index(op.f("ix_disbursement_payout_file_batch_id"), table_name="disbursement_payout_file")
    op.drop_table("disbursement_payout_file")
