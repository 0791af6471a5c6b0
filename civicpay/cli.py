"""`civicpay serve | worker | db upgrade | demo | ledger verify | outbox … | card … | treasury sweep | ...`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import qr
from civicpay import outbox, worker
from civicpay.auth.secrets import password_hasher
from civicpay.clock import BusinessCalendar, SystemClock
from civicpay.db import (
    SchemaBehind,
    alembic_config,
    create_engine,
    create_session_factory,
    current_revision,
    ensure_schema_current,
    head_revision,
)
from civicpay.demo import DEMO_PASSWORD, seed_demo
from civicpay.errors import DomainError
from civicpay.settings import Settings, SettingsError
from qr import vietqr
from wallet import bank_sandbox, bank_simulator, card_sandbox, card_topups, topup_code
from wallet.bank_payouts import BankPayouts
from wallet.card_acquirer import CardAcquirer
from wallet.ledger import check_invariants, expire_holds
from wallet.service import holder_of_user_phone

logger = logging.getLogger(__name__)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415 - only the server needs it

    asyncio.run(_with_engine(settings, ensure_schema_current))
    uvicorn.run(
        "civicpay.app:app_from_env",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        log_level="info",
        access_log=settings.access_log,
        # Counter screens hold Server-Sent Events streams open; a shutdown closes them after this (they reconnect).
        timeout_graceful_shutdown=5,
    )
    return 0


T = TypeVar("T")


async def _with_engine(settings: Settings, action: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    engine = create_engine(settings)
    try:
        return await action(engine)
    finally:
        await engine.dispose()


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    command.upgrade(alembic_config(settings.database_url), args.revision)
    print(f"database at {args.revision}: {settings.database_url.split('@')[-1]}")
    return 0


def _db_current(settings: Settings, _: argparse.Namespace) -> int:
    current = asyncio.run(_with_engine(settings, current_revision))
    head = head_revision()
    print(f"current: {current or 'none'}  newest: {head}")
    return 0 if current == head else 1


def _demo(settings: Settings, _: argparse.Namespace) -> int:
    if settings.env == "production":
        # The demo publishes its passwords and creates money from nothing.
        raise SettingsError("refusing to seed demo data into a production database")

    async def seed(engine: AsyncEngine) -> bool:
        await ensure_schema_current(engine)
        async with create_session_factory(engine).begin() as session:
            return await seed_demo(session, password_hasher(settings), SystemClock())

    if asyncio.run(_with_engine(settings, seed)):
        print(f"demo data seeded; every demo person's password is {DEMO_PASSWORD!r} (see README)")
    else:
        print("demo data already present")
    return 0


def _ledger_verify(settings: Settings, _: argparse.Namespace) -> int:
    async def verify(engine: AsyncEngine) -> list[str]:
        async with create_session_factory(engine)() as session:
            return await check_invariants(session)

    breaches = asyncio.run(_with_engine(settings, verify))
    for breach in breaches:
        print(f"BREACH {breach}")
    print("ledger sound" if not breaches else f"{len(breaches)} breach(es)")
    return 0 if not breaches else 1


def _simulate_bank_transfer(settings: Settings, args: argparse.Namespace) -> int:
    """Play the bank: send a signed incoming-transfer notification to a running server."""

    async def code_for(engine: AsyncEngine) -> str:
        async with create_session_factory(engine)() as session:
            holder = await holder_of_user_phone(session, args.phone)
            return topup_code.encode(holder.wallet_id)

    code = args.code or asyncio.run(_with_engine(settings, code_for))
    note = bank_simulator.notification(
        code=code, amount_vnd=args.amount, at=SystemClock().now(), account_number=args.account
    )
    answer = bank_simulator.send(args.url, note, settings.bank_webhook_secret)
    print(f"{answer.status_code} {answer.text}")
    return 0 if answer.is_success else 1


def _expire_holds(settings: Settings, _: argparse.Namespace) -> int:
    async def expire(engine: AsyncEngine) -> list[int]:
        async with create_session_factory(engine).begin() as session:
            return await expire_holds(session, now=SystemClock().now())

    expired = asyncio.run(_with_engine(settings, expire))
    print(f"expired {len(expired)} hold(s)")
    return 0


class _Client(Protocol):
    async def aclose(self) -> None: ...


class _Changed(Protocol):
    """A card top-up, as the re-query reports it."""

    id: int
    amount_display: str

    @property
    def status(self) -> str: ...


ClientT = TypeVar("ClientT", bound=_Client)


def _sweep(
    settings: Settings,
    client: Callable[[], ClientT],
    job: Callable[[async_sessionmaker[AsyncSession], ClientT], Awaitable[Sequence[_Changed]]],
    what: str,
) -> int:
    """Run one sweep against an outside party (acquirer, bank) and print what it changed."""

    async def run(engine: AsyncEngine) -> Sequence[_Changed]:
        outside = client()
        try:
            return await job(create_session_factory(engine), outside)
        finally:
            await outside.aclose()

    changed = asyncio.run(_with_engine(settings, run))
    for item in changed:
        print(f"{what} {item.id}: {item.status} ({item.amount_display})")
    print(f"{len(changed)} {what}(s) changed")
    return 0


def _card_requery(settings: Settings, _: argparse.Namespace) -> int:
    """Ask the acquirer about card top-ups pending too long, as the workers do periodically."""
    return _sweep(
        settings,
        lambda: CardAcquirer(settings.card_api_base, settings.card_secret_key),
        lambda sessions, acquirer: card_topups.requery(sessions, acquirer, settings, now=SystemClock().now()),
        "card top-up",
    )


def _card_sandbox(settings: Settings, args: argparse.Namespace) -> int:
    """Run the acquirer's sandbox in the foreground, sending its events to our webhook."""
    if settings.env == "production":
        raise SettingsError("the card sandbox is for development: production talks to the real acquirer")
    port = urlsplit(settings.card_api_base).port or 8420
    # `make run` stops this with SIGTERM; leave through the sandbox's `finally`, which stops localstripe too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    webhook = args.webhook_url or f"http://{settings.host}:{settings.port}/webhooks/card"
    with card_sandbox.running(port) as process:
        card_sandbox.register_webhook(settings.card_api_base, url=webhook, secret=settings.card_webhook_secret)
        print(f"card sandbox (localstripe) at {settings.card_api_base}, events to {webhook}; test cards:")
        for number, what in card_sandbox.TEST_CARDS.items():
            print(f"  {number}  {what}")
        return process.wait()


