"""The `civicpay` command: the shell's own commands here, each room's beside its code, assembled below.

The shell's: ``serve``, ``worker``, ``db upgrade | current``, ``demo``, ``outbox list | redeliver``. The
wallet's (``wallet/cli.py``): ``ledger verify | expire-holds``, ``card requery``. The QR room's
(``qr/cli.py``): ``qr decode | encode``, ``collections create``, ``treasury sweep``, ``merchants settle``. The
billing room's (``billing/cli.py``): ``billing import | settle``. The disbursement room's
(``disbursement/cli.py``): ``disburse import | run``. The reconciliation room's (``reconciliation/cli.py``):
``recon import | run``.
What they share (one line per refusal, the exit codes, settings never invented) is
``civicpay/command_line.py``.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import rich_click as click
from alembic import command
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.exc import ArgumentError, DBAPIError, InvalidRequestError

import billing.cli
import disbursement.cli
import qr.cli
import reconciliation.cli
import wallet.cli
from civicpay import bootstrap, outbox, worker
from civicpay.bootstrap import Services
from civicpay.command_line import NO, OK, CommandGroup, Refused, Shell, database_refusal
from civicpay.db import alembic_config, current_revision, head_revision
from civicpay.demo import (
    DEMO_FILES,
    DEMO_PASSWORD,
    DEMO_PENSION_STEPS,
    DEMO_STEPS,
    seed_demo,
    seed_pensions,
    write_demo_files,
)
from civicpay.demo_day import write_statements
from civicpay.errors import Text
from civicpay.settings import NotSetUp, Settings, shown_url, sqlite_file

if TYPE_CHECKING:
    # Each room's commands name the parts of the services they use by a Protocol of their own (a room may
    # not import the bootstrap); here mypy checks that the services have them.
    _wallet_parts: type[wallet.cli.WalletServices] = Services
    _qr_parts: type[qr.cli.QrServices] = Services
    _billing_parts: type[billing.cli.BillingServices] = Services
    _disbursement_parts: type[disbursement.cli.DisbursementServices] = Services
    _recon_parts: type[reconciliation.cli.ReconServices] = Services

logger = logging.getLogger(__name__)


@click.group(name="civicpay", cls=CommandGroup, services=bootstrap.running)
@click.version_option(
    package_name="civicpay",
    prog_name="civicpay",
    message="%(prog)s %(version)s",
    help="Print civicpay's version (from the installed package) and exit.",
)
def main() -> None:
    """civicpay: the service, its worker, and the operator's tools.

    Settings come from the CIVICPAY_* variables (README, Settings). Outside production, a secret not in
    the environment is read from ./var/secrets/, and the database is ./var/civicpay.db unless
    CIVICPAY_DATABASE_URL says otherwise, both relative to the current folder: run from the project
    folder. Only `db upgrade` (and `demo`, for the secrets) create them; every other command refuses,
    naming the database and the secrets it would use.

    Every refusal is one line on stderr, in Vietnamese or English (--lang).

    Exit codes:
    - 0: done.
    - 1: the command's own "no": a ledger breach (ledger verify), a database behind the newest
      migration (db current), a payload that is not VietQR (qr decode), a message still not delivered
      (outbox redeliver), a row refused (billing import; the other rows are imported), a day not
      reconciled (recon run: exceptions, drift or no statement).
    - 2: it could not run: bad usage, nothing set up here, no database, an unreachable server, a
      refusal (a wrong password, an unknown counter, ...).

    Examples:
        civicpay db upgrade && civicpay demo && civicpay serve
        civicpay --lang vi ledger verify
    """


async def _nothing(_: object) -> None:
    """No work: ``Shell.run`` has already reached the database and checked its schema."""


@main.command()
@click.option("--host", metavar="HOST", help="The address to listen on.", show_default="CIVICPAY_HOST, else 127.0.0.1")
@click.option(
    "--port", type=click.IntRange(1, 65535), help="The port to listen on.", show_default="CIVICPAY_PORT, else 8000"
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, help="How many app processes (uvicorn workers) to run."
)
@click.pass_obj
def serve(shell: Shell, host: str | None, port: int | None, workers: int) -> None:
    """Serve the HTTP API; refuse a database behind the newest migration.

    On the embedded SQLite database each app process also runs a worker, unless
    CIVICPAY_WORKER_IN_PROCESS=false; on PostgreSQL run `civicpay worker` beside it.

    Example: civicpay serve --port 8000 --workers 2
    """
    import uvicorn  # noqa: PLC0415 - only the server needs it

    settings = shell.settings()
    shell.run(_nothing, settings=settings)
    uvicorn.run(
        "civicpay.app:app_from_env",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level="info",
        access_log=settings.access_log,
        # Counter screens hold Server-Sent Events streams open; a shutdown closes them after this (they reconnect).
        timeout_graceful_shutdown=5,
    )


@main.command(name="worker")
@click.pass_obj
def worker_command(shell: Shell) -> None:
    """Deliver the outbox and run every periodic job until SIGTERM or SIGINT.

    Run as many as wanted, on as many machines: each job run and each message is claimed through the
    database, so it happens once. A stop lets the job or delivery under way finish.

    Example: civicpay worker
    """

    async def work(services: Services) -> None:
        names = ", ".join(job.name for job in services.jobs if job.every_seconds > 0)
        await worker.run_until_signalled(services.worker(), ready=lambda: click.echo(f"worker: outbox and {names}"))

    shell.run(work)
    click.echo("worker: stopped")


@main.group()
def db() -> None:
    """The database's schema (Alembic migrations).

    Example: civicpay db current
    """


def _setting_up(shell: Shell, *, database: bool) -> Settings:
    """Settings for a command that sets a service up: it creates what is missing, saying so.

    ``database``: whether the command may create the SQLite database too (by migrating it).
    """
    try:
        return shell.settings()
    except NotSetUp as missing:
        file = sqlite_file(missing.database_url)
        if not database and file is not None and file in missing.missing:
            url = shown_url(missing.database_url)
            raise Refused(
                Text(
                    f"chưa có cơ sở dữ liệu {url} ({file.resolve()}): hãy chạy `civicpay db upgrade` trước",
                    f"no database at {url} ({file.resolve()}): run `civicpay db upgrade` first",
                )
            ) from None
        for path in missing.missing:
            click.echo(f"creating {path.resolve()}", err=True)
        return shell.settings(create_missing=True)


_RELATIVE = re.compile(r"[+-]\d")


def _known_revision(revision: str) -> None:
    """Refuse a revision the migrations do not have before anything is created or connected to."""
    if _RELATIVE.search(revision):
        return  # relative to the database's own revision: only the upgrade can resolve it
    try:
        ScriptDirectory.from_config(alembic_config()).get_revisions(revision)
    except CommandError as unknown:
        raise _no_such_revision(revision, unknown) from None


def _no_such_revision(revision: str, error: Exception) -> Refused:
    why = " ".join(str(error).split())
    return Refused(
        Text(
            f"không có bản migration {revision!r} ({why}); dùng head hoặc một phiên bản từ `civicpay db current`",
            f"no migration {revision!r} ({why}); give head or a revision as `civicpay db current` shows them",
        )
    )


@db.command(name="upgrade")
@click.argument("revision", default="head", required=False, help="The revision to migrate to.")
@click.pass_obj
def db_upgrade(shell: Shell, revision: str) -> None:
    """Apply the migrations up to REVISION; create the SQLite database and development secrets if missing.

    Example: civicpay db upgrade
    """
    _known_revision(revision)
    settings = _setting_up(shell, database=True)
    try:
        command.upgrade(alembic_config(settings.database_url), revision)
    except CommandError as refused:
        raise _no_such_revision(revision, refused) from None
    except (ArgumentError, InvalidRequestError, ImportError) as unusable:
        raise database_refusal(settings, unusable, reach=False) from None
    except (DBAPIError, OSError, TimeoutError) as unreachable:
        raise database_refusal(settings, unreachable, reach=True) from None
    click.echo(f"database at {revision}: {shown_url(settings.database_url)}")


@db.command(name="current")
@click.pass_obj
def db_current(shell: Shell) -> int:
    """Show the database's revision and the newest; exit 1 when the database is behind.

    Example: civicpay db current
    """
    current = shell.run(lambda services: current_revision(services.engine), schema_current=False)
    head = head_revision()
    click.echo(f"current: {current or 'none'}  newest: {head}")
    return OK if current == head else NO


@main.command()
@click.pass_obj
def demo(shell: Shell) -> None:
    """Seed the demo data set once (README, Demo people); refused in production.

    Needs a migrated database (`civicpay db upgrade`); creates the development secrets if missing.

    Example: civicpay db upgrade && civicpay demo
    """
    settings = _setting_up(shell, database=False)
    if settings.env == "production":
        # The demo publishes its passwords and creates money from nothing.
        raise Refused(
            Text(
                "không nạp dữ liệu demo vào cơ sở dữ liệu production",
                "refusing to seed demo data into a production database",
            )
        )

    async def seed(services: Services) -> bool:
        with shell.progress("seeding the demo", DEMO_STEPS + DEMO_PENSION_STEPS) as step:
            async with services.units() as unit:
                seeded = await seed_demo(unit.session, services.settings, services.hasher, services.clock, step=step)
                # Its own check: a demo seeded before the pensions were part of it gets them now.
                pensions = await seed_pensions(
                    unit.session, services.settings, services.hasher, services.clock, step=step
                )
                # Written each time, from the ledger: the demo day's bank and Treasury statements.
                await write_statements(unit.session, services.settings)
                return seeded or pensions

    if shell.run(seed, settings=settings):
        click.echo(f"demo data seeded; every demo person's password is {DEMO_PASSWORD!r} (see README)")
    else:
        click.echo("demo data already present")
    # Written each time, the same each time: the walkthrough's pension batch and the approvers' TOTP seeds.
    for path in write_demo_files(settings, DEMO_FILES):
        click.echo(f"demo file: {path}")


@main.group(name="outbox")
def outbox_commands() -> None:
    """Messages to outside parties (the bank, the card acquirer), and those given up after every try.

    Example: civicpay outbox list --status given_up
    """


def _outbox_line(entry: outbox.OutboxEntry) -> str:
    return f"{entry.id} {entry.status} {entry.kind} {entry.key} tries={entry.attempts} {entry.last_error or ''}"


@outbox_commands.command(name="list")
@click.option(
    "--status",
    type=click.Choice(["pending", "delivered", "given_up", "all"]),
    default="given_up",
    help="Which messages: those given up are what an operator must look at.",
)
@click.option("--limit", type=click.IntRange(min=1), default=100, help="At most this many messages.")
@click.pass_obj
def outbox_list(shell: Shell, status: str, limit: int) -> None:
    """List messages, oldest first: id, status, kind, key, tries and last error.

    Example: civicpay outbox list --status all --limit 20
    """

    async def read(services: Services) -> list[outbox.OutboxEntry]:
        async with services.units() as unit:
            wanted = None if status == "all" else outbox.OutboxStatus(status)
            return await outbox.listed(unit.session, status=wanted, limit=limit)

    entries = shell.run(read)
    for entry in entries:
        click.echo(_outbox_line(entry))
    click.echo(f"{len(entries)} message(s)")


@outbox_commands.command(name="redeliver")
@click.argument("message_id", metavar="ID", type=click.IntRange(min=1), help="The given-up message's id.")
@click.pass_obj
def outbox_redeliver(shell: Shell, message_id: int) -> int:
    """Put a given-up message back in line and deliver it now; exit 1 if it is still not delivered.

    Its key stays, so the other side acts on it once however often it arrives.

    Example: civicpay outbox redeliver 42
    """

    async def redeliver(services: Services) -> outbox.OutboxEntry:
        async with services.units() as unit:
            logger.warning("outbox: message %s redelivered by hand from the command line", message_id)
            await outbox.redeliver(unit.session, message_id, actor_user_id=None, now=services.clock.now())
        async with services.units() as unit:
            return await outbox.one(unit.session, message_id)

    after = shell.run(redeliver)
    click.echo(_outbox_line(after))
    return OK if after.status == outbox.OutboxStatus.DELIVERED else NO


for _command in (
    *wallet.cli.COMMANDS,
    *qr.cli.COMMANDS,
    *billing.cli.COMMANDS,
    *disbursement.cli.COMMANDS,
    *reconciliation.cli.COMMANDS,
):
    main.add_command(_command)
