"""The billing room's commands: `civicpay billing import FILE --biller ID`, a biller's bills from a file, and
`civicpay billing settle`, billers' takings paid out to their bank accounts.

Registered by the shell (``civicpay/cli.py``), which gives each command the service's parts; this room names
the parts it uses (``BillingServices``) rather than importing the shell's bootstrap.

The file's layout is ``billing/bill_files.py``'s. Every row goes through the push's own schema (``BillIn``) and
its own upsert (``billing.ingestion.apply``), so an import and ``POST /biller-api/bills`` agree on every bill:
idempotent by the biller's bill id, an amendment or a cancellation kept in the bill's history, a paid or
cancelled bill refused. As in a push, a row that is not a bill, or that is refused, is reported and skipped
while the other rows apply: one typo in a 50,000-row file should not hold back the other 49,999, and a
corrected file imported again changes only the rows that were wrong.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import rich_click as click
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from billing import bill_files, ingestion
from billing.bill_files import BillFile, BillRow, RowError, UnreadableFile
from billing.models import Biller
from billing.schemas import MAX_BILLS_PER_PUSH, BillAccepted, Settlement
from civicpay.clock import Clock
from civicpay.command_line import NO, OK, Refused, Shell
from civicpay.db import UnitsOfWork
from civicpay.errors import Text

# Rows per unit of work: each chunk commits on its own, so a long import holds the biller's lock (which the
# push takes too) for a moment at a time, and the bar moves as chunks land. Far below a push's own limit.
CHUNK = min(500, MAX_BILLS_PER_PUSH)
# The table printed shows this many refused rows at most; --report has them all.
SHOWN = 50
OUTCOMES = ("created", "unchanged", "amended", "cancelled")

logger = logging.getLogger(__name__)


class BillingServices(Protocol):
    """The parts of the service (``civicpay.bootstrap.Services``) the billing room's commands use."""

    @property
    def units(self) -> UnitsOfWork: ...

    @property
    def clock(self) -> Clock: ...

    async def settle_billers(self, on_biller: Callable[[], None] | None = None) -> list[Settlement]: ...


@click.group(name="billing")
def billing_commands() -> None:
    """Billers' bills, and their daily settlement.

    Example: civicpay billing import bills.csv --biller 1
    """


@billing_commands.command(name="import")
@click.argument(
    "file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The bills: a CSV (UTF-8) or an XLSX file, one bill a row under a header row.",
)
@click.option("--biller", "biller_id", type=click.IntRange(min=1), required=True, help="The biller's id.")
@click.option(
    "--report",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write every refused row to this CSV (row, bill_id, field, code, message); header only when none.",
    show_default="none",
)
@click.pass_obj
def import_bills(shell: Shell, file: Path, biller_id: int, report: Path | None) -> int:
    """Import a biller's bills from a CSV or XLSX file, as its system would push them; exit 1 if a row was refused.

    One bill a row, under a header row naming the columns (any order, any case; the Vietnamese names in
    brackets are accepted too):

    - bill_id (mã hóa đơn): the biller's own id for the bill;
    - customer_code (mã khách hàng), customer_name (tên khách hàng);
    - period (kỳ): e.g. 2026-11;
    - amount_vnd (số tiền): whole đồng, digits only (150000, not 150.000);
    - due_date (hạn thanh toán): YYYY-MM-DD, or a date cell in an XLSX;
    - status (trạng thái), optional: open (or empty) or cancelled;
    - lines (chi tiết), optional: the line items as JSON, [{"description": "Bậc 1", "amount_vnd": 100000}].

    A CSV is UTF-8 (a byte-order mark is fine), comma- or semicolon-separated; an XLSX is read from its first
    sheet. Rows are numbered as a spreadsheet shows them (the header is row 1).

    Each row is checked and applied exactly as a push of it would be (POST /biller-api/bills): a bill id seen
    before is unchanged, amended or cancelled, never duplicated, so importing a file twice changes nothing; a
    paid or cancelled bill cannot be changed. A row that is not a bill, or is refused, is listed (row, field,
    why, in --lang's language) and skipped while the other rows apply. A file that cannot be read as this
    layout at all (neither CSV nor XLSX, a column unknown or missing), or an unknown biller, is refused whole
    (exit 2) and nothing is imported. Rows land in chunks of 500, each committed on its own: an import cut
    short can simply be run again.

    Example: civicpay billing import bills.csv --biller 1 --report refused.csv
    """
    try:
        read = bill_files.read(file)
    except UnreadableFile as unreadable:
        raise Refused(unreadable.text) from None

    async def work(services: BillingServices) -> tuple[Counter[str], list[RowError]]:
        async with services.units() as unit:
            if await unit.session.get(Biller, biller_id) is None:
                raise Refused(Text(f"không có đơn vị thu mã {biller_id}", f"no biller with id {biller_id}"))
        return await _apply(shell, services, biller_id, read)

    counts, refused = shell.run(work)
    console = Console(soft_wrap=True)
    if refused:
        console.print(_table(shell, refused[:SHOWN]))
        if len(refused) > SHOWN:
            more = f"... and {len(refused) - SHOWN} more refused row(s)"
            console.print(more + (f" (all in {report})" if report else " (--report FILE lists them all)"))
    summary = ", ".join(f"{counts[outcome]} {outcome}" for outcome in OUTCOMES)
    rows = len(read.bills) + len(read.errors)
    line = f"{file.name}: {rows} row(s): {summary}, {len(refused)} refused"
    # Bills entered by hand rather than by the biller's own system: the service's log says so, and where from.
    logger.info("billing: bills imported by hand for biller %s from %s: %s", biller_id, file.resolve(), line)
    click.echo(line)
    if report is not None:
        _write_report(shell, report, refused)
    return NO if refused else OK


