"""`civicpay serve | worker | db upgrade | demo | ledger verify | outbox … | card … | treasury sweep | ...`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

import httpx
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

import qr
from civicpay import bootstrap, outbox, worker
from civicpay.bootstrap import Services
from civicpay.db import (
    SchemaBehind,
    alembic_config,
    current_revision,
    ensure_schema_current,
    head_revision,
)
from civicpay.demo import DEMO_PASSWORD, seed_demo
from civicpay.errors import DomainError
from civicpay.settings import Settings, SettingsError
from qr import vietqr
from wallet.ledger import check_invariants

logger = logging.getLogger(__name__)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415 - only the server needs it

    _with_services(settings, _on_engine(ensure_schema_current))
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


def _with_services(settings: Settings, action: Callable[[Services], Awaitable[T]]) -> T:
    """Run one command's work on the services built once (``civicpay.bootstrap``), closed after."""

    async def run() -> T:
        async with bootstrap.running(settings) as services:
            return await action(services)

    return asyncio.run(run())


def _on_engine(action: Callable[[AsyncEngine], Awaitable[T]]) -> Callable[[Services], Awaitable[T]]:
    return lambda services: action(services.engine)


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    command.upgrade(alembic_config(settings.database_url), args.revision)
    print(f"database at {args.revision}: {settings.database_url.split('@')[-1]}")
    return 0


def _db_current(settings: Settings, _: argparse.Namespace) -> int:
    current = _with_services(settings, _on_engine(current_revision))
    head = head_revision()
    print(f"current: {current or 'none'}  newest: {head}")
    return 0 if current == head else 1


def _demo(settings: Settings, _: argparse.Namespace) -> int:
    if settings.env == "production":
        # The demo publishes its passwords and creates money from nothing.
        raise SettingsError("refusing to seed demo data into a production database")

    async def seed(services: Services) -> bool:
        await ensure_schema_current(services.engine)
        async with services.units() as unit:
            return await seed_demo(unit.session, services.settings, services.hasher, services.clock)

    if _with_services(settings, seed):
        print(f"demo data seeded; every demo person's password is {DEMO_PASSWORD!r} (see README)")
    else:
        print("demo data already present")
    return 0


def _ledger_verify(settings: Settings, _: argparse.Namespace) -> int:
    async def verify(services: Services) -> list[str]:
        async with services.units() as unit:
            return await check_invariants(unit.session)

    breaches = _with_services(settings, verify)
    for breach in breaches:
        print(f"BREACH {breach}")
    print("ledger sound" if not breaches else f"{len(breaches)} breach(es)")
    return 0 if not breaches else 1


def _expire_holds(settings: Settings, _: argparse.Namespace) -> int:
    expired = _with_services(settings, lambda services: services.expire_holds())
    print(f"expired {len(expired)} hold(s)")
    return 0


class _Changed(Protocol):
    """A card top-up, as the re-query reports it."""

    id: int
    amount_display: str

    @property
    def status(self) -> str: ...


def _report(changed: Sequence[_Changed], what: str) -> int:
    for item in changed:
        print(f"{what} {item.id}: {item.status} ({item.amount_display})")
    print(f"{len(changed)} {what}(s) changed")
    return 0


def _card_requery(settings: Settings, _: argparse.Namespace) -> int:
    """Ask the acquirer about card top-ups pending too long, as the workers do periodically."""
    return _report(_with_services(settings, lambda services: services.requery_card_topups()), "card top-up")


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
    """Sweep collected fees to each agency's Treasury account, as the workers do periodically.

    Each remittance is shown as the bank left it once the sweep committed and its instruction was sent
    (sent; queued when the bank could not take it yet; rejected with the bank's reason), and so is
    every earlier remittance still waiting for the bank's word.
    """

    async def sweep(services: Services) -> tuple[qr.SweepReport, list[qr.RemittanceLine]]:
        report = await services.sweep_to_treasury()
        async with services.units() as unit:
            return report, await qr.remittances(unit.session)

    report, recent = _with_services(settings, sweep)
    now_at = {line.id: line for line in recent}
    swept = [now_at.get(line.id, line) for line in report.remittances]
    waiting = [line for line in recent if line.id not in {s.id for s in swept} and line.status in {"queued", "sent"}]
    for line in swept + waiting:
        paying = f"{line.from_bank_bin}/{line.from_account_number}"
        status = f"{line.status} ({line.reason_code})" if line.reason_code else line.status
        print(
            f"{line.reference} {line.agency_code} → KBNN {line.treasury_account}: {line.amount_display} "
            f"({line.collections} fee(s)) from {paying}, {status}"
        )
    for late in report.overdue:
        print(f"LATE {late.reference} ({late.agency_code}): paid {late.hours_waiting} h ago, not yet at the Treasury")
    print(
        f"{len(report.remittances)} remittance(s); {len(waiting)} earlier one(s) waiting for the bank; "
        f"{len(report.overdue)} fee(s) past the 24-hour deadline"
    )
    return 0


def _worker(settings: Settings, _: argparse.Namespace) -> int:
    """Deliver the outbox and run every periodic job until SIGTERM or SIGINT; run as many as wanted."""

    async def work(services: Services) -> None:
        await ensure_schema_current(services.engine)
        names = ", ".join(job.name for job in services.jobs if job.every_seconds > 0)
        await worker.run_until_signalled(
            services.worker(), ready=lambda: print(f"worker: outbox and {names}", flush=True)
        )

    _with_services(settings, work)
    print("worker: stopped")
    return 0


def _outbox_line(entry: outbox.OutboxEntry) -> str:
    return f"{entry.id} {entry.status} {entry.kind} {entry.key} tries={entry.attempts} {entry.last_error or ''}"


def _outbox_list(settings: Settings, args: argparse.Namespace) -> int:
    async def read(services: Services) -> list[outbox.OutboxEntry]:
        async with services.units() as unit:
            status = None if args.status == "all" else outbox.OutboxStatus(args.status)
            return await outbox.listed(unit.session, status=status, limit=args.limit)

    entries = _with_services(settings, read)
    for entry in entries:
        print(_outbox_line(entry))
    print(f"{len(entries)} message(s)")
    return 0


def _outbox_redeliver(settings: Settings, args: argparse.Namespace) -> int:
    """Put a given-up message back in line; it is delivered as the command's unit of work commits."""

    async def redeliver(services: Services) -> outbox.OutboxEntry:
        async with services.units() as unit:
            logger.warning("outbox: message %s redelivered by hand from the command line", args.id)
            await outbox.redeliver(unit.session, args.id, actor_user_id=None, now=services.clock.now())
        async with services.units() as unit:
            return await outbox.one(unit.session, args.id)

    after = _with_services(settings, redeliver)
    print(_outbox_line(after))
    return 0 if after.status == outbox.OutboxStatus.DELIVERED else 1


def _merchants_settle(settings: Settings, _: argparse.Namespace) -> int:
    """Pay each merchant's balance out to its bank account, then send the payouts to the bank."""
    lines = _with_services(settings, lambda services: services.settle_merchants())
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
    card = commands.add_parser("card", help="card top-ups").add_subparsers(dest="card_command", required=True)
    card.add_parser(
        "requery", help="ask the acquirer about card top-ups pending too long; cancel those never paid"
    ).set_defaults(run=_card_requery)
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
