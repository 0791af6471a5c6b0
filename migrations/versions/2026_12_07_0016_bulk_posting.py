"""Bulk posting: the deferred check that every entry balances reads each entry once, not once per posting.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

Migration 0001's deferred constraint trigger summed an entry's postings at commit once for every
posting row, so an entry of k postings cost k sums of k rows: quadratic, and a chunk of thousands of
entries posted in bulk (``wallet.ledger.post_entries``) paid a sum per posting too. The trigger stays
what it was, deferred to commit and fired per posting row (a constraint trigger can only be per row,
and a statement-level trigger with a transition table cannot be deferred, while an entry's postings
may come in several statements); what changes is that a firing sums the entry only when the entry's
next posting (by id) was not written by the same (sub)transaction. A skipped firing leaves the check
to that next row, whose own firing is in the same commit; so the last row a (sub)transaction wrote in
an entry checks the whole entry, as it stands at commit, and every other firing is two probes by key:
the row's own ``xmin``, and the next posting through an index on ``(entry_id, id)``, which replaces
the one on ``entry_id`` alone (it serves the same lookups). ``ORDER BY id LIMIT 1`` keeps that a probe:
a plain ``EXISTS`` let the planner pick a bitmap scan of every later row, quadratic again. A posting
added to an old entry, whatever its id, is its own transaction's last row in that entry, so the entry
is checked again, as before.

The (sub)transaction is known by ``xmin``: rows written under another savepoint only cause an extra
check, never a missed one. One gap, which nothing here opens: a transaction that fires its deferred
checks early (``SET CONSTRAINTS … IMMEDIATE``) and then adds, with an explicit id below them, a posting
to an entry it already wrote, would have that posting's check left to a row checked before it.

Measured on one entry at commit (PostgreSQL 15, a loaded machine): 8,000 postings 2.9 s before, 0.2 s
now; 32,000 postings 1.2 s now. Nothing changes on SQLite, which has no deferred triggers: there the
ledger's own writes stand alone, as 0001 says. Only ledger objects are touched.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FOUNDATION = importlib.import_module("migrations.versions.2026_11_23_0001_foundation")
_BEFORE = _FOUNDATION.POSTGRES_GUARDS[0]

_SUM_EVERY_TIME = """
BEGIN
    IF (SELECT COALESCE(SUM("""
# The entry's next posting, written by this same (sub)transaction, checks it instead, at commit, with all its rows.
_SUM_ONCE = """
BEGIN
    IF (SELECT next.xmin FROM ledger_posting next
        WHERE next.entry_id = NEW.entry_id AND next.id > NEW.id ORDER BY next.id LIMIT 1)
       = (SELECT this.xmin FROM ledger_posting this WHERE this.id = NEW.id) THEN
        RETURN NULL;
    END IF;
    IF (SELECT COALESCE(SUM("""
assert _SUM_EVERY_TIME in _BEFORE  # noqa: S101 - the one change to 0001's function
LEDGER_ENTRY_MUST_BALANCE = _BEFORE.replace(_SUM_EVERY_TIME, _SUM_ONCE).replace(
    "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"
)
_RESTORE = _BEFORE.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")


def _check_pending_entries() -> None:
    """Run the balance checks deferred by earlier migrations in this transaction (0007 posts entries), now.

    PostgreSQL refuses to index a table with trigger events still pending, and an upgrade from before 0007
    runs every migration in one transaction; checked now, an unbalanced entry still fails the upgrade.
    """
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET CONSTRAINTS ALL IMMEDIATE")


def upgrade() -> None:
    _check_pending_entries()
    op.create_index("ix_ledger_posting_entry_id_id", "ledger_posting", ["entry_id", "id"])
    op.drop_index("ix_ledger_posting_entry_id", table_name="ledger_posting")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(LEDGER_ENTRY_MUST_BALANCE)


def downgrade() -> None:
    _check_pending_entries()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_RESTORE)
    op.create_index("ix_ledger_posting_entry_id", "ledger_posting", ["entry_id"])
    op.drop_index("ix_ledger_posting_entry_id_id", table_name="ledger_posting")
