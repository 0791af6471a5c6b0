"""Wallet-to-wallet transfers per second through HTTP on PostgreSQL, next to pgbench TPC-B on the same server.

What one run does, start to end:

1. creates a fresh database ``civicpay_bench_<random>`` and migrates it with ``civicpay db upgrade``, and a
   scratch database ``civicpay_pgbench_<random>`` initialised with ``pgbench -i -s 10``;
2. for each ``--workers`` value, starts ``civicpay serve`` on 127.0.0.1 (a free port) and waits for
   ``GET /health`` to answer 200;
3. the first time, signs citizens up and logs them in over HTTP, then funds their wallets through
   ``wallet.ledger`` (there is no top-up API yet);
4. for each ``--mode``, warms up, then alternates ``--runs`` times: one ``pgbench -c N -j 2 -T S`` run
   (TPC-B), one run of N concurrent HTTP clients posting ``POST /transfers`` for S seconds;
5. checks the ledger invariants and that every 201 the clients saw is a transfer in the database;
6. prints every run's transfers/s as it ends, then per mode the median transfers/s, p50/p99 latency,
   pgbench's median tps and the ratio; drops both databases whatever happened.

The modes, run in this order whatever order they are given in:

- ``spread`` (the default): each transfer between two random distinct wallets of all ``--wallets``;
- ``hot-receiver``: every transfer to one wallet (the last citizen), from random others: what a
  biller's or a merchant's account sees (its credits wait beside its row, ``ledger.BalanceIncrease``,
  so they should not queue on its lock);
- ``long-history``: first ``--history`` prior transfers (default 300) are posted from each of the first
  ``--payers`` wallets, spread over the business month so far, through ``wallet.ledger.post_entry`` in
  bulk (balanced entries, balances and postings kept together, checked by ``check_invariants``); then
  only those payers send, to random wallets. Each transfer reads its payer's running spending totals,
  so the runs must not slow down as history grows; it runs last because its postings stay.

The load generator, the app server and PostgreSQL share this machine, so every figure here is a
figure of the whole box; the per-run CPU split (ms of CPU per transfer for app, PostgreSQL and the
client) shows where the time goes. Compare the runs of one mode in order: a cost that grows with the
work done shows as each run slower than the one before.

Run: ``.venv/bin/python -m bench.transfers [--clients N] [--seconds S] [--runs R] [--workers W [W ...]]
[--mode M [M ...]] [--pool-size P] [--pool-overflow O]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import resource
import secrets
import signal
import socket
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from civicpay import bootstrap
from civicpay.clock import BusinessCalendar
from civicpay.money import Category
from civicpay.settings import DEFAULT_DB_POOL_OVERFLOW, DEFAULT_DB_POOL_SIZE, Settings
from wallet import ledger, wallet_pool_account
from wallet.service import wallet_account_code

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.3
PASSWORD = "bench-password-2026"
NAMES = (
    "Nguyễn Văn An",
    "Trần Thị Bình",
    "Lê Hoàng Cường",
    "Phạm Thu Dung",
    "Hoàng Minh Đức",
    "Huỳnh Ngọc Hà",
    "Võ Thanh Hải",
    "Đặng Thị Lan",
    "Bùi Quang Minh",
    "Đỗ Phương Nga",
)
HEALTH_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
SETUP_CONCURRENCY = 8
TPS_PATTERN = re.compile(r"^tps = ([0-9.]+) \((?:without initial connection time|excluding connections establishing)\)")


# The modes, in the order they run (long-history last: the postings it adds stay in the database).
MODES = ("spread", "hot-receiver", "long-history")
# Marks the long-history mode's prior transfers, so the final check counts only the clients' transfers.
HISTORY_REFERENCE = "BENCH-HISTORY"


class BenchError(Exception):
    """The harness could not do its job (a database, the server or pgbench failed)."""


# --------------------------------------------------------------------------------------------- options


@dataclass(frozen=True, slots=True)
class Options:
    clients: int
    seconds: float
    runs: int
    workers: tuple[int, ...]
    warmup: float
    wallets: int
    amount_vnd: int
    fund_vnd: int
    pgbench_scale: int
    postgres: str
    seed: int | None
    modes: tuple[str, ...]
    history: int
    payers: int
    pool_size: int
    pool_overflow: int


def _bounded(low: float, high: float, kind: Callable[[str], float]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        value = kind(raw)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{raw} is outside {low:g}..{high:g}")
        return value

    return parse


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.transfers", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clients", type=_bounded(1, 64, int), default=16, help="concurrent HTTP clients and pgbench -c"
    )
    parser.add_argument("--seconds", type=_bounded(1, 120, float), default=10.0, help="length of each measured run")
    parser.add_argument("--runs", type=_bounded(1, 10, int), default=3, help="measured runs per worker count")
    parser.add_argument(
        "--workers", type=_bounded(1, 8, int), nargs="+", default=[2], help="uvicorn worker counts to measure, e.g. 1 2"
    )
    parser.add_argument("--warmup", type=_bounded(0, 30, float), default=3.0, help="unmeasured seconds before runs")
    parser.add_argument(
        "--wallets",
        type=_bounded(2, 20000, int),
        default=2000,
        help="citizens signed up and funded: the active few of a province's ~78,000 wallets. Each transfer sums the"
        " sender's month so far, so a few hundred wallets sending hundreds of transfers each in a minute measure"
        " that sum more than the transfer",
    )
    parser.add_argument("--amount", type=_bounded(1, 1_000_000, int), default=1000, help="đồng per transfer")
    parser.add_argument("--fund", type=_bounded(1, 20_000_000, int), default=10_000_000, help="đồng per wallet")
    parser.add_argument("--pgbench-scale", type=_bounded(1, 100, int), default=10, help="pgbench -i -s")
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL to use (a maintenance database URL; the bench creates and drops its own databases)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed for the sender/recipient pairs")
    parser.add_argument(
        "--mode",
        choices=MODES,
        nargs="+",
        default=["spread"],
        help="what to measure, each in its own rounds (see above); several run in the order listed above",
    )
    parser.add_argument(
        "--history",
        type=_bounded(1, 3000, int),
        default=300,
        help="long-history mode: prior transfers per payer this month (a busy citizen's month: ~10 a day)",
    )
    parser.add_argument(
        "--payers",
        type=_bounded(2, 20000, int),
        default=128,
        help="long-history mode: how many wallets (of --wallets) get the history and send",
    )
    parser.add_argument(
        "--pool-size",
        type=_bounded(1, 100, int),
        default=DEFAULT_DB_POOL_SIZE,
        help="CIVICPAY_DB_POOL_SIZE of the server (per worker); defaults to the service's own default",
    )
    parser.add_argument(
        "--pool-overflow",
        type=_bounded(0, 100, int),
        default=DEFAULT_DB_POOL_OVERFLOW,
        help="CIVICPAY_DB_POOL_OVERFLOW of the server (per worker); defaults to the service's own default",
    )
    args = parser.parse_args(argv)
    if args.payers > args.wallets:
        parser.error(f"--payers {args.payers} is more than --wallets {args.wallets}")
    if "long-history" in args.mode and args.history * args.amount * 2 > args.fund:
        parser.error("--history x --amount must leave the payers at least half of --fund to send in the runs")
    return Options(
        clients=args.clients,
        seconds=args.seconds,
        runs=args.runs,
        workers=tuple(args.workers),
        warmup=args.warmup,
        wallets=args.wallets,
        amount_vnd=args.amount,
        fund_vnd=args.fund,
        pgbench_scale=args.pgbench_scale,
        postgres=args.postgres,
        seed=args.seed,
        modes=tuple(mode for mode in MODES if mode in args.mode),
        history=args.history,
        payers=args.payers,
        pool_size=args.pool_size,
        pool_overflow=args.pool_overflow,
    )


# ------------------------------------------------------------------------------------------ PostgreSQL


@dataclass(frozen=True, slots=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str | None

    @classmethod
    def parse(cls, url: str) -> Postgres:
        parts = urlsplit(url)
        if not parts.scheme.startswith("postgres"):
            raise BenchError(f"--postgres must be a postgresql:// URL, not {parts.scheme}://")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password) if parts.password else None,
        )

    def url(self, database: str) -> str:
        secret = f":{quote(self.password, safe='')}" if self.password else ""
        return f"postgresql+asyncpg://{quote(self.user, safe='')}{secret}@{self.host}:{self.port}/{database}"

    def libpq_env(self) -> dict[str, str]:
        env = {**os.environ, "PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user}
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    async def admin(self, statement: str) -> None:
        """Run one statement outside a transaction in the maintenance database (CREATE/DROP DATABASE)."""
        engine = create_async_engine(self.url("postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    async def create_database(self, name: str) -> None:
        await self.admin(f'CREATE DATABASE "{name}"')

    async def drop_database(self, name: str) -> None:
        await self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def run_command(argv: Sequence[str], env: dict[str, str], *, what: str) -> str:
    """Run a short command to completion and return its output; raise with the output if it fails."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await process.communicate()
    except asyncio.CancelledError:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    decoded = output.decode(errors="replace")
    if process.returncode != 0:
        raise BenchError(f"{what} failed (exit {process.returncode}):\n{decoded[-3000:]}")
    return decoded


