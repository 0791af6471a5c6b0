"""On the embedded database the app runs a worker in its own process (CIVICPAY_WORKER_IN_PROCESS)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.app import running
from civicpay.periodic import PeriodicJobRow
from sandbox.bank import Bank
from tests.conftest import Api, http_into
from tests.integration.wallet.test_withdrawals import linked, withdraw


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"worker_in_process": True, "hold_expiry_interval_seconds": 60}


async def test_the_app_runs_its_worker_beside_the_requests_and_stops_it_with_itself(
    app: Litestar, bank: Bank, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running(app), http_into(app) as client:
        api = Api(client, sessions)
        huong = await api.register(full_name="Nguyễn Thị Hương")
        await api.fund(huong, 300_000)
        made = (await withdraw(api, huong, await linked(api, bank, huong), 100_000)).json()
        worker_running = not app.state.outbox.stopping
    # Stopped with the app: its dispatcher's loop has ended, and its first tick had claimed its job.
    async with sessions() as session:
        jobs = (await session.scalars(select(PeriodicJobRow.name))).all()

    assert worker_running
    assert app.state.outbox.stopping
    assert list(bank.payouts) == [made["payout_id"]]
    assert jobs == ["hold expiry"]
