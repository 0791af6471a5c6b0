"""`civicpay recon close --account BIN:NUMBER --date YYYY-MM-DD`: day close from the command line.

Registered on the ``recon`` group by ``reconciliation.cli``; one unit of work, as the API's route. The operator at
the server is nobody signed in, so the close is recorded (and audited) without a user, as the CLI's imports are.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
import rich_click as click

from civicpay.command_line import OK, Shell
from reconciliation import closing, exceptions
from reconciliation.cli import ReconServices, _account, _money, recon_commands
from reconciliation.queue_schemas import ReconciliationDay


@recon_commands.command(name="close")
@click.option("--account", "account_text", required=True, help="BIN:NUMBER of the bank account.")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    required=True,
    help="The business day (Asia/Ho_Chi_Minh), YYYY-MM-DD.",
)
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
