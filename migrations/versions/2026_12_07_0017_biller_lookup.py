"""Billers that answer look-ups: the URL of a customer's open bills at the biller's system.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

Nullable: a biller that only pushes its bills has none, and every biller made before this has none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("billing_biller", sa.Column("lookup_url", sa.String(length=300), nullable=True))


def downgrade() -> None:
    # batch mode: SQLite drops a column by copying the table.
    with op.batch_alter_table("billing_biller") as batch:
        batch.drop_column("lookup_url")
