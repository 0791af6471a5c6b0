"""Unclaimed disbursements: a programme's claims account, a batch's unclaimed rows, an item held for a wallet, and
the citizen IDs a room awaits a wallet for (whose sign-up writes ``wallet.opened``).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07

The item's status CHECK gains ``held_unclaimed``, ``claimed`` and ``returned``, beside 0023's bank states. Existing
rows need nothing: no batch had an unclaimed row (the destination did not exist), so their counts start at 0 and no
item is held.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HELD = sa.text("status = 'held_unclaimed'")
STATUSES_BEFORE = (
    "status IN ('invalid', 'valid', 'queued', 'paid_to_wallet', 'pending_bank', 'sent_to_bank', 'bank_confirmed',"
    " 'failed')"
)
STATUSES = (
    "status IN ('invalid', 'valid', 'queued', 'paid_to_wallet', 'pending_bank', 'sent_to_bank', 'bank_confirmed',"
    " 'failed', 'held_unclaimed', 'claimed', 'returned')"
)


def upgrade() -> None:
    with op.batch_alter_table("disbursement_programme") as batch:
        batch.add_column(sa.Column("claims_account_id", ID, nullable=True))
        batch.create_foreign_key(
            op.f("fk_disbursement_programme_claims_account_id_ledger_account"),
            "ledger_account",
            ["claims_account_id"],
            ["id"],
        )
        batch.create_unique_constraint(op.f("uq_disbursement_programme_claims_account_id"), ["claims_account_id"])
    with op.batch_alter_table("disbursement_batch") as batch:
        batch.add_column(sa.Column("unclaimed_count", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("unclaimed_total_vnd", sa.BigInteger(), server_default="0", nullable=False))
    with op.batch_alter_table("disbursement_item") as batch:
        batch.add_column(sa.Column("held_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("held_transfer_id", ID, nullable=True))
        batch.add_column(sa.Column("returned_at", TIMESTAMP, nullable=True))
        batch.create_foreign_key(
            op.f("fk_disbursement_item_held_transfer_id_ledger_transfer"),
            "ledger_transfer",
            ["held_transfer_id"],
            ["id"],
        )
        batch.drop_constraint(op.f("ck_disbursement_item_status_known"), type_="check")
        batch.create_check_constraint("status_known", STATUSES)
        batch.create_check_constraint("held_whole", "(held_at IS NULL) = (held_transfer_id IS NULL)")
        batch.create_check_constraint(
            "held", "status NOT IN ('held_unclaimed', 'claimed', 'returned') OR held_at IS NOT NULL"
        )
    op.create_index(
        "ix_disbursement_item_held_citizen",
        "disbursement_item",
        ["citizen_id"],
        postgresql_where=HELD,
        sqlite_where=HELD,
    )
    op.create_index(
        "ix_disbursement_item_held_at", "disbursement_item", ["held_at"], postgresql_where=HELD, sqlite_where=HELD
    )
    op.create_table(
        "wallet_awaited_citizen",
        sa.Column("citizen_id", sa.String(length=12), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("citizen_id", name=op.f("pk_wallet_awaited_citizen")),
    )


def downgrade() -> None:
    op.drop_table("wallet_awaited_citizen")
    op.drop_index("ix_disbursement_item_held_at", table_name="disbursement_item")
    op.drop_index("ix_disbursement_item_held_citizen", table_name="disbursement_item")
    with op.batch_alter_table("disbursement_item") as batch:
        batch.drop_constraint(op.f("ck_disbursement_item_held"), type_="check")
        batch.drop_constraint(op.f("ck_disbursement_item_held_whole"), type_="check")
        batch.drop_constraint(op.f("ck_disbursement_item_status_known"), type_="check")
        batch.create_check_constraint("status_known", STATUSES_BEFORE)
        batch.drop_constraint(op.f("fk_disbursement_item_held_transfer_id_ledger_transfer"), type_="foreignkey")
        batch.drop_column("returned_at")
        batch.drop_column("held_transfer_id")
        batch.drop_column("held_at")
    with op.batch_alter_table("disbursement_batch") as batch:
        batch.drop_column("unclaimed_total_vnd")
        batch.drop_column("unclaimed_count")
    with op.batch_alter_table("disbursement_programme") as batch:
        batch.drop_constraint(op.f("uq_disbursement_programme_claims_account_id"), type_="unique")
        batch.drop_constraint(op.f("fk_disbursement_programme_claims_account_id_ledger_account"), type_="foreignkey")
        batch.drop_column("claims_account_id")
