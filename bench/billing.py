"""Bill payments per second to ONE biller over HTTP on PostgreSQL, next to pgbench; ``GET /bills`` among 1M bills.

What one run does, start to end:

1. creates a fresh database ``civicpay_bench_<random>`` migrated with ``civicpay db upgrade``, and a scratch
   database initialised with ``pgbench -i -s 10``; starts ``civicpay serve`` and waits for ``GET /health``;
2. signs ``--citizens`` citizens up over HTTP and funds their wallets through ``wallet.ledger``; creates one
   electricity biller (through ``billing.billers``, so it has its API key and payable account) and gives each
   citizen a customer code at it, linked, with enough open bills for every payment the runs can make;
3. **hot biller**: warms up, then alternates ``--runs`` times one pgbench TPC-B run and one run of
   ``--clients`` concurrent clients each paying one bill a request (``POST /bill-payments``), every payment
   crediting the same biller's payable: the hot-account worst case. Each bill is paid by one request only,
   so every answer but 201 is a failure;
4. checks that every 201 is a payment in the database, that each of those bills is paid, and the ledger's
   invariants;
5. **my bills** (unless ``--bills 0``): fills the database to ``--bills`` bills (in SQL, over ten more billers,
   two bills per customer code) and gives ``--listers`` citizens ten links each, one per biller; then ``--get-clients``
   clients ask ``GET /bills`` for a random one of them for ``--get-seconds``, ``--runs`` times;
6. prints each run, then the medians: payments/s, p50/p99, pgbench's tps and the ratio (aim: at least 0.5),
   and ``GET /bills`` p50/p99 (aim: p99 under 20 ms); drops both databases whatever happened.

``--path portable`` has the server pay every bill on the portable path (``CIVICPAY_FAST_TRANSFERS=false``), as
before migration 0022, for a before-and-after on one machine at one time.

Each payment also writes its biller's webhook to the outbox; ``civicpay worker`` sends those, and this bench runs
none, so the figures are of the payment requests alone. The load generator, the app server and PostgreSQL
share this machine (see ``bench.transfers``), so each
figure is one of the whole box.

Run: ``.venv/bin/python -m bench.billing [--clients N] [--seconds S] [--runs R] [--bills B] ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import secrets
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import aiohttp
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.transfers import (
    SETUP_CONCURRENCY,
    BenchError,
    Call,
    Calls,
    Citizen,
    Postgres,
    RunResult,
    Server,
    app_environment,
    bench_settings,
    describe_run,
    drive,
    fund,
    percentile,
    pgbench_run,
    prepare_databases,
    run_with_best_loop,
    sign_up,
    start_server,
    stop_server,
    wait_healthy,
)
from billing.billers import create as create_biller
from billing.models import Bill, BillerCategory, BillLink, BillPayment, BillPaymentItem, BillStatus
from billing.schemas import BillerCreate
from civicpay import bootstrap
from civicpay.settings import Settings
from wallet import ledger

TARGET_RATIO = 0.5
TARGET_P99_MS = 20.0
BILL_VND = 20_000
# The lister's ten links: one per filler biller, each code with two open bills (this month and last).
FILLER_BILLERS = 10
BILLS_PER_CODE = 2


@dataclass(frozen=True, slots=True)
class Options:
    clients: int
    seconds: float
    runs: int
    warmup: float
    workers: int
    citizens: int
    bills: int
    listers: int
    get_clients: int
    get_seconds: float
    pgbench_scale: int
    postgres: str
    seed: int | None
    path: str


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.billing", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent paying clients and pgbench -c")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured payment run")
    parser.add_argument("--runs", type=int, default=3, help="measured runs of each kind")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before the payment runs")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of the server")
    parser.add_argument("--citizens", type=int, default=400, help="paying citizens, each with bills at the one biller")
    parser.add_argument(
        "--bills", type=int, default=1_000_000, help="bills in the database for the GET /bills runs (0: none)"
    )
    parser.add_argument("--listers", type=int, default=50, help="citizens with ten links whose bills are listed")
    parser.add_argument("--get-clients", type=int, default=1, help="concurrent GET /bills clients")
    parser.add_argument("--get-seconds", type=float, default=10.0, help="length of each GET /bills run")
    parser.add_argument("--pgbench-scale", type=int, default=10, help="pgbench -i -s")
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL to use (a maintenance database URL; the bench creates and drops its own databases)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed for who pays which bill")
    parser.add_argument(
        "--path",
        choices=("fast", "portable"),
        default="fast",
        help="fast: the server pays in one call of billing_pay_bills (billing/fast_path.py), as deployed;"
        " portable: CIVICPAY_FAST_TRANSFERS=false, every payment on the portable path (the figure before 0022)",
    )
    args = parser.parse_args(argv)
    if min(args.clients, args.runs, args.workers, args.citizens, args.listers, args.get_clients) < 1:
        parser.error("counts must be at least 1")
    if args.bills < 0:
        parser.error("--bills must be 0 (no GET /bills runs) or more")
    if args.listers > args.citizens:
        parser.error(f"--listers {args.listers} is more than --citizens {args.citizens}")
    return Options(
        clients=args.clients,
        seconds=args.seconds,
        runs=args.runs,
        warmup=args.warmup,
        workers=args.workers,
        citizens=args.citizens,
        bills=args.bills,
        listers=args.listers,
        get_clients=args.get_clients,
        get_seconds=args.get_seconds,
        pgbench_scale=args.pgbench_scale,
        postgres=args.postgres,
        seed=args.seed,
        path=args.path,
    )


# ------------------------------------------------------------------------------------------- the data


async def new_biller(session: AsyncSession, name: str, number: int) -> int:
    """A biller made as an admin makes one (its API key and payable account too); its id."""
    created = await create_biller(
        session,
        BillerCreate(
            name=name,
            category=BillerCategory.ELECTRICITY,
            bank_bin="970436",
            account_number=f"00110{number:08d}",
            webhook_url="http://127.0.0.1:9/bench",
            webhook_secret=secrets.token_hex(16),
        ),
        bank_name=name.upper(),
        now=datetime.now(UTC),
    )
    return created.id


def bill_row(biller_id: int, external_id: str, code: str, period: str, due: date, now: datetime) -> dict[str, object]:
    return {
        "biller_id": biller_id,
        "external_id": external_id,
        "customer_code": code,
        "customer_name": "Nguyễn Văn An",
        "period": period,
        "amount_vnd": BILL_VND,
        "due_date": due,
        "lines": [],
        "status": BillStatus.OPEN.value,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


async def seed_hot_biller(
    settings: Settings, citizens: Sequence[Citizen], per_citizen: int
) -> list[tuple[Citizen, int]]:
    """One biller, a linked code per citizen with ``per_citizen`` open bills; every (citizen, bill) to pay."""
    now = datetime.now(UTC)
    due = now.date() + timedelta(days=10)
    async with bootstrap.running(settings) as services, services.units() as unit:
        session = unit.session
        biller_id = await new_biller(session, "Công ty Điện lực Bench", 0)
        await session.execute(
            insert(BillLink),
            [
                {"user_id": c.user_id, "biller_id": biller_id, "customer_code": f"PE{c.user_id:08d}", "created_at": now}
                for c in citizens
            ],
        )
        await session.execute(
            insert(Bill),
            [
                bill_row(biller_id, f"HOT-{c.user_id}-{k}", f"PE{c.user_id:08d}", f"2026-{k:04d}", due, now)
                for c in citizens
                for k in range(per_citizen)
            ],
        )
        rows = await session.execute(select(Bill.id, Bill.customer_code).where(Bill.biller_id == biller_id))
        by_code = {f"PE{c.user_id:08d}": c for c in citizens}
        return [(by_code[code], bill_id) for bill_id, code in rows]


def payment_calls(work: list[tuple[Citizen, int]]) -> Calls:
    """Each bill paid by exactly one request, in the shuffled order ``work`` gives; None when all are taken."""
    queue = iter(work)

    def call(key: str) -> Call | None:
        taken = next(queue, None)
        if taken is None:
            return None
        citizen, bill_id = taken
        headers = {"Authorization": citizen.authorization, "Idempotency-Key": key, "Content-Type": "application/json"}
        return Call("/bill-payments", headers, json.dumps({"bill_ids": [bill_id]}).encode())

    return call


async def verify_payments(settings: Settings) -> tuple[int, int, list[str]]:
    """Payments in the database, bills paid, and any breach of the ledger's invariants."""
    async with bootstrap.running(settings) as services, services.units() as unit:
        session = unit.session
        payments = await session.scalar(select(func.count()).select_from(BillPayment))
        paid = await session.scalar(select(func.count()).select_from(Bill).where(Bill.status == BillStatus.PAID))
        allocated = await session.scalar(select(func.count()).select_from(BillPaymentItem))
        breaches = await ledger.check_invariants(session)
        if allocated != paid:
            breaches.append(f"{allocated} allocations for {paid} paid bills")
        return int(payments or 0), int(paid or 0), breaches


