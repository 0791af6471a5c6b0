"""Money that only raises a balance waits beside the account row, so a busy receiver is not one lock.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Every payment to one account (a merchant's takings, a biller's payable, a collection account, one
popular wallet) updated that account's row, so all of them queued on its row lock one commit after
another. A credit to a liability, revenue or equity account, or a debit to an asset or expense
account, cannot break an overdraft rule, so it now waits in ``ledger_balance_increase`` (one row per
account per entry, inserted without touching the account row) until the account is next locked to
lower it, or the worker folds it in (``wallet.ledger.BalanceIncrease`` says why this design).

``uq_ledger_account_id_kind`` is what the new table's foreign key names, so that the database itself
knows the kind of the account an increase is for and its CHECK refuses one that would lower it.

On PostgreSQL ``ledger_post_transfer`` writes its credit as an increase, ``wallet_p2p_transfer``
locks only the payer, ``FOR NO KEY UPDATE`` (so the foreign-key checks of others' postings to the
payer do not wait), and folds the payer's increases in only when its row alone does not cover the
payment: ``ledger_fold``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# As wallet.ledger.lock_accounts after its lock: the caller holds the account's row lock.
LEDGER_FOLD = """
CREATE FUNCTION ledger_fold(p_account bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_debits bigint;
    v_credits bigint;
BEGIN
    WITH folded AS (DELETE FROM ledger_balance_increase WHERE account_id = p_account RETURNING side, amount_vnd)
    SELECT COALESCE(SUM(amount_vnd) FILTER (WHERE side = 'D'), 0),
           COALESCE(SUM(amount_vnd) FILTER (WHERE side = 'C'), 0)
        INTO v_debits, v_credits FROM folded;
    IF v_debits > 0 OR v_credits > 0 THEN
        UPDATE ledger_account
            SET debits_posted = debits_posted + v_debits, credits_posted = credits_posted + v_credits
            WHERE id = p_account;
    END IF;
END $$"""

# As in 0010, but the credit is an increase beside the receiver's row, which is neither locked nor updated.
LEDGER_POST_TRANSFER = """
CREATE FUNCTION ledger_post_transfer(
    p_debit bigint, p_credit bigint, p_amount bigint, p_category text, p_metadata json,
    p_description text, p_now timestamptz,
    p_day_start timestamptz, p_day_end timestamptz, p_month_start timestamptz, p_month_end timestamptz,
    p_cap_counted boolean
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_entry bigint;
    v_transfer bigint;
    v_counts_spending boolean;
BEGIN
    INSERT INTO ledger_entry (description, created_at) VALUES (left(p_description, 200), p_now)
        RETURNING id INTO v_entry;
    INSERT INTO ledger_transfer (entry_id, debit_account_id, credit_account_id, amount_vnd, category, metadata,
                                 created_at)
        VALUES (v_entry, p_debit, p_credit, p_amount, p_category, p_metadata, p_now)
        RETURNING id INTO v_transfer;
    INSERT INTO ledger_posting (entry_id, transfer_id, account_id, side, amount_vnd, category, created_at)
        VALUES (v_entry, v_transfer, p_debit, 'D', p_amount, p_category, p_now),
               (v_entry, v_transfer, p_credit, 'C', p_amount, p_category, p_now);
    UPDATE ledger_account SET debits_posted = debits_posted + p_amount WHERE id = p_debit
        RETURNING counts_spending INTO v_counts_spending;
    -- The table's CHECK refuses this if the credit would lower p_credit's balance.
    INSERT INTO ledger_balance_increase (account_id, account_kind, side, amount_vnd)
        SELECT id, kind, 'C', p_amount FROM ledger_account WHERE id = p_credit;
    -- As wallet.ledger.spending.count: the debit adds to its account's day, and month when cap-counted.
    IF v_counts_spending THEN
        INSERT INTO ledger_spending_total AS t (account_id, period, starts_at, ends_at, amount_vnd)
            SELECT p_debit, 'day', p_day_start, p_day_end, p_amount
            UNION ALL
            SELECT p_debit, 'month', p_month_start, p_month_end, p_amount WHERE p_cap_counted
            ORDER BY 2
            ON CONFLICT (account_id, period, starts_at) DO UPDATE SET amount_vnd = t.amount_vnd + EXCLUDED.amount_vnd;
    END IF;
    RETURN v_transfer;
END $$"""

_BEFORE = importlib.import_module("migrations.versions.2026_12_07_0010_spending_totals")
# As in 0010, but only the payer is locked, and its waiting increases folded in when its row falls short.
_LOCK_BOTH = """
    PERFORM 1 FROM ledger_account WHERE id IN (v_sender.account_id, v_recipient.account_id)
        ORDER BY id FOR UPDATE;
    SELECT credits_posted - debits_posted - debits_pending INTO v_available
        FROM ledger_account
        WHERE id = v_sender.account_id AND kind IN ('liability', 'revenue', 'equity');
"""
_LOCK_PAYER = """
    SELECT credits_posted - debits_posted - debits_pending INTO v_available
        FROM ledger_account
        WHERE id = v_sender.account_id AND kind IN ('liability', 'revenue', 'equity')
        FOR NO KEY UPDATE;
    IF v_available < p_amount THEN
        PERFORM ledger_fold(v_sender.account_id);
        SELECT credits_posted - debits_posted - debits_pending INTO v_available
            FROM ledger_account WHERE id = v_sender.account_id;
    END IF;
"""
assert _LOCK_BOTH in _BEFORE.WALLET_P2P_TRANSFER  # noqa: S101 - the one change to 0010's function
WALLET_P2P_TRANSFER = _BEFORE.WALLET_P2P_TRANSFER.replace(_LOCK_BOTH, _LOCK_PAYER)

_DROP_FUNCTIONS = ("DROP FUNCTION wallet_p2p_transfer", "DROP FUNCTION ledger_post_transfer")

# Before the table goes, every waiting increase goes into its account's row.
_FOLD_ALL = """
UPDATE ledger_account SET
    debits_posted = debits_posted + COALESCE((SELECT SUM(i.amount_vnd) FROM ledger_balance_increase i
                                              WHERE i.account_id = ledger_account.id AND i.side = 'D'), 0),
    credits_posted = credits_posted + COALESCE((SELECT SUM(i.amount_vnd) FROM ledger_balance_increase i
                                                WHERE i.account_id = ledger_account.id AND i.side = 'C'), 0)
WHERE id IN (SELECT account_id FROM ledger_balance_increase)
"""


def upgrade() -> None:
    op.create_index("uq_ledger_account_id_kind", "ledger_account", ["id", "kind"], unique=True)
    op.create_table(
        "ledger_balance_increase",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("account_kind", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=1), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_ledger_balance_increase_amount_positive")),
        sa.CheckConstraint(
            "(side = 'C' AND account_kind IN ('liability', 'revenue', 'equity'))"
            " OR (side = 'D' AND account_kind IN ('asset', 'expense'))",
            name=op.f("ck_ledger_balance_increase_raises_balance"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "account_kind"],
            ["ledger_account.id", "ledger_account.kind"],
            name="fk_ledger_balance_increase_account",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_balance_increase")),
    )
    op.create_index("ix_ledger_balance_increase_account_id", "ledger_balance_increase", ["account_id"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in (*_DROP_FUNCTIONS, LEDGER_FOLD, LEDGER_POST_TRANSFER, WALLET_P2P_TRANSFER):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in (
            *_DROP_FUNCTIONS,
            "DROP FUNCTION ledger_fold",
            _BEFORE.LEDGER_POST_TRANSFER,
            _BEFORE.WALLET_P2P_TRANSFER,
        ):
            op.execute(statement)
    op.execute(_FOLD_ALL)
    op.drop_index("ix_ledger_balance_increase_account_id", table_name="ledger_balance_increase")
    op.drop_table("ledger_balance_increase")
    op.drop_index("uq_ledger_account_id_kind", table_name="ledger_account")
