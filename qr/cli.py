"""The QR room's commands: `civicpay qr decode | encode`, `collections create`, `treasury sweep`, `merchants settle`.

Registered by the shell (``civicpay/cli.py``), which gives each command the service's parts; this room
names the parts it uses (``QrServices``) rather than importing the shell's bootstrap. The codec's
commands need no settings at all, so they work from any folder.
"""

from __future__ import annotations

import json
from typing import Protocol

import httpx
import rich_click as click

from civicpay.command_line import NO, OK, Refused, Shell, answer_refused, needs_terminal
from civicpay.db import UnitsOfWork
from civicpay.errors import Text
from qr import vietqr
from qr.schemas import RemittanceLine, SettlementLine, SweepReport
from qr.treasury import history

DEFAULT_URL = "http://127.0.0.1:8000"


class QrServices(Protocol):
    """The parts of the service (``civicpay.bootstrap.Services``) the QR room's commands use."""

    @property
    def units(self) -> UnitsOfWork: ...

    async def sweep_to_treasury(self) -> SweepReport: ...

    async def settle_merchants(self) -> list[SettlementLine]: ...


@click.group(name="qr")
def qr_commands() -> None:
    """VietQR payloads: read one, or write one for a bank account or card.

    Example: civicpay qr encode --bin 970422 --account 0905111222 --amount 35000
    """


@qr_commands.command(name="decode")
@click.argument("payload", help="The payload, as a scanner reads it (quote it in the shell).")
def decode(payload: str) -> int:
    """Print a VietQR payload's fields as JSON; exit 1, saying why and where on stderr, when it is not one.

    Example: civicpay qr decode "$(cat payload.txt)"
    """
    try:
        code = vietqr.decode(payload)
    except vietqr.VietQrError as refused:
        at = Text(f"ở vị trí {refused.position}", f"at {refused.position}")
        why = Text(f"Không đọc được mã QR: {refused.message}", refused.message)
        raise Refused(Text(f"{refused.code} {at.vi}: {why.vi}", f"{refused.code} {at.en}: {why.en}"), NO) from None
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
    click.echo(json.dumps(fields, ensure_ascii=False))
    return OK


@qr_commands.command(name="encode")
@click.option("--bin", "bin_", metavar="BIN", required=True, help="The bank's 6-digit NAPAS BIN.")
@click.option("--account", required=True, help="The account number (the card number with --card).")
@click.option("--card", is_flag=True, help="To a card (QRIBFTTC) rather than an account (QRIBFTTA).")
@click.option("--amount", type=click.IntRange(min=1), help="In đồng; makes the code dynamic.", show_default="static")
@click.option("--purpose", help="62.08, what banks copy into the transfer's description.", show_default="none")
@click.option("--bill", help="62.01, the bill number.", show_default="none")
@click.option("--reference", help="62.05, the payment reference.", show_default="none")
@click.option("--terminal", help="62.07, the terminal (counter) label.", show_default="none")
def encode(
    bin_: str,
    account: str,
    card: bool,
    amount: int | None,
    purpose: str | None,
    bill: str | None,
    reference: str | None,
    terminal: str | None,
) -> None:
    """Print a VietQR payload: dynamic when it carries an amount, static otherwise.

    Text is folded to ASCII (diacritics dropped), as bank apps expect.

    Example: civicpay qr encode --bin 970422 --account 0905111222 --amount 35000
    """
    code = vietqr.VietQr(
        bin=bin_,
        account=account,
        service="card" if card else "account",
        initiation="static" if amount is None else "dynamic",
        amount_vnd=amount,
        purpose=purpose,
        bill=bill,
        reference=reference,
        terminal=terminal,
    )
    try:
        click.echo(vietqr.encode(code))
    except vietqr.VietQrError as refused:
        line = f"{refused.code} ({refused.field}): {refused.message}"
        raise Refused(Text(f"không tạo được mã QR: {line}", line)) from None


@click.group(name="collections")
def collections_commands() -> None:
    """Fee collections at one-stop counters.

    Example: civicpay collections create --counter 1 --amount 50000 > c.json
    """


