"""Reconciliation: imported statement files, their statements and lines, and runs with their exceptions.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

``recon_statement_file.sha256`` is UNIQUE: the same file imported twice is refused by the database, whatever
the importer checked first. Lines keep every field the parsers give and the raw text; a run keeps its counts,
its drift and each exception, so a later import never rewrites what a finance officer saw.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "recon_statement_file",
        sa.Column("id", ID, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("bank_bin", sa.String(length=6), nullable=False),
        sa.Column("account_number", sa.String(length=19), nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("statement_count", sa.Integer(), nullable=False),
        sa.Column("line_count", sa.BigInteger(), nullable=False),
        sa.Column("imported_at", TIMESTAMP, nullable=False),
        sa.Column("imported_by_user_id", ID, nullable=True),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.CheckConstraint(
            "format IN ('camt', 'mt940', 'bank_csv', 'kbnn_csv')", name=op.f("ck_recon_statement_file_format_known")
        ),
        sa.CheckConstraint("via IN ('api', 'cli')", name=op.f("ck_recon_statement_file_via_known")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_account.id"], name=op.f("fk_recon_statement_file_account_id_ledger_account")
        ),
        sa.ForeignKeyConstraint(
            ["imported_by_user_id"],
            ["auth_user.id"],
            name=op.f("fk_recon_statement_file_imported_by_user_id_auth_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_statement_file")),
        sa.UniqueConstraint("sha256", name=op.f("uq_recon_statement_file_sha256")),
    )
    op.create_index("ix_recon_statement_file_account", "recon_statement_file", ["account_id", "id"])

    op.create_table(
        "recon_run",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("bank_bin", sa.String(length=6), nullable=False),
        sa.Column("account_number", sa.String(length=19), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("file_id", ID, nullable=True),
        sa.Column("statement_lines", sa.Integer(), nullable=False),
        sa.Column("ledger_items", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("unmatched_ours", sa.Integer(), nullable=False),
        sa.Column("unmatched_theirs", sa.Integer(), nullable=False),
        sa.Column("amount_mismatches", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("reversals", sa.Integer(), nullable=False),
        sa.Column("ledger_balance_vnd", sa.BigInteger(), nullable=False),
        sa.Column("statement_closing_vnd", sa.BigInteger(), nullable=True),
        sa.Column("drift_vnd", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("created_by_user_id", ID, nullable=True),
        sa.CheckConstraint(
            "status IN ('no_statement', 'reconciled', 'exceptions')", name=op.f("ck_recon_run_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_account.id"], name=op.f("fk_recon_run_account_id_ledger_account")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"], ["auth_user.id"], name=op.f("fk_recon_run_created_by_user_id_auth_user")
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["recon_statement_file.id"], name=op.f("fk_recon_run_file_id_recon_statement_file")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_run")),
    )
    op.create_index("ix_recon_run_account_day", "recon_run", ["account_id", "business_day"])

    op.create_table(
        "recon_statement",
        sa.Column("id", ID, nullable=False),
        sa.Column("file_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.String(length=140), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("bank_account", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("opening_vnd", sa.BigInteger(), nullable=True),
        sa.Column("opening_on", sa.Date(), nullable=True),
        sa.Column("closing_vnd", sa.BigInteger(), nullable=True),
        sa.Column("closing_on", sa.Date(), nullable=True),
        sa.Column("created_on", sa.Date(), nullable=True),
        sa.Column("from_date", sa.Date(), nullable=True),
        sa.Column("to_date", sa.Date(), nullable=True),
        sa.Column("business_day", sa.Date(), nullable=True),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("line_count", sa.BigInteger(), nullable=False),
        sa.Column("credits_vnd", sa.BigInteger(), nullable=False),
        sa.Column("debits_vnd", sa.BigInteger(), nullable=False),
        sa.Column("continuous", sa.Boolean(), nullable=True),
        sa.Column("gap_vnd", sa.BigInteger(), nullable=True),
        sa.Column("follows_previous", sa.Boolean(), nullable=True),
        sa.Column("anomalies", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_account.id"], name=op.f("fk_recon_statement_account_id_ledger_account")
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["recon_statement_file.id"], name=op.f("fk_recon_statement_file_id_recon_statement_file")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_statement")),
    )
    op.create_index("ix_recon_statement_account_day", "recon_statement", ["account_id", "business_day"])
    op.create_index(op.f("ix_recon_statement_file_id"), "recon_statement", ["file_id"])

    op.create_table(
        "recon_statement_line",
        sa.Column("id", ID, nullable=False),
        sa.Column("statement_pk", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.String(length=6), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("bank_reference", sa.String(length=140), nullable=True),
        sa.Column("end_to_end_id", sa.String(length=140), nullable=True),
        sa.Column("our_reference", sa.String(length=140), nullable=True),
        sa.Column("other_references", sa.JSON(), nullable=False),
        sa.Column("counterparty", sa.String(length=200), nullable=True),
        sa.Column("counterparty_account", sa.String(length=64), nullable=True),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column("reversal", sa.Boolean(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.CheckConstraint("direction IN ('credit', 'debit')", name=op.f("ck_recon_statement_line_direction_known")),
        sa.CheckConstraint("amount_vnd >= 0", name=op.f("ck_recon_statement_line_amount_non_negative")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_account.id"], name=op.f("fk_recon_statement_line_account_id_ledger_account")
        ),
        sa.ForeignKeyConstraint(
            ["statement_pk"], ["recon_statement.id"], name=op.f("fk_recon_statement_line_statement_pk_recon_statement")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_statement_line")),
    )
    op.create_index("ix_recon_statement_line_account_day", "recon_statement_line", ["account_id", "booking_date"])
    op.create_index("ix_recon_statement_line_statement", "recon_statement_line", ["statement_pk", "sequence"])

    op.create_table(
        "recon_exception",
        sa.Column("id", ID, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("line_id", ID, nullable=True),
        sa.Column("bank_reference", sa.String(length=140), nullable=True),
        sa.Column("statement_amount_vnd", sa.BigInteger(), nullable=True),
        sa.Column("transfer_id", ID, nullable=True),
        sa.Column("our_reference", sa.String(length=64), nullable=True),
        sa.Column("our_amount_vnd", sa.BigInteger(), nullable=True),
        sa.Column("direction", sa.String(length=6), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('unmatched_ours', 'unmatched_theirs', 'amount_mismatch', 'duplicate', 'reversal')",
            name=op.f("ck_recon_exception_kind_known"),
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["recon_statement_line.id"], name=op.f("fk_recon_exception_line_id_recon_statement_line")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["recon_run.id"], name=op.f("fk_recon_exception_run_id_recon_run")),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["ledger_transfer.id"], name=op.f("fk_recon_exception_transfer_id_ledger_transfer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_exception")),
    )
    op.create_index("ix_recon_exception_run", "recon_exception", ["run_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_recon_exception_run", table_name="recon_exception")

    op.drop_table("recon_exception")
    op.drop_index("ix_recon_statement_line_statement", table_name="recon_statement_line")
    op.drop_index("ix_recon_statement_line_account_day", table_name="recon_statement_line")

    op.drop_table("recon_statement_line")
    op.drop_index(op.f("ix_recon_statement_file_id"), table_name="recon_statement")
    op.drop_index("ix_recon_statement_account_day", table_name="recon_statement")

    op.drop_table("recon_statement")
    op.drop_index("ix_recon_run_account_day", table_name="recon_run")

    op.drop_table("recon_run")
    op.drop_index("ix_recon_statement_file_account", table_name="recon_statement_file")

    op.drop_table("recon_statement_file")
