"""Top-up by card: one row per PaymentIntent at the acquirer, beside its hold in the ledger.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "card_topup",
        sa.Column("id", ID, nullable=False),
        sa.Column("wallet_id", ID, nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("hold_id", ID, nullable=False),
        sa.Column("payment_intent_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_code", sa.String(length=64), nullable=True),
        sa.Column("refunded_vnd", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["hold_id"], ["ledger_hold.id"], name=op.f("fk_card_topup_hold_id_ledger_hold")),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallet.id"], name=op.f("fk_card_topup_wallet_id_wallet")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_topup")),
        sa.UniqueConstraint("hold_id", name=op.f("uq_card_topup_hold_id")),
        sa.UniqueConstraint("payment_intent_id", name=op.f("uq_card_topup_payment_intent_id")),
    )
    op.create_index("ix_card_topup_status", "card_topup", ["status"])
    op.create_index("ix_card_topup_wallet_id", "card_topup", ["wallet_id"])


def downgrade() -> None:
    op.drop_table("card_topup")
