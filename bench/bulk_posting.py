"""Welfare credits per second through ``wallet.ledger``'s bulk posting on PostgreSQL, next to a raw COPY.

What one run does, start to end:

1. creates a fresh database ``civicpay_bulk_bench_<random>``, migrates it (``civicpay db upgrade``'s Alembic
   head), and makes ``--credits`` wallets in one SQL statement, a funding account and a bank account, the
   funding funded through ``ledger.post_entry`` with enough for every run;
2. ``--runs`` times, in turn:
   - **post_entries**: ``--credits`` credits of one transfer each (funding → a wallet, each wallet once),
     in chunks of ``--chunk``, one transaction per chunk through ``ledger.post_entries``;
   - **draw_hold**: the same credits as a batch would make them: one ``ledger.hold`` of the total,
     then one ``ledger.draw_hold`` per chunk, then ``ledger.release_hold``;
   - **raw COPY**: the same number of rows, as wide as a transfer row, ``COPY``'d by asyncpg into a
     scratch table with no index, trigger or constraint but its primary key: the floor under any write;
3. checks ``ledger.check_invariants`` and that every credit is there;
4. prints each run, then the medians (credits/s, rows/s) and how many times slower than COPY each path
   is; drops the database whatever happened.

Each credit writes five rows (entry, transfer, two postings, the wallet's waiting increase), checked
at commit by the deferred trigger that each entry balances, so the ratio to COPY says what the
ledger's guarantees cost per credit. PostgreSQL and this process share the machine.

Measured 2026-12-07 (PostgreSQL 15, two cores shared with other work; 100,000 credits, chunks of 2,000,
medians of 3): ``post_entries`` 3,993 credits/s, ``draw_hold`` 3,728/s, raw COPY 187,765 rows/s, so 47
and 50 times the COPY. Where a chunk's time goes (EXPLAIN ANALYZE of one chunk of 2,000): some 30% the
inserts, some 70% the 22,000 foreign-key checks of its transfers and postings (each row checks its
entry, its accounts, its transfer, and a transfer its hold even when it has none); the deferred check
that each entry balances adds about 35 µs a credit at commit.

Run: ``.venv/bin/python -m bench.bulk_posting [--credits N] [--chunk C] [--runs R] [--postgres URL]``.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
from alembic import command
from sqlalchemy import text

from bench.transfers import BenchError, Postgres, bench_settings
from civicpay import bootstrap
from civicpay.bootstrap import Services
from civicpay.db import alembic_config
from civicpay.money import Category
from wallet import ledger
from wallet.ledger import AccountKind, EntrySpec, TransferSpec

CREDIT_VND = 500_000  # a month's social allowance (trợ cấp xã hội), about


def parse_options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--credits", type=int, default=100_000, help="credits per run (one wallet each)")
    parser.add_argument("--chunk", type=int, default=2_000, help="credits per transaction")
    parser.add_argument("--runs", type=int, default=3, help="runs of each path; the medians are printed")
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL to use (a maintenance database URL; the bench creates and drops its own database)",
    )
    options = parser.parse_args(argv)
    if not (1 <= options.chunk <= options.credits <= 10_000_000 and 1 <= options.runs <= 20):
        parser.error("need 1 <= --chunk <= --credits <= 10,000,000 and 1 <= --runs <= 20")
    return options


async def set_up(services: Services, credits: int, runs: int) -> tuple[int, int, list[int]]:
    """The funding account (funded for every run of both paths), the batch's clearing account, and the wallets."""
    now = datetime.now(UTC)
    async with services.units() as unit:
        session = unit.session
        bank = await ledger.open_account(
            session, code="bench:bank", name="Bank", kind=AccountKind.ASSET, no_overdraft=False, now=now
        )
        funding = await ledger.open_account(
            session, code="bench:funding", name="Funding", kind=AccountKind.LIABILITY, no_overdraft=True, now=now
        )
        clearing = await ledger.open_account(
            session, code="bench:clearing", name="Clearing", kind=AccountKind.LIABILITY, no_overdraft=True, now=now
        )
        total = credits * CREDIT_VND * runs * 2
        await ledger.post_entry(
            session, [TransferSpec(bank, funding, total, Category.TOPUP)], now=now, description="budget"
        )
        # Wallets in one statement: opening them one by one is not what is measured.
        await session.execute(
            text(
                "INSERT INTO ledger_account (code, name, kind, no_overdraft, counts_spending, debits_posted,"
                " credits_posted, debits_pending, credits_pending, created_at)"
                " SELECT 'bench:w' || g, 'Ví ' || g, 'liability', true, true, 0, 0, 0, 0, :now"
                " FROM generate_series(1, :n) AS g"
            ),
            {"n": credits, "now": now},
        )
        wallets = list(
            (await session.scalars(text("SELECT id FROM ledger_account WHERE code LIKE 'bench:w%' ORDER BY id"))).all()
        )
    return funding, clearing, wallets


