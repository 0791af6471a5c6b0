"""`civicpay worker` and `civicpay outbox list | redeliver`, as an operator runs them."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay import outbox
from civicpay.clock import FixedClock
from civicpay.db import UnitsOfWork
from civicpay.outbox import Dispatcher
from civicpay.periodic import Job
from civicpay.settings import Settings
from civicpay.worker import Worker
from sandbox.bank import Bank
from tests.conftest import Api
from tests.integration.qr.test_qr_commands import run
from tests.integration.wallet.test_withdrawals import linked, withdraw
from tests.shell import SECRETS_ENVIRONMENT

# Far beyond any wait a process could need to start or stop; reached only when something is wrong.
PROCESS_SECONDS = 60


@pytest.fixture
def shell(command_shell: Path, bank_server: tuple[str, Bank], monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's environment (``command_shell``) with this test's bank."""
    monkeypatch.setenv("CIVICPAY_BANK_API_BASE", bank_server[0])


@pytest.mark.usefixtures("shell")
async def test_an_operator_lists_what_was_given_up_and_redelivers_it(
    api: Api, bank: Bank, sessions: async_sessionmaker[AsyncSession], capsys: pytest.CaptureFixture[str]
) -> None:
    huong = await api.register(full_name="Nguyễn Thị Hương")
    await api.fund(huong, 300_000)
    account_id = await linked(api, bank, huong)
    bank.down = True
    made = (await withdraw(api, huong, account_id, 100_000)).json()
    async with sessions.begin() as session:  # as the dispatcher leaves a message after its last try
        await session.execute(update(outbox.OutboxMessage).values(status="given_up"))
    bank.down = False

    listed_status, listed, _ = await run(["outbox", "list"], capsys)
    message_id = int(listed.split()[0])
    again_status, again, _ = await run(["outbox", "redeliver", str(message_id)], capsys)
    twice_status, _, twice = await run(["outbox", "redeliver", str(message_id)], capsys)

    assert listed_status == 0
    assert f"given_up payout.send payout:{made['payout_id']} tries=1" in listed
    assert "1 message(s)" in listed
    assert (again_status, f"{message_id} delivered payout.send") == (
        0,
        again[: len(f"{message_id} delivered payout.send")],
    )
    assert list(bank.payouts) == [made["payout_id"]]
    assert twice_status == 2
    assert "given-up" in twice


async def test_a_worker_told_to_stop_finishes_the_job_under_way(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    started, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        started.set()
        await release.wait()
        finished.set()

    worker = Worker(
        settings, UnitsOfWork(sessions), Dispatcher(UnitsOfWork(sessions), {}, clock), [Job("slow", 60, slow)], clock
    )
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), PROCESS_SECONDS)
    worker.stop()
    await asyncio.sleep(0)  # give the stop every chance to cut the job short
    still_running = not running.done()
    release.set()
    await asyncio.wait_for(running, PROCESS_SECONDS)

    assert still_running
    assert finished.is_set()


async def test_the_worker_command_stops_gracefully_on_sigterm(database_url: str, tmp_path: Path) -> None:
    environment = {**os.environ, **SECRETS_ENVIRONMENT, "CIVICPAY_DATABASE_URL": database_url, "CIVICPAY_ENV": "test"}
    worker = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "civicpay", "worker"],
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        env=environment,
    )
    assert worker.stdout is not None
    try:
        said = await asyncio.wait_for(worker.stdout.readline(), PROCESS_SECONDS)
    finally:
        worker.send_signal(signal.SIGTERM)
    rest = await asyncio.wait_for(worker.stdout.read(), PROCESS_SECONDS)
    code = await asyncio.wait_for(worker.wait(), PROCESS_SECONDS)

    assert said.decode().startswith("worker: outbox and card top-up re-query, hold expiry")
    assert (code, rest.decode()) == (0, "worker: stopped\n")
