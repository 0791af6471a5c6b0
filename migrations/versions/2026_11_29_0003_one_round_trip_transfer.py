"""On PostgreSQL, the everyday wallet-to-wallet transfer in one round trip.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

Two functions, PostgreSQL only (SQLite keeps the Python path, which is also the path of record):

- ``ledger_post_transfer`` is the ledger's write of one transfer as a balanced entry (entry, transfer,
  two postings, both balances), for callers that have locked both accounts and checked their rules.
  It belongs to ``wallet.ledger`` as much as ``post_entry`` does; the deferred balance trigger and the
  CHECK constraints stand behind it exactly as behind the Python path.
- ``wallet_p2p_transfer`` claims the Idempotency-Key, finds both wallets, locks them in id order,
  sums the sender's spending, and posts only when the transfer needs no decision the Python path
  would explain: enough money, inside the monthly cap, no step-up. Then it keeps the answer under the
  key and returns it; called outside a transaction, all of it commits as one statement. Anything else
  (a replayed key, an unknown recipient, a refusal, a step-up) writes nothing, and
  ``wallet.service.transfer_to_phone`` handles the request as on SQLite, with its own words.

Why: the Python path takes about twelve statements per transfer; at that count PostgreSQL's
per-statement work alone exceeded the throughput budget of issue 2 (see ``wallet/fast_path.py``).
Distributed PostgreSQL engines that the architecture names as the next step (Citus, YugabyteDB) run
PL/pgSQL; on one that does not, leave ``CIVICPAY_FAST_TRANSFERS`` off and nothing else changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_POST_TRANSFER = """
CREATE FUNCTION ledger_post_transfer(
    p_debit bigint, p_credit bigint, p_amount bigint, p_category text, p_metadata json,
    p_description text, p_now timestamptz
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_entry bigint;
    v_transfer bigint;
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
    UPDATE ledger_account SET debits_posted = debits_posted + p_amount WHERE id = p_debit;
    UPDATE ledger_account SET credits_posted = credits_posted + p_amount WHERE id = p_credit;
    RETURN v_transfer;
END $$"""

# SQLSTATE CPF01 is raised, after the key claim, to leave a request to the Python path: the error
# rolls back everything the call wrote. wallet.fast_path catches exactly this code.
WALLET_P2P_TRANSFER = """
CREATE FUNCTION wallet_p2p_transfer(
    p_principal text, p_key text, p_fingerprint text,
    p_sender_user bigint, p_recipient_phone text, p_amount bigint, p_category text, p_memo text,
    p_now timestamptz, p_month_start timestamptz, p_day_start timestamptz,
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

    -- As wallet.service.spending: posted debits and pending holds since the business month began.
    SELECT COALESCE(SUM(amount_vnd) FILTER (WHERE NOT (category = ANY (p_cap_exempt))), 0),
           COALESCE(SUM(amount_vnd) FILTER (WHERE created_at >= p_day_start), 0)
        INTO v_month_capped, v_day_total
        FROM (SELECT amount_vnd, category, created_at FROM ledger_posting
                  WHERE account_id = v_sender.account_id AND side = 'D' AND created_at >= p_month_start
              UNION ALL
              SELECT amount_vnd, category, created_at FROM ledger_hold
                  WHERE debit_account_id = v_sender.account_id AND status = 'pending'
                    AND created_at >= p_month_start) AS sent;
    IF v_available IS NULL OR v_available < p_amount
       OR (p_monthly_cap IS NOT NULL AND v_month_capped + p_amount > p_monthly_cap)
       OR p_amount > p_stepup_single OR v_day_total + p_amount > p_stepup_daily THEN
        RAISE EXCEPTION 'left to the Python path' USING ERRCODE = 'CPF01';
    END IF;

    v_transfer := ledger_post_transfer(v_sender.account_id, v_recipient.account_id, p_amount, p_category,
                                       json_build_object('memo', p_memo), p_category, p_now);
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


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(LEDGER_POST_TRANSFER)
        op.execute(WALLET_P2P_TRANSFER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION wallet_p2p_transfer")
        op.execute("DROP FUNCTION ledger_post_transfer")
