"""Withdrawals to a citizen's own bank account, and the accounts they link for it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "linked_bank_account",
        sa.Column("id", ID, nullable=False),
        sa.Column("wallet_id", ID, nullable=False),
        sa.Column("bank_bin", sa.String(length=6), nullable=False),
        sa.Column("account_number", sa.String(length=19), nullable=False),
        sa.Column("holder_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallet.id"], name=op.f("fk_linked_bank_account_wallet_id_wallet")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linked_bank_account")),
        sa.UniqueConstraint(
            "wallet_id",
            "bank_bin",
            "account_number",
            name=op.f("uq_linked_bank_account_wallet_id_bank_bin_account_number"),
        ),
    )
    op.create_table(
        "withdrawal",
        sa.Column("id", ID, nullable=False),
        sa.Column("wallet_id", ID, nullable=False),
        sa.Column("bank_account_id", ID, nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("hold_id", ID, nullable=False),
        sa.Column("payout_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=16), nullable=True),
        sa.Column("bank_reference", sa.String(length=64), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["bank_account_id"],
            ["linked_bank_account.id"],
            name=op.f("fk_withdrawal_bank_account_id_linked_bank_account"),
        ),
        sa.ForeignKeyConstraint(["hold_id"], ["ledger_hold.id"], name=op.f("fk_withdrawal_hold_id_ledger_hold")),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallet.id"], name=op.f("fk_withdrawal_wallet_id_wallet")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withdrawal")),
        sa.UniqueConstraint("hold_id", name=op.f("uq_withdrawal_hold_id")),
        sa.UniqueConstraint("payout_id", name=op.f("uq_withdrawal_payout_id")),
    )
    op.create_index("ix_withdrawal_status", "withdrawal", ["status"])
    op.create_index("ix_withdrawal_wallet_id", "withdrawal", ["wallet_id"])


def downgrade() -> None:
    op.drop_table("withdrawal")
    op.drop_table("linked_bank_account")