async def fill_bills(settings: Settings, total: int, listers: Sequence[Citizen]) -> int:
    """Bills up to ``total`` over ten more billers, in SQL; each lister linked to one code at each biller."""
    now = datetime.now(UTC)
    async with bootstrap.running(settings) as services, services.units() as unit:
        session = unit.session
        have = int(await session.scalar(select(func.count()).select_from(Bill)) or 0)
        per_biller = max(BILLS_PER_CODE, (total - have) // FILLER_BILLERS)
        billers = [await new_biller(session, f"Công ty Nước Bench {n}", n) for n in range(1, FILLER_BILLERS + 1)]
        for biller_id in billers:
            # Two bills a code: last month's (overdue) and this month's.
            await session.execute(
                text(
                    "INSERT INTO billing_bill (biller_id, external_id, customer_code, customer_name, period,"
                    " amount_vnd, due_date, lines, status, version, created_at, updated_at)"
                    " SELECT :biller, 'F' || g, 'C' || (g / 2), 'Trần Thị Bình', '2026-1' || (g % 2), :amount,"
                    " CAST(:due AS date) - (g % 2) * 30, '[]', 'open', 1, :now, :now"
                    " FROM generate_series(0, :last) AS g"
                ),
                {"biller": biller_id, "amount": BILL_VND, "due": now.date(), "now": now, "last": per_biller - 1},
            )
        # The listers lose their hot-biller link, so each has exactly ten.
        await session.execute(delete(BillLink).where(BillLink.user_id.in_([c.user_id for c in listers])))
        codes = per_biller // BILLS_PER_CODE
        await session.execute(
            insert(BillLink),
            [
                {
                    "user_id": c.user_id,
                    "biller_id": biller_id,
                    "customer_code": f"C{(n * 7919) % codes}",
                    "created_at": now,
                }
                for n, c in enumerate(listers)
                for biller_id in billers
            ],
        )
    async with bootstrap.running(settings) as services, services.units() as unit:
        await unit.session.execute(text("ANALYZE"))
        return int(await unit.session.scalar(select(func.count()).select_from(Bill)) or 0)


def listing_call(listers: Sequence[Citizen], rng: random.Random) -> Call:
    return Call("/bills", {"Authorization": rng.choice(listers).authorization}, method="GET", expect=200)


# ------------------------------------------------------------------------------------------ the runs


@dataclass(slots=True)
class Series:
    runs: list[RunResult] = field(default_factory=list)
    pgbench: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(run.per_second for run in self.runs)

    def latency_ms(self, q: float) -> float:
        """The median over runs of each run's percentile, in ms."""
        return statistics.median(percentile(run.latencies, q) * 1000 for run in self.runs)

    @property
    def ratio(self) -> float:
        return self.median / statistics.median(self.pgbench) if self.pgbench else math.nan


async def hot_biller_runs(
    http: aiohttp.ClientSession, server: Server, pg: Postgres, pgbench_db: str, calls: Calls, options: Options
) -> Series:
    series = Series()
    if options.warmup:
        warm = await drive(http, server, calls, clients=options.clients, seconds=options.warmup, label="warm")
        print(f"  warm-up  : {describe_run(warm, 'payments')}")
    for run in range(1, options.runs + 1):
        tps = await pgbench_run(pg, pgbench_db, options.clients, options.seconds)
        series.pgbench.append(tps)
        print(f"  pgbench {run}: {tps:7.1f} tps (TPC-B, -c {options.clients})")
        result = await drive(http, server, calls, clients=options.clients, seconds=options.seconds, label=f"r{run}")
        series.runs.append(result)
        print(f"  run {run}    : {describe_run(result, 'payments')}")
        for status, sample in result.samples.items():
            print(f"             first {status} answer: {sample}")
    return series


async def listing_runs(
    http: aiohttp.ClientSession, server: Server, listers: Sequence[Citizen], options: Options, rng: random.Random
) -> Series:
    series = Series()

    def calls(_: str) -> Call:
        return listing_call(listers, rng)

    first = calls("")
    async with http.get(f"{server.base_url}{first.path}", headers=first.headers) as answer:
        listed = (await answer.json())["bill_count"] if answer.status == 200 else None
    print(f"  one lister's GET /bills lists {listed} bills")
    await drive(http, server, calls, clients=options.get_clients, seconds=2, label="warm")
    for run in range(1, options.runs + 1):
        result = await drive(http, server, calls, clients=options.get_clients, seconds=options.get_seconds, label="get")
        series.runs.append(result)
        print(f"  run {run}    : {describe_run(result, 'lists')}")
    return series


@dataclass(slots=True)
class Outcome:
    hot: Series
    counted: int
    payments: int
    paid: int
    breaches: list[str]
    bills: int
    listing: Series


async def measure(
    http: aiohttp.ClientSession, server: Server, settings: Settings, pg: Postgres, pgbench_db: str, options: Options
) -> Outcome:
    rng = random.Random(options.seed)
    await wait_healthy(server, http)
    citizens = await sign_up(http, server.base_url, options.citizens, BILL_VND, rng)
    await fund(settings, citizens, 10_000_000)
    # Enough bills for twice the payments a run of 1,000/s could make.
    per_citizen = math.ceil(2 * 1000 * (options.warmup + options.runs * options.seconds) / len(citizens))
    work = await seed_hot_biller(settings, citizens, per_citizen)
    rng.shuffle(work)
    print(f"{len(citizens)} citizens funded; {len(work):,} open bills at one biller\n\nhot biller")
    hot = await hot_biller_runs(http, server, pg, pgbench_db, payment_calls(work), options)
    counted = sum(run.ok for run in hot.runs)
    payments, paid, breaches = await verify_payments(settings)
    print(
        f"  check: {payments} payments and {paid} bills paid in the database for {counted} 201s counted in time;"
        f" invariants {'hold' if not breaches else 'BROKEN'}"
    )
    for breach in breaches[:10]:
        print(f"  BREACH {breach}")
    if not options.bills:
        return Outcome(hot, counted, payments, paid, breaches, 0, Series())
    started = time.perf_counter()
    listers = citizens[: options.listers]
    bills = await fill_bills(settings, options.bills, listers)
    print(f"\nmy bills: {bills:,} bills in the database, filled in {time.perf_counter() - started:.0f} s")
    listing = await listing_runs(http, server, listers, options, rng)
    return Outcome(hot, counted, payments, paid, breaches, bills, listing)


def print_summary(outcome: Outcome) -> None:
    hot, listing = outcome.hot, outcome.listing
    runs = ", ".join(f"{run.per_second:.0f}" for run in hot.runs)
    verdict = "meets" if hot.ratio >= TARGET_RATIO else "BELOW"
    print(
        f"\nhot biller: payments/s median {hot.median:.0f} (runs: {runs}) p50 {hot.latency_ms(50):.0f} ms"
        f" p99 {hot.latency_ms(99):.0f} ms | pgbench TPC-B {statistics.median(hot.pgbench):.0f} tps"
        f" | ratio {hot.ratio:.2f} ({verdict} the {TARGET_RATIO} target)"
    )
    if not listing.runs:
        return
    p99 = listing.latency_ms(99)
    print(
        f"GET /bills ({outcome.bills:,} bills, ten links): {listing.median:.0f} lists/s,"
        f" p50 {listing.latency_ms(50):.1f} ms p99 {p99:.1f} ms"
        f" ({'meets' if p99 < TARGET_P99_MS else 'ABOVE'} the {TARGET_P99_MS:g} ms target)"
    )


async def bench(options: Options) -> int:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    listing = (
        f"GET /bills among {options.bills:,} bills by {options.get_clients} client(s)"
        if options.bills
        else "no GET /bills runs"
    )
    print(
        f"civicpay billing bench ({options.path} path): {options.clients} paying clients,"
        f" {options.runs} x {options.seconds:g} s runs, {options.workers} workers, {options.citizens} citizens,"
        f" one biller; {listing}. Client, server and PostgreSQL share this"
        f" {os.cpu_count()}-CPU machine; load average before start: {load}"
    )
    pg = Postgres.parse(options.postgres)
    tag = secrets.token_hex(4)
    app_db, pgbench_db = f"civicpay_bench_{tag}", f"civicpay_pgbench_{tag}"
    created: list[str] = []
    settings = bench_settings(pg.url(app_db))
    try:
        await prepare_databases(pg, app_db, pgbench_db, created, options.pgbench_scale)
        connector = aiohttp.TCPConnector(limit=max(options.clients, SETUP_CONCURRENCY), limit_per_host=0)
        with TemporaryDirectory(prefix="civicpay-bench-") as scratch:
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
                environment = app_environment(settings)
                if options.path == "portable":
                    environment["CIVICPAY_FAST_TRANSFERS"] = "false"
                server = await start_server(environment, options.workers, Path(scratch))
                try:
                    outcome = await measure(http, server, settings, pg, pgbench_db, options)
                finally:
                    await stop_server(server)
        print_summary(outcome)
        failed = sum(sum(run.failures.values()) for run in itertools.chain(outcome.hot.runs, outcome.listing.runs))
        if failed:
            print(f"{failed} requests failed (see the runs above)")
        wrong = outcome.payments < outcome.counted or outcome.paid != outcome.payments
        return 1 if outcome.breaches or wrong or failed else 0
    finally:
        for database in reversed(created):
            try:
                await pg.drop_database(database)
            except Exception as exc:
                print(f"could not drop {database}: {exc}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    try:
        return run_with_best_loop(bench(options))
    except BenchError as problem:
        print(f"bench failed: {problem}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("bench interrupted; server stopped and databases dropped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
