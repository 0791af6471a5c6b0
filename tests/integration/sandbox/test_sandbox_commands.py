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

from sandbox.cli import main
from tests.conftest import Api
from tests.servers import serving


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
@pytest.mark.parametrize("whose", [[], ["--phone", "0912345678", "--code", "NAP999999X"]])
async def test_a_transfer_names_exactly_one_payee(whose: list[str]) -> None:
    refused = await run(["bank", "transfer", *whose, "--amount", "70000"])

    assert refused.exit_code == 2
    assert "exactly one of --phone and --code" in said(refused)


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