async def _apply(
    shell: Shell, services: BillingServices, biller_id: int, read: BillFile
) -> tuple[Counter[str], list[RowError]]:
    counts: Counter[str] = Counter()
    refused = list(read.errors)
    with shell.progress("importing bills", len(read.bills)) as step:
        for start in range(0, len(read.bills), CHUNK):
            chunk = read.bills[start : start + CHUNK]
            async with services.units() as unit:
                biller = await unit.session.get(Biller, biller_id)
                if biller is None:  # deleted half-way through: what landed stays, the rest is refused
                    raise Refused(Text(f"không có đơn vị thu mã {biller_id}", f"no biller with id {biller_id}"))
                outcomes = await ingestion.apply(
                    unit.session, biller, [row.bill for row in chunk], now=services.clock.now()
                )
            _count(chunk, outcomes, counts, refused)
            for _ in chunk:
                step()
    refused.sort(key=lambda error: error.row)
    return counts, refused


def _count(
    chunk: Sequence[BillRow],
    outcomes: Sequence[ingestion.BillOutcome],
    counts: Counter[str],
    refused: list[RowError],
) -> None:
    """Each row's outcome (``apply`` answers in the order it was given the bills)."""
    for row, outcome in zip(chunk, outcomes, strict=True):
        if isinstance(outcome, BillAccepted):
            counts[outcome.outcome] += 1
        else:
            refused.append(RowError(row.row, outcome.bill_id, "bill_id", outcome.code, outcome.detail))


def _table(shell: Shell, refused: Sequence[RowError]) -> Table:
    table = Table("row", "bill_id", "field", "code", "message", title="refused rows", title_justify="left")
    for error in refused:
        table.add_row(str(error.row), error.bill_id, error.field, error.code, shell.say(error.message))
    return table


def _write_report(shell: Shell, path: Path, refused: Sequence[RowError]) -> None:
    try:
        # With a byte-order mark, so a spreadsheet opens the Vietnamese messages as UTF-8.
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["row", "bill_id", "field", "code", "message"])
            for error in refused:
                writer.writerow([error.row, error.bill_id, error.field, error.code, shell.say(error.message)])
    except OSError as error:
        # The bills have landed by now: say so, so nobody imports again thinking nothing happened.
        why = error.strerror or type(error).__name__
        raise Refused(
            Text(
                f"đã nhập xong nhưng không ghi được báo cáo {path}: {why}",
                f"imported, but the report {path} could not be written: {why}",
            )
        ) from None


@billing_commands.command(name="settle")
@click.pass_obj
def settle(shell: Shell) -> None:
    """Pay each biller's takings up to the cut-off out to its bank account (once a business day), then send them.

    The workers do it every hour; the bank confirms each payout later. Run again the same day, it pays nothing.

    Example: civicpay billing settle
    """

    async def run(services: BillingServices) -> list[Settlement]:
        async with services.units() as unit:
            billers = await unit.session.scalar(select(func.count()).select_from(Biller)) or 0
        with shell.progress("settling billers", billers) as step:
            return await services.settle_billers(on_biller=step)

    made = shell.run(run)
    for settlement in made:
        click.echo(
            f"biller {settlement.biller_id}: {settlement.reference} of {settlement.amount_vnd} ₫"
            f" for {settlement.bill_count} bill(s), business day {settlement.business_day.isoformat()}"
        )
    click.echo(f"{len(made)} biller payout(s) queued")


# What the shell adds to `civicpay`.
COMMANDS = [billing_commands]
