"""Reconciliation: the exception queue's states, suspense adjustments (maker-checker) and closed days.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07

Every exception a run found so far is open (the server default). An adjustment is posted only once approved
by another officer than its proposer (CHECK ``four_eyes``); a day is closed once per account (UNIQUE).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("recon_exception") as batch:
        batch.add_column(sa.Column("state", sa.String(length=10), nullable=False, server_default="open"))
        batch.add_column(sa.Column("carried_from_id", ID, nullable=True))
        batch.add_column(sa.Column("carried_to", sa.Date(), nullable=True))
        batch.add_column(sa.Column("resolution", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("resolved_by_user_id", ID, nullable=True))
        batch.add_column(sa.Column("resolved_at", TIMESTAMP, nullable=True))
        batch.create_foreign_key(
            op.f("fk_recon_exception_carried_from_id_recon_exception"), "recon_exception", ["carried_from_id"], ["id"]
        )
        batch.create_foreign_key(
            op.f("fk_recon_exception_resolved_by_user_id_auth_user"), "auth_user", ["resolved_by_user_id"], ["id"]
        )
        batch.create_check_constraint(
            op.f("ck_recon_exception_state_known"), "state IN ('open', 'matched', 'adjusting', 'adjusted', 'carried')"
        )
        batch.create_check_constraint(
            op.f("ck_recon_exception_carried_has_day"), "(state = 'carried') = (carried_to IS NOT NULL)"
        )
        batch.create_index("ix_recon_exception_carried_to", ["carried_to"])

    op.create_table(
        "recon_adjustment",
        sa.Column("id", ID, nullable=False),
        sa.Column("exception_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("debit_account_id", ID, nullable=False),
        sa.Column("credit_account_id", ID, nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("effect_vnd", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("proposed_by", ID, nullable=False),
        sa.Column("proposed_at", TIMESTAMP, nullable=False),
        sa.Column("approved_by", ID, nullable=True),
        sa.Column("approved_at", TIMESTAMP, nullable=True),
        sa.Column("entry_id", ID, nullable=True),
        sa.CheckConstraint("status IN ('proposed', 'approved')", name=op.f("ck_recon_adjustment_status_known")),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_recon_adjustment_amount_positive")),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name=op.f("ck_recon_adjustment_distinct_accounts")),
        sa.CheckConstraint(
            "approved_by IS NULL OR approved_by <> proposed_by", name=op.f("ck_recon_adjustment_four_eyes")
        ),
        sa.CheckConstraint(
            "(status = 'approved') = (entry_id IS NOT NULL)", name=op.f("ck_recon_adjustment_approved_is_posted")
        ),
        sa.ForeignKeyConstraint(
            ["exception_id"], ["recon_exception.id"], name=op.f("fk_recon_adjustment_exception_id_recon_exception")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_account.id"], name=op.f("fk_recon_adjustment_account_id_ledger_account")
        ),
        sa.ForeignKeyConstraint(
            ["debit_account_id"],
            ["ledger_account.id"],
            name=op.f("fk_recon_adjustment_debit_account_id_ledger_account"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_account_id"],
            ["ledger_account.id"],
            name=op.f("fk_recon_adjustment_credit_account_id_ledger_account"),
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by"], ["auth_user.id"], name=op.f("fk_recon_adjustment_proposed_by_auth_user")
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["auth_user.id"], name=op.f("fk_recon_adjustment_approved_by_auth_user")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entry.id"], name=op.f("fk_recon_adjustment_entry_id_ledger_entry")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_adjustment")),
    )
    op.create_index("ix_recon_adjustment_exception", "recon_adjustment", ["exception_id"])

    op.create_table(
        "recon_day_close",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("drift_vnd", sa.BigInteger(), nullable=True),
        sa.Column("explained_vnd", sa.BigInteger(), nullable=False),
        sa.Column("closed_by", ID, nullable=True),
        sa.Column("closed_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_account.id"], name=op.f("fk_recon_day_close_account_id_ledger_account")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["recon_run.id"], name=op.f("fk_recon_day_close_run_id_recon_run")),
        sa.ForeignKeyConstraint(["closed_by"], ["auth_user.id"], name=op.f("fk_recon_day_close_closed_by_auth_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_day_close")),
        sa.UniqueConstraint("account_id", "business_day", name=op.f("uq_recon_day_close_account_id_business_day")),
    )


def downgrade() -> None:
    op.drop_table("recon_day_close")
    op.drop_index("ix_recon_adjustment_exception", table_name="recon_adjustment")
    op.drop_table("recon_adjustment")
    with op.batch_alter_table("recon_exception") as batch:
        batch.drop_index("ix_recon_exception_carried_to")
        batch.drop_constraint(op.f("ck_recon_exception_carried_has_day"), type_="check")
        batch.drop_constraint(op.f("ck_recon_exception_state_known"), type_="check")
        batch.drop_constraint(op.f("fk_recon_exception_resolved_by_user_id_auth_user"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_recon_exception_carried_from_id_recon_exception"), type_="foreignkey")
        for column in ("resolved_at", "resolved_by_user_id", "resolution", "carried_to", "carried_from_id", "state"):
            batch.drop_column(column)
