"""`civicpay collections create | treasury sweep | merchants settle`, as a clerk or an operator runs them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from civicpay import bootstrap
from civicpay.app import create_app
from civicpay.cli import main
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from sandbox.bank import Bank
from tests.conftest import BANK_API_SECRET, PASSWORD, Api
from tests.desk import Desk
from tests.integration.qr.test_merchants import pay, register_shop
from tests.servers import serving
from tests.shell import speak


async def run(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The command in its own thread and event loop, as from a shell."""
    with pytest.raises(SystemExit) as ended:
        await asyncio.to_thread(main, arguments)
    out, err = capsys.readouterr()
    return int(ended.value.code or 0), out.strip(), err.strip()


@pytest.mark.usefixtures("command_shell")
async def test_the_sweep_command_sends_the_fees_and_says_where(
    desk: Desk,
    api: Api,
    bank: Bank,
    bank_server: tuple[str, Bank],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CIVICPAY_BANK_API_BASE", bank_server[0])
    monkeypatch.setenv("CIVICPAY_BANK_API_SECRET", BANK_API_SECRET)
    citizen = await api.register()
    await api.fund(citizen, 100_000)
    collection = await desk.collect(50_000)
    await desk.pay(citizen, collection["vietqr"])

    status, out, _ = await run(["treasury", "sweep"], capsys)
    again_status, again, _ = await run(["treasury", "sweep"], capsys)

    assert (status, again_status) == (0, 0)
    [line] = [line for line in out.splitlines() if line.startswith("KBNN")]
    assert line.endswith(
        f"UBND-PHUHOI → KBNN 3511.0.1054321: 50.000 ₫ (1 fee(s)) from {settings.wallet_pool_bank_bin}/"
        f"{settings.wallet_pool_account_number}, sent"
    )
    # Sent, not yet confirmed: the next run has nothing to send and says the first still waits.
    assert "0 remittance(s); 1 earlier one(s) waiting for the bank" in again
    assert list(bank.payouts) == [line.split()[0]]


@pytest.mark.usefixtures("command_shell")
async def test_the_settle_command_sends_each_merchants_takings_to_the_bank(
    desk: Desk,
    api: Api,
    bank: Bank,
    bank_server: tuple[str, Bank],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CIVICPAY_BANK_API_BASE", bank_server[0])
    monkeypatch.setenv("CIVICPAY_BANK_API_SECRET", BANK_API_SECRET)
    shop = await register_shop(desk, bank)
    citizen = await api.register()
    await api.fund(citizen, 100_000)
    await pay(api, citizen, shop["vietqr"], 64_000)

    status, out, _ = await run(["merchants", "settle"], capsys)

    assert status == 0
    (payout,) = bank.payouts.values()
    assert payout.amount_vnd == 64_000
    assert f"merchant {shop['id']}: payout {payout.payout_id} of 64000 ₫" in out


async def test_a_clerk_creates_a_collection_from_the_command_line(
    settings: Settings,
    clock: FixedClock,
    desk: Desk,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    anywhere = tmp_path / "anywhere"  # it needs no settings (it goes through the API): any folder will do
    anywhere.mkdir()
    monkeypatch.chdir(anywhere)
    speak(monkeypatch)
    # A server of its own (the test's app already runs in the test's event loop), as `make run` would be.
    with serving(create_app(bootstrap.build(settings, clock))) as url:
        clerk = ["--amount", "30000", "--phone", desk.phones[1], "--password", PASSWORD, "--url", url]
        made_status, made, _ = await run(
            ["collections", "create", "--counter", str(desk.counter["id"]), *clerk], capsys
        )
        refused_status, _, why = await run(["collections", "create", "--counter", "99", *clerk], capsys)

    assert made_status == 0
    assert json.loads(made)["amount_display"] == "30.000 ₫"
    assert refused_status == 2
    # The server's own log (the app's logging config in this process, written by its queue listener's thread)
    # may come before the refusal or after it; the refusal itself is one line.
    refusals = [line for line in why.splitlines() if line.startswith("civicpay: ")]
    assert refusals == ["civicpay: Counter not found: counter_id (counter_not_found)"]
    assert list(anywhere.iterdir()) == []