@collections_commands.command(name="create")
@click.option(
    "--counter", type=click.IntRange(min=1), required=True, help="The counter's id (its screen: /counter/ID)."
)
@click.option("--amount", type=click.IntRange(min=1), required=True, help="The fee in đồng.")
@click.option("--procedure-code", default="1.001612", help="The administrative procedure's code.")
@click.option("--procedure-name", default="Chứng thực bản sao từ bản chính", help="The procedure's name.")
@click.option("--dossier", default="000.00.12.H57-DEMO", help="The dossier's number (số hồ sơ).")
@click.option("--payer", default="Nguyễn Thị Hương", help="Who pays.")
@click.option("--kind", type=click.Choice(["fee", "charge"]), default="fee", help="A fee (phí) or a charge (lệ phí).")
@click.option("--phone", default="0901000003", help="The clerk signing in (the default is the demo clerk).")
@click.option(
    "--password",
    help="The clerk's password; asked on the terminal when not given (refused without one).",
    show_default="asked",
)
@click.option("--url", default=DEFAULT_URL, help="The running civicpay server.")
@click.pass_obj
def create_collection(
    shell: Shell,
    counter: int,
    amount: int,
    procedure_code: str,
    procedure_name: str,
    dossier: str,
    payer: str,
    kind: str,
    phone: str,
    password: str | None,
    url: str,
) -> None:
    """As a clerk, create a collection through the running server's API, and print it as JSON.

    Through the API, not the database, so the counter's screen hears of it as from a real terminal. It
    needs no settings: it works from any folder, given --url.

    Example: civicpay collections create --counter 1 --amount 50000 > c.json
    """
    if password is None:
        needs_terminal(Text("mật khẩu của cán bộ", "the clerk's password"), "--password")
        password = click.prompt(f"password of {phone}", hide_input=True, err=True)
    speak = {"Accept-Language": shell.lang}
    body = {
        "counter_id": counter,
        "procedure_code": procedure_code,
        "procedure_name": procedure_name,
        "dossier_number": dossier,
        "payer_name": payer,
        "amount_vnd": amount,
        "kind": kind,
    }
    try:
        with httpx.Client(base_url=url, timeout=10, headers=speak) as http:
            signed_in = http.post("/auth/login", json={"phone": phone, "password": password})
            if not signed_in.is_success:
                raise answer_refused(signed_in)
            token = signed_in.json()["access_token"]
            made = http.post("/collections", json=body, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as unreachable:
        why = " ".join(str(unreachable).split()) or type(unreachable).__name__
        raise Refused(
            Text(
                f"không kết nối được civicpay ở {url} ({why}); `make run` đang chạy chưa?",
                f"cannot reach civicpay at {url} ({why}); is `make run` serving?",
            )
        ) from None
    if not made.is_success:
        raise answer_refused(made)
    click.echo(made.text)


@click.group(name="treasury")
def treasury_commands() -> None:
    """Collected fees to the State Treasury (Circular 74/2022: within 24 hours).

    Example: civicpay treasury sweep
    """


def _remittance(line: RemittanceLine) -> str:
    paying = f"{line.from_bank_bin}/{line.from_account_number}"
    status = f"{line.status} ({line.reason_code})" if line.reason_code else line.status
    return (
        f"{line.reference} {line.agency_code} → KBNN {line.treasury_account}: {line.amount_display} "
        f"({line.collections} fee(s)) from {paying}, {status}"
    )


@treasury_commands.command(name="sweep")
@click.pass_obj
def sweep(shell: Shell) -> None:
    """Send collected fees to each agency's Treasury account, as the workers do every hour.

    One line per remittance, as the bank left it once the sweep committed and its instruction was sent
    (sent; queued when the bank could not take it yet; rejected with the bank's reason), then every
    earlier one still waiting for the bank's word, then each fee past the 24-hour deadline (LATE).

    Example: civicpay treasury sweep
    """

    async def send(services: QrServices) -> tuple[SweepReport, list[RemittanceLine]]:
        report = await services.sweep_to_treasury()
        async with services.units() as unit:
            return report, await history(unit.session)

    report, recent = shell.run(send)
    now_at = {line.id: line for line in recent}
    swept = [now_at.get(line.id, line) for line in report.remittances]
    waiting = [line for line in recent if line.id not in {s.id for s in swept} and line.status in {"queued", "sent"}]
    for line in swept + waiting:
        click.echo(_remittance(line))
    for late in report.overdue:
        click.echo(
            f"LATE {late.reference} ({late.agency_code}): paid {late.hours_waiting} h ago, not yet at the Treasury"
        )
    click.echo(
        f"{len(report.remittances)} remittance(s); {len(waiting)} earlier one(s) waiting for the bank; "
        f"{len(report.overdue)} fee(s) past the 24-hour deadline"
    )


@click.group(name="merchants")
def merchants_commands() -> None:
    """Merchants' takings, paid out to their bank accounts.

    Example: civicpay merchants settle
    """


@merchants_commands.command(name="settle")
@click.pass_obj
def settle(shell: Shell) -> None:
    """Pay each merchant's balance out to its bank account (once a business day), then send the payouts.

    The workers do it every hour; the bank confirms each payout later.

    Example: civicpay merchants settle
    """
    lines: list[SettlementLine] = shell.run(lambda services: services.settle_merchants())
    for line in lines:
        click.echo(f"merchant {line.merchant_id}: payout {line.payout_id} of {line.amount_vnd} ₫")
    click.echo(f"{len(lines)} merchant payout(s) queued")


# What the shell adds to `civicpay`.
COMMANDS = [qr_commands, collections_commands, treasury_commands, merchants_commands]
