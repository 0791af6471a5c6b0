"""Billing: billers, their bills and each bill's history, citizens' customer links, bill payments and allocations.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

A biller's payable is a ledger account (opened by the app, no rows here). ``billing_payment_item`` is unique
by bill: a bill is paid by one allocation, never two, whatever the lock on its row misses.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "billing_biller",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("bank_bin", sa.String(length=6), nullable=False),
        sa.Column("account_number", sa.String(length=19), nullable=False),
        sa.Column("account_holder", sa.String(length=100), nullable=False),
        sa.Column("api_key_id", ID, nullable=False),
        sa.Column("webhook_url", sa.String(length=300), nullable=False),
        sa.Column("webhook_secret", sa.String(length=128), nullable=False),
        sa.Column("payment_policy", sa.String(length=16), nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "category IN ('electricity', 'water', 'sanitation', 'tuition', 'public_service_fee', 'telecom',"
            " 'hospital', 'other')",
            name=op.f("ck_billing_biller_category_known"),
        ),
        sa.CheckConstraint(
            "payment_policy IN ('refuse', 'allow_partial', 'keep_credit')", name=op.f("ck_billing_biller_policy_known")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_account.id"], name=op.f("fk_billing_biller_account_id_ledger_account")
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["auth_api_key.id"], name=op.f("fk_billing_biller_api_key_id_auth_api_key")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_biller")),
        sa.UniqueConstraint("account_id", name=op.f("uq_billing_biller_account_id")),
        sa.UniqueConstraint("api_key_id", name=op.f("uq_billing_biller_api_key_id")),
    )
    op.create_table(
        "billing_bill",
        sa.Column("id", ID, nullable=False),
        sa.Column("biller_id", ID, nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("customer_code", sa.String(length=40), nullable=False),
        sa.Column("customer_name", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("paid_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint("status != 'paid' OR paid_at IS NOT NULL", name=op.f("ck_billing_bill_paid_has_time")),
        sa.CheckConstraint("status IN ('open', 'paid', 'cancelled')", name=op.f("ck_billing_bill_status_known")),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_billing_bill_amount_positive")),
        sa.ForeignKeyConstraint(
            ["biller_id"], ["billing_biller.id"], name=op.f("fk_billing_bill_biller_id_billing_biller")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_bill")),
        sa.UniqueConstraint("biller_id", "external_id", name=op.f("uq_billing_bill_biller_id_external_id")),
    )
    op.create_index("ix_billing_bill_customer", "billing_bill", ["biller_id", "customer_code", "status"], unique=False)

    op.create_table(
        "billing_link",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("biller_id", ID, nullable=False),
        sa.Column("customer_code", sa.String(length=40), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["biller_id"], ["billing_biller.id"], name=op.f("fk_billing_link_biller_id_billing_biller")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["auth_user.id"], name=op.f("fk_billing_link_user_id_auth_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_link")),
        sa.UniqueConstraint(
            "user_id", "biller_id", "customer_code", name=op.f("uq_billing_link_user_id_biller_id_customer_code")
        ),
    )
    op.create_index("ix_billing_link_code", "billing_link", ["biller_id", "customer_code"], unique=False)
    op.create_index(op.f("ix_billing_link_user_id"), "billing_link", ["user_id"], unique=False)

    op.create_table(
        "billing_payment",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("wallet_id", ID, nullable=False),
        sa.Column("entry_id", ID, nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_billing_payment_amount_positive")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entry.id"], name=op.f("fk_billing_payment_entry_id_ledger_entry")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["auth_user.id"], name=op.f("fk_billing_payment_user_id_auth_user")),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallet.id"], name=op.f("fk_billing_payment_wallet_id_wallet")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_payment")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_billing_payment_entry_id")),
    )
    op.create_index(op.f("ix_billing_payment_user_id"), "billing_payment", ["user_id"], unique=False)

    op.create_table(
        "billing_bill_revision",
        sa.Column("id", ID, nullable=False),
        sa.Column("bill_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("customer_name", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["bill_id"], ["billing_bill.id"], name=op.f("fk_billing_bill_revision_bill_id_billing_bill")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_bill_revision")),
        sa.UniqueConstraint("bill_id", "version", name=op.f("uq_billing_bill_revision_bill_id_version")),
    )
    op.create_table(
        "billing_payment_item",
        sa.Column("id", ID, nullable=False),
        sa.Column("payment_id", ID, nullable=False),
        sa.Column("bill_id", ID, nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", ID, nullable=False),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_billing_payment_item_amount_positive")),
        sa.ForeignKeyConstraint(
            ["bill_id"], ["billing_bill.id"], name=op.f("fk_billing_payment_item_bill_id_billing_bill")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["billing_payment.id"], name=op.f("fk_billing_payment_item_payment_id_billing_payment")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["ledger_transfer.id"], name=op.f("fk_billing_payment_item_transfer_id_ledger_transfer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_payment_item")),
        sa.UniqueConstraint("bill_id", name=op.f("uq_billing_payment_item_bill_id")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_billing_payment_item_transfer_id")),
    )
    op.create_index(op.f("ix_billing_payment_item_payment_id"), "billing_payment_item", ["payment_id"], unique=False)


def downgrade() -> None:
    for table in (
        "billing_payment_item",
        "billing_payment",
        "billing_link",
        "billing_bill_revision",
        "billing_bill",
        "billing_biller",
    ):
        op.drop_table(table)