async def pgbench_init(pg: Postgres, database: str, scale: int) -> None:
    await run_command(["pgbench", "-i", "-q", "-s", str(scale), database], pg.libpq_env(), what="pgbench -i")


async def pgbench_run(pg: Postgres, database: str, clients: int, seconds: float) -> float:
    """One TPC-B run; tps without connection time, as pgbench prints it."""
    argv = ["pgbench", "-c", str(clients), "-j", str(min(2, clients)), "-T", str(max(1, round(seconds))), database]
    output = await run_command(argv, pg.libpq_env(), what="pgbench")
    for line in output.splitlines():
        if found := TPS_PATTERN.match(line.strip()):
            return float(found.group(1))
    raise BenchError(f"no tps line in pgbench output:\n{output[-2000:]}")


# ------------------------------------------------------------------------------------------------- CPU

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcStat:
    parent: int
    own: float  # user + system CPU seconds of the process itself
    reaped: float  # ... of its children that have exited and been waited for


def _stat(pid: int) -> ProcStat | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return ProcStat(
        int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS, (int(fields[13]) + int(fields[14])) / _TICKS
    )


def _process_tree(pid: int) -> list[int]:
    found = [pid]
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.extend(_process_tree(int(child)))
    return found


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


@dataclass(frozen=True, slots=True)
class TreeCpu:
    """CPU of a group of processes, counting members that exit through their reaped parent.

    PostgreSQL's backends come and go (pool overflow connections, pgbench's); the postmaster reaps
    them, so its children's CPU picks up what an exited backend used.
    """

    own: dict[int, float]
    reaped: float

    @classmethod
    def of(cls, pids: Sequence[int]) -> TreeCpu:
        stats = {pid: stat for pid in pids if (stat := _stat(pid)) is not None}
        roots = [stat for stat in stats.values() if stat.parent not in stats]
        return cls(own={pid: stat.own for pid, stat in stats.items()}, reaped=sum(stat.reaped for stat in roots))

    def since(self, before: TreeCpu) -> float:
        alive = sum(cpu - before.own.get(pid, 0.0) for pid, cpu in self.own.items())
        exited_earlier_use = sum(cpu for pid, cpu in before.own.items() if pid not in self.own)
        return alive + (self.reaped - before.reaped) - exited_earlier_use


