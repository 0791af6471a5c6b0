"""The wallet's commands: `civicpay ledger verify | expire-holds` and `civicpay card requery`.

Registered by the shell (``civicpay/cli.py``), which gives each command the service's parts; this room
names the parts it uses (``WalletServices``) rather than importing the shell's bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import rich_click as click

from civicpay.command_line import NO, OK, Shell
from civicpay.db import UnitsOfWork
from wallet import ledger
from wallet.card_topups import CardTopupView


class WalletServices(Protocol):
    """The parts of the service (``civicpay.bootstrap.Services``) the wallet's commands use."""

    @property
    def units(self) -> UnitsOfWork: ...

    async def expire_holds(self) -> list[int]: ...

    async def requery_card_topups(self) -> Sequence[CardTopupView]: ...


@click.group(name="ledger")
def ledger_commands() -> None:
    """The ledger: check its promises, give back expired holds.

    Example: civicpay ledger verify
    """


@ledger_commands.command(name="verify")
@click.pass_obj
def verify(shell: Shell) -> int:
    """Check every ledger promise against the database; exit 1 on any breach.

    Each breach is a line starting BREACH, with the rows that break the promise (at most 20 each):
    every entry balances, every balance is its postings, no wallet below zero, every spending total is
    what the wallet sent, all accounts together balance, and the rest. The same checks run after every
    test and behind GET /ledger/verify.

    Example: civicpay ledger verify || echo "the books do not balance"
    """

    async def check(services: WalletServices) -> list[str]:
        found: list[str] = []
        with shell.progress("checking the ledger", len(ledger.PROMISES)) as checked:
            async with services.units() as unit:
                async for _, breaches in ledger.each_promise(unit.session):
                    found.extend(breaches)
                    checked()
        return found

    breaches = shell.run(check)
    for breach in breaches:
        click.echo(f"BREACH {breach}")
    click.echo("ledger sound" if not breaches else f"{len(breaches)} breach(es)")
    return OK if not breaches else NO


@ledger_commands.command(name="expire-holds")
@click.pass_obj
def expire_holds(shell: Shell) -> None:
    """Give back the money of holds whose time has passed, as the workers do every minute.

    Example: civicpay ledger expire-holds
    """
    expired = shell.run(lambda services: services.expire_holds())
    click.echo(f"expired {len(expired)} hold(s)")


@click.group(name="card")
def card_commands() -> None:
    """Card top-ups at the acquirer.

    Example: civicpay card requery
    """


@card_commands.command(name="requery")
@click.pass_obj
def requery(shell: Shell) -> None:
    """Ask the acquirer about card top-ups pending too long; cancel those never paid.

    The workers do it every CIVICPAY_CARD_REQUERY_INTERVAL_SECONDS; this runs it now. One line per
    top-up whose status changed.

    Example: civicpay card requery
    """
    changed: Sequence[CardTopupView] = shell.run(lambda services: services.requery_card_topups())
    for topup in changed:
        click.echo(f"card top-up {topup.id}: {topup.status} ({topup.amount_display})")
    click.echo(f"{len(changed)} card top-up(s) changed")


# What the shell adds to `civicpay`.
COMMANDS = [ledger_commands, card_commands]
