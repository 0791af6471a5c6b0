"""`civicpay-sandbox` (or `python -m sandbox`): run the outside parties and play them against civicpay.

It reads the same ``CIVICPAY_*`` settings as the service, so the sandboxes listen where civicpay looks
for the bank and the acquirer, and sign with the secrets civicpay checks. It refuses to run with
``CIVICPAY_ENV=production``: there the real parties speak.
"""

from __future__ import annotations

import signal
import sys
from urllib.parse import urlsplit

import httpx
import rich_click as click

from billing.allocations import due
from billing.bank_codes import BILL_REFERENCE
from billing.errors import BillNotFound, BillNotOpen
from billing.models import Bill
from civicpay import bootstrap
from civicpay.clock import SystemClock
from civicpay.command_line import CommandGroup, Refused, Shell, answer_refused, unreachable
from civicpay.errors import Text
from civicpay.settings import DEFAULT_WALLET_POOL_ACCOUNT, Settings
from sandbox import LOOPBACK, bank, bank_notifications, billers, card
from wallet import topup_code
from wallet.service import holder_of_user_phone

DEFAULT_CIVICPAY_URL = "http://127.0.0.1:8000"


def _settings(shell: Shell) -> Settings:
    """civicpay's own settings, so the sandboxes sign with the secrets civicpay checks; never new ones."""
    settings = shell.settings()
    if settings.env == "production":
        raise Refused(
            Text(
                "sandbox chỉ dùng cho phát triển và kiểm thử: production làm việc với các bên thật",
                "the sandbox is for development and tests: production talks to the real parties",
            )
        )
    return settings


@click.group(name="civicpay-sandbox", cls=CommandGroup, services=bootstrap.running)
def main() -> None:
    """The outside world for development and tests: the bank, the card acquirer (localstripe), the billers.

    Servers listen on 127.0.0.1 only, at the addresses civicpay's settings give for the bank
    (CIVICPAY_BANK_API_BASE), the acquirer (CIVICPAY_CARD_API_BASE) and the billers
    (CIVICPAY_SANDBOX_BILLERS_BASE). `make run` starts them all. Every
    command reads civicpay's settings and secrets as `civicpay` does, and like it refuses to run where
    none are set up rather than sign with a secret civicpay does not know; refusals are one line, exit 2.

    Example: civicpay-sandbox bank transfer --phone 0912345678 --amount 100000
    """


@main.group(name="card")
def card_commands() -> None:
    """The card acquirer: localstripe, a stateful fake of the Stripe API.

    Example: civicpay-sandbox card token
    """


@card_commands.command(name="serve")
@click.option(
    "--webhook-url",
    metavar="URL",
    help="Where the acquirer sends its signed events.",
    show_default="this machine's civicpay, at /webhooks/card",
)
@click.pass_obj
def card_serve(shell: Shell, webhook_url: str | None) -> None:
    """Run the acquirer's sandbox in the foreground, sending its events to civicpay's webhook.

    Example: civicpay-sandbox card serve
    """
    settings = _settings(shell)
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
@click.pass_obj
def card_token(shell: Shell, number: str) -> None:
    """Play the citizen's app: tokenise a test card at the sandbox and print its `pm_…` token.

    Example: civicpay-sandbox card token --number 4000000000000341
    """
    settings = _settings(shell)
    try:
        click.echo(card.tokenise(settings.card_api_base, settings.card_secret_key, number))
    except httpx.HTTPError as error:
        raise unreachable(
            error, Text("sandbox thẻ không tạo được token", "the card sandbox did not tokenise")
        ) from None


@main.group(name="bank")
def bank_commands() -> None:
    """The bank: name inquiries and payouts, its back office, and its notifications of incoming transfers.

    Example: civicpay-sandbox bank transfer --code NAP999999X --amount 70000
    """


@bank_commands.command(name="serve")
@click.option(
    "--civicpay-url",
    metavar="URL",
    help="Where the bank sends its notifications and payout results.",
    show_default="this machine's civicpay",
)
@click.pass_obj
def bank_serve(shell: Shell, civicpay_url: str | None) -> None:
    """Run the bank's payout API with the demo people's accounts, calling civicpay back.

    Example: civicpay-sandbox bank serve
    """
    import uvicorn  # noqa: PLC0415 - only the server needs it

    settings = _settings(shell)
    civicpay = civicpay_url or f"http://{settings.host}:{settings.port}"
    fake = bank.demo_bank(settings.bank_api_secret, settings.bank_webhook_secret, civicpay)
    port = urlsplit(settings.bank_api_base).port or 8421
    click.echo(f"bank sandbox at {settings.bank_api_base}, calling civicpay at {civicpay}; demo accounts:")
    for (bin_, number), account in fake.accounts.items():
        click.echo(f"  {bin_} {number}  {account.holder_name}")
    uvicorn.run(bank.create_bank_app(fake), host=LOOPBACK, port=port, log_level="warning")