@dataclass(frozen=True, slots=True)
class CpuSample:
    """CPU seconds used so far by the app server tree, by all of PostgreSQL, by this client."""

    app: TreeCpu
    postgres: TreeCpu
    client: float
    busy: int
    total: int

    @classmethod
    def take(cls, server_pid: int) -> CpuSample:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        busy, total = _machine_ticks()
        return cls(
            app=TreeCpu.of(_process_tree(server_pid)),
            postgres=TreeCpu.of(_postgres_pids()),
            client=usage.ru_utime + usage.ru_stime,
            busy=busy,
            total=total,
        )


@dataclass(frozen=True, slots=True)
class CpuUse:
    app: float
    postgres: float  # every PostgreSQL process, so other users' databases on this server count too
    client: float
    machine_busy: float

    @classmethod
    def between(cls, before: CpuSample, after: CpuSample) -> CpuUse:
        ticks = after.total - before.total
        return cls(
            app=after.app.since(before.app),
            postgres=after.postgres.since(before.postgres),
            client=after.client - before.client,
            machine_busy=(after.busy - before.busy) / ticks if ticks else 0.0,
        )


# ---------------------------------------------------------------------------------------------- server


@dataclass(slots=True)
class Server:
    process: asyncio.subprocess.Process
    base_url: str
    log: Path
    workers: int

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def app_environment(settings: Settings) -> dict[str, str]:
    """The process environment without anyone's CIVICPAY_* values, plus the bench's settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CIVICPAY_")}
    env.update(
        {
            "CIVICPAY_ENV": settings.env,
            "CIVICPAY_DATABASE_URL": settings.database_url,
            "CIVICPAY_SECRET_KEY": settings.secret_key,
            "CIVICPAY_BANK_WEBHOOK_SECRET": settings.bank_webhook_secret,
            "CIVICPAY_BANK_API_SECRET": settings.bank_api_secret,
            "CIVICPAY_CARD_SECRET_KEY": settings.card_secret_key,
            "CIVICPAY_CARD_WEBHOOK_SECRET": settings.card_webhook_secret,
            "CIVICPAY_CARD_REQUERY_INTERVAL_SECONDS": "0",
            "CIVICPAY_DB_POOL_SIZE": str(settings.db_pool_size),
            "CIVICPAY_DB_POOL_OVERFLOW": str(settings.db_pool_overflow),
            "CIVICPAY_AUTH_RATE_PER_MINUTE": str(settings.auth_rate_per_minute),
            "CIVICPAY_ARGON2_TIME_COST": str(settings.argon2_time_cost),
            "CIVICPAY_ARGON2_MEMORY_KIB": str(settings.argon2_memory_kib),
            "CIVICPAY_ACCESS_LOG": str(settings.access_log).lower(),
        }
    )
    return env


async def start_server(env: dict[str, str], workers: int, log_dir: Path) -> Server:
    port = free_port()
    log = log_dir / f"server-{workers}w.log"
    argv = [sys.executable, "-m", "civicpay", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *[*argv, "--workers", str(workers)],
            env=env,
            cwd=REPO,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group, so its workers can be stopped with it
        )
    return Server(process=process, base_url=f"http://127.0.0.1:{port}", log=log, workers=workers)


async def wait_healthy(server: Server, http: aiohttp.ClientSession) -> None:
    """Poll GET /health until it answers 200, the server exits, or the time is up."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.returncode is not None:
            raise BenchError(f"the server exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            async with http.get(f"{server.base_url}/health", timeout=aiohttp.ClientTimeout(total=2)) as response:
                if response.status == 200:
                    return
                last = f"{response.status} {await response.text()}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            last = type(exc).__name__
        await asyncio.sleep(0.25)
    raise BenchError(f"GET /health did not answer 200 in {HEALTH_TIMEOUT_SECONDS:.0f} s ({last}):\n{server.log_tail()}")


async def stop_server(server: Server) -> None:
    """SIGTERM the server (uvicorn stops its workers), then SIGKILL its process group if it lingers."""
    process = server.process
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the group this bench started; stray workers, if any
    if process.returncode is None:
        await process.wait()


# ------------------------------------------------------------------------------------------ citizens


@dataclass(frozen=True, slots=True)
class Citizen:
    phone: str
    user_id: int
    authorization: str
    body_to_me: bytes  # the POST /transfers body that sends the bench amount to this citizen


async def sign_up(
    http: aiohttp.ClientSession, base_url: str, count: int, amount_vnd: int, rng: random.Random
) -> list[Citizen]:
    """Register and log in ``count`` citizens over HTTP, a few at a time."""
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(number: int) -> Citizen:
        phone = f"09{number:08d}"
        async with gate:
            async with http.post(
                f"{base_url}/citizens",
                json={
                    "phone": phone,
                    "citizen_id": f"046{number:09d}",
                    "full_name": rng.choice(NAMES),
                    "password": PASSWORD,
                },
            ) as created:
                if created.status != 201:
                    raise BenchError(f"POST /citizens answered {created.status}: {await created.text()}")
                user_id = int((await created.json())["user_id"])
            async with http.post(f"{base_url}/auth/login", json={"phone": phone, "password": PASSWORD}) as login:
                if login.status != 200:
                    raise BenchError(f"POST /auth/login answered {login.status}: {await login.text()}")
                token = str((await login.json())["access_token"])
        body = json.dumps({"to_phone": phone, "amount_vnd": amount_vnd, "memo": ""}).encode()
        return Citizen(phone=phone, user_id=user_id, authorization=f"Bearer {token}", body_to_me=body)

    return list(await asyncio.gather(*(one(number) for number in range(1, count + 1))))


async def fund(settings: Settings, citizens: Sequence[Citizen], amount_vnd: int) -> None:
    """Top every wallet up from the wallets' pooled bank account, in one balanced entry."""
    async with bootstrap.running(settings) as services, services.units() as unit:
        session = unit.session
        now = datetime.now(UTC)
        bank = await wallet_pool_account(session, settings, now)
        specs = [
            ledger.TransferSpec(
                bank,
                await ledger.account_id(session, wallet_account_code(citizen.user_id)),
                amount_vnd,
                Category.TOPUP,
                reference="BENCH",
            )
            for citizen in citizens
        ]
        await ledger.post_entry(session, specs, now=now, description="bench funding")


async def add_history(settings: Settings, everyone: Sequence[Citizen], options: Options) -> None:
    """Give each of the first ``options.payers`` wallets ``options.history`` P2P transfers out, spread over
    the business month so far.

    Written through ``ledger.post_entry``, so balances, postings and the balance check of every entry are
    the ledger's own: one entry per instant, one transfer in it per payer, to a different wallet each time.
    """
    async with bootstrap.running(settings) as services:
        async with services.units() as unit:
            ids = {
                citizen.user_id: await ledger.account_id(unit.session, wallet_account_code(citizen.user_id))
                for citizen in everyone
            }
        now = datetime.now(UTC)
        month_start = BusinessCalendar(ZoneInfo(settings.business_timezone)).month_start(now)
        # Up to a minute ago, so every prior transfer is older than the first one the clients make (all at
        # the month's first instant in its first minute).
        step = max(now - month_start - timedelta(minutes=1), timedelta(0)) / options.history
        count = len(everyone)
        for slot in range(options.history):
            offset = 1 + slot % (count - 1)  # never the payer itself
            specs = [
                ledger.TransferSpec(
                    ids[payer.user_id],
                    ids[everyone[(index + offset) % count].user_id],
                    options.amount_vnd,
                    Category.P2P,
                    reference=HISTORY_REFERENCE,
                )
                for index, payer in enumerate(everyone[: options.payers])
            ]
            async with services.units() as unit:
                await ledger.post_entry(
                    unit.session, specs, now=month_start + step * (slot + 0.5), description="bench prior history"
                )


async def verify(settings: Settings) -> tuple[int, list[str]]:
    """P2P transfers the clients made in the database, and any breach of the ledger's invariants."""
    async with bootstrap.running(settings) as services, services.units() as unit:
        session = unit.session
        transfers = await session.scalar(
            select(func.count())
            .select_from(ledger.Transfer)
            .where(
                ledger.Transfer.category == Category.P2P.value,
                ledger.Transfer.reference.is_distinct_from(HISTORY_REFERENCE),
            )
        )
        return int(transfers or 0), await ledger.check_invariants(session)


# ------------------------------------------------------------------------------------------------ load


@dataclass(slots=True)
class RunResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)
    cpu: CpuUse | None = None

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds


