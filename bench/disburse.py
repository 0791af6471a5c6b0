"""A welfare batch of 600,215 beneficiaries validated, approved and paid on PostgreSQL, next to a raw COPY.

What one run does, start to end:

1. creates a fresh database ``civicpay_disburse_bench_<random>``, migrates it (``civicpay db upgrade``'s Alembic
   head) and seeds it in a few SQL statements: ``--items`` citizens (12-digit CCCD, a name, a wallet each), two
   programme officers with TOTP, and per run a programme funded by a funding approved as finance approves one;
2. writes the batch as the CSV a programme office uploads: 60% of its rows to the citizen's wallet, 40% to a bank
   account at one of four banks (Hà Nội's real mix is some 99% wallets; 40% bank items make the bank-file path
   weigh in the figures rather than vanish);
3. ``--runs`` times, each on a programme of its own (so nobody is "already paid"), stages timed apart:
   - **validation**: ``batches.read_file`` and ``batches.validate``, what the upload route and
     ``civicpay disburse import`` call: the file read, every row checked, every item stored;
   - **approval**: ``batches.approve`` by the second officer with a TOTP code: the hold of the whole total;
   - **execution**: ``execution.run``, the job the workers run, in this one process, to the end: wallet items
     paid chunk by chunk (``disbursement_chunk_size``), then the bank items in pain.001 files per bank;
   - **raw COPY**: the batch's rows, as wide as an item row, ``COPY``'d by asyncpg into a scratch table with no
     index, trigger or constraint but its primary key: the floor under any write of them;
4. checks ``ledger.check_invariants``, that each beneficiary of each run was paid exactly once (one payment, one
   transfer to their wallet or one line in a payout file), that every file's lines add up, and the batches ended
   where they should (wallet money drawn; bank money drawn to the clearing account, awaiting the bank);
5. prints each stage's wall time and items/s, the peak resident memory of this process, the end-to-end time and
   how many times the raw COPY it is; with several runs the medians; drops the database whatever happened.

Measured 2026-12-07 (PostgreSQL 15 and this process on two cores shared with other work, load average 3 to 6 during
the run, so slower than on a quiet machine; one run, no medians). 600,215 items (360,129 wallets, 240,086 bank
accounts), ``--chunk 5000``: validation 38.4 s (15,613 items/s), approval 9.0 s, execution 150.2 s (3,996 items/s:
73 wallet chunks, then 52 pain.001 files), end to end 197.6 s (3,037 items/s); raw COPY 2.3 s (255,965 rows/s), so
84 times the COPY (validation 16x, execution 64x); peak RSS 798 MiB after execution. Far from the aim (60 s, 5x). An
earlier run of the same size, before the last change below and at a load of 6 to 9: 74.6 + 11.8 + 217.3 = 303.7 s,
109x a 2.8 s COPY. On 20,000 items: before this bench's changes validation took 27.4 s and execution 22.6 s (chunks
of 1,000); items written from arrays (``unnest``) brought validation to 3.5 s, payments recorded from arrays
execution to 13.2 s, chunks of 5,000 to 8.4 s; then, at a load of 5, items marked paid or sent in one ``UPDATE …
FROM unnest`` a chunk took execution from 7.0 s to 4.9 s. What is left is in the database: each wallet item still
writes an entry, a transfer, two postings, a payment and an item update, with some eleven foreign-key checks
(``bench.bulk_posting``'s docstring: 70% of a chunk's time); validation's Python (reading and checking each row) and
its per-thousand look-ups; the approval's update of every item's status. Not tried for lack of time: cheaper
foreign-key checks in ``wallet.ledger.bulk``, queueing items at validation rather than at approval, a smaller memory
peak in validation (the rows, their items and the holders all held at once).

Run: ``.venv/bin/python -m bench.disburse [--items N] [--chunk C] [--runs R] [--postgres URL]``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import resource
import secrets
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import msgspec
import pyotp
from alembic import command
from sqlalchemy import text

from bench.transfers import BenchError, Postgres, bench_settings
from civicpay import bootstrap
from civicpay.bootstrap import Services
from civicpay.db import alembic_config
from disbursement import batches, execution, programmes
from disbursement import schemas as s
from disbursement.models import BatchStatus, ItemStatus, ProgrammeKind
from wallet import ledger

AMOUNT_VND = 500_000  # a month's social allowance (trợ cấp xã hội), about
PERIOD = "2026-12"
# Destination banks of the bank items, all receiving NAPAS transfers: Vietcombank, VietinBank, BIDV, Agribank.
BANK_BINS = ("970436", "970415", "970418", "970405")
STAGES = ("validation", "approval", "execution", "end to end", "raw COPY")


def parse_options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--items", type=int, default=600_215, help="beneficiaries in the batch (one citizen each)")
    parser.add_argument("--chunk", type=int, default=None, help="disbursement_chunk_size (default: the setting's)")
    parser.add_argument("--runs", type=int, default=1, help="batches paid; with several the medians are printed")
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL to use (a maintenance database URL; the bench creates and drops its own database)",
    )
    options = parser.parse_args(argv)
    if not (10 <= options.items <= 2_000_000 and 1 <= options.runs <= 10):
        parser.error("need 10 <= --items <= 2,000,000 and 1 <= --runs <= 10")
    if options.chunk is not None and not 1 <= options.chunk <= 50_000:
        parser.error("need 1 <= --chunk <= 50,000")
    return options


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def is_bank(number: int) -> bool:
    return number % 5 in (1, 3)  # 2 rows in 5: 40%


def citizen_id(number: int) -> str:
    return f"001{number:09d}"  # province 001, Hà Nội


def full_name(number: int) -> str:
    return f"Nguyễn Văn {number}"


async def seed(services: Services, items: int) -> tuple[int, int, str]:
    """The citizens and their wallets in four statements, and two programme officers; (maker, checker, TOTP seed)."""
    now = datetime.now(UTC)
    seed_secret = pyotp.random_base32()
    async with services.units() as unit:
        session = unit.session
        # Opening wallets one by one (a sign-up each) is not what is measured.
        await session.execute(
            text(
                "INSERT INTO auth_user (phone, citizen_id, full_name, role, password_hash, otp_failures, created_at)"
                " SELECT '+849' || lpad(g::text, 8, '0'), '001' || lpad(g::text, 9, '0'), 'Nguyễn Văn ' || g,"
                " 'citizen', 'bench', 0, :now FROM generate_series(1, :n) AS g"
            ),
            {"n": items, "now": now},
        )
        await session.execute(
            text(
                "INSERT INTO ledger_account (code, name, kind, no_overdraft, counts_spending, debits_posted,"
                " credits_posted, debits_pending, credits_pending, created_at)"
                " SELECT 'wallet:' || id, 'Ví ' || full_name, 'liability', true, true, 0, 0, 0, 0, :now"
                " FROM auth_user WHERE role = 'citizen'"
            ),
            {"now": now},
        )
        await session.execute(
            text(
                "INSERT INTO wallet (user_id, account_id, kyc_tier, created_at)"
                " SELECT u.id, a.id, 'basic', :now FROM auth_user u JOIN ledger_account a ON a.code = 'wallet:' || u.id"
                " WHERE u.role = 'citizen'"
            ),
            {"now": now},
        )
        officers = []
        for phone, name, role in (
            ("+84800000001", "Phan Thị Lan", "programme_officer"),
            ("+84800000002", "Đặng Quốc Bảo", "programme_officer"),
            ("+84800000003", "Hoàng Minh Châu", "finance_officer"),
            ("+84800000004", "Trương Mỹ Linh", "finance_officer"),
        ):
            officers.append(
                await session.scalar(
                    text(
                        "INSERT INTO auth_user (phone, full_name, role, password_hash, totp_secret, otp_failures,"
                        " created_at) VALUES (:phone, :name, :role, 'bench', :secret, 0, :now) RETURNING id"
                    ),
                    {"phone": phone, "name": name, "role": role, "secret": seed_secret, "now": now},
                )
            )
        await session.execute(text("ANALYZE"))
    return officers[0], officers[1], seed_secret


def batch_csv(items: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["citizen_id", "full_name", "amount_vnd", "period", "destination", "bank_bin", "account_number", "holder_name"]
    )
    for number in range(1, items + 1):
        if is_bank(number):
            writer.writerow(
                [
                    citizen_id(number),
                    full_name(number),
                    AMOUNT_VND,
                    PERIOD,
                    "bank",
                    BANK_BINS[number % len(BANK_BINS)],
                    f"10{number:010d}",
                    f"NGUYEN VAN {number}",
                ]
            )
        else:
            writer.writerow([citizen_id(number), full_name(number), AMOUNT_VND, PERIOD, "wallet", "", "", ""])
    return out.getvalue().encode()


class Totp:
    """Codes for the officers' shared seed, a step apart so that none is a replay of the last."""

    def __init__(self, seed_secret: str) -> None:
        self.totp, self.step = pyotp.TOTP(seed_secret), 0

    def code(self) -> tuple[str, datetime]:
        self.step += 1
        at = datetime.fromtimestamp((int(time.time()) // 30 + self.step * 2) * 30, UTC)
        return self.totp.at(at), at


async def programme(services: Services, run: int, items: int, officers: tuple[int, int, int, int], totp: Totp) -> int:
    """A programme funded for the whole batch, its funding recorded and approved as finance does it."""
    maker, _checker, recorder, treasurer = officers
    async with services.units() as unit:
        created = await programmes.create(
            unit.session,
            s.ProgrammeCreate(name=f"Trợ cấp xã hội {run + 1}", kind=ProgrammeKind.WELFARE, max_amount_vnd=5_000_000),
            officer_id=maker,
            now=datetime.now(UTC),
        )
        funding = await programmes.record_funding(
            unit.session,
            created.id,
            s.FundingCreate(amount_vnd=items * AMOUNT_VND, bank_reference=f"FT26341{run:06d}"),
            officer_id=recorder,
            now=datetime.now(UTC),
        )
    code, at = totp.code()
    async with services.units() as unit:
        await programmes.approve_funding(
            unit.session, services.settings, funding.id, officer_id=treasurer, otp=code, now=at
        )
    return created.id


async def one_run(
    services: Services, data: bytes, run: int, officers: tuple[int, int, int, int], totp: Totp
) -> tuple[dict[str, float], int]:
    items = data.count(b"\n") - 1
    programme_id = await programme(services, run, items, officers, totp)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    async with services.units() as unit:
        found = await programmes.get(unit.session, programme_id)
        rows = batches.read_file(data, f"tro-cap-{run + 1}.csv", found.max_amount_vnd)
        batch = await batches.validate(
            unit.session, found, rows, file_name=f"tro-cap-{run + 1}.csv", officer_id=officers[0], now=datetime.now(UTC)
        )
        batch_id = batch.id
        if batch.invalid_count:
            raise BenchError(f"{batch.invalid_count} rows found invalid; every row of the bench's file is valid")
    del rows
    timings["validation"] = time.perf_counter() - started
    started = time.perf_counter()
    code, at = totp.code()
    async with services.units() as unit:
        await batches.approve(unit.session, services.settings, batch_id, officer_id=officers[1], otp=code, now=at)
    timings["approval"] = time.perf_counter() - started
    started = time.perf_counter()
    done = await execution.run(services.units, services.settings, services.clock, batch_id=batch_id)
    timings["execution"] = time.perf_counter() - started
    # Before the raw COPY's rows are built in this process: the peak of validating, approving and paying.
    print(f"run {run + 1} peak RSS after execution {peak_rss_mib():,.0f} MiB", flush=True)
    timings["end to end"] = timings["validation"] + timings["approval"] + timings["execution"]
    wallets = sum(1 for number in range(1, items + 1) if not is_bank(number))
    if (done.paid, done.failed) != (wallets, 0):
        raise BenchError(f"the job paid {done.paid} and failed {done.failed} wallet items of {wallets}")
    return timings, batch_id


async def raw_copy(dsn: str, data: bytes, run: int) -> float:
    """COPY the batch's rows, as wide as an item row, into a scratch table of their own: the floor under any write."""
    connection = await asyncpg.connect(dsn)
    try:
        table = f"bench_copy_{run}"
        await connection.execute(
            f"CREATE TABLE {table} (id bigint PRIMARY KEY, batch_id bigint, row integer, citizen_id varchar(20),"
            " full_name varchar(100), amount_vnd bigint, period varchar(10), destination varchar(10),"
            " bank_bin varchar(10), account_number varchar(30), holder_name varchar(100), status varchar(16),"
            " problems json, wallet_account_id bigint, transfer_id bigint, failure varchar(40),"
            " paid_at timestamptz, payout_file_id bigint, failure_detail varchar(140), follow_up boolean)"
        )
        now = datetime.now(UTC)
        lines = data.decode().splitlines()[1:]
        records = []
        for number, line in enumerate(csv.reader(lines), start=1):
            bank = line[4] == "bank"
            records.append(
                (number, run, number + 1, *line[:2], int(line[2]), *line[3:], "paid", "[]",
                 None if bank else number, number, None, now, number if bank else None, None, False)
            )  # fmt: skip
        started = time.perf_counter()
        await connection.copy_records_to_table(table, records=records)
        elapsed = time.perf_counter() - started
        await connection.execute(f"DROP TABLE {table}")
        return elapsed
    finally:
        await connection.close()


async def check(services: Services, batch_ids: Sequence[int], items: int) -> None:
    """The ledger's invariants; each beneficiary of each batch paid exactly once, by the way their row said."""
    async with services.units() as unit:
        session = unit.session
        breaches = await ledger.check_invariants(session)
        if breaches:
            raise BenchError("ledger invariants broken:\n" + "\n".join(breaches[:20]))
        for batch_id in batch_ids:
            batch = await batches.get(session, batch_id)
            expected_status = BatchStatus.AWAITING_BANK if batch.bank_count else BatchStatus.COMPLETED
            if batch.status != expected_status:
                raise BenchError(f"batch {batch_id} is {batch.status}, not {expected_status}")
            counts: dict[str, int] = dict(
                (
                    await session.execute(
                        text("SELECT status, count(*) FROM disbursement_item WHERE batch_id = :b GROUP BY status"),
                        {"b": batch_id},
                    )
                ).all()
            )
            wallets = batch.wallet_count
            funding = (await programmes.get(session, batch.programme_id)).funding_account_id
            if counts != {ItemStatus.PAID_TO_WALLET.value: wallets, ItemStatus.SENT_TO_BANK.value: items - wallets}:
                raise BenchError(f"batch {batch_id}'s items are {counts}")
            paid = (
                await session.execute(
                    text(
                        "SELECT count(*), count(DISTINCT p.citizen_id), count(DISTINCT i.transfer_id),"
                        " count(*) FILTER (WHERE t.amount_vnd = i.amount_vnd AND t.debit_account_id = :funding"
                        "   AND (i.destination = 'bank' OR t.credit_account_id = i.wallet_account_id))"
                        " FROM disbursement_item i JOIN disbursement_payment p ON p.item_id = i.id"
                        " JOIN ledger_transfer t ON t.id = i.transfer_id WHERE i.batch_id = :b"
                    ),
                    {"b": batch_id, "funding": funding},
                )
            ).one()
            if tuple(paid) != (items, items, items, items):
                raise BenchError(f"batch {batch_id}: payments, citizens, transfers, right transfers = {tuple(paid)}")
            files = (
                await session.execute(
                    text(
                        "SELECT coalesce(sum(f.item_count), 0), coalesce(sum(f.total_vnd), 0),"
                        " (SELECT count(*) FROM disbursement_item i"
                        "  WHERE i.batch_id = :b AND i.payout_file_id IS NOT NULL)"
                        " FROM disbursement_payout_file f WHERE f.batch_id = :b"
                    ),
                    {"b": batch_id},
                )
            ).one()
            if tuple(files) != (items - wallets, batch.bank_total_vnd, items - wallets):
                raise BenchError(f"batch {batch_id}: payout files hold {tuple(files)}")
        # Across runs each citizen's wallet got one credit per run that paid them to it, no more.
        twice = await session.scalar(
            text(
                "SELECT count(*) FROM (SELECT t.credit_account_id, i.batch_id FROM disbursement_item i"
                " JOIN ledger_transfer t ON t.id = i.transfer_id WHERE i.destination = 'wallet'"
                " GROUP BY 1, 2 HAVING count(*) > 1) AS x"
            )
        )
        if twice:
            raise BenchError(f"{twice} wallets were paid twice in one batch")


async def bench(options: argparse.Namespace) -> None:
    pg = Postgres.parse(options.postgres)
    database = f"civicpay_disburse_bench_{secrets.token_hex(4)}"
    await pg.create_database(database)
    try:
        url = pg.url(database)
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
        settings = bench_settings(url)
        if options.chunk is not None:
            settings = msgspec.structs.replace(settings, disbursement_chunk_size=options.chunk)
        async with bootstrap.running(settings) as services:
            started = time.perf_counter()
            maker, checker, seed_secret = await seed(services, options.items)
            async with services.units() as unit:
                finance = await unit.session.execute(
                    text("SELECT id FROM auth_user WHERE role = 'finance_officer' ORDER BY id")
                )
                recorder, treasurer = finance.scalars().all()
            officers = (maker, checker, recorder, treasurer)
            data = batch_csv(options.items)
            print(
                f"seeded {options.items:,} citizens with wallets and wrote the batch file ({len(data) / 2**20:.1f} MiB)"
                f" in {time.perf_counter() - started:.1f} s; chunks of {settings.disbursement_chunk_size:,}",
                flush=True,
            )
            totp = Totp(seed_secret)
            dsn = url.replace("postgresql+asyncpg://", "postgresql://")
            timings: dict[str, list[float]] = {stage: [] for stage in STAGES}
            batch_ids = []
            for run in range(options.runs):
                measured, batch_id = await one_run(services, data, run, officers, totp)
                batch_ids.append(batch_id)
                measured["raw COPY"] = await raw_copy(dsn, data, run)
                for stage, elapsed in measured.items():
                    timings[stage].append(elapsed)
                    print(
                        f"run {run + 1} {stage:>11}: {options.items:,} in {elapsed:7.2f} s"
                        f" = {options.items / elapsed:10,.0f} items/s",
                        flush=True,
                    )
            await check(services, batch_ids, options.items)
        copy = statistics.median(timings["raw COPY"])
        wallets = sum(1 for number in range(1, options.items + 1) if not is_bank(number))
        heading = f"medians of {options.runs} runs" if options.runs > 1 else "one run"
        print(
            f"\n{heading}, {options.items:,} items"
            f" ({wallets:,} to wallets, {options.items - wallets:,} to bank accounts):"
        )
        for stage, runs in timings.items():
            median = statistics.median(runs)
            print(
                f"  {stage:>11}: {median:7.2f} s, {options.items / median:10,.0f} items/s,"
                f" {median / copy:6.1f}x the raw COPY"
            )
        print(f"  peak RSS {peak_rss_mib():,.0f} MiB (with the raw COPY's rows, built in this process)")
        print("ledger invariants hold; every beneficiary was paid exactly once")
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
