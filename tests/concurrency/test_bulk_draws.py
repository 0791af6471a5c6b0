"""Workers drawing chunks from one reserved total at once: never more than was reserved, nothing lost.

First the race the hold's row lock prevents: two draws that read the hold without it both pass the
check in Python, and the database alone (the hold's CHECK, reached by an increment in SQL) refuses
the one too many. Then the real thing: two workers drawing chunk after chunk from one hold, taking
turns on its row, draw exactly what fits and no more.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.clock import FixedClock
from civicpay.money import Category
from wallet import ledger
from wallet.ledger import AccountKind, EntrySpec, TransferSpec, holds

pytestmark = pytest.mark.postgres_only
Sessions = async_sessionmaker[AsyncSession]
ITEM_VND = 1_000


async def _reserved(sessions: Sessions, clock: FixedClock, amount_vnd: int) -> tuple[int, list[int]]:
    """A funded programme account with ``amount_vnd`` of it on hold, and twenty wallets; the hold's id."""
    now = clock.now()
    async with sessions.begin() as session:
        bank = await ledger.open_account(
            session, code="asset:bank", name="Bank", kind=AccountKind.ASSET, no_overdraft=False, now=now
        )
        funding, clearing = [
            await ledger.open_account(
                session, code=code, name=code, kind=AccountKind.LIABILITY, no_overdraft=True, now=now
            )
            for code in ("programme:funding", "programme:clearing")
        ]
        wallets = [
            await ledger.open_account(
                session, code=f"wallet:{n}", name=f"Ví {n}", kind=AccountKind.LIABILITY, no_overdraft=True, now=now
            )
            for n in range(20)
        ]
        await ledger.post_entry(
            session, [TransferSpec(bank, funding, 1_000_000, Category.TOPUP)], now=now, description="budget"
        )
        hold_id = await ledger.hold(
            session, TransferSpec(funding, clearing, amount_vnd, Category.TOPUP), now=now, expires_at=None
        )
    return hold_id, [funding, *wallets]


def _chunk(funding: int, wallets: list[int], items: int) -> list[EntrySpec]:
    return [
        EntrySpec([TransferSpec(funding, wallets[n % len(wallets)], ITEM_VND, Category.TOPUP)], f"item {n}")
        for n in range(items)
    ]


async def _drawn(sessions: Sessions, hold_id: int) -> int:
    async with sessions() as session:
        drawn: int = await session.scalar(text("SELECT posted_vnd FROM ledger_hold WHERE id = :id"), {"id": hold_id})
        return drawn


async def test_without_the_holds_lock_two_draws_pass_python_and_the_database_refuses_the_over_draw(
    sessions: Sessions, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold_id, (funding, *wallets) = await _reserved(sessions, clock, 15 * ITEM_VND)
    both_read = asyncio.Barrier(2)

    async def read_without_lock(session: AsyncSession, wanted: int) -> ledger.Hold:
        found = await session.scalar(select(ledger.Hold).where(ledger.Hold.id == wanted))
        assert found is not None
        await both_read.wait()  # each has seen 15,000 held, enough for its 10,000
        return found

    monkeypatch.setattr(holds, "_lock_pending_hold", read_without_lock)

    async def draw() -> None:
        async with sessions.begin() as session:
            await ledger.draw_hold(session, hold_id, _chunk(funding, wallets, 10), now=clock.now())

    outcomes = await asyncio.gather(draw(), draw(), return_exceptions=True)
    refused = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert len(refused) == 1, outcomes
    # The hold's CHECK, or the pending total's (which can't go below zero either), whichever the loser reached first.
    assert isinstance(refused[0], IntegrityError), refused[0]
    assert "posted_within_amount" in str(refused[0]) or "pending_non_negative" in str(refused[0])
    assert await _drawn(sessions, hold_id) == 10 * ITEM_VND


async def test_two_workers_draw_one_reserved_total_chunk_by_chunk_and_never_past_it(
    sessions: Sessions, clock: FixedClock
) -> None:
    reserved_vnd = 95 * ITEM_VND
    hold_id, (funding, *wallets) = await _reserved(sessions, clock, reserved_vnd)
    drawn_by: dict[str, int] = {"first": 0, "second": 0}

    async def worker(name: str) -> None:
        while True:
            try:
                async with sessions.begin() as session:
                    posted = await ledger.draw_hold(session, hold_id, _chunk(funding, wallets, 10), now=clock.now())
            except ledger.InvalidTransfer:
                return  # what is left is less than a chunk
            drawn_by[name] += len(posted) * ITEM_VND
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(worker("first"), worker("second")), 60)
    assert sum(drawn_by.values()) == 90 * ITEM_VND == await _drawn(sessions, hold_id)
    async with sessions.begin() as session:
        assert await ledger.release_hold(session, hold_id, now=clock.now()) == 5 * ITEM_VND
    async with sessions() as session:
        funded = (await ledger.balances(session, [funding]))[funding]
        assert (funded.posted_vnd, funded.available_vnd) == (1_000_000 - 90 * ITEM_VND, 1_000_000 - 90 * ITEM_VND)
        assert await ledger.check_invariants(session) == []