Pairs = Callable[[random.Random], tuple[Citizen, Citizen]]


def pairs_for(mode: str, citizens: Sequence[Citizen], payers: int) -> Pairs:
    """Who sends to whom in a mode: a random (sender, recipient) pair, never one wallet to itself."""
    if mode == "hot-receiver":
        hot, senders = citizens[-1], citizens[:-1]
        return lambda rng: (rng.choice(senders), hot)
    if mode == "long-history":
        with_history = citizens[:payers]

        def from_payer(rng: random.Random) -> tuple[Citizen, Citizen]:
            sender = rng.choice(with_history)
            while (recipient := rng.choice(citizens)) is sender:
                pass
            return sender, recipient

        return from_payer

    def spread(rng: random.Random) -> tuple[Citizen, Citizen]:
        sender, recipient = rng.sample(citizens, 2)
        return sender, recipient

    return spread


@dataclass(frozen=True, slots=True)
class Call:
    """One request a bench client makes, and the status that counts it as done."""

    path: str
    headers: dict[str, str]
    body: bytes | None = None
    method: str = "POST"
    expect: int = 201


Calls = Callable[[str], Call | None]
"""The next request for a unique key (its Idempotency-Key, if it moves money); None when the work has run out."""


def transfer_calls(pairs: Pairs, rng: random.Random) -> Calls:
    """``POST /transfers`` between the wallets ``pairs`` picks."""

    def call(key: str) -> Call:
        sender, recipient = pairs(rng)
        headers = {"Authorization": sender.authorization, "Idempotency-Key": key, "Content-Type": "application/json"}
        return Call("/transfers", headers, recipient.body_to_me)

    return call


