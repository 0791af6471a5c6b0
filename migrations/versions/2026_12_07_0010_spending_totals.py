"""Running spending totals for the monthly cap and the daily step-up, on both paths.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Every transfer summed its payer's postings and holds since the month began (``wallet.service.spending``
and its SQL copy in ``wallet_p2p_transfer``), so a payment cost more the more its payer had paid. Now
the ledger keeps ``ledger_spending_total``: per wallet account, per business month (cap-counted
categories) and business day (every category), what it sent (``wallet.ledger.spending`` says why
there and not in a trigger). ``ledger_account.counts_spending`` marks the accounts that keep them:
the wallets'.

The back-fill puts every existing posted debit and pending hold of a wallet in its periods, in the
business zone the service runs in (``CIVICPAY_BUSINESS_TIMEZONE``), reading them in Python once: a
large ledger should run it in a quiet hour.

On PostgreSQL ``ledger_post_transfer`` (the ledger's SQL write of one transfer) now adds the debit to
its account's totals as ``wallet.ledger`` does, and ``wallet_p2p_transfer`` reads the two totals
instead of summing the history; both take the periods' bounds from Python, which owns the calendar.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import msgspec
import sqlalchemy as sa
from alembic import op

from civicpay.clock import BusinessCalendar
from civicpay.db import UtcDateTime
from civicpay.settings import Settings
from wallet.ledger.spending import Sent, total_rows

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

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
    UPDATE ledger_account SET credits_posted = credits_posted + p_amount WHERE id = p_credit;
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

# As in 0003, but the spending is two rows read by key, and the periods' ends go to ledger_post_transfer.
WALLET_P2P_TRANSFER = """
CREATE FUNCTION wallet_p2p_transfer(
    p_principal text, p_key text, p_fingerprint text,
    p_sender_user bigint, p_recipient_phone text, p_amount bigint, p_category text, p_memo text,
    p_now timestamptz, p_month_start timestamptz, p_month_end timestamptz,
    p_day_start timestamptz, p_day_end timestamptz,
    p_cap_exempt text[], p_monthly_cap bigint, p_stepup_single bigint, p_stepup_daily bigint,
    p_amount_display text, p_created_at text
) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
    v_claim bigint;
    v_sender record;
    v_recipient record;
    v_available bigint;
    v_month_capped bigint;
    v_day_total bigint;
    v_transfer bigint;
    v_answer bytea;
BEGIN
    -- The key first, as in the Python path, so both take their locks in one order: key, then accounts.
    INSERT INTO idempotency_key (principal, key, fingerprint, created_at)
        VALUES (p_principal, p_key, p_fingerprint, p_now)
        ON CONFLICT (principal, key) DO NOTHING
        RETURNING id INTO v_claim;
    IF v_claim IS NULL THEN
        RETURN NULL;  -- a replay or a reused key, and nothing written: the Python path answers it
    END IF;

    SELECT w.account_id, u.full_name, u.phone INTO v_sender
        FROM wallet w JOIN auth_user u ON u.id = w.user_id WHERE w.user_id = p_sender_user;
    SELECT w.account_id, u.full_name, u.phone INTO v_recipient
        FROM wallet w JOIN auth_user u ON u.id = w.user_id
        WHERE u.phone = p_recipient_phone AND u.role = 'citizen';
    IF v_sender.account_id IS NULL OR v_recipient.account_id IS NULL
       OR v_sender.account_id = v_recipient.account_id THEN
        RAISE EXCEPTION 'left to the Python path' USING ERRCODE = 'CPF01';
    END IF;

    -- Lock, then read what the rules need: the same order as wallet.ledger.lock_accounts.
    PERFORM 1 FROM ledger_account WHERE id IN (v_sender.account_id, v_recipient.account_id)
        ORDER BY id FOR UPDATE;
    SELECT credits_posted - debits_posted - debits_pending INTO v_available
        FROM ledger_account
        WHERE id = v_sender.account_id AND kind IN ('liability', 'revenue', 'equity');

    -- As wallet.ledger.sent_so_far: the month's and the day's running totals, by key.
    SELECT COALESCE(SUM(amount_vnd) FILTER (WHERE period = 'month'), 0),
           COALESCE(SUM(amount_vnd) FILTER (WHERE period = 'day'), 0)
        INTO v_month_capped, v_day_total
        FROM ledger_spending_total
        WHERE account_id = v_sender.account_id
          AND ((period = 'month' AND starts_at = p_month_start) OR (period = 'day' AND starts_at = p_day_start));
    IF v_available IS NULL OR v_available < p_amount
       OR (p_monthly_cap IS NOT NULL AND v_month_capped + p_amount > p_monthly_cap)
       OR p_amount > p_stepup_single OR v_day_total + p_amount > p_stepup_daily THEN
        RAISE EXCEPTION 'left to the Python path' USING ERRCODE = 'CPF01';
    END IF;

    v_transfer := ledger_post_transfer(v_sender.account_id, v_recipient.account_id, p_amount, p_category,
                                       json_build_object('memo', p_memo), p_category, p_now,
                                       p_day_start, p_day_end, p_month_start, p_month_end,
                                       NOT (p_category = ANY (p_cap_exempt)));
    -- The answer, with the fields of wallet.schemas.Transfer in its order; kept under the key.
    v_answer := convert_to(json_build_object(
        'id', v_transfer, 'amount_vnd', p_amount, 'amount_display', p_amount_display, 'category', p_category,
        'memo', p_memo,
        'sender', json_build_object('name', v_sender.full_name, 'phone',
            left(v_sender.phone, 3) || repeat('*', length(v_sender.phone) - 6) || right(v_sender.phone, 3)),
        'recipient', json_build_object('name', v_recipient.full_name, 'phone',
            left(v_recipient.phone, 3) || repeat('*', length(v_recipient.phone) - 6) || right(v_recipient.phone, 3)),
        'created_at', p_created_at)::text, 'UTF8');
    UPDATE idempotency_key SET status_code = 201, response_body = v_answer WHERE id = v_claim;
    RETURN v_answer;