def _card_token(settings: Settings, args: argparse.Namespace) -> int:
    """Play the citizen's app: tokenise a test card at the sandbox and print the ``pm_…`` token."""
    print(card_sandbox.tokenise(settings.card_api_base, settings.card_secret_key, args.number))
    return 0


def _bank_sandbox(settings: Settings, args: argparse.Namespace) -> int:
    """Run the bank's side of withdrawals with the demo people's accounts, calling back this server."""
    import uvicorn  # noqa: PLC0415 - only the servers need it

    if settings.env == "production":
        raise SettingsError("the bank sandbox is for development: production talks to the real bank")
    civicpay = args.civicpay_url or f"http://{settings.host}:{settings.port}"
    bank = bank_sandbox.demo_bank(settings.bank_api_secret, settings.bank_webhook_secret, civicpay)
    address = urlsplit(settings.bank_api_base)
    print(f"bank sandbox at {settings.bank_api_base}, calling civicpay at {civicpay}; demo accounts:")
    for (bin_, number), name in bank_sandbox.DEMO_ACCOUNTS.items():
        print(f"  {bin_} {number}  {name}")
    app = bank_sandbox.create_bank_app(bank)
    uvicorn.run(app, host=address.hostname or "127.0.0.1", port=address.port or 8421, log_level="warning")
    return 0


def _collections_create(_: Settings, args: argparse.Namespace) -> int:
    """Play the clerk's terminal: sign in and create a collection through the running server's API.

    Through the API, not the database, so the counter's screen hears of it as it would from a real terminal.
    """
    password = args.password or getpass.getpass(f"password of {args.phone}: ")
    with httpx.Client(base_url=args.url, timeout=10) as http:
        signed_in = http.post("/auth/login", json={"phone": args.phone, "password": password})
        if not signed_in.is_success:
            print(f"civicpay: sign-in refused: {signed_in.text}", file=sys.stderr)
            return 1
        body = {
            "counter_id": args.counter,
            "procedure_code": args.procedure_code,
            "procedure_name": args.procedure_name,
            "dossier_number": args.dossier,
            "payer_name": args.payer,
            "amount_vnd": args.amount,
            "kind": args.kind,
        }
        made = http.post(
            "/collections", json=body, headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        )
    if not made.is_success:
        print(f"civicpay: {made.status_code} {made.text}", file=sys.stderr)
        return 1
    print(made.text)
    return 0