async def drive(
    http: aiohttp.ClientSession,
    server: Server,
    calls: Calls,
    *,
    clients: int,
    seconds: float,
    label: str,
) -> RunResult:
    """``clients`` closed-loop clients make the requests ``calls`` gives for ``seconds``.

    A request counts if it answered its expected status before the deadline; its latency is from send to full
    answer.
    """
    result = RunResult(seconds=seconds)
    before = CpuSample.take(server.process.pid)
    deadline = time.perf_counter() + seconds

    async def client(number: int) -> None:
        sequence = 0
        while (sent := time.perf_counter()) < deadline:
            sequence += 1
            if (call := calls(f"{label}-{number}-{sequence}")) is None:
                break
            try:
                async with http.request(
                    call.method, f"{server.base_url}{call.path}", data=call.body, headers=call.headers
                ) as response:
                    answer = await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                result.failures[type(exc).__name__] += 1
                await asyncio.sleep(0.05)
                continue
            done = time.perf_counter()
            if done > deadline:
                break
            if status == call.expect:
                result.latencies.append(done - sent)
            else:
                result.failures[str(status)] += 1
                result.samples.setdefault(str(status), answer[:300].decode(errors="replace"))

    await asyncio.gather(*(client(number) for number in range(clients)))
    result.cpu = CpuUse.between(before, CpuSample.take(server.process.pid))
    return result


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of unsorted values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else math.nan


