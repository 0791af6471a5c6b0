"""Entries of many parties (a multi-bill payment, say) racing over shared accounts: locks in one order only.

First the race the one helper prevents: two transactions that lock their payer and one other account,
then the rest of their entry, take locks in two orders and deadlock. Then the same two entries, each
locking every account it touches in one call of ``lock_accounts``, both go through.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.clock import FixedClock
from civicpay.money import Category
from wallet import ledger
from wallet.ledger import AccountKind, TransferSpec

pytestmark = pytest.mark.postgres_only
Sessions = async_sessionmaker[AsyncSession]


async def _accounts(sessions: Sessions, clock: FixedClock) -> list[int]:
    """Four wallets (ids in order), each funded from a bank account."""
    async with sessions.begin() as session:
        now = clock.now()
        bank = await ledger.open_account(
            session, code="asset:bank:test", name="Bank", kind=AccountKind.ASSET, no_overdraft=False, now=now
        )
        wallets = [
            await ledger.open_account(
                session, code=f"wallet:{name}", name=name, kind=AccountKind.LIABILITY, no_overdraft=True, now=now
            )
            for name in "abcd"
        ]
        funding = [TransferSpec(bank, wallet, 1_000_000, Category.TOPUP) for wallet in wallets]
        await ledger.post_entry(session, funding, now=now, description="funding")
    return sorted(wallets)


def _bills(payer: int, *billers: int) -> list[TransferSpec]:
    return [TransferSpec(payer, biller, 10_000, Category.WATER) for biller in billers]


async def test_locking_in_two_steps_deadlocks_and_one_helper_call_does_not(
    sessions: Sessions, clock: FixedClock
) -> None:
    a, b, c, d = await _accounts(sessions, clock)
    # a pays b and d; c pays b and d. First step: payer and its last biller; second step: the whole entry.
    plans = {a: (d, [b, d]), c: (b, [b, d])}
    first_step_taken = asyncio.Barrier(2)

    async def in_two_steps(payer: int) -> None:
        first_other, billers = plans[payer]
        async with sessions.begin() as session:
            await ledger.lock_accounts(session, [payer, first_other])
            await first_step_taken.wait()
            locked = await ledger.lock_accounts(session, [payer, *billers])
            await ledger.post_entry(
                session, _bills(payer, *billers), now=clock.now(), description="bills", locked=locked
            )

    async def at_once(payer: int) -> None:
        _, billers = plans[payer]
        async with sessions.begin() as session:
            locked = await ledger.lock_accounts(session, [payer, *billers])
            await asyncio.sleep(0.05)  # both hold or wait for their locks at the same time
            await ledger.post_entry(
                session, _bills(payer, *billers), now=clock.now(), description="bills", locked=locked
            )

    raced = await asyncio.wait_for(asyncio.gather(in_two_steps(a), in_two_steps(c), return_exceptions=True), 30)
    deadlocks = [error for error in raced if isinstance(error, DBAPIError) and "deadlock" in str(error)]
    assert len(deadlocks) == 1, raced  # PostgreSQL broke the cycle by failing one of the two

    await asyncio.wait_for(asyncio.gather(at_once(a), at_once(c)), 30)  # both go through, or this raises
    async with sessions() as session:
        found = await ledger.balances(session, [a, b, c, d])
    # Two bills paid in the race (the survivor's) and four after it.
    assert sum(found[payer].posted_vnd for payer in (a, c)) == 2_000_000 - 60_000
    assert found[b].posted_vnd + found[d].posted_vnd == 2_000_000 + 60_000