@bank_commands.command(name="transfer")
@click.option(
    "--phone", help="The citizen whose top-up code goes into the transfer's description.", show_default="none"
)
@click.option(
    "--code", help="Put this text in as the code instead (try a wrong one: it lands in suspense).", show_default="none"
)
@click.option(
    "--bill",
    "bill_id",
    type=click.IntRange(min=1),
    help="Pay this bill (its id) as a bank app would: its HDON… reference goes into the description.",
    show_default="none",
)
@click.option(
    "--amount",
    type=click.IntRange(min=1),
    help="The amount in đồng.",
    show_default="with --bill, what is due on it; otherwise required",
)
@click.option(
    "--account",
    default=DEFAULT_WALLET_POOL_ACCOUNT,
    help="Our account that received it: the wallets' escrow (where bills are paid), or an office's to pay its "
    "fee collection.",
)
@click.option("--url", default=DEFAULT_CIVICPAY_URL, help="The running civicpay to notify.")
@click.pass_obj
def bank_transfer(
    shell: Shell, phone: str | None, code: str | None, bill_id: int | None, amount: int | None, account: str, url: str
) -> None:
    """Play the bank: notify civicpay of an incoming transfer, signed, with the code among the bank's words.

    Give exactly one of --phone, --code and --bill. A bill is paid by its reference as any bank app
    pays it: --code HDON… (the bill's "reference") or --bill ID, which also sends what is due unless
    --amount says otherwise (try more or less: the biller's policy decides). It signs with civicpay's
    bank webhook secret, found as civicpay finds it: run it from the project folder (or with
    CIVICPAY_BANK_WEBHOOK_SECRET set).

    Example: civicpay-sandbox bank transfer --phone 0912345678 --amount 100000
    Example: civicpay-sandbox bank transfer --bill 42
    """
    if sum(given is not None for given in (phone, code, bill_id)) != 1:
        raise Refused(
            Text("cần đúng một trong --phone, --code và --bill", "give exactly one of --phone, --code and --bill")
        )
    if amount is None and bill_id is None:
        raise Refused(Text("cần --amount (số tiền, đồng)", "give --amount (in đồng)"))
    settings = _settings(shell)
    if bill_id is not None:
        text = BILL_REFERENCE.encode(bill_id)
        if amount is None:
            amount = shell.run(lambda services: _due_on(services, bill_id), settings=settings)
    elif code is not None:
        text = code
    else:
        text = shell.run(lambda services: _topup_code_of(services, phone or ""), settings=settings)
    assert amount is not None  # noqa: S101 - given, or what is due on the bill
    note = bank_notifications.notification(code=text, amount_vnd=amount, at=SystemClock().now(), account_number=account)
    try:
        answer = bank_notifications.send(url, note, settings.bank_webhook_secret, language=shell.lang)
    except httpx.HTTPError as error:
        raise unreachable(
            error, Text(f"không kết nối được civicpay ở {url}", f"cannot reach civicpay at {url}")
        ) from None
    if not answer.is_success:
        raise answer_refused(answer)
    click.echo(f"{answer.status_code} {answer.text}")


@bank_commands.command(name="answer-files")
@click.option("--file", "message_id", help="Only this payout file (its MsgId, CTNH…).", show_default="every file")
@click.pass_obj
def bank_answer_files(shell: Shell, message_id: str | None) -> None:
    """Play the bank's back office: answer the payout files (pain.001) it received with signed pain.002 reports,
    which the running bank sandbox sends to civicpay.

    Items to accounts whose number ends 40001, 40004 or 40404 are rejected (AC01 incorrect number, AC04 closed,
    AM04 insufficient funds), the rest settled (ACSC). Answering a file again changes nothing at civicpay.

    Example: civicpay-sandbox bank answer-files
    """
    settings = _settings(shell)
    try:
        with httpx.Client(base_url=settings.bank_api_base, trust_env=False) as http:
            files = [message_id] if message_id else sorted(http.get("/_sandbox/payment-files").json())
            for each in files:
                answer = http.post(f"/_sandbox/payment-files/{each}/report")
                if not answer.is_success:
                    raise answer_refused(answer)
                click.echo(f"{each}: pain.002 sent, civicpay answered {answer.json()['delivered_status']}")
    except httpx.HTTPError as error:
        raise unreachable(
            error, Text("không kết nối được sandbox ngân hàng", "cannot reach the bank sandbox")
        ) from None
    if not files:
        click.echo("no payout file received yet")


async def _due_on(services: bootstrap.Services, bill_id: int) -> int:
    """What a bank app's VietQR for the bill would ask: what is still due on it; refused if nothing is."""
    async with services.units() as unit:
        found = await unit.session.get(Bill, bill_id)
        if found is None:
            raise BillNotFound()
        if (owed := due(found)) == 0:
            raise BillNotOpen(bill_id=found.id, bill_status=found.status)
        return owed


async def _topup_code_of(services: bootstrap.Services, phone: str) -> str:
    async with services.units() as unit:
        holder = await holder_of_user_phone(unit.session, phone)
        return topup_code.encode(holder.wallet_id)


@main.group(name="billers")
def biller_commands() -> None:
    """The billers' systems: an electricity company, a water company and a school.

    Example: civicpay-sandbox billers serve
    """


@biller_commands.command(name="serve")
@click.pass_obj
def billers_serve(shell: Shell) -> None:
    """Run the three fake billers: look-ups of a customer's open bills, webhooks received, a back office.

    Each company is under its slug (electricity, water, school): GET /{slug}/customers/{code}/bills,
    POST and GET /{slug}/webhooks, POST /{slug}/back-office/mode {"mode": "ok" | "slow" | "down"}.

    Example: civicpay-sandbox billers serve
    """
    import uvicorn  # noqa: PLC0415 - only the server needs it

    settings = _settings(shell)
    fake = billers.demo_billers(settings)
    base = settings.sandbox_billers_base.rstrip("/")
    port = urlsplit(base).port or 8422
    click.echo(f"billers sandbox at {base}; companies and customers:")
    for company in fake.companies.values():
        click.echo(f"  {base}/{company.slug}  {company.name}")
        for customer in company.customers.values():
            click.echo(f"    {customer.code}  {customer.name}")
    uvicorn.run(billers.create_billers_app(fake), host=LOOPBACK, port=port, log_level="warning")