def describe_run(result: RunResult, unit: str = "transfers") -> str:
    line = (
        f"{result.per_second:7.1f} {unit}/s  p50 {percentile(result.latencies, 50) * 1000:5.1f} ms"
        f"  p99 {percentile(result.latencies, 99) * 1000:6.1f} ms"
    )
    if result.cpu is not None and result.ok:
        cpu = result.cpu
        line += (
            f"  | CPU ms each: app {cpu.app / result.ok * 1000:.2f}, postgres {cpu.postgres / result.ok * 1000:.2f}"
            f", client {cpu.client / result.ok * 1000:.2f}; machine busy {cpu.machine_busy:.0%}"
        )
    if result.failures:
        line += f"  | failures {dict(result.failures)}"
    return line


# ------------------------------------------------------------------------------------------------ main


@dataclass(slots=True)
class Measured:
    workers: int
    mode: str
    runs: list[RunResult] = field(default_factory=list)
    pgbench: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(run.per_second for run in self.runs)

    @property
    def pgbench_median(self) -> float:
        return statistics.median(self.pgbench)

    @property
    def latencies(self) -> list[float]:
        return [latency for run in self.runs for latency in run.latencies]

    @property
    def ratio(self) -> float:
        return self.median / self.pgbench_median if self.pgbench_median else math.nan

    @property
    def last_to_first(self) -> float:
        """The last run's rate over the first's: well below 1 when a transfer costs more as work accumulates."""
        first = self.runs[0].per_second
        return self.runs[-1].per_second / first if first else math.nan


# One signing key for the whole bench: tokens issued by the first server must work on the next ones.
BENCH_SECRET_KEY = secrets.token_urlsafe(48)


def bench_settings(
    database_url: str, pool_size: int = DEFAULT_DB_POOL_SIZE, pool_overflow: int = DEFAULT_DB_POOL_OVERFLOW
) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        secret_key=BENCH_SECRET_KEY,
        bank_webhook_secret=BENCH_SECRET_KEY,
        bank_api_secret=BENCH_SECRET_KEY,
        card_secret_key=BENCH_SECRET_KEY,
        card_webhook_secret=BENCH_SECRET_KEY,
        db_pool_size=pool_size,
        db_pool_overflow=pool_overflow,
        auth_rate_per_minute=1_000_000,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        # As deployed behind a reverse proxy that logs requests; uvicorn's own line costs about 8% of a transfer.
        access_log=False,
    )


def print_header(options: Options) -> None:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"civicpay transfer bench: {options.clients} clients, {options.runs} x {options.seconds:g} s runs"
        f" (+{options.warmup:g} s warm-up), workers {list(options.workers)}, {options.wallets} wallets,"
        f" {options.amount_vnd} đồng per transfer, access log off, db pool {options.pool_size}"
        f" + overflow {options.pool_overflow} per worker;"
        f" modes {', '.join(options.modes)}"
        + (
            f" (long history: {options.payers} payers x {options.history} prior transfers)"
            if "long-history" in options.modes
            else ""
        )
    )
    print(
        f"NOTE: the HTTP client (this process, aiohttp, one core at most), the app server and PostgreSQL all share"
        f" this {os.cpu_count()}-CPU machine; load average before start: {load}. Other work on the machine"
        f" (tests, builds) lowers every figure, pgbench's too."
    )


