"""Bills paid from any bank app, in parts, and with credit: payments without a wallet, allocations per part.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

``billing_payment`` gains ``source`` (``wallet`` or ``bank``) and ``notification_id`` (the bank's notification
whose money paid it, unique); ``user_id`` and ``wallet_id`` become nullable, and a CHECK keeps each source's
columns consistent (``credit``: paid from a customer code's credit, neither). Existing rows are wallet
payments.

Partial payments: ``billing_bill.amount_paid_vnd`` (existing paid bills: paid in full) with CHECKs that it
never exceeds the amount and that a paid bill is paid in full; ``billing_payment_item`` loses its unique
bill (one allocation per bill) for a ``sequence`` unique per bill (existing rows: 1), which keeps the
double-pay guarantee. ``billing_credit`` holds each customer code's credit at a ``keep_credit`` biller.

Only billing tables are touched, so this rechains after the other engineers' 0014-0016 without conflict.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SOURCE_CONSISTENT = (
    "(source = 'wallet' AND user_id IS NOT NULL AND wallet_id IS NOT NULL AND notification_id IS NULL)"
    " OR (source = 'bank' AND notification_id IS NOT NULL AND user_id IS NULL AND wallet_id IS NULL)"
    " OR (source = 'credit' AND notification_id IS NULL AND user_id IS NULL AND wallet_id IS NULL)"
)
TIMESTAMP = sa.DateTime(timezone=True)


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

    with op.batch_alter_table("billing_bill") as batch:
        batch.add_column(sa.Column("amount_paid_vnd", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute("UPDATE billing_bill SET amount_paid_vnd = amount_vnd WHERE status = 'paid'")
    with op.batch_alter_table("billing_bill") as batch:
        batch.create_check_constraint(
            op.f("ck_billing_bill_paid_within_amount"), "amount_paid_vnd >= 0 AND amount_paid_vnd <= amount_vnd"
        )
        batch.create_check_constraint(
            op.f("ck_billing_bill_paid_in_full"), "status != 'paid' OR amount_paid_vnd = amount_vnd"
        )

    with op.batch_alter_table("billing_payment_item") as batch:
        batch.add_column(sa.Column("sequence", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("billing_payment_item") as batch:
        batch.alter_column("sequence", existing_type=sa.Integer(), server_default=None)
        batch.drop_constraint(op.f("uq_billing_payment_item_bill_id"), type_="unique")
        batch.create_unique_constraint(op.f("uq_billing_payment_item_bill_id_sequence"), ["bill_id", "sequence"])
        batch.create_check_constraint(op.f("ck_billing_payment_item_sequence_positive"), "sequence >= 1")

    op.create_table(
        "billing_credit",
        sa.Column("id", ID, nullable=False),
        sa.Column("biller_id", ID, nullable=False),
        sa.Column("customer_code", sa.String(length=40), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("amount_vnd >= 0", name=op.f("ck_billing_credit_amount_not_negative")),
        sa.ForeignKeyConstraint(
            ["biller_id"], ["billing_biller.id"], name=op.f("fk_billing_credit_biller_id_billing_biller")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_credit")),
        sa.UniqueConstraint("biller_id", "customer_code", name=op.f("uq_billing_credit_biller_id_customer_code")),
    )


def downgrade() -> None:
    # A bank or credit payment has no wallet to keep under the old NOT NULL columns, and a bill paid in parts
    # has several allocations: 0013 cannot hold either, so the downgrade refuses rather than lose them.
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM billing_payment WHERE source != 'wallet'")).scalar():
        raise RuntimeError("billing_payment holds bank or credit payments; 0013 cannot hold them")
    if bind.execute(sa.text("SELECT count(*) FROM billing_payment_item WHERE sequence > 1")).scalar():
        raise RuntimeError("billing_payment_item holds bills paid in parts; 0013 cannot hold them")
    op.drop_table("billing_credit")
    with op.batch_alter_table("billing_payment_item") as batch:
        batch.drop_constraint(op.f("ck_billing_payment_item_sequence_positive"), type_="check")
        batch.drop_constraint(op.f("uq_billing_payment_item_bill_id_sequence"), type_="unique")
        batch.create_unique_constraint(op.f("uq_billing_payment_item_bill_id"), ["bill_id"])
        batch.drop_column("sequence")
    with op.batch_alter_table("billing_bill") as batch:
        batch.drop_constraint(op.f("ck_billing_bill_paid_in_full"), type_="check")
        batch.drop_constraint(op.f("ck_billing_bill_paid_within_amount"), type_="check")
        batch.drop_column("amount_paid_vnd")
    with op.batch_alter_table("billing_payment") as batch:
        batch.drop_constraint(op.f("ck_billing_payment_source_consistent"), type_="check")
        batch.drop_constraint(op.f("uq_billing_payment_notification_id"), type_="unique")
        batch.drop_constraint(op.f("fk_billing_payment_notification_id_bank_notification"), type_="foreignkey")
        batch.alter_column("user_id", existing_type=ID, nullable=False)
        batch.alter_column("wallet_id", existing_type=ID, nullable=False)
        batch.drop_column("notification_id")
        batch.drop_column("source")