def chunks(funding: int, wallets: Sequence[int], size: int, run: int) -> list[list[EntrySpec]]:
    entries = [
        EntrySpec(
            [TransferSpec(funding, wallet, CREDIT_VND, Category.TOPUP, reference=f"R{run}I{number:07d}")],
            f"welfare run {run} item {number}",
        )
        for number, wallet in enumerate(wallets)
    ]
    return [entries[start : start + size] for start in range(0, len(entries), size)]


async def post_in_chunks(services: Services, funding: int, wallets: Sequence[int], size: int, run: int) -> float:
    work = chunks(funding, wallets, size, run)
    started = time.perf_counter()
    for chunk in work:
        async with services.units() as unit:
            await ledger.post_entries(unit.session, chunk, now=datetime.now(UTC))
    return time.perf_counter() - started


async def draw_in_chunks(
    services: Services, funding: int, clearing: int, wallets: Sequence[int], size: int, run: int
) -> float:
    work = chunks(funding, wallets, size, run)
    started = time.perf_counter()
    async with services.units() as unit:
        reserved = await ledger.hold(
            unit.session,
            TransferSpec(funding, clearing, CREDIT_VND * len(wallets), Category.TOPUP, reference=f"BATCH{run}"),
            now=datetime.now(UTC),
            expires_at=None,
        )
    for chunk in work:
        async with services.units() as unit:
            await ledger.draw_hold(unit.session, reserved, chunk, now=datetime.now(UTC))
    async with services.units() as unit:
        if await ledger.release_hold(unit.session, reserved, now=datetime.now(UTC)) != 0:
            raise BenchError("the hold had money left after drawing every credit")
    return time.perf_counter() - started


async def raw_copy(dsn: str, rows: int, run: int) -> float:
    """COPY ``rows`` transfer-wide rows into a scratch table of their own: the floor under any write."""
    connection = await asyncpg.connect(dsn)
    try:
        table = f"bench_copy_{run}"
        await connection.execute(
            f"CREATE TABLE {table} (id bigint PRIMARY KEY, entry_id bigint, debit_account_id bigint,"
            " credit_account_id bigint, amount_vnd bigint, category text, reference text, metadata json,"
            " created_at timestamptz)"
        )
        now = datetime.now(UTC)
        records = [(n, n, 1, n + 2, CREDIT_VND, "topup", f"R{run}I{n:07d}", "{}", now) for n in range(rows)]
        started = time.perf_counter()
        await connection.copy_records_to_table(table, records=records)
        elapsed = time.perf_counter() - started
        await connection.execute(f"DROP TABLE {table}")
        return elapsed
    finally:
        await connection.close()


async def check(services: Services, expected_transfers: int) -> None:
    async with services.units() as unit:
        breaches = await ledger.check_invariants(unit.session)
        transfers = await unit.session.scalar(text("SELECT COUNT(*) FROM ledger_transfer WHERE reference LIKE 'R%'"))
    if breaches:
        raise BenchError("ledger invariants broken:\n" + "\n".join(breaches[:20]))
    if transfers != expected_transfers:
        raise BenchError(f"{transfers} credits in the ledger, {expected_transfers} posted")


async def bench(options: argparse.Namespace) -> None:
    pg = Postgres.parse(options.postgres)
    database = f"civicpay_bulk_bench_{secrets.token_hex(4)}"
    await pg.create_database(database)
    try:
        url = pg.url(database)
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
        async with bootstrap.running(bench_settings(url)) as services:
            funding, clearing, wallets = await set_up(services, options.credits, options.runs)
            dsn = url.replace("postgresql+asyncpg://", "postgresql://")
            timings: dict[str, list[float]] = {"post_entries": [], "draw_hold": [], "raw COPY": []}
            for run in range(options.runs):
                measured = {
                    "post_entries": await post_in_chunks(services, funding, wallets, options.chunk, 2 * run),
                    "draw_hold": await draw_in_chunks(services, funding, clearing, wallets, options.chunk, 2 * run + 1),
                    "raw COPY": await raw_copy(dsn, options.credits, run),
                }
                for path, elapsed in measured.items():
                    timings[path].append(elapsed)
                    print(
                        f"run {run + 1} {path:>12}: {options.credits:,} in {elapsed:6.2f} s"
                        f" = {options.credits / elapsed:10,.0f}/s",
                        flush=True,
                    )
            await check(services, 2 * options.runs * options.credits)
        copy = statistics.median(timings["raw COPY"])
        print(f"\nmedians of {options.runs} runs, {options.credits:,} credits in chunks of {options.chunk:,}:")
        for path, runs in timings.items():
            median = statistics.median(runs)
            print(
                f"  {path:>12}: {options.credits / median:10,.0f} credits/s ({median:.2f} s),"
                f" {median / copy:5.1f}x the raw COPY"
            )
        print("ledger invariants hold; every credit is in the ledger")
    finally:
        await pg.drop_database(database)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    try:
        asyncio.run(bench(options))
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
