"""Bulk posting (``ledger.post_entries``) and drawing a reserved total many times (``ledger.draw_hold``).

Every test here ends with the ledger's invariants checked by the ``services`` fixture, as all do.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.clock import FixedClock
from civicpay.money import Category
from tests.conftest import ON_POSTGRES
from wallet import ledger
from wallet.ledger import AccountKind, EntrySpec, TransferSpec

Sessions = async_sessionmaker[AsyncSession]
WALLETS = 40


async def open_books(sessions: Sessions, clock: FixedClock, prefix: str, *, funding_vnd: int) -> dict[str, int]:
    """A funded programme account, a bank asset, a fee revenue account and ``WALLETS`` wallets, by short name."""
    now = clock.now()
    async with sessions.begin() as session:
        accounts = {
            "bank": await ledger.open_account(
                session, code=f"{prefix}:bank", name="Bank", kind=AccountKind.ASSET, no_overdraft=False, now=now
            ),
            "funding": await ledger.open_account(
                session,
                code=f"{prefix}:funding",
                name="Trợ cấp xã hội",
                kind=AccountKind.LIABILITY,
                no_overdraft=True,
                now=now,
            ),
            "clearing": await ledger.open_account(
                session,
                code=f"{prefix}:clearing",
                name="Đang chi trả",
                kind=AccountKind.LIABILITY,
                no_overdraft=True,
                now=now,
            ),
            "fees": await ledger.open_account(
                session, code=f"{prefix}:fees", name="Fees", kind=AccountKind.REVENUE, no_overdraft=False, now=now
            ),
        }
        for number in range(WALLETS):
            accounts[f"w{number}"] = await ledger.open_account(
                session,
                code=f"{prefix}:w{number}",
                name=f"Ví {number}",
                kind=AccountKind.LIABILITY,
                no_overdraft=True,
                counts_spending=True,
                now=now,
            )
        await ledger.post_entry(
            session,
            [TransferSpec(accounts["bank"], accounts["funding"], funding_vnd, Category.TOPUP, reference="BUDGET")],
            now=now,
            description="funding from the budget",
        )
        await ledger.post_entry(
            session,
            [TransferSpec(accounts["bank"], accounts["w0"], 50_000, Category.TOPUP)],
            now=now,
            description="a wallet's own money",
        )
    return accounts


def mixed_chunk(accounts: dict[str, int]) -> list[EntrySpec]:
    """Welfare credits, an entry of several transfers, a wallet paying another: each kind of write there is."""
    entries = [
        EntrySpec(
            [
                TransferSpec(
                    accounts["funding"],
                    accounts[f"w{number}"],
                    100_000 + number,
                    Category.TOPUP,
                    reference=f"ITEM{number:06d}",
                    metadata={"item": number, "programme": "trợ cấp"},
                )
            ],
            f"welfare item {number}",
        )
        for number in range(WALLETS)
    ]
    entries.insert(
        7,
        EntrySpec(
            [
                TransferSpec(accounts["funding"], accounts["w3"], 20_000, Category.TOPUP),
                TransferSpec(accounts["funding"], accounts["fees"], 1_100, Category.TOPUP),
                TransferSpec(accounts["funding"], accounts["bank"], 5_000, Category.TOPUP),
            ],
            "split item",
        ),
    )
    entries.append(EntrySpec([TransferSpec(accounts["w0"], accounts["w1"], 30_000, Category.P2P)], "a wallet pays"))
    return entries


async def what_is_there(sessions: Sessions, prefix: str) -> dict[str, Any]:
    """The books of the accounts named ``prefix:…``, with account ids as short names and row ids as ranks."""
    async with sessions() as session:
        ids = {
            row.id: row.code.split(":", 1)[1]
            for row in await session.execute(
                text("SELECT id, code FROM ledger_account WHERE code LIKE :prefix"), {"prefix": f"{prefix}:%"}
            )
        }
        found = await ledger.balances(session, ids)
        transfers = (
            await session.execute(
                text(
                    "SELECT t.id, t.entry_id, e.description, t.debit_account_id, t.credit_account_id, t.amount_vnd,"
                    " t.category, t.reference, t.metadata, t.hold_id, t.created_at"
                    " FROM ledger_transfer t JOIN ledger_entry e ON e.id = t.entry_id"
                    " WHERE t.debit_account_id IN (SELECT id FROM ledger_account WHERE code LIKE :prefix)"
                    " ORDER BY t.id"
                ),
                {"prefix": f"{prefix}:%"},
            )
        ).all()
        postings = (
            await session.execute(
                text(
                    "SELECT p.transfer_id, p.entry_id, p.account_id, p.side, p.amount_vnd, p.category, p.created_at"
                    " FROM ledger_posting p WHERE p.transfer_id IN (SELECT t.id FROM ledger_transfer t"
                    " WHERE t.debit_account_id IN (SELECT id FROM ledger_account WHERE code LIKE :prefix))"
                    " ORDER BY p.transfer_id, p.side DESC"
                ),
                {"prefix": f"{prefix}:%"},
            )
        ).all()
        totals = (
            await session.execute(
                text(
                    "SELECT account_id, period, starts_at, amount_vnd FROM ledger_spending_total"
                    " ORDER BY account_id, period, starts_at"
                )
            )
        ).all()
    entry_rank = {entry: rank for rank, entry in enumerate(sorted({row.entry_id for row in transfers}))}
    transfer_rank = {row.id: rank for rank, row in enumerate(transfers)}
    return {
        "balances": {
            ids[account]: (b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending)
            for account, b in found.items()
        },
        "transfers": [
            (
                entry_rank[row.entry_id],
                row.description,
                ids[row.debit_account_id],
                ids[row.credit_account_id],
                *row[5:],
            )
            for row in transfers
        ],
        "postings": [
            (transfer_rank[row.transfer_id], entry_rank[row.entry_id], ids[row.account_id], *row[3:])
            for row in postings
        ],
        "spending": [(ids[row.account_id], *row[1:]) for row in totals if row.account_id in ids],
    }


async def test_a_chunk_posts_exactly_what_posting_its_entries_one_by_one_does(
    sessions: Sessions, clock: FixedClock
) -> None:
    one_by_one = await open_books(sessions, clock, "one", funding_vnd=10_000_000)
    in_bulk = await open_books(sessions, clock, "bulk", funding_vnd=10_000_000)

    async with sessions.begin() as session:
        singly = [
            await ledger.post_entry(session, entry.transfers, now=clock.now(), description=entry.description)
            for entry in mixed_chunk(one_by_one)
        ]
    started = time.perf_counter()
    async with sessions.begin() as session:
        posted = await ledger.post_entries(session, mixed_chunk(in_bulk), now=clock.now())
    print(f"\n{len(posted)} entries in bulk: {(time.perf_counter() - started) * 1000:.1f} ms")  # noqa: T201

    # The ids come back in the chunk's order, each entry with its own transfers, as one by one.
    assert [len(entry.transfer_ids) for entry in posted] == [len(entry.transfer_ids) for entry in singly]
    assert [entry.entry_id for entry in posted] == sorted(entry.entry_id for entry in posted)
    transfer_ids = [transfer for entry in posted for transfer in entry.transfer_ids]
    assert transfer_ids == sorted(transfer_ids)
    async with sessions() as session:
        references = {
            row.id: row.reference
            for row in await session.execute(
                text("SELECT id, reference FROM ledger_transfer WHERE reference LIKE 'I%'")
            )
        }
    # Each item can record its own transfer: the first entry's is item 0's, the eighth (after the split) item 7's.
    assert (references[posted[0].transfer_ids[0]], references[posted[8].transfer_ids[0]]) == (
        "ITEM000000",
        "ITEM000007",
    )

    expected, actual = await what_is_there(sessions, "one"), await what_is_there(sessions, "bulk")
    assert actual == expected
    assert actual["balances"]["funding"][0] == sum(100_000 + n for n in range(WALLETS)) + 26_100


async def test_a_chunk_that_would_overdraw_its_funding_posts_nothing(sessions: Sessions, clock: FixedClock) -> None:
    accounts = await open_books(sessions, clock, "p", funding_vnd=1_000_000)
    chunk = [
        EntrySpec([TransferSpec(accounts["funding"], accounts[f"w{n}"], 100_000, Category.TOPUP)], f"item {n}")
        for n in range(11)
    ]
    with pytest.raises(ledger.InsufficientFunds):
        async with sessions.begin() as session:
            await ledger.post_entries(session, chunk, now=clock.now())
    assert await _entries(sessions) == 2  # the two fundings only
    async with sessions.begin() as session:
        await ledger.post_entries(session, chunk[:10], now=clock.now())
    assert await _posted(sessions, accounts["funding"]) == 0


async def test_the_database_refuses_an_overdrawing_chunk_even_if_python_believed_it_covered(
    sessions: Sessions, clock: FixedClock
) -> None:
    accounts = await open_books(sessions, clock, "p", funding_vnd=1_000_000)
    chunk = [
        EntrySpec([TransferSpec(accounts["funding"], accounts[f"w{n}"], 100_000, Category.TOPUP)], f"item {n}")
        for n in range(11)
    ]
    async with sessions() as session:
        locked = await ledger.lock_accounts(session, [accounts["funding"]])
        funding = locked[accounts["funding"]]
        # A bug that misread the balance: the CHECK on the row is what stops the chunk.
        fooled = ledger.LockedBalances({funding.account_id: replace(funding, credits_posted=10**12)})
        with pytest.raises(IntegrityError, match="no_overdraft"):
            await ledger.post_entries(session, chunk, now=clock.now(), locked=fooled)
        await session.rollback()
    assert await _entries(sessions) == 2
    assert await _posted(sessions, accounts["funding"]) == 1_000_000


@pytest.mark.parametrize(
    "chunk",
    [None, [EntrySpec([], "empty")], [EntrySpec([TransferSpec(1, 1, 5, Category.TOPUP)], "to itself")]],
    ids=["no entries", "an empty entry", "a malformed transfer"],
)
async def test_a_malformed_chunk_is_refused_before_anything_is_written(
    sessions: Sessions, clock: FixedClock, chunk: list[EntrySpec] | None
) -> None:
    accounts = await open_books(sessions, clock, "p", funding_vnd=1_000)
    good = EntrySpec([TransferSpec(accounts["funding"], accounts["w1"], 10, Category.TOPUP)], "good")
    with pytest.raises(ledger.InvalidTransfer):
        async with sessions.begin() as session:
            await ledger.post_entries(session, [] if chunk is None else [good, *chunk], now=clock.now())
    assert await _entries(sessions) == 2


@pytest.mark.postgres_only
@pytest.mark.parametrize("where", ["in a chunk", "in a single entry", "in an old entry"])
async def test_postgres_refuses_to_commit_an_unbalanced_entry_and_with_it_the_whole_chunk(
    sessions: Sessions, clock: FixedClock, where: str
) -> None:
    accounts = await open_books(sessions, clock, "p", funding_vnd=1_000_000)
    chunk = [
        EntrySpec([TransferSpec(accounts["funding"], accounts[f"w{n}"], 1_000, Category.TOPUP)], f"item {n}")
        for n in range(20)
    ]
    async with sessions() as session:
        if where == "in a chunk":
            posted = await ledger.post_entries(session, chunk, now=clock.now())
            broken, transfer = posted[13].entry_id, posted[13].transfer_ids[0]
        else:
            single = await ledger.post_entry(session, chunk[0].transfers, now=clock.now(), description="single")
            broken, transfer = single.entry_id, single.transfer_ids[0]
        stray = {"entry": broken, "transfer": transfer, "wallet": accounts["w1"]}
        if where == "in an old entry":
            await session.commit()
            # An id below every posting of the entry: still its own transaction's last row in it, so checked.
            await session.execute(_STRAY_POSTING.bindparams(id=0), stray)
        else:
            await session.execute(_STRAY_POSTING.bindparams(id=None), stray)
        with pytest.raises(IntegrityError, match=f"ledger entry {broken} does not balance"):
            await session.commit()
    assert await _entries(sessions) == (3 if where == "in an old entry" else 2)


# One posting too many: money from nowhere in one entry (a NULL id takes the next from the sequence).
_STRAY_POSTING = text(
    "INSERT INTO ledger_posting (id, entry_id, transfer_id, account_id, side, amount_vnd, category, created_at)"
    " VALUES (COALESCE(CAST(:id AS bigint), nextval('ledger_posting_id_seq')), :entry, :transfer, :wallet, 'C', 1,"
    " 'topup', now())"
)


async def _entries(sessions: Sessions) -> int:
    async with sessions() as session:
        counted: int = await session.scalar(text("SELECT COUNT(*) FROM ledger_entry")) or 0
        return counted


async def _posted(sessions: Sessions, account: int) -> int:
    async with sessions() as session:
        return (await ledger.balances(session, [account]))[account].posted_vnd


async def _hold_row(sessions: Sessions, hold_id: int) -> tuple[str, int, int]:
    async with sessions() as session:
        row = (
            await session.execute(
                text("SELECT status, amount_vnd, posted_vnd FROM ledger_hold WHERE id = :id"), {"id": hold_id}
            )
        ).one()
        return row.status, row.amount_vnd, row.posted_vnd


async def test_a_reserved_total_is_drawn_chunk_by_chunk_and_the_rest_released(
    sessions: Sessions, clock: FixedClock
) -> None:
    accounts = await open_books(sessions, clock, "p", funding_vnd=1_000_000)
    funding = accounts["funding"]
    async with sessions.begin() as session:
        reserved = await ledger.hold(
            session,
            TransferSpec(funding, accounts["clearing"], 900_000, Category.TOPUP, reference="BATCH1"),
            now=clock.now(),
            expires_at=None,
        )
    async with sessions() as session:
        held = (await ledger.balances(session, [funding]))[funding]
    assert (held.posted_vnd, held.available_vnd) == (1_000_000, 100_000)
    with pytest.raises(ledger.InsufficientFunds):  # nothing else can spend the reserved money
        async with sessions.begin() as session:
            await ledger.post_entry(
                session,
                [TransferSpec(funding, accounts["w0"], 100_001, Category.TOPUP)],
                now=clock.now(),
                description="elsewhere",
            )

    for chunk_number in range(3):  # three workers' chunks, 10 items of 25,000 each
        chunk = [
            EntrySpec([TransferSpec(funding, accounts[f"w{n}"], 25_000, Category.TOPUP)], f"item {chunk_number}.{n}")
            for n in range(10)
        ]
        clock.advance(timedelta(minutes=1))
        async with sessions.begin() as session:
            posted = await ledger.draw_hold(session, reserved, chunk, now=clock.now())
        assert len(posted) == 10
        assert await _hold_row(sessions, reserved) == ("pending", 900_000, 250_000 * (chunk_number + 1))
    async with sessions() as session:
        drawn = await ledger.balances(session, [funding, accounts["clearing"], accounts["w4"]])
    assert (drawn[funding].posted_vnd, drawn[funding].available_vnd) == (250_000, 100_000)
    assert drawn[accounts["clearing"]].credits_pending == 150_000
    assert drawn[accounts["w4"]].posted_vnd == 75_000

    too_much = [EntrySpec([TransferSpec(funding, accounts[f"w{n}"], 20_000, Category.TOPUP)], "x") for n in range(8)]
    with pytest.raises(ledger.InvalidTransfer):  # 160,000 of the 150,000 left
        async with sessions.begin() as session:
            await ledger.draw_hold(session, reserved, too_much, now=clock.now())
    with pytest.raises(ledger.InvalidTransfer):  # only the hold's own account's money is reserved
        async with sessions.begin() as session:
            await ledger.draw_hold(
                session,
                reserved,
                [EntrySpec([TransferSpec(accounts["w0"], accounts["w1"], 1, Category.P2P)], "x")],
                now=clock.now(),
            )
    with pytest.raises(IntegrityError, match="posted_within_amount"):  # and the database says so too
        async with sessions.begin() as session:
            await session.execute(text("UPDATE ledger_hold SET posted_vnd = 900001 WHERE id = :id"), {"id": reserved})

    async with sessions.begin() as session:
        assert await ledger.release_hold(session, reserved, now=clock.now()) == 150_000
    assert await _hold_row(sessions, reserved) == ("posted", 900_000, 750_000)
    assert await _posted(sessions, funding) == 250_000
    with pytest.raises(ledger.HoldAlreadyFinal):
        async with sessions.begin() as session:
            await ledger.draw_hold(session, reserved, too_much[:1], now=clock.now())


async def test_a_drawn_hold_can_still_be_posted_voided_or_expire_with_only_what_it_still_holds(
    sessions: Sessions, clock: FixedClock
) -> None:
    accounts = await open_books(sessions, clock, "p", funding_vnd=300_000)
    funding, clearing = accounts["funding"], accounts["clearing"]
    holds = []
    async with sessions.begin() as session:
        for _ in range(3):
            holds.append(
                await ledger.hold(
                    session,
                    TransferSpec(funding, clearing, 100_000, Category.TOPUP),
                    now=clock.now(),
                    expires_at=clock.now() + timedelta(hours=1),
                )
            )
        for reserved in holds:
            one = [EntrySpec([TransferSpec(funding, accounts["w1"], 40_000, Category.TOPUP)], "draw")]
            await ledger.draw_hold(session, reserved, one, now=clock.now())
    async with sessions.begin() as session:
        with pytest.raises(ledger.InvalidTransfer):
            await ledger.post_hold(session, holds[0], now=clock.now(), amount_vnd=60_001)
        await ledger.post_hold(session, holds[0], now=clock.now(), amount_vnd=50_000)
        await ledger.void_hold(session, holds[1], now=clock.now())
    clock.advance(timedelta(hours=2))
    async with sessions.begin() as session:
        assert await ledger.expire_holds(session, now=clock.now()) == [holds[2]]
    assert [(await _hold_row(sessions, reserved))[::2] for reserved in holds] == [
        ("posted", 90_000),
        ("voided", 40_000),
        ("expired", 40_000),
    ]
    async with sessions() as session:
        left = (await ledger.balances(session, [funding]))[funding]
    assert (left.posted_vnd, left.available_vnd) == (300_000 - 170_000, 130_000)


@pytest.mark.skipif(not ON_POSTGRES, reason="a timing print for PostgreSQL's deferred check")
async def test_one_large_entry_commits_in_time_linear_in_its_size(sessions: Sessions, clock: FixedClock) -> None:
    accounts = await open_books(sessions, clock, "p", funding_vnd=10_000_000)
    timings = []
    for size in (1_000, 4_000):
        transfers = [
            TransferSpec(accounts["funding"], accounts[f"w{n % WALLETS}"], 1, Category.TOPUP) for n in range(size)
        ]
        async with sessions() as session:
            await ledger.post_entries(session, [EntrySpec(transfers, f"one entry of {size}")], now=clock.now())
            started = time.perf_counter()
            await session.commit()  # the deferred checks run here
            timings.append(time.perf_counter() - started)
    print(f"\ncommit of one entry: 1,000 transfers {timings[0] * 1000:.0f} ms, 4,000 {timings[1] * 1000:.0f} ms")  # noqa: T201