def _treasury_sweep(settings: Settings, _: argparse.Namespace) -> int:
    """Sweep collected fees to each agency's Treasury account, as the workers do periodically."""

    async def sweep(engine: AsyncEngine) -> qr.SweepReport:
        async with create_session_factory(engine).begin() as session:
            return await qr.sweep_and_report(session, now=SystemClock().now())

    report = asyncio.run(_with_engine(settings, sweep))
    for line in report.remittances:
        print(f"{line.agency_code} → KBNN {line.treasury_account}: {line.amount_display} ({line.collections} fee(s))")
    for late in report.overdue:
        print(f"LATE {late.reference} ({late.agency_code}): paid {late.hours_waiting} h before it was swept")
    print(f"{len(report.remittances)} remittance(s); {len(report.overdue)} fee(s) past the 24-hour deadline")
    return 0


@contextlib.asynccontextmanager
async def _services(settings: Settings, engine: AsyncEngine) -> AsyncIterator[_Services]:
    """What a worker (or a command doing a worker's job) needs: sessions, outside clients, the dispatcher."""
    await ensure_schema_current(engine)
    doorbell = outbox.Doorbell()
    # No events hub: nothing in this process watches announcements (on PostgreSQL they still leave
    # for the app processes' screens by NOTIFY).
    sessions = create_session_factory(engine, outbox.session_info(doorbell))
    clock = SystemClock()
    acquirer = CardAcquirer(settings.card_api_base, settings.card_secret_key)
    bank = BankPayouts(settings.bank_api_base, settings.bank_api_secret)
    try:
        dispatcher = worker.dispatcher(settings, sessions, acquirer, bank, clock, doorbell)
        calendar = BusinessCalendar(ZoneInfo(settings.business_timezone))
        yield _Services(sessions, acquirer, dispatcher, calendar, clock)
    finally:
        await acquirer.aclose()
        await bank.aclose()


class _Services(NamedTuple):
    sessions: async_sessionmaker[AsyncSession]
    acquirer: CardAcquirer
    outbox: outbox.Dispatcher
    calendar: BusinessCalendar
    clock: SystemClock


def _worker(settings: Settings, _: argparse.Namespace) -> int:
    """Deliver the outbox and run every periodic job until SIGTERM or SIGINT; run as many as wanted."""

    async def work(engine: AsyncEngine) -> None:
        async with _services(settings, engine) as services:
            jobs = worker.periodic_jobs(
                settings, services.sessions, services.acquirer, services.outbox, services.calendar, services.clock
            )
            names = ", ".join(job.name for job in jobs if job.every_seconds > 0)
            await worker.run_until_signalled(
                worker.Worker(settings, services.sessions, services.outbox, jobs, services.clock),
                ready=lambda: print(f"worker: outbox and {names}", flush=True),
            )

    asyncio.run(_with_engine(settings, work))
    print("worker: stopped")
    return 0


def _outbox_list(settings: Settings, args: argparse.Namespace) -> int:
    async def read(engine: AsyncEngine) -> list[outbox.OutboxEntry]:
        async with create_session_factory(engine)() as session:
            status = None if args.status == "all" else outbox.OutboxStatus(args.status)
            return await outbox.listed(session, status=status, limit=args.limit)

    entries = asyncio.run(_with_engine(settings, read))
    for entry in entries:
        print(f"{entry.id} {entry.status} {entry.kind} {entry.key} tries={entry.attempts} {entry.last_error or ''}")
    print(f"{len(entries)} message(s)")
    return 0


def _outbox_redeliver(settings: Settings, args: argparse.Namespace) -> int:
    """Put a given-up message back in line, then deliver it at once."""

    async def redeliver(engine: AsyncEngine) -> int:
        async with _services(settings, engine) as services:
            async with services.sessions.begin() as session:
                logger.warning("outbox: message %s redelivered by hand from the command line", args.id)
                entry = await outbox.redeliver(session, args.id, actor_user_id=None, now=services.clock.now())
            await services.outbox.deliver([entry.key])
            async with services.sessions() as session:
                (after,) = [found for found in await outbox.listed(session, status=None) if found.id == args.id]
        print(f"{after.id} {after.status} {after.kind} {after.key} tries={after.attempts} {after.last_error or ''}")
        return 0 if after.status == outbox.OutboxStatus.DELIVERED else 1

    return asyncio.run(_with_engine(settings, redeliver))


