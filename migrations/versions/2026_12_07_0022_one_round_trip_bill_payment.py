"""On PostgreSQL, the everyday bill payment from a wallet in one round trip, as 0003 did for transfers.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07

A bill payment took about 22 statements on the portable path (``billing.payments.pay_bills`` inside
``idempotency.Once``) and 10-12 ms of the app's CPU each; ``bench/billing.py`` found PostgreSQL's
connections idle in their transactions most of the time, waiting for the app's next statement, and
reached 0.03 of pgbench's TPC-B. Here the same payment is one statement, ``SELECT billing_pay_bills(...)``
(``billing/fast_path.py``), in the spirit of ``wallet_p2p_transfer``, of which it reuses every piece:

- ``ledger_post_entry`` is the ledger's SQL write of one entry of several transfers from one account
  (entry, transfers, postings, the debit in the payer's locked row, each credit beside its receiver's
  row as one ``ledger_balance_increase`` per account, the spending totals), as ``wallet.ledger.post_entry``
  writes it; ``ledger_post_transfer`` (0003, 0010, 0011) is now that function for one transfer, so the
  ledger's SQL write exists once;
- ``ledger_lock_spender`` (lock the payer ``FOR NO KEY UPDATE``, fold its waiting increases only when its
  row falls short) and ``ledger_sent_so_far`` (the month's and the day's running totals) are the two
  pieces of ``wallet_p2p_transfer`` the bill payment needs too, taken out of it unchanged;
- ``reference_code`` is ``civicpay.reference_codes.ReferenceScheme.encode`` (Luhn mod 36), for the
  payment reference the biller's webhook quotes: the payment's id is only known inside the call.

``billing_pay_bills`` claims the Idempotency-Key, locks the bills in id order, then the payer (the order
of the portable path), and pays only what the portable path would pay without a word: every bill on
the payer's links and open, each amount all that is due or, at an ``allow_partial`` biller, less; enough
money; the monthly cap on what is not exempt (Circular 40/2024); no step-up (Decision 2345). It writes
what the portable path writes (entry, payment, allocations numbered per bill, the bills' paid amounts
and states, one outbox message and delivery row per biller) and keeps the answer under the key. The
biller's payable is credited beside its row, never locked. Anything else writes nothing (SQLSTATE
CPF01 rolls the call back, key included) and the portable path answers it with its own words.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = importlib.import_module("migrations.versions.2026_12_07_0011_balance_increases")

# As wallet.ledger.post_entry for an entry whose one debited account the caller has locked and whose
# credits only raise their accounts; returns the entry and its transfers' ids, in the arrays' order.
LEDGER_POST_ENTRY = """
CREATE FUNCTION ledger_post_entry(
    p_debit bigint, p_credits bigint[], p_amounts bigint[], p_categories text[], p_references text[],
    p_metadata json[], p_description text, p_now timestamptz,
    p_day_start timestamptz, p_day_end timestamptz, p_month_start timestamptz, p_month_end timestamptz,
    p_cap_counted boolean[], OUT entry_id bigint, OUT transfer_ids bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    v_transfer bigint;
    v_total bigint := 0;
    v_capped bigint := 0;
    v_counts_spending boolean;
BEGIN
    INSERT INTO ledger_entry (description, created_at) VALUES (left(p_description, 200), p_now)
        RETURNING id INTO entry_id;
    transfer_ids := '{}';
    FOR i IN 1 .. cardinality(p_credits) LOOP
        INSERT INTO ledger_transfer (entry_id, debit_account_id, credit_account_id, amount_vnd, category, reference,
                                     metadata, created_at)
            VALUES (entry_id, p_debit, p_credits[i], p_amounts[i], p_categories[i], p_references[i], p_metadata[i],
                    p_now)
            RETURNING id INTO v_transfer;
        INSERT INTO ledger_posting (entry_id, transfer_id, account_id, side, amount_vnd, category, created_at)
            VALUES (entry_id, v_transfer, p_debit, 'D', p_amounts[i], p_categories[i], p_now),
                   (entry_id, v_transfer, p_credits[i], 'C', p_amounts[i], p_categories[i], p_now);
        transfer_ids := transfer_ids || v_transfer;
        v_total := v_total + p_amounts[i];
        IF p_cap_counted[i] THEN
            v_capped := v_capped + p_amounts[i];
        END IF;
    END LOOP;
    UPDATE ledger_account SET debits_posted = debits_posted + v_total WHERE id = p_debit
        RETURNING counts_spending INTO v_counts_spending;
    -- One increase per credited account, its credits summed, as wallet.ledger's _Locks.write; the table's
    -- CHECK refuses one that would lower its account.
    INSERT INTO ledger_balance_increase (account_id, account_kind, side, amount_vnd)
        SELECT a.id, a.kind, 'C', c.amount
            FROM (SELECT credit, SUM(amount)::bigint AS amount FROM unnest(p_credits, p_amounts) AS t(credit, amount)
                  GROUP BY credit) AS c
            JOIN ledger_account a ON a.id = c.credit
            ORDER BY a.id;
    -- As wallet.ledger.spending.count: the debit adds to its account's day, and to its month what is cap-counted.
    IF v_counts_spending THEN
        INSERT INTO ledger_spending_total AS t (account_id, period, starts_at, ends_at, amount_vnd)
            SELECT p_debit, 'day', p_day_start, p_day_end, v_total
            UNION ALL
            SELECT p_debit, 'month', p_month_start, p_month_end, v_capped WHERE v_capped > 0
            ORDER BY 2
            ON CONFLICT (account_id, period, starts_at) DO UPDATE SET amount_vnd = t.amount_vnd + EXCLUDED.amount_vnd;
    END IF;
END $$"""

# 0011's one-transfer write, now the entry write of one transfer (the same rows, the same order).
LEDGER_POST_TRANSFER = """
CREATE OR REPLACE FUNCTION ledger_post_transfer(
    p_debit bigint, p_credit bigint, p_amount bigint, p_category text, p_metadata json,
    p_description text, p_now timestamptz,
    p_day_start timestamptz, p_day_end timestamptz, p_month_start timestamptz, p_month_end timestamptz,
    p_cap_counted boolean
) RETURNS bigint LANGUAGE sql AS $$
    SELECT (posted.transfer_ids)[1]
        FROM ledger_post_entry(p_debit, ARRAY[p_credit], ARRAY[p_amount], ARRAY[p_category], ARRAY[NULL::text],
                               ARRAY[p_metadata], p_description, p_now, p_day_start, p_day_end, p_month_start,
                               p_month_end, ARRAY[p_cap_counted]) AS posted
$$"""

# Taken out of wallet_p2p_transfer (0011) unchanged: the payer locked, its available balance, folded if short.
LEDGER_LOCK_SPENDER = """
CREATE FUNCTION ledger_lock_spender(p_account bigint, p_amount bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_available bigint;
BEGIN
    SELECT credits_posted - debits_posted - debits_pending INTO v_available
        FROM ledger_account
        WHERE id = p_account AND kind IN ('liability', 'revenue', 'equity')
        FOR NO KEY UPDATE;
    IF v_available < p_amount THEN
        PERFORM ledger_fold(p_account);
        SELECT credits_posted - debits_posted - debits_pending INTO v_available
            FROM ledger_account WHERE id = p_account;
    END IF;
    RETURN v_available;
END $$"""

# Taken out of wallet_p2p_transfer (0010) unchanged: as wallet.ledger.sent_so_far, two rows by key.
LEDGER_SENT_SO_FAR = """
CREATE FUNCTION ledger_sent_so_far(
    p_account bigint, p_month_start timestamptz, p_day_start timestamptz,
    OUT month_capped bigint, OUT day_total bigint
) LANGUAGE sql STABLE AS $$
    SELECT COALESCE(SUM(amount_vnd) FILTER (WHERE period = 'month'), 0)::bigint,
           COALESCE(SUM(amount_vnd) FILTER (WHERE period = 'day'), 0)::bigint
        FROM ledger_spending_total
        WHERE account_id = p_account
          AND ((period = 'month' AND starts_at = p_month_start) OR (period = 'day' AND starts_at = p_day_start))
$$"""

_SENT_INLINE = """
    SELECT COALESCE(SUM(amount_vnd) FILTER (WHERE period = 'month'), 0),
           COALESCE(SUM(amount_vnd) FILTER (WHERE period = 'day'), 0)
        INTO v_month_capped, v_day_total
        FROM ledger_spending_total
        WHERE account_id = v_sender.account_id
          AND ((period = 'month' AND starts_at = p_month_start) OR (period = 'day' AND starts_at = p_day_start));
"""
_SENT_CALLED = """
    SELECT month_capped, day_total INTO v_month_capped, v_day_total
        FROM ledger_sent_so_far(v_sender.account_id, p_month_start, p_day_start);
"""
_LOCK_CALLED = """
    v_available := ledger_lock_spender(v_sender.account_id, p_amount);
"""
for _piece in (_BEFORE._LOCK_PAYER, _SENT_INLINE):
    assert _piece in _BEFORE.WALLET_P2P_TRANSFER  # noqa: S101 - the two pieces taken out of 0011's function
WALLET_P2P_TRANSFER = (
    _BEFORE.WALLET_P2P_TRANSFER.replace(_BEFORE._LOCK_PAYER, _LOCK_CALLED)
    .replace(_SENT_INLINE, _SENT_CALLED)
    .replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
)

# civicpay.reference_codes.ReferenceScheme.encode: the number in p_width base-36 digits, then Luhn mod 36.
REFERENCE_CODE = """
CREATE FUNCTION reference_code(p_prefix text, p_width integer, p_number bigint) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    v_alphabet constant text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
    v_body text := '';
    v_number bigint := p_number;
    v_total integer := 0;
    v_factor integer := 2;
    v_addend integer;
BEGIN
    IF p_number < 1 OR p_number > power(36::numeric, p_width) - 1 THEN
        RAISE EXCEPTION 'a % reference holds numbers 1 to 36^% - 1', p_prefix, p_width;
    END IF;
    WHILE v_number > 0 LOOP
        v_body := substr(v_alphabet, (v_number % 36)::integer + 1, 1) || v_body;
        v_number := v_number / 36;
    END LOOP;
    v_body := lpad(v_body, p_width, '0');
    FOR i IN REVERSE length(v_body) .. 1 LOOP
        v_addend := v_factor * (strpos(v_alphabet, substr(v_body, i, 1)) - 1);
        v_total := v_total + v_addend / 36 + v_addend % 36;
        v_factor := CASE WHEN v_factor = 2 THEN 1 ELSE 2 END;
    END LOOP;
    RETURN p_prefix || v_body || substr(v_alphabet, (36 - v_total % 36) % 36 + 1, 1);
END $$"""

# SQLSTATE CPF01, as in wallet_p2p_transfer: after the key claim, leave the request to the portable path,
# which alone words every refusal; the error rolls back everything the call wrote. The values Python owns
# (the periods' bounds, the categories, the limits, the formatted times, the webhook's names) are passed in.
BILLING_PAY_BILLS = """
CREATE FUNCTION billing_pay_bills(
    p_principal text, p_key text, p_fingerprint text, p_user bigint, p_bill_ids bigint[], p_asked bigint[],
    p_now timestamptz, p_month_start timestamptz, p_month_end timestamptz,
    p_day_start timestamptz, p_day_end timestamptz,
    p_biller_categories text[], p_ledger_categories text[], p_cap_exempt text[],
    p_monthly_cap bigint, p_stepup_single bigint, p_stepup_daily bigint,
    p_paid_at text, p_paid_at_local text,
    p_webhook_kind text, p_webhook_event text, p_reference_prefix text, p_reference_width integer
) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
    v_claim bigint;
    v_wallet bigint;
    v_account bigint;
    v_bill record;
    v_due bigint;
    v_amount bigint;
    v_category text;
    v_ids bigint[] := '{}';
    v_billers bigint[] := '{}';
    v_payables bigint[] := '{}';
    v_amounts bigint[] := '{}';
    v_categories text[] := '{}';
    v_references text[] := '{}';
    v_codes text[] := '{}';
    v_periods text[] := '{}';
    v_metadata json[] := '{}';
    v_cap_counted boolean[] := '{}';
    v_total bigint := 0;
    v_capped bigint := 0;
    v_available bigint;
    v_month_capped bigint;
    v_day_total bigint;
    v_posted record;
    v_payment bigint;
    v_hook record;
    v_outbox_key text;
    v_answer bytea;
BEGIN
    -- The key first, as in the portable path, so both take their locks in one order: key, bills, payer.
    INSERT INTO idempotency_key (principal, key, fingerprint, created_at)
        VALUES (p_principal, p_key, p_fingerprint, p_now)
        ON CONFLICT (principal, key) DO NOTHING
        RETURNING id INTO v_claim;
    IF v_claim IS NULL THEN
        RETURN NULL;  -- a replay or a reused key, and nothing written: the portable path answers it
    END IF;

    SELECT id, account_id INTO v_wallet, v_account FROM wallet WHERE user_id = p_user;
    IF v_wallet IS NULL THEN
        RAISE EXCEPTION 'left to the portable path' USING ERRCODE = 'CPF01';
    END IF;

    -- As billing.payments: the bills locked in id order, each on the payer's links and open, each amount
    -- all that is due or, where the biller allows part payment, less.
    FOR v_bill IN
        SELECT b.id, b.biller_id, b.external_id, b.customer_code, b.period, b.amount_vnd, b.amount_paid_vnd,
               b.status, r.name AS biller_name, r.account_id AS payable, r.payment_policy,
               r.category AS biller_category, a.asked,
               EXISTS (SELECT 1 FROM billing_link l
                       WHERE l.user_id = p_user AND l.biller_id = b.biller_id
                         AND l.customer_code = b.customer_code) AS linked
            FROM unnest(p_bill_ids, p_asked) AS a(bill_id, asked)
            JOIN billing_bill b ON b.id = a.bill_id
            JOIN billing_biller r ON r.id = b.biller_id
            ORDER BY b.id
            FOR UPDATE OF b
    LOOP
        IF NOT v_bill.linked OR v_bill.status <> 'open' THEN
            RAISE EXCEPTION 'left to the portable path' USING ERRCODE = 'CPF01';
        END IF;
        v_due := v_bill.amount_vnd - v_bill.amount_paid_vnd;
        IF v_bill.asked IS NULL OR v_bill.asked = v_due THEN
            v_amount := v_due;
        ELSIF v_bill.asked > v_due OR v_bill.payment_policy <> 'allow_partial' THEN
            RAISE EXCEPTION 'left to the portable path' USING ERRCODE = 'CPF01';
        ELSE
            v_amount := v_bill.asked;
        END IF;
        v_category := p_ledger_categories[array_position(p_biller_categories, v_bill.biller_category::text)];
        IF v_amount <= 0 OR v_category IS NULL THEN
            RAISE EXCEPTION 'left to the portable path' USING ERRCODE = 'CPF01';
        END IF;
        v_ids := v_ids || v_bill.id;
        v_billers := v_billers || v_bill.biller_id;
        v_payables := v_payables || v_bill.payable;
        v_amounts := v_amounts || v_amount;
        v_categories := v_categories || v_category;
        v_references := v_references || v_bill.external_id::text;
        v_codes := v_codes || v_bill.customer_code::text;
        v_periods := v_periods || v_bill.period::text;
        v_metadata := v_metadata || json_build_object(
            'memo', v_bill.biller_name || ': ' || v_bill.customer_code || ' ' || v_bill.period, 'bill_id', v_bill.id);
        v_cap_counted := v_cap_counted || NOT (v_category = ANY (p_cap_exempt));
        v_total := v_total + v_amount;
        IF NOT (v_category = ANY (p_cap_exempt)) THEN
            v_capped := v_capped + v_amount;
        END IF;
    END LOOP;
    IF cardinality(v_ids) <> cardinality(p_bill_ids) THEN
        RAISE EXCEPTION 'left to the portable path' USING ERRCODE = 'CPF01';  -- a bill that is not there
    END IF;

    -- The payer, after the bills; then the rules, on what the monthly cap does not exempt and on the whole.
    v_available := ledger_lock_spender(v_account, v_total);
    SELECT month_capped, day_total INTO v_month_capped, v_day_total
        FROM ledger_sent_so_far(v_account, p_month_start, p_day_start);
    IF v_available IS NULL OR v_available < v_total
       OR (v_capped > 0 AND v_month_capped + v_capped > p_monthly_cap)
       OR v_total > p_stepup_single OR v_day_total + v_total > p_stepup_daily THEN
        RAISE EXCEPTION 'left to the portable path' USING ERRCODE = 'CPF01';
    END IF;

    SELECT * INTO v_posted
        FROM ledger_post_entry(v_account, v_payables, v_amounts, v_categories, v_references, v_metadata,
                               'bill payment', p_now, p_day_start, p_day_end, p_month_start, p_month_end,
                               v_cap_counted);

    -- As billing.allocations.record_payment: the payment, an allocation per bill numbered per bill, the bills.
    INSERT INTO billing_payment (source, user_id, wallet_id, notification_id, entry_id, amount_vnd, created_at)
        VALUES ('wallet', p_user, v_wallet, NULL, v_posted.entry_id, v_total, p_now)
        RETURNING id INTO v_payment;
    INSERT INTO billing_payment_item (payment_id, bill_id, sequence, amount_vnd, transfer_id)
        SELECT v_payment, t.bill, (SELECT count(*) FROM billing_payment_item i WHERE i.bill_id = t.bill) + 1,
               t.amount, t.transfer
            FROM unnest(v_ids, v_amounts, v_posted.transfer_ids) AS t(bill, amount, transfer)
            ORDER BY t.bill;
    UPDATE billing_bill b
        SET amount_paid_vnd = b.amount_paid_vnd + t.amount,
            status = CASE WHEN b.amount_paid_vnd + t.amount = b.amount_vnd THEN 'paid' ELSE b.status END,
            paid_at = CASE WHEN b.amount_paid_vnd + t.amount = b.amount_vnd THEN p_now ELSE b.paid_at END,
            updated_at = p_now
        FROM unnest(v_ids, v_amounts) AS t(bill, amount)
        WHERE b.id = t.bill;

    -- As billing.webhooks.enqueue_payment: one message per biller, its bills in id order, and its delivery row.
    FOR v_hook IN
        SELECT t.biller, SUM(t.amount)::bigint AS amount,
               json_agg(json_build_object('bill_id', t.external_id, 'customer_code', t.code, 'period', t.period,
                                          'amount_vnd', t.amount) ORDER BY t.bill) AS bills
            FROM unnest(v_billers, v_ids, v_references, v_codes, v_periods, v_amounts)
                AS t(biller, bill, external_id, code, period, amount)
            GROUP BY t.biller
            ORDER BY t.biller
    LOOP
        v_outbox_key := 'biller-webhook:' || v_payment || ':' || v_hook.biller;
        INSERT INTO outbox_message (kind, payload, key, status, attempts, next_attempt_at, created_at)
            VALUES (p_webhook_kind,
                    json_build_object('biller_id', v_hook.biller, 'body', json_build_object(
                        'event', p_webhook_event, 'payment_id', v_payment,
                        'payment_reference', reference_code(p_reference_prefix, p_reference_width, v_payment),
                        'paid_at', p_paid_at_local, 'amount_vnd', v_hook.amount, 'bills', v_hook.bills)),
                    v_outbox_key, 'pending', 0, p_now, p_now)
            ON CONFLICT (key) DO NOTHING;
        INSERT INTO billing_webhook_delivery (biller_id, payment_id, event, outbox_key, created_at)
            VALUES (v_hook.biller, v_payment, p_webhook_event, v_outbox_key, p_now);
    END LOOP;

    -- The answer, with the fields of billing.schemas.BillPaid in its order; kept under the key.
    v_answer := convert_to(json_build_object(
        'id', v_payment, 'amount_vnd', v_total,
        'amount_display', regexp_replace(v_total::text, '(\\d)(?=(\\d{3})+$)', '\\1.', 'g') || ' ₫',
        'paid_at', p_paid_at,
        'bills', (SELECT json_agg(json_build_object('bill_id', t.bill, 'biller_id', t.biller, 'amount_vnd', t.amount,
                                                    'transfer_id', t.transfer) ORDER BY t.n)
                      FROM unnest(v_ids, v_billers, v_amounts, v_posted.transfer_ids) WITH ORDINALITY
                          AS t(bill, biller, amount, transfer, n)))::text, 'UTF8');
    UPDATE idempotency_key SET status_code = 201, response_body = v_answer WHERE id = v_claim;
    RETURN v_answer;
END $$"""

_NEW_FUNCTIONS = ("billing_pay_bills", "reference_code", "ledger_sent_so_far", "ledger_lock_spender")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in (
            LEDGER_POST_ENTRY,
            LEDGER_POST_TRANSFER,
            LEDGER_LOCK_SPENDER,
            LEDGER_SENT_SO_FAR,
            WALLET_P2P_TRANSFER,
            REFERENCE_CODE,
            BILLING_PAY_BILLS,
        ):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in (
            "DROP FUNCTION billing_pay_bills",
            "DROP FUNCTION reference_code",
            "DROP FUNCTION wallet_p2p_transfer",
            "DROP FUNCTION ledger_post_transfer",
            "DROP FUNCTION ledger_sent_so_far",
            "DROP FUNCTION ledger_lock_spender",
            "DROP FUNCTION ledger_post_entry",
            _BEFORE.LEDGER_POST_TRANSFER,
            _BEFORE.WALLET_P2P_TRANSFER,
        ):
            op.execute(statement)