def print_summary(options: Options, measured: Sequence[Measured]) -> None:
    print()
    heading = f"{'workers':>7}  {'transfers/s median (runs)':<34} {'p50':>8} {'p99':>9}"
    print(f"{heading}  {'pgbench TPC-B tps (runs)':<30} ratio  mode")
    for item in measured:
        runs = ", ".join(f"{run.per_second:.0f}" for run in item.runs)
        pg_runs = ", ".join(f"{tps:.0f}" for tps in item.pgbench)
        print(
            f"{item.workers:>7}  {f'{item.median:.0f} ({runs})':<34}"
            f" {percentile(item.latencies, 50) * 1000:6.1f}ms {percentile(item.latencies, 99) * 1000:7.1f}ms"
            f"  {f'{item.pgbench_median:.0f} ({pg_runs})':<30} {item.ratio:.2f}   {item.mode}"
        )
    print()
    spread = {item.workers: item.median for item in measured if item.mode == "spread"}
    for item in measured:
        verdict = "meets" if item.ratio >= TARGET_RATIO else "BELOW"
        mode, runs = "", ", ".join(f"{run.per_second:.0f}" for run in item.runs)
        if item.mode != "spread":
            mode = f"{item.mode}: last run / first run {item.last_to_first:.2f}"
            if item.workers in spread:
                mode += f", {item.median / spread[item.workers]:.2f} of the spread median"
            mode += " | "
        print(
            f"{mode}transfers/s median {item.median:.0f} (runs: {runs})"
            f" p50 {percentile(item.latencies, 50) * 1000:.0f} ms p99 {percentile(item.latencies, 99) * 1000:.0f} ms"
            f" | pgbench TPC-B {item.pgbench_median:.0f} tps | ratio {item.ratio:.2f}"
            f" ({verdict} the {TARGET_RATIO} target; {item.workers} worker(s), {options.clients} clients,"
            " client + server + PostgreSQL on one machine)"
        )


@dataclass(slots=True)
class Harness:
    """What the runs share: options, PostgreSQL, the HTTP client, the citizens once they exist."""

    options: Options
    pg: Postgres
    app_db: str
    pgbench_db: str
    http: aiohttp.ClientSession
    scratch: Path
    rng: random.Random
    citizens: list[Citizen] = field(default_factory=list)
    counted_ok: int = 0
    history_added: bool = False

    async def drive(self, server: Server, pairs: Pairs, seconds: float, label: str) -> RunResult:
        calls = transfer_calls(pairs, self.rng)
        result = await drive(self.http, server, calls, clients=self.options.clients, seconds=seconds, label=label)
        self.counted_ok += result.ok
        return result

    async def set_up_citizens(self, server: Server, settings: Settings) -> None:
        started = time.perf_counter()
        options = self.options
        self.citizens = await sign_up(self.http, server.base_url, options.wallets, options.amount_vnd, self.rng)
        await fund(settings, self.citizens, options.fund_vnd)
        print(
            f"{len(self.citizens)} citizens signed up, logged in and funded with {options.fund_vnd} đồng each"
            f" in {time.perf_counter() - started:.1f} s"
        )

    async def add_history(self, settings: Settings) -> None:
        started = time.perf_counter()
        options = self.options
        await add_history(settings, self.citizens, options)
        breaches = (await verify(settings))[1]
        if breaches:
            raise BenchError(f"the ledger breaks its invariants after the prior history: {breaches[:3]}")
        print(
            f"  {options.payers} payers given {options.history} prior transfers each this month"
            f" in {time.perf_counter() - started:.1f} s; invariants hold"
        )

    async def measure(self, workers: int) -> list[Measured]:
        """Start the server with ``workers`` workers, measure, stop it; a failure shows the server's log."""
        settings = bench_settings(self.pg.url(self.app_db), self.options.pool_size, self.options.pool_overflow)
        server = await start_server(app_environment(settings), workers, self.scratch)
        try:
            return await self.measure_on(server, settings)
        except BenchError as problem:
            raise BenchError(f"{problem}\n--- end of the server's log ---\n{server.log_tail()}") from None
        finally:
            await stop_server(server)

    async def measure_on(self, server: Server, settings: Settings) -> list[Measured]:
        """Wait for health, set citizens up once, then for each mode warm up and alternate pgbench runs and ours."""
        options, workers = self.options, server.workers
        await wait_healthy(server, self.http)
        if not self.citizens:
            await self.set_up_citizens(server, settings)
        measured = []
        for mode in options.modes:
            item = Measured(workers=workers, mode=mode)
            print(
                f"\n{workers} worker(s), db pool size {settings.db_pool_size} + overflow {settings.db_pool_overflow}"
                f" per worker, mode {mode}"
            )
            if mode == "long-history" and not self.history_added:
                await self.add_history(settings)
                self.history_added = True
            pairs = pairs_for(mode, self.citizens, options.payers)
            label = f"w{workers}-{mode}"
            if options.warmup:
                warm = await self.drive(server, pairs, options.warmup, f"{label}-warmup")
                print(f"  warm-up  : {describe_run(warm)}")
            for run in range(1, options.runs + 1):
                tps = await pgbench_run(self.pg, self.pgbench_db, options.clients, options.seconds)
                item.pgbench.append(tps)
                print(f"  pgbench {run}: {tps:7.1f} tps (TPC-B, -c {options.clients} -j {min(2, options.clients)})")
                result = await self.drive(server, pairs, options.seconds, f"{label}-r{run}")
                item.runs.append(result)
                print(f"  run {run}    : {describe_run(result)}")
                for status, sample in result.samples.items():
                    print(f"             first {status} answer: {sample}")
            measured.append(item)
        return measured