def _merchants_settle(settings: Settings, _: argparse.Namespace) -> int:
    """Pay each merchant's balance out to its bank account, handing the payouts to the bank at once."""

    async def settle(engine: AsyncEngine) -> list[qr.SettlementLine]:
        async with _services(settings, engine) as services:
            return await qr.settle_merchants(
                services.sessions, services.outbox, services.calendar, now=services.clock.now()
            )

    lines = asyncio.run(_with_engine(settings, settle))
    for line in lines:
        print(f"merchant {line.merchant_id}: payout {line.payout_id} of {line.amount_vnd} ₫")
    print(f"{len(lines)} merchant payout(s) queued")
    return 0


def _qr_decode(_: Settings, args: argparse.Namespace) -> int:
    """Read a VietQR payload and print its fields as JSON; why not, on stderr."""
    try:
        code = vietqr.decode(args.payload)
    except vietqr.VietQrError as refused:
        print(f"civicpay: {refused.code} at {refused.position}: {refused.message}", file=sys.stderr)
        return 1
    fields = {
        "bin": code.bin,
        "account": code.account,
        "service": code.service,
        "initiation": code.initiation,
        "amount": code.amount_vnd,
        "purpose": code.purpose,
        "bill": code.bill,
        "reference": code.reference,
        "terminal": code.terminal,
        "crc": code.crc,
    }
    print(json.dumps(fields, ensure_ascii=False))
    return 0


def _qr_encode(_: Settings, args: argparse.Namespace) -> int:
    """Write a VietQR payload: dynamic when it carries an amount, static otherwise."""
    code = vietqr.VietQr(
        bin=args.bin,
        account=args.account,
        service="card" if args.card else "account",
        initiation="static" if args.amount is None else "dynamic",
        amount_vnd=args.amount,
        purpose=args.purpose,
        bill=args.bill,
        reference=args.reference,
        terminal=args.terminal,
    )
    try:
        print(vietqr.encode(code))
    except vietqr.VietQrError as refused:
        print(f"civicpay: {refused.code} ({refused.field}): {refused.message}", file=sys.stderr)
        return 1
    return 0


