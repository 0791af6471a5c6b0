"""The ledger's promises, checked against the database itself.

Used by tests after every money scenario and by ``civicpay ledger verify`` against a live
database. Each query returns the rows that break a promise, so an empty result means kept.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from wallet.ledger.spending import CAP_EXEMPT_VALUES

_EXEMPT = ", ".join(f"'{category}'" for category in sorted(CAP_EXEMPT_VALUES))

# What an account has sent, as the limits count it: posted debits and what pending holds still reserve (less
# what was drawn from them), each with its time, category and the account that keeps totals of it. A totals
# row sums the part of these in its period.
_SENT = """
    SELECT p.account_id, p.amount_vnd, p.category, p.created_at FROM ledger_posting p WHERE p.side = 'D'
    UNION ALL
    SELECT h.debit_account_id, h.amount_vnd - h.posted_vnd, h.category, h.created_at
    FROM ledger_hold h WHERE h.status = 'pending'
"""
_COUNTED_IN = f"(t.period = 'day' OR s.category NOT IN ({_EXEMPT}))"
# Per account, the posted money waiting beside its row (ledger_balance_increase): part of its balance.
_WAITING = """
    SELECT account_id,
           SUM(CASE WHEN side = 'D' THEN amount_vnd ELSE 0 END) AS debits,
           SUM(CASE WHEN side = 'C' THEN amount_vnd ELSE 0 END) AS credits
    FROM ledger_balance_increase GROUP BY account_id
