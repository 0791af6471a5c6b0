"""Billers' daily settlement: one payout per biller and business day, and the bill payments each carries.

Revision ID: 0018
Revises: 0013
Create Date: 2026-12-07

``billing_settlement`` is UNIQUE by (biller, business day), committed with the hold on the biller's payable:
that is what makes a day's settlement happen once however many workers run it. Its items are not unique by
allocation: a rejected settlement keeps its lines, and a later settlement carries them again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "billing_settlement",
        sa.Column("id", ID, nullable=False),
        sa.Column("biller_id", ID, nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("cutoff_at", TIMESTAMP, nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("bill_count", sa.Integer(), nullable=False),
        sa.Column("bank_bin", sa.String(length=6), nullable=False),
        sa.Column("account_number", sa.String(length=19), nullable=False),
        sa.Column("account_holder", sa.String(length=100), nullable=False),
        sa.Column("from_bank_bin", sa.String(length=6), nullable=False),
        sa.Column("from_account_number", sa.String(length=19), nullable=False),
        sa.Column("hold_id", ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=16), nullable=True),
        sa.Column("bank_reference", sa.String(length=64), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_billing_settlement_amount_positive")),
        sa.CheckConstraint("bill_count > 0", name=op.f("ck_billing_settlement_bills_counted")),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'confirmed', 'rejected')", name=op.f("ck_billing_settlement_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["biller_id"], ["billing_biller.id"], name=op.f("fk_billing_settlement_biller_id_billing_biller")
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["ledger_hold.id"], name=op.f("fk_billing_settlement_hold_id_ledger_hold")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_settlement")),
        sa.UniqueConstraint("biller_id", "business_day", name=op.f("uq_billing_settlement_biller_id_business_day")),
        sa.UniqueConstraint("hold_id", name=op.f("uq_billing_settlement_hold_id")),
        sa.UniqueConstraint("reference", name=op.f("uq_billing_settlement_reference")),
    )
    op.create_index(op.f("ix_billing_settlement_status"), "billing_settlement", ["status"], unique=False)
    op.create_table(
        "billing_settlement_item",
        sa.Column("id", ID, nullable=False),
        sa.Column("settlement_id", ID, nullable=False),
        sa.Column("payment_item_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_item_id"],
            ["billing_payment_item.id"],
            name=op.f("fk_billing_settlement_item_payment_item_id_billing_payment_item"),
        ),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["billing_settlement.id"],
            name=op.f("fk_billing_settlement_item_settlement_id_billing_settlement"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_settlement_item")),
        sa.UniqueConstraint(
            "settlement_id", "payment_item_id", name=op.f("uq_billing_settlement_item_settlement_id_payment_item_id")
        ),
    )
    op.create_index(
        op.f("ix_billing_settlement_item_payment_item_id"),
        "billing_settlement_item",
        ["payment_item_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_billing_settlement_item_payment_item_id"), table_name="billing_settlement_item")
    op.drop_table("billing_settlement_item")
    op.drop_index(op.f("ix_billing_settlement_status"), table_name="billing_settlement")
    op.drop_table("billing_settlement")
