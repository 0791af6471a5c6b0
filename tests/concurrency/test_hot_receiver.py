"""Payments to one account do not queue on its row: a credit takes no lock on the receiver.

Another transaction holds the receiver's row (as its own payment out of it would, or a fold); a
transfer to it must still commit at once, on both paths. Before ``ledger.BalanceIncrease`` it waited
for that lock, so every payment to a merchant, a biller or a busy wallet went one commit at a time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import Api
from wallet import ledger

pytestmark = pytest.mark.postgres_only


@pytest.fixture(params=[True, False], ids=["fast path", "portable path"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"fast_transfers": request.param}


async def test_a_transfer_commits_while_another_transaction_holds_the_receivers_row(
    api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    payer, receiver = await api.register(), await api.register()
    await api.fund(payer, 100_000)
    async with sessions.begin() as holding:
        await ledger.lock_accounts(holding, [receiver.account_id])
        # Were the receiver locked by the transfer, this would wait for the commit below, which never comes first.
        answer = await asyncio.wait_for(api.transfer(payer, receiver, 40_000), 20)
        assert answer.status_code == 201, answer.text
        assert await api.balance(receiver) == 40_000  # shown at once, though the row is not written yet
        async with sessions() as session:
            waiting = await session.scalar(
                text("SELECT SUM(amount_vnd) FROM ledger_balance_increase WHERE account_id = :a"),
                {"a": receiver.account_id},
            )
        assert waiting == 40_000
    async with sessions() as session:
        assert await ledger.check_invariants(session) == []
