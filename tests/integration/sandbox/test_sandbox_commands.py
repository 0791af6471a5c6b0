"""`civicpay-sandbox`: the outside parties as a developer runs them, and where their servers listen."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from urllib.parse import urlsplit

import pytest
import uvicorn
from click.testing import CliRunner, Result
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.billers import payable_account_code
from billing.models import Bill
from sandbox.cli import main
from tests.billers import BillerDesk, bill
from tests.conftest import Api, account_balance
from tests.servers import serving
from wallet import ledger


async def run(arguments: list[str]) -> Result:
    """The command in its own thread and event loop, as from a shell."""
    return await asyncio.to_thread(CliRunner().invoke, main, arguments)


def said(result: Result) -> str:
    """The command's words without rich-click's box and line breaks."""
    return " ".join(result.output.replace("│", " ").split())


@pytest.mark.usefixtures("command_shell")
async def test_the_bank_tops_up_a_wallet_found_by_phone(app_for_a_thread: Litestar, api: Api) -> None:
    citizen = await api.register()
    # A server of its own (the test's app already runs in the test's event loop), as `make run` would be.
    with serving(app_for_a_thread) as url:
        played = await run(["bank", "transfer", "--phone", citizen.phone, "--amount", "70000", "--url", url])

    assert played.exit_code == 0, played.output
    assert '"outcome":"credited"' in played.output
    assert await api.balance(citizen) == 70_000


@pytest.mark.usefixtures("command_shell")
@pytest.mark.parametrize(
    "whose", [[], ["--phone", "0912345678", "--code", "NAP999999X"], ["--code", "NAP999999X", "--bill", "7"]]
)
async def test_a_transfer_names_exactly_one_payee(whose: list[str]) -> None:
    refused = await run(["bank", "transfer", *whose, "--amount", "70000"])

    assert refused.exit_code == 2
    assert "exactly one of --phone, --code and --bill" in said(refused)


@pytest.mark.usefixtures("command_shell")
async def test_any_bank_app_pays_a_bill_named_by_its_id_for_what_is_due(
    app_for_a_thread: Litestar, api: Api, biller_desk: BillerDesk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    water = await biller_desk.biller("Công ty Cổ phần Cấp nước Thừa Thiên Huế", "water")
    pushed = await biller_desk.push(water, bill("W12", code="HUE-0001", amount_vnd=98_000))
    bill_id = pushed.json()["accepted"][0]["id"]
    with serving(app_for_a_thread) as url:
        played = await run(["bank", "transfer", "--bill", str(bill_id), "--url", url])
        again = await run(["--lang", "en", "bank", "transfer", "--bill", str(bill_id), "--url", url])

    assert played.exit_code == 0, played.output
    assert '"outcome":"collected"' in played.output
    async with sessions() as session:
        paid = await session.get_one(Bill, bill_id)
        assert (paid.status, paid.amount_paid_vnd) == ("paid", 98_000)
        assert await ledger.check_invariants(session) == []
    # Nothing is due any more: the command says so and sends nothing (no second payment lands in suspense).
    assert again.exit_code == 2
    assert "(bill_not_open)" in said(again)
    assert await account_balance(sessions, payable_account_code(water["api_key"].split("_")[1])) == 98_000


@pytest.mark.usefixtures("command_shell")
async def test_the_sandbox_will_not_play_a_party_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVICPAY_ENV", "production")
    for secret in ("SECRET_KEY", "BANK_API_SECRET", "CARD_SECRET_KEY", "CARD_WEBHOOK_SECRET"):
        monkeypatch.setenv(f"CIVICPAY_{secret}", "a production secret")  # production asks for every one
    for own in ("WALLET_POOL", "CARD_SETTLEMENT"):  # and for its own bank accounts
        monkeypatch.setenv(f"CIVICPAY_{own}_BANK_BIN", "970415")
        monkeypatch.setenv(f"CIVICPAY_{own}_ACCOUNT_NUMBER", f"118000{len(own)}")

    refused = await run(["bank", "transfer", "--code", "NAP999999X", "--amount", "70000"])

    assert refused.exit_code == 2
    assert "production talks to the real parties" in said(refused)


def other_addresses() -> list[str]:
    """This machine's addresses other than 127.0.0.1: IPv6 loopback, and the one its default route leaves by."""
    found = []
    # A server bound to every interface, as localstripe's own command binds "::", answers on ::1 too.
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe, contextlib.suppress(OSError):
        probe.bind(("::1", 0))
        found.append("::1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe, contextlib.suppress(OSError):
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: a UDP connect picks the outward interface and sends nothing
        found.append(probe.getsockname()[0])
    return [address for address in found if address != "127.0.0.1"]


def test_the_card_sandbox_answers_on_loopback_only(card_sandbox: str) -> None:
    port = urlsplit(card_sandbox).port
    assert port is not None
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    others = other_addresses()
    assert others, "this machine has no address but 127.0.0.1 to try"
    for address in others:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, port), timeout=5).close()


@pytest.mark.usefixtures("command_shell")
def test_the_bank_sandbox_listens_on_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bank sandbox names 127.0.0.1 to uvicorn itself, as the card sandbox does to aiohttp (tested above)."""
    asked: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda _app, **options: asked.update(options))

    served = CliRunner().invoke(main, ["bank", "serve"])

    assert served.exit_code == 0, served.output
    assert asked["host"] == "127.0.0.1"
