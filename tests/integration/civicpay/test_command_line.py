"""The command line against a database and a server: its answers, its refusals' language, what it may create."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from litestar import Litestar
from sqlalchemy import text

from civicpay.cli import main
from civicpay.clock import FixedClock
from civicpay.db import head_revision
from sandbox.cli import main as sandbox_main
from tests.conftest import PASSWORD, Api
from tests.desk import Desk
from tests.integration.wallet.test_ledger import Sessions, open_accounts
from tests.servers import serving


async def run(arguments: list[str], program: click.Command = main) -> Result:
    """The command in its own thread and event loop, as from a shell."""
    return await asyncio.to_thread(CliRunner().invoke, program, arguments)


def invoke(arguments: list[str]) -> Result:
    """The command, as from a shell (a test without an event loop of its own)."""
    return CliRunner().invoke(main, arguments)


def refusal(said: Result, program: str = "civicpay") -> str:
    """The refusal's one line (the server's own log, in this process, may come before it); never a traceback."""
    assert "Traceback" not in said.output
    [line] = [line for line in said.stderr.splitlines() if line.startswith(f"{program}: ")]
    return line


@pytest.mark.breaks_ledger_on_purpose
@pytest.mark.usefixtures("command_shell")
async def test_a_breach_is_exit_1_in_either_language_with_no_progress_bar_off_a_terminal(
    sessions: Sessions, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank, _, _ = await open_accounts(sessions, clock, fund_a=100)
    async with sessions.begin() as session:
        await session.execute(text("UPDATE ledger_account SET debits_posted = 7 WHERE id = :bank"), {"bank": bank})
    monkeypatch.setenv("CI", "true")

    for lang in ("vi", "en"):
        found = await run(["--lang", lang, "ledger", "verify"])

        assert found.exit_code == 1
        assert found.stderr == ""  # no bar, no refusal: the answer is on stdout
        lines = found.stdout.splitlines()
        assert lines[0].startswith("BREACH every posted balance equals the sum of its postings")
        assert lines[-1].endswith("breach(es)")


@pytest.mark.usefixtures("command_shell")
async def test_a_wallet_not_found_is_said_in_the_language_asked_for(api: Api) -> None:
    unknown = ["bank", "transfer", "--phone", "0912000999", "--amount", "70000"]

    in_vietnamese = await run(["--lang", "vi", *unknown], sandbox_main)
    in_english = await run(["--lang", "en", *unknown], sandbox_main)

    assert (in_vietnamese.exit_code, in_english.exit_code) == (2, 2)
    assert refusal(in_vietnamese, "civicpay-sandbox") == "civicpay-sandbox: Không tìm thấy ví (wallet_not_found)"
    assert refusal(in_english, "civicpay-sandbox") == "civicpay-sandbox: Wallet not found (wallet_not_found)"


async def test_a_wrong_password_is_the_servers_problem_in_one_line_in_the_language_asked_for(
    app_for_a_thread: Litestar, desk: Desk, nowhere: Path, clock: FixedClock
) -> None:
    clerk = ["--counter", str(desk.counter["id"]), "--amount", "30000", "--phone", desk.phones[1]]
    with serving(app_for_a_thread) as url:
        refused = {
            lang: await run(["--lang", lang, "collections", "create", *clerk, "--password", "wrong", "--url", url])
            for lang in ("vi", "en")
        }
        clock.advance(timedelta(seconds=1))  # two wrong passwords in a row: the next try waits a second
        made = await run(["collections", "create", *clerk, "--password", PASSWORD, "--url", url])

    assert {said.exit_code for said in refused.values()} == {2}
    assert refusal(refused["vi"]) == "civicpay: Số điện thoại hoặc mật khẩu không đúng (invalid_credentials)"
    assert refusal(refused["en"]) == "civicpay: Wrong phone number or password (invalid_credentials)"
    assert made.exit_code == 0
    # Through the API: it needed no settings, and made none.
    assert await asyncio.to_thread(lambda: list(nowhere.iterdir())) == []


def test_only_db_upgrade_and_demo_set_a_folder_up_and_say_what_they_create(
    nowhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIVICPAY_ARGON2_TIME_COST", "1")  # the demo's passwords, cheaply
    monkeypatch.setenv("CIVICPAY_ARGON2_MEMORY_KIB", "1024")
    var = nowhere.resolve() / "var"

    demo_first = invoke(["demo"])
    upgraded = invoke(["db", "upgrade"])
    seeded = invoke(["demo"])
    verified = invoke(["ledger", "verify"])

    assert demo_first.exit_code == 2
    assert refusal(demo_first) == (
        f"civicpay: no database at sqlite+aiosqlite:///./var/civicpay.db ({var / 'civicpay.db'}): "
        "run `civicpay db upgrade` first"
    )
    assert upgraded.exit_code == 0
    created = [f"creating {var / 'civicpay.db'}"] + [
        f"creating {var / 'secrets' / name}.txt"
        for name in ("secret_key", "bank_webhook_secret", "bank_api_secret", "card_secret_key", "card_webhook_secret")
    ]
    assert upgraded.stderr.splitlines() == created
    assert upgraded.stdout == "database at head: sqlite+aiosqlite:///./var/civicpay.db\n"
    assert (seeded.exit_code, seeded.stderr) == (0, "")
    assert seeded.stdout.startswith("demo data seeded")
    assert (verified.exit_code, verified.stdout) == (0, "ledger sound\n")


def test_db_current_says_no_for_a_database_behind(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (nowhere / "never-migrated.db").touch()
    monkeypatch.setenv("CIVICPAY_DATABASE_URL", "sqlite+aiosqlite:///never-migrated.db")
    for name in ("SECRET_KEY", "BANK_WEBHOOK_SECRET", "BANK_API_SECRET", "CARD_SECRET_KEY", "CARD_WEBHOOK_SECRET"):
        monkeypatch.setenv(f"CIVICPAY_{name}", "not used")

    behind = invoke(["db", "current"])
    refused = invoke(["--lang", "vi", "ledger", "verify"])

    assert (behind.exit_code, behind.stdout) == (1, f"current: none  newest: {head_revision()}\n")
    assert refused.exit_code == 2
    assert refusal(refused) == (
        f"civicpay: cơ sở dữ liệu đang ở phiên bản none, mã này cần {head_revision()}: hãy chạy `civicpay db upgrade`"
    )
