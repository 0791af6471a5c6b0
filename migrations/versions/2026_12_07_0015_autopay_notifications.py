"""Auto-pay on bill links, its attempts, and the in-app notification inbox.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

``billing_autopay_attempt`` is unique by (link, bill): one try per bill and link, committed with its money,
however many workers run. ``notification`` is unique by (user, key): a once-only message (a bill's
reminder) is written once. The link's two auto-pay columns are both set or both empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("title_vi", sa.String(length=200), nullable=False),
        sa.Column("title_en", sa.String(length=200), nullable=False),
        sa.Column("body_vi", sa.String(length=1000), nullable=False),
        sa.Column("body_en", sa.String(length=1000), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("read_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["auth_user.id"], name=op.f("fk_notification_user_id_auth_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_notification_user_id_key")),
    )
    op.create_index("ix_notification_inbox", "notification", ["user_id", "id"], unique=False)
    with op.batch_alter_table("billing_link") as batch:
        batch.add_column(sa.Column("autopay_ceiling_vnd", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("autopay_from", sa.Date(), nullable=True))
        batch.create_check_constraint(
            "autopay_ceiling_positive", "autopay_ceiling_vnd IS NULL OR autopay_ceiling_vnd > 0"
        )
        batch.create_check_constraint("autopay_whole", "(autopay_ceiling_vnd IS NULL) = (autopay_from IS NULL)")
    op.create_table(
        "billing_autopay_attempt",
        sa.Column("id", ID, nullable=False),
        sa.Column("link_id", sa.BigInteger(), nullable=False),
        sa.Column("bill_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", ID, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "outcome IN ('paid', 'failed', 'skipped')", name=op.f("ck_billing_autopay_attempt_outcome_known")
        ),
        sa.CheckConstraint(
            "outcome != 'paid' OR payment_id IS NOT NULL", name=op.f("ck_billing_autopay_attempt_paid_has_payment")
        ),
        sa.ForeignKeyConstraint(
            ["bill_id"], ["billing_bill.id"], name=op.f("fk_billing_autopay_attempt_bill_id_billing_bill")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["billing_payment.id"], name=op.f("fk_billing_autopay_attempt_payment_id_billing_payment")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth_user.id"], name=op.f("fk_billing_autopay_attempt_user_id_auth_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_autopay_attempt")),
        sa.UniqueConstraint("link_id", "bill_id", name=op.f("uq_billing_autopay_attempt_link_id_bill_id")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_billing_autopay_attempt_payment_id")),
    )
    op.create_index(
        "ix_billing_autopay_attempt_month", "billing_autopay_attempt", ["link_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_billing_autopay_attempt_month", table_name="billing_autopay_attempt")
    op.drop_table("billing_autopay_attempt")
    with op.batch_alter_table("billing_link") as batch:
        batch.drop_constraint(op.f("ck_billing_link_autopay_whole"), type_="check")
        batch.drop_constraint(op.f("ck_billing_link_autopay_ceiling_positive"), type_="check")
        batch.drop_column("autopay_from")
        batch.drop_column("autopay_ceiling_vnd")
    op.drop_index("ix_notification_inbox", table_name="notification")
    op.drop_table("notification")
