"""Welfare and pension disbursement: programmes and their funding, batches of beneficiaries and their items, and
the payments whose UNIQUE (programme, period, citizen ID) keeps anyone from being paid twice.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07

Numbered 0021 beside other rooms' 0019 and 0020 made at the same time; whoever merges them rechains
``down_revision``. Only new tables: nothing existing changes, so the downgrade drops them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "disbursement_programme",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("max_amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("funding_account_id", ID, nullable=False),
        sa.Column("reserve_account_id", ID, nullable=False),
        sa.Column("created_by", ID, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "kind IN ('welfare', 'pension', 'one_off')", name=op.f("ck_disbursement_programme_kind_known")
        ),
        sa.CheckConstraint("max_amount_vnd > 0", name=op.f("ck_disbursement_programme_max_amount_positive")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["auth_user.id"], name=op.f("fk_disbursement_programme_created_by_auth_user")
        ),
        sa.ForeignKeyConstraint(
            ["funding_account_id"],
            ["ledger_account.id"],
            name=op.f("fk_disbursement_programme_funding_account_id_ledger_account"),
        ),
        sa.ForeignKeyConstraint(
            ["reserve_account_id"],
            ["ledger_account.id"],
            name=op.f("fk_disbursement_programme_reserve_account_id_ledger_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disbursement_programme")),
        sa.UniqueConstraint("funding_account_id", name=op.f("uq_disbursement_programme_funding_account_id")),
        sa.UniqueConstraint("name", name=op.f("uq_disbursement_programme_name")),
        sa.UniqueConstraint("reserve_account_id", name=op.f("uq_disbursement_programme_reserve_account_id")),
    )
    op.create_table(
        "disbursement_batch",
        sa.Column("id", ID, nullable=False),
        sa.Column("programme_id", ID, nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("made_by", ID, nullable=False),
        sa.Column("approved_by", ID, nullable=True),
        sa.Column("hold_id", ID, nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("invalid_count", sa.Integer(), nullable=False),
        sa.Column("wallet_count", sa.Integer(), nullable=False),
        sa.Column("wallet_total_vnd", sa.BigInteger(), nullable=False),
        sa.Column("bank_count", sa.Integer(), nullable=False),
        sa.Column("bank_total_vnd", sa.BigInteger(), nullable=False),
        sa.Column("released_vnd", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("approved_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "(status = 'validated') = (hold_id IS NULL)", name=op.f("ck_disbursement_batch_approved_has_hold")
        ),
        sa.CheckConstraint(
            "status IN ('validated', 'approved', 'awaiting_bank', 'completed')",
            name=op.f("ck_disbursement_batch_status_known"),
        ),
        sa.CheckConstraint(
            "approved_by IS NULL OR approved_by <> made_by", name=op.f("ck_disbursement_batch_four_eyes")
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["auth_user.id"], name=op.f("fk_disbursement_batch_approved_by_auth_user")
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["ledger_hold.id"], name=op.f("fk_disbursement_batch_hold_id_ledger_hold")
        ),
        sa.ForeignKeyConstraint(["made_by"], ["auth_user.id"], name=op.f("fk_disbursement_batch_made_by_auth_user")),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["disbursement_programme.id"],
            name=op.f("fk_disbursement_batch_programme_id_disbursement_programme"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disbursement_batch")),
    )
    op.create_index(op.f("ix_disbursement_batch_programme_id"), "disbursement_batch", ["programme_id"])
    op.create_index("ix_disbursement_batch_status", "disbursement_batch", ["status", "id"])

    op.create_table(
        "disbursement_funding",
        sa.Column("id", ID, nullable=False),
        sa.Column("programme_id", ID, nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("bank_reference", sa.String(length=35), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", ID, nullable=False),
        sa.Column("approved_by", ID, nullable=True),
        sa.Column("entry_id", ID, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("approved_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "(status = 'approved') = (entry_id IS NOT NULL)", name=op.f("ck_disbursement_funding_approved_has_entry")
        ),
        sa.CheckConstraint("status IN ('pending', 'approved')", name=op.f("ck_disbursement_funding_status_known")),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_disbursement_funding_amount_positive")),
        sa.CheckConstraint(
            "approved_by IS NULL OR approved_by <> recorded_by", name=op.f("ck_disbursement_funding_four_eyes")
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["auth_user.id"], name=op.f("fk_disbursement_funding_approved_by_auth_user")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entry.id"], name=op.f("fk_disbursement_funding_entry_id_ledger_entry")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["disbursement_programme.id"],
            name=op.f("fk_disbursement_funding_programme_id_disbursement_programme"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["auth_user.id"], name=op.f("fk_disbursement_funding_recorded_by_auth_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disbursement_funding")),
    )
    op.create_index(op.f("ix_disbursement_funding_programme_id"), "disbursement_funding", ["programme_id"])

    op.create_table(
        "disbursement_item",
        sa.Column("id", ID, nullable=False),
        sa.Column("batch_id", ID, nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.String(length=20), nullable=False),
        sa.Column("full_name", sa.String(length=100), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=True),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("destination", sa.String(length=10), nullable=False),
        sa.Column("bank_bin", sa.String(length=10), nullable=False),
        sa.Column("account_number", sa.String(length=30), nullable=False),
        sa.Column("holder_name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("wallet_account_id", ID, nullable=True),
        sa.Column("transfer_id", ID, nullable=True),
        sa.Column("failure", sa.String(length=40), nullable=True),
        sa.Column("paid_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "status IN ('invalid', 'valid', 'queued', 'paid_to_wallet', 'pending_bank', 'failed')",
            name=op.f("ck_disbursement_item_status_known"),
        ),
        sa.CheckConstraint("amount_vnd IS NULL OR amount_vnd > 0", name=op.f("ck_disbursement_item_amount_positive")),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["disbursement_batch.id"], name=op.f("fk_disbursement_item_batch_id_disbursement_batch")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["ledger_transfer.id"], name=op.f("fk_disbursement_item_transfer_id_ledger_transfer")
        ),
        sa.ForeignKeyConstraint(
            ["wallet_account_id"],
            ["ledger_account.id"],
            name=op.f("fk_disbursement_item_wallet_account_id_ledger_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disbursement_item")),
    )
    op.create_index("ix_disbursement_item_batch_status", "disbursement_item", ["batch_id", "status", "id"])

    op.create_table(
        "disbursement_payment",
        sa.Column("id", ID, nullable=False),
        sa.Column("programme_id", ID, nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("citizen_id", sa.String(length=12), nullable=False),
        sa.Column("item_id", ID, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["disbursement_item.id"], name=op.f("fk_disbursement_payment_item_id_disbursement_item")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["disbursement_programme.id"],
            name=op.f("fk_disbursement_payment_programme_id_disbursement_programme"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disbursement_payment")),
        sa.UniqueConstraint("item_id", name=op.f("uq_disbursement_payment_item_id")),
        sa.UniqueConstraint(
            "programme_id", "period", "citizen_id", name=op.f("uq_disbursement_payment_programme_id_period_citizen_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("disbursement_payment")
    op.drop_index("ix_disbursement_item_batch_status", table_name="disbursement_item")
    op.drop_table("disbursement_item")
    op.drop_index(op.f("ix_disbursement_funding_programme_id"), table_name="disbursement_funding")
    op.drop_table("disbursement_funding")
    op.drop_index("ix_disbursement_batch_status", table_name="disbursement_batch")
    op.drop_index(op.f("ix_disbursement_batch_programme_id"), table_name="disbursement_batch")
    op.drop_table("disbursement_batch")
    op.drop_table("disbursement_programme")
