"""`civicpay-sandbox` (or `python -m sandbox`): run the outside parties and play them against civicpay.

It reads the same ``CIVICPAY_*`` settings as the service, so the sandboxes listen where civicpay looks
for the bank and the acquirer, and sign with the secrets civicpay checks. It refuses to run with
``CIVICPAY_ENV=production``: there the real parties speak.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from urllib.parse import urlsplit

import httpx
import rich_click as click

from civicpay import bootstrap
from civicpay.clock import SystemClock
from civicpay.errors import DomainError
from civicpay.settings import DEFAULT_WALLET_POOL_ACCOUNT, Settings, SettingsError
from sandbox import LOOPBACK, bank, bank_notifications, card
from wallet import topup_code
from wallet.service import holder_of_user_phone

DEFAULT_CIVICPAY_URL = "http://127.0.0.1:8000"


def _settings() -> Settings:
    try:
        settings = Settings.from_env()
    except SettingsError as problem:
        raise click.ClickException(str(problem)) from problem
    if settings.env == "production":
        raise click.ClickException("the sandbox is for development and tests: production talks to the real parties")
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """The outside world for development and tests: the bank and the card acquirer (localstripe).

    Servers listen on 127.0.0.1 only, at the addresses civicpay's settings give for the bank
    (CIVICPAY_BANK_API_BASE) and the acquirer (CIVICPAY_CARD_API_BASE). `make run` starts both.
    """


@main.group(name="card")
def card_commands() -> None:
    """The card acquirer: localstripe, a stateful fake of the Stripe API."""


@card_commands.command(name="serve")
@click.option(
    "--webhook-url",
    metavar="URL",
    help="Where the acquirer sends its signed events (default: this machine's civicpay at /webhooks/card).",
)
def card_serve(webhook_url: str | None) -> None:
    """Run the acquirer's sandbox in the foreground, sending its events to civicpay's webhook."""
    settings = _settings()
    port = urlsplit(settings.card_api_base).port or 8420
    # `make run` stops this with SIGTERM; leave through running()'s `finally`, which stops localstripe too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    webhook = webhook_url or f"http://{settings.host}:{settings.port}/webhooks/card"
    with card.running(port) as process:
        card.register_webhook(settings.card_api_base, url=webhook, secret=settings.card_webhook_secret)
        click.echo(f"card sandbox (localstripe) at {settings.card_api_base}, events to {webhook}; test cards:")
        for number, what in card.TEST_CARDS.items():
            click.echo(f"  {number}  {what}")
        sys.exit(process.wait())


@card_commands.command(name="token")
@click.option(
    "--number",
    type=click.Choice(sorted(card.TEST_CARDS)),
    default="4242424242424242",
    show_default=True,
    help="The test card: 4242… pays, 4000…0341 is declined, 4000…3155 waits for 3-D Secure.",
)
def card_token(number: str) -> None:
    """Play the citizen's app: tokenise a test card at the sandbox and print its `pm_…` token."""
    settings = _settings()
    try:
        click.echo(card.tokenise(settings.card_api_base, settings.card_secret_key, number))
    except httpx.HTTPError as unreachable:
        raise click.ClickException(f"the card sandbox did not tokenise ({unreachable}); is `make run` up?") from None


@main.group(name="bank")
def bank_commands() -> None:
    """The bank: name inquiries and payouts, its back office, and its notifications of incoming transfers."""


@bank_commands.command(name="serve")
@click.option(
    "--civicpay-url",
    metavar="URL",
    help="Where the bank sends its notifications and payout results (default: this machine's civicpay).",
)
def bank_serve(civicpay_url: str | None) -> None:
    """Run the bank's payout API with the demo people's accounts, calling civicpay back."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    settings = _settings()
    civicpay = civicpay_url or f"http://{settings.host}:{settings.port}"
    fake = bank.demo_bank(settings.bank_api_secret, settings.bank_webhook_secret, civicpay)
    port = urlsplit(settings.bank_api_base).port or 8421
    click.echo(f"bank sandbox at {settings.bank_api_base}, calling civicpay at {civicpay}; demo accounts:")
    for (bin_, number), account in fake.accounts.items():
        click.echo(f"  {bin_} {number}  {account.holder_name}")
    uvicorn.run(bank.create_bank_app(fake), host=LOOPBACK, port=port, log_level="warning")


@bank_commands.command(name="transfer")
@click.option("--phone", help="The citizen whose top-up code goes into the transfer's description.")
@click.option("--code", help="Put this text in as the code instead (try a wrong one: it lands in suspense).")
@click.option("--amount", type=click.IntRange(min=1), required=True, help="The amount in đồng.")
@click.option(
    "--account",
    default=DEFAULT_WALLET_POOL_ACCOUNT,
    show_default=True,
    help="Our account that received it: the wallets' escrow, or an office's to pay its fee collection.",
)
@click.option("--url", default=DEFAULT_CIVICPAY_URL, show_default=True, help="The running civicpay to notify.")
def bank_transfer(phone: str | None, code: str | None, amount: int, account: str, url: str) -> None:
    """Play the bank: notify civicpay of an incoming transfer, signed, with the code among the bank's words.

    Give exactly one of --phone and --code.
    """
    if (phone is None) == (code is None):
        raise click.UsageError("give exactly one of --phone and --code")
    settings = _settings()
    try:
        text = code if code is not None else asyncio.run(_topup_code_of(settings, phone or ""))
        note = bank_notifications.notification(
            code=text, amount_vnd=amount, at=SystemClock().now(), account_number=account
        )
        answer = bank_notifications.send(url, note, settings.bank_webhook_secret)
    except DomainError as refusal:
        raise click.ClickException(str(refusal)) from None
    except httpx.HTTPError as unreachable:
        raise click.ClickException(f"cannot reach civicpay at {url} ({unreachable}); is `make run` up?") from None
    if not answer.is_success:
        raise click.ClickException(f"{answer.status_code} {answer.text}")
    click.echo(f"{answer.status_code} {answer.text}")


async def _topup_code_of(settings: Settings, phone: str) -> str:
    async with bootstrap.running(settings) as services, services.units() as unit:
        holder = await holder_of_user_phone(unit.session, phone)
        return topup_code.encode(holder.wallet_id)