def _add_qr_commands(commands: Any) -> None:
    """The QR room's commands: the codec, fee collections, the Treasury sweep, merchants' settlement."""
    qr = commands.add_parser("qr", help="VietQR payloads").add_subparsers(dest="qr_command", required=True)
    read = qr.add_parser("decode", help="print a payload's fields as JSON (errors on stderr, exit 1)")
    read.add_argument("payload")
    read.set_defaults(run=_qr_decode)
    write = qr.add_parser("encode", help="print the payload for a bank account or card")
    write.add_argument("--bin", required=True, help="the bank's 6-digit NAPAS BIN")
    write.add_argument("--account", required=True, help="account number (or card number with --card)")
    write.add_argument("--card", action="store_true", help="to a card (QRIBFTTC) rather than an account")
    write.add_argument("--amount", type=int, help="đồng; makes the code dynamic")
    for name in ("purpose", "bill", "reference", "terminal"):
        write.add_argument(f"--{name}")
    write.set_defaults(run=_qr_encode)
    fees = commands.add_parser("collections", help="fee collections at counters").add_subparsers(
        dest="collections_command", required=True
    )
    collect = fees.add_parser("create", help="as a clerk, create a collection through the running server")
    collect.add_argument("--counter", type=int, required=True, help="the counter's id (its screen: /counter/ID)")
    collect.add_argument("--amount", type=int, required=True, help="đồng")
    collect.add_argument("--procedure-code", default="1.001612")
    collect.add_argument("--procedure-name", default="Chứng thực bản sao từ bản chính")
    collect.add_argument("--dossier", default="000.00.12.H57-DEMO")
    collect.add_argument("--payer", default="Nguyễn Thị Hương")
    collect.add_argument("--kind", choices=("fee", "charge"), default="fee")
    collect.add_argument("--phone", default="0901000003", help="the clerk (default: the demo clerk)")
    collect.add_argument("--password", help="the clerk's password (asked when not given)")
    collect.add_argument("--url", default="http://127.0.0.1:8000")
    collect.set_defaults(run=_collections_create)
    treasury = commands.add_parser("treasury", help="fees to the State Treasury").add_subparsers(
        dest="treasury_command", required=True
    )
    treasury.add_parser(
        "sweep", help="send collected fees to each agency's Treasury account; report those past 24 hours"
    ).set_defaults(run=_treasury_sweep)
    shops = commands.add_parser("merchants", help="merchants' takings").add_subparsers(
        dest="merchants_command", required=True
    )
    shops.add_parser("settle", help="pay each merchant's balance out to its bank account").set_defaults(
        run=_merchants_settle
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="civicpay", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API (refuses a database behind the newest migration)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=_serve)
    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    upgrade = db.add_parser("upgrade", help="apply Alembic migrations")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(run=_db_upgrade)
    db.add_parser("current", help="show the applied and the newest revision").set_defaults(run=_db_current)
    commands.add_parser("demo", help="seed the demo data set once").set_defaults(run=_demo)
    ledger = commands.add_parser("ledger", help="ledger tools").add_subparsers(dest="ledger_command", required=True)
    ledger.add_parser("verify", help="check every ledger invariant; exit 1 on a breach").set_defaults(
        run=_ledger_verify
    )
    ledger.add_parser(
        "expire-holds", help="give back the money of holds whose time has passed (the workers do every minute)"
    ).set_defaults(run=_expire_holds)
    simulate = commands.add_parser("simulate", help="play an outside party against a running server")
    bank = simulate.add_subparsers(dest="simulate_command", required=True).add_parser(
        "bank-transfer", help="a bank notifies an incoming transfer carrying a wallet's top-up code"
    )
    whose = bank.add_mutually_exclusive_group(required=True)
    whose.add_argument("--phone", help="the citizen whose top-up code goes into the description")
    whose.add_argument("--code", help="put this text in as the code (try a wrong one: it lands in suspense)")
    bank.add_argument("--amount", type=int, required=True, help="đồng")
    bank.add_argument(
        "--account",
        default=bank_simulator.WALLET_ESCROW_ACCOUNT,
        help="our account that received it (default: the wallets' escrow; an office's to pay its fee collection)",
    )
    bank.add_argument("--url", default="http://127.0.0.1:8000")
    bank.set_defaults(run=_simulate_bank_transfer)
    card = commands.add_parser("card", help="card top-ups").add_subparsers(dest="card_command", required=True)
    card.add_parser(
        "requery", help="ask the acquirer about card top-ups pending too long; cancel those never paid"
    ).set_defaults(run=_card_requery)
    sandbox = card.add_parser("sandbox", help="run the acquirer's sandbox (localstripe) for development")
    sandbox.add_argument("--webhook-url", help="where it sends events (default: this server's /webhooks/card)")
    sandbox.set_defaults(run=_card_sandbox)
    token = card.add_parser("token", help="tokenise a test card at the sandbox, as the citizen's app would")
    token.add_argument("--number", default="4242424242424242", choices=sorted(card_sandbox.TEST_CARDS))
    token.set_defaults(run=_card_token)
    bank_tools = commands.add_parser("bank", help="the bank's side").add_subparsers(dest="bank_command", required=True)
    bank_box = bank_tools.add_parser("sandbox", help="run the bank's payout API with demo accounts (development)")
    bank_box.add_argument("--civicpay-url", help="where it sends notifications and payout results (default: here)")
    bank_box.set_defaults(run=_bank_sandbox)
    commands.add_parser(
        "worker", help="deliver the outbox and run every periodic job (as many workers as wanted)"
    ).set_defaults(run=_worker)
    messages = commands.add_parser("outbox", help="messages to outside parties").add_subparsers(
        dest="outbox_command", required=True
    )
    listing = messages.add_parser("list", help="messages, oldest first (default: the given-up ones)")
    listing.add_argument("--status", choices=["pending", "delivered", "given_up", "all"], default="given_up")
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(run=_outbox_list)
    again = messages.add_parser("redeliver", help="put a given-up message back in line and deliver it now")
    again.add_argument("id", type=int)
    again.set_defaults(run=_outbox_redeliver)
    _add_qr_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        sys.exit(args.run(settings, args))
    except (SettingsError, SchemaBehind) as problem:
        print(f"civicpay: {problem}", file=sys.stderr)
        sys.exit(2)
    except DomainError as refusal:
        print(f"civicpay: {refusal}", file=sys.stderr)
        sys.exit(1)
    except httpx.HTTPError as unreachable:
        print(f"civicpay: cannot reach the server ({unreachable}); is `make run` serving?", file=sys.stderr)
        sys.exit(1)
