"""Billers' payment notifications: which outbox message notifies which biller of which payment, and each try.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

The outbox row (``outbox_message``) keeps a delivery's state; ``billing_webhook_delivery`` names its
biller and payment by the message's key, so a biller's log needs no look into generic payloads, and
``billing_webhook_attempt`` keeps every HTTP try with the biller's status code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "billing_webhook_delivery",
        sa.Column("id", ID, nullable=False),
        sa.Column("biller_id", ID, nullable=False),
        sa.Column("payment_id", ID, nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("outbox_key", sa.String(length=128), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["biller_id"], ["billing_biller.id"], name=op.f("fk_billing_webhook_delivery_biller_id_billing_biller")
        ),
        sa.ForeignKeyConstraint(
            ["outbox_key"],
            ["outbox_message.key"],
            name=op.f("fk_billing_webhook_delivery_outbox_key_outbox_message"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["billing_payment.id"], name=op.f("fk_billing_webhook_delivery_payment_id_billing_payment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_webhook_delivery")),
        sa.UniqueConstraint("outbox_key", name=op.f("uq_billing_webhook_delivery_outbox_key")),
    )
    op.create_index("ix_billing_webhook_delivery_biller", "billing_webhook_delivery", ["biller_id", "id"])
    op.create_index(op.f("ix_billing_webhook_delivery_payment_id"), "billing_webhook_delivery", ["payment_id"])
    op.create_table(
        "billing_webhook_attempt",
        sa.Column("id", ID, nullable=False),
        sa.Column("delivery_id", ID, nullable=False),
        sa.Column("attempted_at", TIMESTAMP, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["billing_webhook_delivery.id"],
            name=op.f("fk_billing_webhook_attempt_delivery_id_billing_webhook_delivery"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_webhook_attempt")),
    )
    op.create_index(op.f("ix_billing_webhook_attempt_delivery_id"), "billing_webhook_attempt", ["delivery_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_billing_webhook_attempt_delivery_id"), table_name="billing_webhook_attempt")
    op.drop_table("billing_webhook_attempt")
    op.drop_index(op.f("ix_billing_webhook_delivery_payment_id"), table_name="billing_webhook_delivery")
    op.drop_index("ix_billing_webhook_delivery_biller", table_name="billing_webhook_delivery")
    op.drop_table("billing_webhook_delivery")
