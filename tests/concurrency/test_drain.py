"""Many transfers racing to drain one wallet (PostgreSQL: real row locks, real concurrent connections)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.clock import FixedClock
from civicpay.money import Category
from tests.conftest import Api
from wallet import ledger

pytestmark = pytest.mark.postgres_only


@pytest.fixture(params=[True, False], ids=["fast path", "portable path"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Both ways a transfer is made on PostgreSQL (wallet/fast_path.py, and the portable path) race alike."""
    return {"fast_transfers": request.param}


RACERS = 100
AMOUNT = 10_000
FUNDED = 10 * AMOUNT + 5_000  # room for exactly ten transfers


async def test_without_the_lock_every_racer_passes_the_balance_check(
    api: Api, sessions: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    """The race exists: read the balance, then write, with nothing held in between.

    Each racer reads the wallet's balance without locking it, waits until all have read, and then
    posts through the ledger as if that stale read were a lock. All of them pass the balance check;
    only the database's CHECK constraint stops the ninety that would overdraw.
    """
    payer, payee = await api.register(), await api.register()
    await api.fund(payer, FUNDED)
    async with sessions.begin() as session:
        # The top-up waits beside the payer's row until a lock folds it in; the racers never lock, so
        # fold it now, or the database would stop all hundred for want of money the row had not seen.
        await ledger.lock_accounts(session, [payer.account_id])
    everyone_has_read = asyncio.Barrier(RACERS)

    async def racer() -> str:
        async with sessions() as session:
            # An unlocked read, passed off as locked: exactly what the type exists to make visible.
            stale = ledger.LockedBalances(await ledger.balances(session, [payer.account_id, payee.account_id]))
        await everyone_has_read.wait()
        spec = ledger.TransferSpec(payer.account_id, payee.account_id, AMOUNT, Category.P2P)
        try:
            async with sessions.begin() as session:
                await ledger.post_entry(session, [spec], now=clock.now(), description="racer", locked=stale)
        except ledger.InsufficientFunds:
            return "refused by the check"
        except IntegrityError:
            return "stopped only by the database"
        return "moved"

    outcomes = Counter(await asyncio.gather(*(racer() for _ in range(RACERS))))

    assert outcomes == {"moved": 10, "stopped only by the database": 90}


async def test_with_the_lock_a_hundred_concurrent_transfers_never_overdraw(api: Api) -> None:
    payer = await api.register()
    payees = [await api.register() for _ in range(5)]
    await api.fund(payer, FUNDED)

    answers = await asyncio.gather(*(api.transfer(payer, payees[i % 5], AMOUNT) for i in range(RACERS)))

    codes = Counter(answer.status_code for answer in answers)
    assert codes == {201: 10, 422: 90}
    assert {answer.json()["code"] for answer in answers if answer.status_code == 422} == {"insufficient_funds"}
    assert await api.balance(payer) == FUNDED - 10 * AMOUNT
    assert sum([await api.balance(payee) for payee in payees]) == 10 * AMOUNT