END $$"""

_DROP_FUNCTIONS = ("DROP FUNCTION wallet_p2p_transfer", "DROP FUNCTION ledger_post_transfer")


def _business_calendar() -> BusinessCalendar:
    """The zone the service runs in, read as ``Settings.from_env`` reads it (without its other effects)."""
    default = next(field.default for field in msgspec.structs.fields(Settings) if field.name == "business_timezone")
    return BusinessCalendar(ZoneInfo(os.environ.get("CIVICPAY_BUSINESS_TIMEZONE", default)))


def _back_fill() -> None:
    posting = sa.table(
        "ledger_posting",
        sa.column("account_id", ID),
        sa.column("side", sa.String),
        sa.column("amount_vnd", sa.BigInteger),
        sa.column("category", sa.String),
        sa.column("created_at", UtcDateTime),
    )
    held = sa.table(
        "ledger_hold",
        sa.column("debit_account_id", ID),
        sa.column("status", sa.String),
        sa.column("amount_vnd", sa.BigInteger),
        sa.column("category", sa.String),
        sa.column("created_at", UtcDateTime),
    )
    wallets = sa.select(sa.table("wallet", sa.column("account_id", ID)).c.account_id)
    sent = sa.union_all(
        sa.select(posting.c.account_id, posting.c.amount_vnd, posting.c.category, posting.c.created_at).where(
            posting.c.side == "D", posting.c.account_id.in_(wallets)
        ),
        sa.select(held.c.debit_account_id, held.c.amount_vnd, held.c.category, held.c.created_at).where(
            held.c.status == "pending", held.c.debit_account_id.in_(wallets)
        ),
    )
    changes = [Sent(*row) for row in op.get_bind().execute(sent)]
    if rows := total_rows(_business_calendar(), changes):
        totals = sa.table(
            "ledger_spending_total",
            sa.column("account_id", ID),
            sa.column("period", sa.String),
            sa.column("starts_at", UtcDateTime),
            sa.column("ends_at", UtcDateTime),
            sa.column("amount_vnd", sa.BigInteger),
        )
        op.bulk_insert(totals, rows)


def upgrade() -> None:
    with op.batch_alter_table("ledger_account") as batch:
        batch.add_column(sa.Column("counts_spending", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE ledger_account SET counts_spending = true WHERE id IN (SELECT account_id FROM wallet)")
    op.create_table(
        "ledger_spending_total",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_vnd >= 0", name=op.f("ck_ledger_spending_total_amount_non_negative")),
        sa.CheckConstraint("period IN ('month', 'day')", name=op.f("ck_ledger_spending_total_period_known")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_ledger_spending_total_period_forward")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_account.id"], name=op.f("fk_ledger_spending_total_account_id_ledger_account")
        ),
        sa.PrimaryKeyConstraint("account_id", "period", "starts_at", name=op.f("pk_ledger_spending_total")),
    )
    _back_fill()
    if op.get_bind().dialect.name == "postgresql":
        for statement in (*_DROP_FUNCTIONS, LEDGER_POST_TRANSFER, WALLET_P2P_TRANSFER):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        before = importlib.import_module("migrations.versions.2026_11_29_0003_one_round_trip_transfer")
        for statement in (*_DROP_FUNCTIONS, before.LEDGER_POST_TRANSFER, before.WALLET_P2P_TRANSFER):
            op.execute(statement)
    op.drop_table("ledger_spending_total")
    with op.batch_alter_table("ledger_account") as batch:
        batch.drop_column("counts_spending")
