"""A Jepsen-style bank: random concurrent transfers while readers check that money is conserved."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import Api, Citizen

pytestmark = pytest.mark.postgres_only


@pytest.fixture(params=[True, False], ids=["fast path", "portable path"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Both ways a transfer is made on PostgreSQL (wallet/fast_path.py, and the portable path) race alike."""
    return {"fast_transfers": request.param}


WALLETS = 8
EACH = 1_000_000
TRANSFERS = 400
IN_FLIGHT = 16


async def test_every_read_of_all_balances_sums_to_the_same_total(
    api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    citizens = [await api.register() for _ in range(WALLETS)]
    for citizen in citizens:
        await api.fund(citizen, EACH)
    accounts = [citizen.account_id for citizen in citizens]
    rng = random.Random(2345)
    plan = [(rng.sample(citizens, 2), rng.randint(1, 400_000)) for _ in range(TRANSFERS)]
    slots = asyncio.Semaphore(IN_FLIGHT)
    done = asyncio.Event()
    reads: list[list[int]] = []

    async def transfer(pair: list[Citizen], amount: int) -> int:
        sender, recipient = pair
        async with slots:
            answer = await api.transfer(sender, recipient, amount)
        return answer.status_code

    async def reader() -> None:
        # One statement is one snapshot: it must never see a transfer half-applied.
        while not done.is_set() and len(reads) < 20_000:
            async with sessions() as session:
                rows = await session.execute(
                    # A balance is its row and the increases waiting beside it (ledger.BalanceIncrease).
                    text(
                        "SELECT a.credits_posted - a.debits_posted + COALESCE((SELECT SUM(i.amount_vnd)"
                        " FROM ledger_balance_increase i WHERE i.account_id = a.id), 0)"
                        " FROM ledger_account a WHERE a.id = ANY(:ids)"
                    ),
                    {"ids": accounts},
                )
                reads.append([row[0] for row in rows])

    async def run_transfers() -> list[int]:
        try:
            return await asyncio.gather(*(transfer(pair, amount) for pair, amount in plan))
        finally:
            done.set()

    statuses, *_ = await asyncio.gather(run_transfers(), reader(), reader())

    assert set(statuses) <= {201, 422}
    assert statuses.count(201) > TRANSFERS // 2
    assert len(reads) > 10
    assert all(sum(read) == WALLETS * EACH for read in reads)
    assert all(min(read) >= 0 for read in reads)
    assert sum([await api.balance(citizen) for citizen in citizens]) == WALLETS * EACH
