"""Foundation: people and API keys, the double-entry ledger, wallets, idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Besides the tables, this revision installs what the database itself enforces:
- money rows (entries, transfers, postings) are append-only, on both databases;
- on PostgreSQL, a deferred constraint trigger refuses to commit an entry whose debits and
  credits differ. SQLite has no deferred triggers; there the ledger's own check stands alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
MONEY_TABLES = ("ledger_entry", "ledger_transfer", "ledger_posting")

# One statement each: asyncpg runs a single command per call.
POSTGRES_GUARDS = (
    """
CREATE FUNCTION ledger_entry_must_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT COALESCE(SUM(CASE WHEN side = 'D' THEN amount_vnd ELSE -amount_vnd END), 0)
        FROM ledger_posting WHERE entry_id = NEW.entry_id) <> 0 THEN
        RAISE EXCEPTION 'ledger entry % does not balance', NEW.entry_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$""",
    """
CREATE CONSTRAINT TRIGGER ledger_posting_entry_balanced
    AFTER INSERT ON ledger_posting DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_must_balance()""",
    """
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: correct it with a reversing entry', TG_TABLE_NAME;
END $$""",
)


def _install_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_GUARDS:
            op.execute(statement)
        for table in MONEY_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
            )
        return
    for table in MONEY_TABLES:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}"
                f" BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def upgrade() -> None:
    op.create_table(
        "auth_api_key",
        sa.Column("id", ID, nullable=False),
        sa.Column("key_id", sa.String(length=24), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_api_key")),
        sa.UniqueConstraint("key_id", name=op.f("uq_auth_api_key_key_id")),
    )
    op.create_table(
        "auth_login_throttle",
        sa.Column("phone", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_auth_login_throttle")),
    )
    op.create_table(
        "auth_user",
        sa.Column("id", ID, nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("citizen_id", sa.String(length=12), nullable=True),
        sa.Column("full_name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_pending_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("otp_failures", sa.Integer(), nullable=False),
        sa.Column("otp_locked_until", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "role IN ('citizen', 'clerk', 'merchant', 'programme_officer', 'finance_officer', 'admin')",
            name=op.f("ck_auth_user_role_signs_in"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_user")),
        sa.UniqueConstraint("citizen_id", name=op.f("uq_auth_user_citizen_id")),
        sa.UniqueConstraint("phone", name=op.f("uq_auth_user_phone")),
    )
    op.create_table(
        "idempotency_key",
        sa.Column("id", ID, nullable=False),
        sa.Column("principal", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_key")),
        sa.UniqueConstraint("principal", "key", name=op.f("uq_idempotency_key_principal_key")),
    )
    op.create_table(
        "ledger_account",
        sa.Column("id", ID, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("no_overdraft", sa.Boolean(), nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "NOT no_overdraft"
            " OR (kind IN ('liability', 'revenue', 'equity') AND debits_posted + debits_pending <= credits_posted)"
            " OR (kind IN ('asset', 'expense') AND credits_posted + credits_pending <= debits_posted)",
            name=op.f("ck_ledger_account_no_overdraft"),
        ),
        sa.CheckConstraint(
            "kind IN ('asset', 'liability', 'revenue', 'expense', 'equity')", name=op.f("ck_ledger_account_kind_known")
        ),
        sa.CheckConstraint(
            "debits_pending >= 0 AND credits_pending >= 0", name=op.f("ck_ledger_account_pending_non_negative")
        ),
        sa.CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0", name=op.f("ck_ledger_account_posted_non_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_account")),
        sa.UniqueConstraint("code", name=op.f("uq_ledger_account_code")),
    )
    op.create_table(
        "ledger_entry",
        sa.Column("id", ID, nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entry")),
    )
    op.create_table(
        "ledger_hold",
        sa.Column("id", ID, nullable=False),
        sa.Column("debit_account_id", ID, nullable=False),
        sa.Column("credit_account_id", ID, nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("posted_vnd", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'posted', 'voided', 'expired')", name=op.f("ck_ledger_hold_status_known")
        ),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_ledger_hold_amount_positive")),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name=op.f("ck_ledger_hold_distinct_accounts")),
        sa.CheckConstraint(
            "posted_vnd >= 0 AND posted_vnd <= amount_vnd", name=op.f("ck_ledger_hold_posted_within_amount")
        ),
        sa.ForeignKeyConstraint(
            ["credit_account_id"], ["ledger_account.id"], name=op.f("fk_ledger_hold_credit_account_id_ledger_account")
        ),
        sa.ForeignKeyConstraint(
            ["debit_account_id"], ["ledger_account.id"], name=op.f("fk_ledger_hold_debit_account_id_ledger_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_hold")),
    )
    op.create_index("ix_ledger_hold_debit_account", "ledger_hold", ["debit_account_id", "status"])
    op.create_index("ix_ledger_hold_status_expires", "ledger_hold", ["status", "expires_at"])

    op.create_table(
        "wallet",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("kyc_tier", sa.String(length=16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_account.id"], name=op.f("fk_wallet_account_id_ledger_account")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["auth_user.id"], name=op.f("fk_wallet_user_id_auth_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet")),
        sa.UniqueConstraint("account_id", name=op.f("uq_wallet_account_id")),
        sa.UniqueConstraint("user_id", name=op.f("uq_wallet_user_id")),
    )
    op.create_table(
        "ledger_transfer",
        sa.Column("id", ID, nullable=False),
        sa.Column("entry_id", ID, nullable=False),
        sa.Column("debit_account_id", ID, nullable=False),
        sa.Column("credit_account_id", ID, nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("hold_id", ID, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_ledger_transfer_amount_positive")),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name=op.f("ck_ledger_transfer_distinct_accounts")),
        sa.ForeignKeyConstraint(
            ["credit_account_id"],
            ["ledger_account.id"],
            name=op.f("fk_ledger_transfer_credit_account_id_ledger_account"),
        ),
        sa.ForeignKeyConstraint(
            ["debit_account_id"], ["ledger_account.id"], name=op.f("fk_ledger_transfer_debit_account_id_ledger_account")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entry.id"], name=op.f("fk_ledger_transfer_entry_id_ledger_entry")
        ),
        sa.ForeignKeyConstraint(["hold_id"], ["ledger_hold.id"], name=op.f("fk_ledger_transfer_hold_id_ledger_hold")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transfer")),
    )
    op.create_index("ix_ledger_transfer_entry_id", "ledger_transfer", ["entry_id"])
    op.create_index("ix_ledger_transfer_reference", "ledger_transfer", ["reference"])

    op.create_table(
        "ledger_posting",
        sa.Column("id", ID, nullable=False),
        sa.Column("entry_id", ID, nullable=False),
        sa.Column("transfer_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("side", sa.String(length=1), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("side IN ('D', 'C')", name=op.f("ck_ledger_posting_side_known")),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_ledger_posting_amount_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_account.id"], name=op.f("fk_ledger_posting_account_id_ledger_account")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entry.id"], name=op.f("fk_ledger_posting_entry_id_ledger_entry")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["ledger_transfer.id"], name=op.f("fk_ledger_posting_transfer_id_ledger_transfer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_posting")),
    )
    op.create_index("ix_ledger_posting_account_created", "ledger_posting", ["account_id", "created_at"])
    op.create_index("ix_ledger_posting_entry_id", "ledger_posting", ["entry_id"])
    op.create_index("ix_ledger_posting_transfer_id", "ledger_posting", ["transfer_id"])
    _install_guards()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION ledger_entry_must_balance() CASCADE")
        op.execute("DROP FUNCTION ledger_append_only() CASCADE")
    for table in (*reversed(MONEY_TABLES), "wallet", "ledger_hold", "ledger_account", "idempotency_key"):
        op.drop_table(table)
    for table in ("auth_user", "auth_login_throttle", "auth_api_key"):
        op.drop_table(table)