"""

_CHECKS: tuple[tuple[str, str], ...] = (
    (
        "every entry balances (debits = credits)",
        """
        SELECT entry_id,
               SUM(CASE WHEN side = 'D' THEN amount_vnd ELSE 0 END) AS debits,
               SUM(CASE WHEN side = 'C' THEN amount_vnd ELSE 0 END) AS credits
        FROM ledger_posting GROUP BY entry_id
        HAVING SUM(CASE WHEN side = 'D' THEN amount_vnd ELSE -amount_vnd END) <> 0
        """,
    ),
    (
        "every transfer has exactly its two postings",
        """
        SELECT t.id, COUNT(p.id) AS postings
        FROM ledger_transfer t
        LEFT JOIN ledger_posting p ON p.transfer_id = t.id AND p.amount_vnd = t.amount_vnd AND (
            (p.side = 'D' AND p.account_id = t.debit_account_id)
            OR (p.side = 'C' AND p.account_id = t.credit_account_id))
        GROUP BY t.id
        HAVING COUNT(p.id) <> 2
           OR COUNT(p.id) <> (SELECT COUNT(*) FROM ledger_posting q WHERE q.transfer_id = t.id)
        """,
    ),
    (
        "every posted balance equals the sum of its postings",  # its row and its waiting increases
        f"""
        SELECT a.code, a.debits_posted, a.credits_posted, COALESCE(w.debits, 0), COALESCE(w.credits, 0),
               COALESCE(s.debits, 0), COALESCE(s.credits, 0)
        FROM ledger_account a
        LEFT JOIN (
            SELECT account_id,
                   SUM(CASE WHEN side = 'D' THEN amount_vnd ELSE 0 END) AS debits,
                   SUM(CASE WHEN side = 'C' THEN amount_vnd ELSE 0 END) AS credits
            FROM ledger_posting GROUP BY account_id
        ) s ON s.account_id = a.id
        LEFT JOIN ({_WAITING}) w ON w.account_id = a.id
        WHERE a.debits_posted + COALESCE(w.debits, 0) <> COALESCE(s.debits, 0)
           OR a.credits_posted + COALESCE(w.credits, 0) <> COALESCE(s.credits, 0)
        """,  # noqa: S608 - built from constants only
    ),
    (
        "every pending total equals what its open holds still reserve",
        """
        SELECT a.code, a.debits_pending, a.credits_pending
        FROM ledger_account a
        WHERE a.debits_pending <> COALESCE(
                (SELECT SUM(h.amount_vnd - h.posted_vnd) FROM ledger_hold h
                 WHERE h.debit_account_id = a.id AND h.status = 'pending'), 0)
           OR a.credits_pending <> COALESCE(
                (SELECT SUM(h.amount_vnd - h.posted_vnd) FROM ledger_hold h
                 WHERE h.credit_account_id = a.id AND h.status = 'pending'), 0)
        """,
    ),
    (
        # A hold's posted amount is what was posted or drawn from it: the transfers that name it.
        "every hold's posted amount equals its transfers",
        """
        SELECT h.id, h.posted_vnd, COALESCE(SUM(t.amount_vnd), 0)
        FROM ledger_hold h LEFT JOIN ledger_transfer t ON t.hold_id = h.id
        GROUP BY h.id, h.posted_vnd
        HAVING h.posted_vnd <> COALESCE(SUM(t.amount_vnd), 0)
        """,
    ),
    (
        # On the rows alone: waiting increases only add to the side the rule is measured against.
        "no no-overdraft account below zero, posted or available",
        """
        SELECT code, debits_posted, credits_posted, debits_pending, credits_pending
        FROM ledger_account
        WHERE no_overdraft AND (
            (kind IN ('liability', 'revenue', 'equity') AND debits_posted + debits_pending > credits_posted)
            OR (kind IN ('asset', 'expense') AND credits_posted + credits_pending > debits_posted))
        """,
    ),
    (
        "every spending total equals what its account sent in its period",
        f"""
        SELECT * FROM (
            SELECT a.code, t.period, t.starts_at, t.amount_vnd,
                   (SELECT COALESCE(SUM(s.amount_vnd), 0) FROM ({_SENT}) s
                    WHERE s.account_id = t.account_id AND s.created_at >= t.starts_at AND s.created_at < t.ends_at
                      AND {_COUNTED_IN}) AS sent
            FROM ledger_spending_total t JOIN ledger_account a ON a.id = t.account_id
        ) x WHERE amount_vnd <> sent
        """,  # noqa: S608 - built from constants only (the exempt categories of civicpay.money)
    ),
    (
        "everything a wallet sent is in its spending totals, and no other account has any",
        f"""
        SELECT * FROM (
            SELECT a.code, t.period,
                   (SELECT COALESCE(SUM(c.amount_vnd), 0) FROM ledger_spending_total c
                    WHERE c.account_id = a.id AND c.period = t.period) AS counted,
                   CASE WHEN a.counts_spending THEN
                       (SELECT COALESCE(SUM(s.amount_vnd), 0) FROM ({_SENT}) s
                        WHERE s.account_id = a.id AND {_COUNTED_IN})
                   ELSE 0 END AS sent
            FROM ledger_account a CROSS JOIN (SELECT 'day' AS period UNION ALL SELECT 'month' AS period) t
        ) x WHERE counted <> sent
        """,  # noqa: S608 - built from constants only (the exempt categories of civicpay.money)
    ),
    (
        "all accounts together balance",
        f"""
        SELECT SUM(a.debits_posted + COALESCE(w.debits, 0)), SUM(a.credits_posted + COALESCE(w.credits, 0)),
               SUM(a.debits_pending), SUM(a.credits_pending)
        FROM ledger_account a LEFT JOIN ({_WAITING}) w ON w.account_id = a.id
        HAVING SUM(a.debits_posted + COALESCE(w.debits, 0)) <> SUM(a.credits_posted + COALESCE(w.credits, 0))
            OR SUM(a.debits_pending) <> SUM(a.credits_pending)
        """,  # noqa: S608 - built from constants only
    ),
)


# The promises, in the order they are checked: what ``civicpay ledger verify`` counts its progress in.
PROMISES = tuple(promise for promise, _ in _CHECKS)


async def each_promise(session: AsyncSession) -> AsyncIterator[tuple[str, list[str]]]:
    """Check the promises one by one: each with a line per breach (at most 20), none when it is kept."""
    for promise, query in _CHECKS:
        rows = (await session.execute(text(query))).all()
        yield promise, [f"{promise}: {tuple(row)}" for row in rows[:20]]


async def check_invariants(session: AsyncSession) -> list[str]:
    """Return one line for each broken promise; an empty list means the ledger is sound."""
    return [breach async for _, breaches in each_promise(session) for breach in breaches]