async def prepare_databases(pg: Postgres, app_db: str, pgbench_db: str, created: list[str], scale: int) -> None:
    """A migrated database for civicpay and one initialised for pgbench; ``created`` lists them for the drop."""
    await pg.create_database(app_db)
    created.append(app_db)
    await run_command(
        [sys.executable, "-m", "civicpay", "db", "upgrade"],
        app_environment(bench_settings(pg.url(app_db))),
        what="civicpay db upgrade",
    )
    print(f"database {app_db} migrated; initialising pgbench scale {scale} in {pgbench_db} ...")
    await pg.create_database(pgbench_db)
    created.append(pgbench_db)
    await pgbench_init(pg, pgbench_db, scale)


async def bench(options: Options) -> int:
    # SIGTERM (and SIGINT, which asyncio.Runner already handles) cancel the run, so the finally
    # clauses below still stop the server and drop both databases.
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    print_header(options)
    pg = Postgres.parse(options.postgres)
    tag = secrets.token_hex(4)
    app_db, pgbench_db = f"civicpay_bench_{tag}", f"civicpay_pgbench_{tag}"
    created: list[str] = []
    try:
        await prepare_databases(pg, app_db, pgbench_db, created, options.pgbench_scale)
        connector = aiohttp.TCPConnector(limit=max(options.clients, SETUP_CONCURRENCY), limit_per_host=0)
        with TemporaryDirectory(prefix="civicpay-bench-") as scratch:
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
                harness = Harness(options, pg, app_db, pgbench_db, http, Path(scratch), random.Random(options.seed))
                measured = [item for workers in options.workers for item in await harness.measure(workers)]
        in_db, breaches = await verify(bench_settings(pg.url(app_db)))
        print(
            f"\nledger check: {in_db} P2P transfers in the database for {harness.counted_ok} 201s counted in time"
            f" (answers after a run's deadline are in the database but not counted);"
            f" invariants {'hold' if not breaches else 'BROKEN'}"
        )
        for breach in breaches[:10]:
            print(f"  BREACH {breach}")
        print_summary(options, measured)
        failed = sum(sum(run.failures.values()) for item in measured for run in item.runs)
        answered = failed + sum(run.ok for item in measured for run in item.runs)
        if failed > answered * 0.01:
            print(f"\nINVALID: {failed} of {answered} transfer requests failed; the figures above do not hold")
        return 1 if breaches or in_db < harness.counted_ok or failed > answered * 0.01 else 0
    finally:
        for database in reversed(created):
            try:
                await pg.drop_database(database)
            except Exception as exc:
                print(f"could not drop {database}: {exc}", file=sys.stderr)


def run_with_best_loop(main: Coroutine[Any, Any, int]) -> int:
    """Run the bench on uvloop where it is installed: a cheaper event loop for the load generator."""
    try:
        import uvloop  # noqa: PLC0415 - optional
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


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
