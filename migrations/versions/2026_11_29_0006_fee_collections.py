"""One-stop offices, counters, clerks and fee collections; merchants; remittances to the State Treasury.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "qr_office",
        sa.Column("id", ID, nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("city", sa.String(length=60), nullable=False),
        sa.Column("bank_bin", sa.String(length=6), nullable=False),
        sa.Column("account_number", sa.String(length=19), nullable=False),
        sa.Column("agency_code", sa.String(length=16), nullable=False),
        sa.Column("agency_name", sa.String(length=120), nullable=False),
        sa.Column("treasury_account", sa.String(length=32), nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_account.id"], name=op.f("fk_qr_office_account_id_ledger_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qr_office")),
        sa.UniqueConstraint("account_id", name=op.f("uq_qr_office_account_id")),
        sa.UniqueConstraint("bank_bin", "account_number", name=op.f("uq_qr_office_bank_bin_account_number")),
        sa.UniqueConstraint("code", name=op.f("uq_qr_office_code")),
    )
    op.create_index("ix_qr_office_agency_code", "qr_office", ["agency_code"], unique=False)

    op.create_table(
        "qr_treasury_remittance",
        sa.Column("id", ID, nullable=False),
        sa.Column("agency_code", sa.String(length=16), nullable=False),
        sa.Column("treasury_account", sa.String(length=32), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("collections", sa.Integer(), nullable=False),
        sa.Column("entry_id", ID, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entry.id"], name=op.f("fk_qr_treasury_remittance_entry_id_ledger_entry")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qr_treasury_remittance")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_qr_treasury_remittance_entry_id")),
    )
    op.create_index("ix_qr_treasury_remittance_agency_code", "qr_treasury_remittance", ["agency_code"], unique=False)

    op.create_table(
        "qr_clerk",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("office_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["office_id"], ["qr_office.id"], name=op.f("fk_qr_clerk_office_id_qr_office")),
        sa.ForeignKeyConstraint(["user_id"], ["auth_user.id"], name=op.f("fk_qr_clerk_user_id_auth_user")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_qr_clerk")),
    )
    op.create_table(
        "qr_counter",
        sa.Column("id", ID, nullable=False),
        sa.Column("office_id", ID, nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["office_id"], ["qr_office.id"], name=op.f("fk_qr_counter_office_id_qr_office")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qr_counter")),
        sa.UniqueConstraint("office_id", "name", name=op.f("uq_qr_counter_office_id_name")),
    )
    op.create_table(
        "qr_merchant",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("wallet_id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("city", sa.String(length=60), nullable=False),
        sa.Column("mcc", sa.String(length=4), nullable=False),
        sa.Column("bank_bin", sa.String(length=6), nullable=False),
        sa.Column("account_number", sa.String(length=19), nullable=False),
        sa.Column("bank_account_id", ID, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_account_id"],
            ["linked_bank_account.id"],
            name=op.f("fk_qr_merchant_bank_account_id_linked_bank_account"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["auth_user.id"], name=op.f("fk_qr_merchant_user_id_auth_user")),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallet.id"], name=op.f("fk_qr_merchant_wallet_id_wallet")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qr_merchant")),
        sa.UniqueConstraint("bank_bin", "account_number", name=op.f("uq_qr_merchant_bank_bin_account_number")),
        sa.UniqueConstraint("user_id", name=op.f("uq_qr_merchant_user_id")),
        sa.UniqueConstraint("wallet_id", name=op.f("uq_qr_merchant_wallet_id")),
    )
    op.create_table(
        "qr_fee_collection",
        sa.Column("id", ID, nullable=False),
        sa.Column("office_id", ID, nullable=False),
        sa.Column("counter_id", ID, nullable=False),
        sa.Column("clerk_user_id", ID, nullable=False),
        sa.Column("procedure_code", sa.String(length=32), nullable=False),
        sa.Column("procedure_name", sa.String(length=200), nullable=False),
        sa.Column("dossier_number", sa.String(length=40), nullable=False),
        sa.Column("payer_name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("paid_at", TIMESTAMP, nullable=True),
        sa.Column("paid_by", sa.String(length=8), nullable=True),
        sa.Column("payer_wallet_id", ID, nullable=True),
        sa.Column("bank_notification_id", ID, nullable=True),
        sa.Column("transfer_id", ID, nullable=True),
        sa.Column("receipt_number", sa.String(length=32), nullable=True),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.Column("swept_by_id", ID, nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'paid', 'expired', 'cancelled', 'refunded')",
            name=op.f("ck_qr_fee_collection_status_known"),
        ),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_qr_fee_collection_amount_positive")),
        sa.CheckConstraint(
            "status NOT IN ('paid', 'refunded') OR (transfer_id IS NOT NULL AND receipt_number IS NOT NULL)",
            name=op.f("ck_qr_fee_collection_paid_has_money_and_receipt"),
        ),
        sa.CheckConstraint(
            "swept_by_id IS NULL OR status = 'paid'", name=op.f("ck_qr_fee_collection_only_paid_is_swept")
        ),
        sa.ForeignKeyConstraint(
            ["bank_notification_id"],
            ["bank_notification.id"],
            name=op.f("fk_qr_fee_collection_bank_notification_id_bank_notification"),
        ),
        sa.ForeignKeyConstraint(
            ["clerk_user_id"], ["auth_user.id"], name=op.f("fk_qr_fee_collection_clerk_user_id_auth_user")
        ),
        sa.ForeignKeyConstraint(
            ["counter_id"], ["qr_counter.id"], name=op.f("fk_qr_fee_collection_counter_id_qr_counter")
        ),
        sa.ForeignKeyConstraint(["office_id"], ["qr_office.id"], name=op.f("fk_qr_fee_collection_office_id_qr_office")),
        sa.ForeignKeyConstraint(
            ["payer_wallet_id"], ["wallet.id"], name=op.f("fk_qr_fee_collection_payer_wallet_id_wallet")
        ),
        sa.ForeignKeyConstraint(
            ["swept_by_id"],
            ["qr_treasury_remittance.id"],
            name=op.f("fk_qr_fee_collection_swept_by_id_qr_treasury_remittance"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["ledger_transfer.id"], name=op.f("fk_qr_fee_collection_transfer_id_ledger_transfer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qr_fee_collection")),
        sa.UniqueConstraint("receipt_number", name=op.f("uq_qr_fee_collection_receipt_number")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_qr_fee_collection_transfer_id")),
        sa.UniqueConstraint("bank_notification_id", name=op.f("uq_qr_fee_collection_bank_notification_id")),
    )
    op.create_index("ix_qr_fee_collection_counter_created", "qr_fee_collection", ["counter_id", "id"], unique=False)
    op.create_index(
        "ix_qr_fee_collection_unswept", "qr_fee_collection", ["office_id", "status", "swept_by_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("qr_fee_collection")
    op.drop_table("qr_merchant")
    op.drop_table("qr_counter")
    op.drop_table("qr_clerk")
    op.drop_table("qr_treasury_remittance")
    op.drop_table("qr_office")
