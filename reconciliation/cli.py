"""The reconciliation room's commands: `civicpay recon import FILE --account BIN:NUMBER`,
`civicpay recon run --account BIN:NUMBER --date YYYY-MM-DD`, and (``cli_reports``) `recon report` and `recon fees`.

Registered by the shell (``civicpay/cli.py``); this room names the parts of the service it uses
(``ReconServices``) rather than importing the shell's bootstrap. Each command is one unit of work, as the
API's routes are: an import refused at its last line stores nothing.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Protocol

import msgspec
import rich_click as click
from rich.console import Console
from rich.table import Table

from civicpay.clock import BusinessCalendar, Clock
from civicpay.command_line import NO, OK, Shell
from civicpay.db import UnitsOfWork
from reconciliation import closing, exceptions, imports, runs
from reconciliation.fee_book import FeeBook
from reconciliation.imports import AccountRef, ImportSummary
from reconciliation.model import StatementFormat
from reconciliation.models import RunStatus
from reconciliation.queue_schemas import ReconciliationDay
from reconciliation.runs import RunView
from reconciliation.schemas import ReconciliationRun

# What the progress bar counts before the import: a statement line's mark in each format. An estimate only
# (a narrative may hold ":61:"); the bar is transient and the summary gives the true count.
_MARKS = {
    StatementFormat.CAMT: re.compile(rb"<(?:\w+:)?Ntry[\s>]"),
    StatementFormat.MT940: re.compile(rb"(?m)^:61:"),
}


class ReconServices(Protocol):
    """The parts of the service (``civicpay.bootstrap.Services``) the reconciliation commands use."""

    @property
    def units(self) -> UnitsOfWork: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def calendar(self) -> BusinessCalendar: ...

    @property
    def fee_book(self) -> FeeBook: ...


def _account(text: str) -> AccountRef:
    found = AccountRef.parse(text)
    if found is None:
        raise click.BadParameter(f"{text!r}: expected BIN:NUMBER, e.g. 970436:1017468888", param_hint="--account")
    return found


def _estimate(path: Path, fmt: StatementFormat | None) -> int:
    """Roughly how many lines the file holds, read in blocks (never whole), for the bar's total."""
    mark = _MARKS.get(fmt) if fmt else None
    count = 0
    tail = b""
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            chunk = tail + block
            count += len(mark.findall(chunk)) if mark else chunk.count(b"\n")
            tail = chunk[-16:] if mark else b""
            if mark:  # a mark cut by the block's end is counted with the next block, once
                count -= len(mark.findall(tail))
    return max(count, 1)


@click.group(name="recon")
def recon_commands() -> None:
    """Daily reconciliation (đối soát): bank statements in, runs per bank account and business day.

    Example: civicpay recon import sao-ke.xml --account 970436:1017468888
    """


@recon_commands.command(name="import")
@click.argument(
    "file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The statement: camt.052/053/054 XML, MT940, a bank's CSV export, or a KBNN CSV.",
)
@click.option("--account", "account_text", help="BIN:NUMBER of the account, when the file does not name it.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in StatementFormat]),
    help="The format, when it should not be told from the file's first bytes.",
    show_default="told from the file",
)
@click.pass_obj
def import_statement(shell: Shell, file: Path, account_text: str | None, fmt: str | None) -> None:
    """Import a bank statement file whole, or refuse it whole (exit 2, nothing stored).

    Refused: the same file twice (saying when it came first), an account we do not hold, a file that cannot
    be read (truncated XML, an MT940 without :62F:, an unknown CSV header, another currency). Lines are
    written in chunks as they are read, in one transaction.

    Example: civicpay recon import sao-ke-2026-11-23.xml --account 970436:1017468888
    """
    account = _account(account_text) if account_text else None
    chosen = StatementFormat(fmt) if fmt else None
    try:
        from reconciliation.parsers import detect_format  # noqa: PLC0415 - only to size the bar

        total = _estimate(file, chosen or detect_format(file))
    except (OSError, ValueError):
        total = 1  # the import itself says what is wrong with the file

    async def work(services: ReconServices) -> ImportSummary:
        with shell.progress("importing statement lines", total) as step:
            async with services.units() as unit:
                return await imports.import_file(
                    unit.session,
                    file,
                    file_name=file.name,
                    account=account,
                    fmt=chosen,
                    user_id=None,
                    via="cli",
                    now=services.clock.now(),
                    on_line=step,
                    treasury=services.fee_book,
                )

    summary = shell.run(work)
    console = _console()
    table = Table(
        "#",
        "statement",
        "day",
        "opening",
        "credits",
        "debits",
        "closing",
        "lines",
        "continuous",
        "follows",
        title=f"{file.name}: import {summary.file_id} for {summary.account} ({summary.format.value})",
        title_justify="left",
    )
    for s in summary.statements:
        table.add_row(
            str(s.position),
            s.statement_id,
            s.business_day.isoformat() if s.business_day else "-",
            _money(s.opening_vnd),
            _money(s.credits_vnd),
            _money(s.debits_vnd),
            _money(s.closing_vnd),
            str(s.lines),
            _yes_no(s.continuous),
            _yes_no(s.follows_previous),
        )
    console.print(table)
    click.echo(f"{summary.lines} line(s) in {len(summary.statements)} statement(s) imported, sha256 {summary.sha256}")


