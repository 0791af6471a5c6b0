"""Bills paid from any bank app: a bill payment made by a bank transfer has no wallet, and names its notification.

Revision ID: 0017
Revises: 0013
Create Date: 2026-12-07

``billing_payment`` gains ``source`` (``wallet`` or ``bank``) and ``notification_id`` (the bank's notification
whose money paid it, unique); ``user_id`` and ``wallet_id`` become nullable, and a CHECK keeps each source's
columns consistent. Existing rows are wallet payments. Only billing tables are touched, so this rechains
after the other engineers' 0014-0016 without conflict.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SOURCE_CONSISTENT = (
    "(source = 'wallet' AND user_id IS NOT NULL AND wallet_id IS NOT NULL AND notification_id IS NULL)"
    " OR (source = 'bank' AND notification_id IS NOT NULL AND user_id IS NULL AND wallet_id IS NULL)"
)


def upgrade() -> None:
    # Every payment so far came from a wallet: the default fills them, and is then dropped so that new
    # rows always say where their money came from.
    with op.batch_alter_table("billing_payment") as batch:
        batch.add_column(sa.Column("source", sa.String(length=8), nullable=False, server_default="wallet"))
        batch.add_column(sa.Column("notification_id", ID, nullable=True))
    with op.batch_alter_table("billing_payment") as batch:
        batch.alter_column("source", existing_type=sa.String(length=8), server_default=None)
        batch.alter_column("user_id", existing_type=ID, nullable=True)
        batch.alter_column("wallet_id", existing_type=ID, nullable=True)
        batch.create_foreign_key(
            op.f("fk_billing_payment_notification_id_bank_notification"),
            "bank_notification",
            ["notification_id"],
            ["id"],
        )
        batch.create_unique_constraint(op.f("uq_billing_payment_notification_id"), ["notification_id"])
        batch.create_check_constraint(op.f("ck_billing_payment_source_consistent"), SOURCE_CONSISTENT)


def downgrade() -> None:
    # A bank payment has no wallet to keep under the old NOT NULL columns: it cannot be downgraded silently.
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM billing_payment WHERE source = 'bank'")).scalar():
        raise RuntimeError("billing_payment holds bank payments; 0013 cannot hold them")
    with op.batch_alter_table("billing_payment") as batch:
        batch.drop_constraint(op.f("ck_billing_payment_source_consistent"), type_="check")
        batch.drop_constraint(op.f("uq_billing_payment_notification_id"), type_="unique")
        batch.drop_constraint(op.f("fk_billing_payment_notification_id_bank_notification"), type_="foreignkey")
        batch.alter_column("user_id", existing_type=ID, nullable=False)
        batch.alter_column("wallet_id", existing_type=ID, nullable=False)
        batch.drop_column("notification_id")
        batch.drop_column("source")
