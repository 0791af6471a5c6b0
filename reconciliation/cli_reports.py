"""`civicpay recon report` (a run's daily report as XLSX or CSV) and `civicpay recon fees` (the three-way fee check).

Kept beside ``reconciliation/cli.py``, whose group they join when it is imported.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import rich_click as click
from rich.table import Table

from civicpay.command_line import NO, OK, Shell
from civicpay.report_files import ReportFormat
from reconciliation import fees, reports
from reconciliation.cli import DAY, DAY_OPTION, ReconServices, _account, _console, _money, recon_commands
from reconciliation.fee_schemas import FeeReconciliationOut
from reconciliation.fees import FeeReconciliation


@recon_commands.command(name="report")
@click.argument(
    "run_id",
    metavar="RUN",
    type=click.IntRange(min=1),
    required=False,
    help="The run's id (or --account and --date for the newest run of that day).",
)
@click.option("--account", "account_text", help="BIN:NUMBER: the newest run of this account's --date, without RUN.")
@click.option("--date", "day", type=DAY, help="The business day (Asia/Ho_Chi_Minh), YYYY-MM-DD, with --account.")
@click.option(
    "--format",
    "report_format",
    type=click.Choice(["xlsx", "csv"]),
    default="xlsx",
    show_default=True,
    help="An Excel workbook or CSV (UTF-8 with a byte order mark); the same cells.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write it.",
    show_default="the report's own name in the current folder",
)
@click.pass_obj
def report_command(
    shell: Shell,
    run_id: int | None,
    account_text: str | None,
    day: datetime | None,
    report_format: ReportFormat,
    output: Path | None,
) -> None:
    """Write a run's daily reconciliation report: the account's day, counts, drift, then every exception with its
    kind, the bank's reference and amount, and ours.

    Example: civicpay recon report --account 970436:0161001234567 --date 2026-12-06 -o var/doi-soat.xlsx
    """
    if run_id is None and (account_text is None or day is None):
        raise click.UsageError("give RUN_ID, or --account and --date")
    account = _account(account_text) if account_text else None
    asked_day = day.date() if day is not None else None

    async def work(services: ReconServices) -> tuple[bytes, str, str]:
        async with services.units() as unit:
            chosen = run_id
            if chosen is None and account is not None and asked_day is not None:
                chosen = await reports.latest_run(unit.session, account, asked_day)
            if chosen is None:
                raise click.UsageError("give RUN_ID, or --account and --date")
            return await reports.report(
                unit.session, services.calendar.zone, run_id=chosen, report_format=report_format
            )

    content, _media_type, name = shell.run(work)
    path = output or Path(name)
    path.write_bytes(content)
    click.echo(f"{path} ({len(content)} bytes)")


@recon_commands.command(name="fees")
@DAY_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print every fee's three legs and each agency's flags as JSON.")
@click.pass_obj
def fees_command(shell: Shell, day: datetime, *, as_json: bool) -> int:
    """Three-way fee check: each fee paid or swept that day, collected in the ledger, swept from our bank account
    (its debit line) and credited at the Treasury (the KBNN statement's line), with the 24-hour rule of Circular
    74/2022 flagged per agency. Import the bank's and the Treasury's statements first (`civicpay recon import`).

    Exit 0 when every fee has its three legs on time; 1 otherwise (or when there is no fee that day).

    Example: civicpay recon fees --date 2026-12-06 --json
    """

    async def work(services: ReconServices) -> tuple[FeeReconciliation, ZoneInfo]:
        async with services.units() as unit:
            found = await fees.three_way(
                unit.session, services.fee_book, services.calendar, day.date(), now=services.clock.now()
            )
        return found, services.calendar.zone

    found, zone = shell.run(work)
    if as_json:
        click.echo(msgspec.json.encode(FeeReconciliationOut.of(found)).decode())
    else:
        _print_fees(found, zone)
    return OK if found.clean else NO


def _print_fees(found: FeeReconciliation, zone: ZoneInfo) -> None:
    console = _console()
    agencies = Table(
        "agency",
        "fees",
        "amount",
        "complete",
        "late (>24 h)",
        "Treasury line missing",
        "flag",
        title=f"fees of {found.business_day.isoformat()}, per agency",
        title_justify="left",
    )
    for flag in found.agencies:
        agencies.add_row(
            f"{flag.agency_code} {flag.agency_name}",
            str(flag.fees),
            _money(flag.amount_vnd),
            str(flag.complete),
            str(flag.late),
            str(flag.treasury_missing),
            "FLAGGED" if flag.flagged else "ok",
        )
    console.print(agencies)
    table = Table(
        "fee",
        "amount",
        "paid (Huế)",
        "remittance",
        "bank line",
        "Treasury line",
        "hours",
        "problems",
        title="each fee's three legs",
        title_justify="left",
    )
    for legs in found.fees:
        fee = legs.fee
        table.add_row(
            fee.reference,
            _money(fee.amount_vnd),
            fee.paid_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            f"{fee.remittance_reference or '-'} {fee.remittance_status or ''}".strip(),
            legs.bank.leg.value,
            legs.treasury.leg.value,
            "-" if legs.hours_to_treasury is None else f"{legs.hours_to_treasury:.1f}",
            ", ".join(problem.value for problem in legs.problems) or "-",
        )
    console.print(table)