def _console() -> Console:
    console = Console(soft_wrap=True)
    if not console.is_terminal:
        # Piped or captured, rich assumes 80 columns and would cut references and amounts short: they are the point.
        console.width = 160
    return console


def _money(amount: int | None) -> str:
    return "-" if amount is None else f"{amount:,}".replace(",", ".")


DAY = click.DateTime(formats=["%Y-%m-%d"])
# An account's business day, as `recon run` and `recon close` name it.
ACCOUNT_OPTION = click.option("--account", "account_text", required=True, help="BIN:NUMBER of the bank account.")
DAY_OPTION = click.option(
    "--date", "day", type=DAY, required=True, help="The business day (Asia/Ho_Chi_Minh), YYYY-MM-DD."
)


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


@recon_commands.command(name="run")
@ACCOUNT_OPTION
@DAY_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON: counts, drift, every exception.")
@click.pass_obj
def run_command(shell: Shell, account_text: str, day: datetime, *, as_json: bool) -> int:
    """Reconcile a bank account's ledger with its statement for one business day, and store the run.

    Our side is every transfer posted to the account's ledger account that day; theirs the day's lines of the
    latest imported statement covering it. A day without a statement line is no_statement, never "all matched".

    Exit 0 when the day is reconciled; 1 when it has exceptions, drift, or no statement.

    Example: civicpay recon run --account 970436:1017468888 --date 2026-11-23 --json
    """
    account = _account(account_text)
    business_day = day.date()

    async def work(services: ReconServices) -> RunView:
        with shell.progress("reconciling", runs.RUN_STEPS) as step:
            async with services.units() as unit:
                return await runs.run(
                    unit.session,
                    account,
                    business_day,
                    calendar=services.calendar,
                    user_id=None,
                    now=services.clock.now(),
                    on_step=step,
                )

    view = shell.run(work)
    if as_json:
        click.echo(msgspec.json.encode(ReconciliationRun.of(view)).decode())
    else:
        _print_run(view)
    # Scripts branch on it: anything but a clean day (exceptions, drift, no statement) is the command's "no".
    return OK if view.status is RunStatus.RECONCILED else NO


def _print_run(view: RunView) -> None:
    console = _console()
    counts = Table(
        "matched",
        "unmatched ours",
        "unmatched theirs",
        "amount mismatch",
        "duplicates",
        "reversals",
        "drift",
        title=f"run {view.id}: {view.account} {view.business_day.isoformat()}: {view.status.value}",
        title_justify="left",
    )
    counts.add_row(
        str(view.matched),
        str(view.unmatched_ours),
        str(view.unmatched_theirs),
        str(view.amount_mismatches),
        str(view.duplicates),
        str(view.reversals),
        _money(view.drift_vnd),
    )
    console.print(counts)
    closing = _money(view.statement_closing_vnd)
    click.echo(
        f"ledger: {view.ledger_items} item(s), balance {_money(view.ledger_balance_vnd)} at the day's end;"
        f" statement: {view.statement_lines} line(s), closing {closing}"
        + (f" (import {view.file_id})" if view.file_id else " (none imported for the day)")
    )
    if view.exceptions:
        table = Table(
            "kind",
            "bank reference",
            "statement amount",
            "our reference",
            "our amount",
            title="exceptions",
            title_justify="left",
        )
        for e in view.exceptions:
            table.add_row(
                e.kind.value,
                e.bank_reference or "-",
                _money(e.statement_amount_vnd),
                e.our_reference or "-",
                _money(e.our_amount_vnd),
            )
        console.print(table)


# --- day close (reconciliation.closing) ---


@recon_commands.command(name="close")
@ACCOUNT_OPTION
@DAY_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the closed day as JSON: drift, what explains it, the run.")
@click.pass_obj
def close_command(shell: Shell, account_text: str, day: datetime, *, as_json: bool) -> int:
    """Close a bank account's business day: locked from then on (not run again, no action on its exceptions).

    Refused (exit 2, nothing changed) when the day has not been run, has ledger items and no statement, has
    exceptions still open, or drift that matches by hand, carries and adjustments do not explain.

    Example: civicpay recon close --account 970436:1017468888 --date 2026-11-23
    """
    account = _account(account_text)
    business_day = day.date()

    async def work(services: ReconServices) -> ReconciliationDay:
        async with services.units() as unit:
            await closing.close_day(
                unit.session, services.calendar, account, business_day, officer_id=None, now=services.clock.now()
            )
            found = await closing.summary(unit.session, services.calendar, account, business_day)
            ids = [e.id for e in found.run.exceptions] if found.run is not None else []
            pending = await exceptions.pending_adjustments(unit.session, ids)
            return ReconciliationDay.of(found, list(pending.values()))

    closed = shell.run(work)
    if as_json:
        click.echo(msgspec.json.encode(closed).decode())
    else:
        click.echo(
            f"{closed.account} {closed.date.isoformat()} closed: drift {_money(closed.drift_vnd)},"
            f" explained {_money(closed.explained_vnd)}"
        )
    return OK


# --- reports and the three-way fee check
from reconciliation import cli_reports  # noqa: E402, F401 - registers `recon report` and `recon fees` on the group

# What the shell adds to `civicpay`.
COMMANDS = [recon_commands]
