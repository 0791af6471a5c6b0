"""The ledger's own promises, exercised directly and checked against the database's guards."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.bootstrap import Services
from civicpay.clock import FixedClock
from civicpay.money import Category
from tests.conftest import Api
from wallet import ledger
from wallet.ledger import AccountKind, TransferSpec

Sessions = async_sessionmaker[AsyncSession]


async def open_accounts(sessions: Sessions, clock: FixedClock, *, fund_a: int = 0) -> tuple[int, int, int]:
    """A bank asset account, and two wallets (no-overdraft liabilities); ``fund_a`` tops up the first."""
    async with sessions.begin() as session:
        now = clock.now()
        bank = await ledger.open_account(
            session, code="asset:bank", name="Bank", kind=AccountKind.ASSET, no_overdraft=False, now=now
        )
        a, b = [
            await ledger.open_account(
                session, code=f"wallet:{name}", name=name, kind=AccountKind.LIABILITY, no_overdraft=True, now=now
            )
            for name in ("a", "b")
        ]
    if fund_a:
        await post(sessions, clock, TransferSpec(bank, a, fund_a, Category.TOPUP))
    return bank, a, b


async def post(sessions: Sessions, clock: FixedClock, *transfers: TransferSpec) -> ledger.PostedEntry:
    """One entry in a transaction of its own."""
    async with sessions.begin() as session:
        return await ledger.post_entry(session, transfers, now=clock.now(), description="test")


async def balance(sessions: Sessions, account: int) -> ledger.Balance:
    async with sessions() as session:
        return (await ledger.balances(session, [account]))[account]


async def test_one_entry_of_several_transfers_commits_together(sessions: Sessions, clock: FixedClock) -> None:
    bank, a, b = await open_accounts(sessions, clock)
    async with sessions.begin() as session:
        posted = await ledger.post_entry(
            session,
            [TransferSpec(bank, a, 700_000, Category.TOPUP), TransferSpec(bank, b, 300_000, Category.TOPUP)],
            now=clock.now(),
            description="two top-ups",
        )
    assert len(posted.transfer_ids) == 2
    assert (await balance(sessions, a)).posted_vnd == 700_000
    assert (await balance(sessions, b)).posted_vnd == 300_000
    assert (await balance(sessions, bank)).posted_vnd == 1_000_000


async def test_an_entry_that_would_overdraw_writes_none_of_its_transfers(sessions: Sessions, clock: FixedClock) -> None:
    bank, a, b = await open_accounts(sessions, clock, fund_a=100)
    with pytest.raises(ledger.InsufficientFunds):
        await post(sessions, clock, TransferSpec(bank, b, 50, Category.TOPUP), TransferSpec(a, b, 101, Category.P2P))
    assert (await balance(sessions, a)).posted_vnd == 100
    assert (await balance(sessions, b)).posted_vnd == 0


@pytest.mark.parametrize(
    ("amount", "same_account"),
    [(0, False), (-5, False), (10, True)],
    ids=["zero", "negative", "to-itself"],
)
async def test_malformed_transfers_are_refused(
    sessions: Sessions, clock: FixedClock, amount: int, same_account: bool
) -> None:
    bank, a, _ = await open_accounts(sessions, clock)
    spec = TransferSpec(bank, bank if same_account else a, amount, Category.TOPUP)
    with pytest.raises(ledger.InvalidTransfer):
        await post(sessions, clock, spec)


async def test_a_hold_reserves_money_until_posted_in_part(sessions: Sessions, clock: FixedClock) -> None:
    _bank, a, b = await open_accounts(sessions, clock, fund_a=1_000)
    async with sessions.begin() as session:
        hold = await ledger.hold(
            session, TransferSpec(a, b, 600, Category.WITHDRAWAL), now=clock.now(), expires_at=None
        )
    held = await balance(sessions, a)
    assert (held.posted_vnd, held.available_vnd) == (1_000, 400)
    with pytest.raises(ledger.InsufficientFunds):
        await post(sessions, clock, TransferSpec(a, b, 401, Category.P2P))

    async with sessions.begin() as session:
        await ledger.post_hold(session, hold, now=clock.now(), amount_vnd=250)
    after = await balance(sessions, a)
    assert (after.posted_vnd, after.available_vnd) == (750, 750)
    assert (await balance(sessions, b)).posted_vnd == 250


async def test_a_voided_hold_gives_the_money_back_and_cannot_be_posted(sessions: Sessions, clock: FixedClock) -> None:
    _bank, a, b = await open_accounts(sessions, clock, fund_a=500)
    async with sessions.begin() as session:
        hold = await ledger.hold(
            session, TransferSpec(a, b, 500, Category.WITHDRAWAL), now=clock.now(), expires_at=None
        )
        await ledger.void_hold(session, hold, now=clock.now())
    assert (await balance(sessions, a)).available_vnd == 500
    with pytest.raises(ledger.HoldAlreadyFinal):
        async with sessions.begin() as session:
            await ledger.post_hold(session, hold, now=clock.now())
    assert (await balance(sessions, b)).posted_vnd == 0


async def test_holds_expire_when_their_time_passes(sessions: Sessions, clock: FixedClock) -> None:
    _bank, a, b = await open_accounts(sessions, clock, fund_a=900)
    async with sessions.begin() as session:
        soon = await ledger.hold(
            session,
            TransferSpec(a, b, 300, Category.WITHDRAWAL),
            now=clock.now(),
            expires_at=clock.now() + timedelta(minutes=15),
        )
        later = await ledger.hold(
            session,
            TransferSpec(a, b, 200, Category.WITHDRAWAL),
            now=clock.now(),
            expires_at=clock.now() + timedelta(days=1),
        )
    clock.advance(timedelta(minutes=16))
    with pytest.raises(ledger.HoldExpired):
        async with sessions.begin() as session:
            await ledger.post_hold(session, soon, now=clock.now())
    async with sessions.begin() as session:
        assert await ledger.expire_holds(session, now=clock.now()) == [soon]
    assert (await balance(sessions, a)).available_vnd == 700
    async with sessions.begin() as session:
        await ledger.post_hold(session, later, now=clock.now())
    assert (await balance(sessions, b)).posted_vnd == 200


async def test_the_database_refuses_a_wallet_below_zero_even_without_python(
    sessions: Sessions, clock: FixedClock
) -> None:
    _, a, _ = await open_accounts(sessions, clock)
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            await session.execute(text("UPDATE ledger_account SET debits_posted = 1 WHERE id = :a"), {"a": a})
    assert (await balance(sessions, a)).posted_vnd == 0


@pytest.mark.parametrize("statement", ["UPDATE ledger_posting SET amount_vnd = 1", "DELETE FROM ledger_posting"])
async def test_money_rows_are_append_only(sessions: Sessions, clock: FixedClock, statement: str) -> None:
    _, a, _ = await open_accounts(sessions, clock, fund_a=100)
    with pytest.raises(DBAPIError, match="append-only"):
        async with sessions.begin() as session:
            await session.execute(text(statement))
    assert (await balance(sessions, a)).posted_vnd == 100


@pytest.mark.postgres_only
async def test_postgres_refuses_to_commit_an_unbalanced_entry(sessions: Sessions, clock: FixedClock) -> None:
    bank, a, _ = await open_accounts(sessions, clock)
    async with sessions() as session:
        await session.execute(text("INSERT INTO ledger_entry (id, description, created_at) VALUES (99, 'x', now())"))
        await session.execute(
            text(
                "INSERT INTO ledger_transfer (id, entry_id, debit_account_id, credit_account_id, amount_vnd,"
                " category, metadata, created_at) VALUES (99, 99, :bank, :a, 100, 'topup', '{}', now())"
            ),
            {"bank": bank, "a": a},
        )
        await session.execute(
            text(
                "INSERT INTO ledger_posting (entry_id, transfer_id, account_id, side, amount_vnd, category, created_at)"
                " VALUES (99, 99, :a, 'C', 100, 'topup', now())"
            ),
            {"a": a},
        )
        with pytest.raises(IntegrityError, match="does not balance"):
            await session.commit()
    async with sessions() as session:
        assert await session.scalar(text("SELECT COUNT(*) FROM ledger_entry")) == 0


@pytest.mark.breaks_ledger_on_purpose
async def test_check_invariants_names_a_balance_that_disagrees_with_its_postings(
    sessions: Sessions, clock: FixedClock
) -> None:
    _bank, a, _ = await open_accounts(sessions, clock, fund_a=100)
    async with sessions.begin() as session:
        assert await ledger.check_invariants(session) == []
        # Money created from nothing: the balance says 150, the postings say 100.
        await session.execute(text("UPDATE ledger_account SET credits_posted = 150 WHERE id = :a"), {"a": a})
    async with sessions() as session:
        breaches = await ledger.check_invariants(session)
    assert any(breach.startswith("every posted balance equals the sum of its postings") for breach in breaches)
    assert any(breach.startswith("all accounts together balance") for breach in breaches)


@pytest.mark.breaks_ledger_on_purpose
@pytest.mark.usefixtures("command_shell")
@pytest.mark.parametrize(("tamper", "exit_code", "says"), [(False, 0, "ledger sound"), (True, 1, "BREACH")])
async def test_ledger_verify_command_exits_non_zero_on_a_breach(
    sessions: Sessions,
    clock: FixedClock,
    capsys: pytest.CaptureFixture[str],
    tamper: bool,
    exit_code: int,
    says: str,
) -> None:
    from civicpay.cli import main  # noqa: PLC0415 - imported where the command is exercised

    bank, _a, _ = await open_accounts(sessions, clock, fund_a=100)
    async with sessions.begin() as session:
        if tamper:
            await session.execute(text("UPDATE ledger_account SET debits_posted = 7 WHERE id = :bank"), {"bank": bank})
    # The command runs its own event loop, as it does from a shell.
    with pytest.raises(SystemExit) as verdict:
        await asyncio.to_thread(main, ["ledger", "verify"])
    assert verdict.value.code == exit_code
    assert says in capsys.readouterr().out


async def test_an_entry_of_many_parties_takes_its_locks_once_and_never_one_outside_them(
    sessions: Sessions, clock: FixedClock
) -> None:
    bank, a, b = await open_accounts(sessions, clock, fund_a=500_000)
    paying_two = [TransferSpec(a, b, 100_000, Category.WATER), TransferSpec(a, bank, 50_000, Category.ELECTRICITY)]
    async with sessions.begin() as session:
        locked = await ledger.lock_accounts(session, [b, a, bank])
        assert list(locked) == sorted([a, b, bank])  # one statement, in id order
        await ledger.post_entry(session, paying_two, now=clock.now(), description="two bills", locked=locked)

    async with sessions.begin() as session:
        only_two = await ledger.lock_accounts(session, [a, b])
        with pytest.raises(ledger.AccountsNotLocked):
            # Locking the bank now would take a lock out of id order after the first two.
            await ledger.post_entry(session, paying_two, now=clock.now(), description="late lock", locked=only_two)

    assert (await balance(sessions, a)).posted_vnd == 350_000
    assert (await balance(sessions, b)).posted_vnd == 100_000


async def test_money_that_only_raises_a_balance_waits_beside_its_row_and_is_added_once(
    sessions: Sessions, clock: FixedClock
) -> None:
    bank, a, b = await open_accounts(sessions, clock, fund_a=1_000)
    await post(sessions, clock, TransferSpec(a, b, 300, Category.P2P))
    async with sessions() as session:
        waiting = await session.execute(text("SELECT account_id, side, amount_vnd FROM ledger_balance_increase"))
    # The top-up raised the bank account and the transfer b: neither row was locked or written.
    assert sorted(map(tuple, waiting)) == sorted([(bank, "D", 1_000), (b, "C", 300)])
    assert (await balance(sessions, b)).posted_vnd == 300  # every reader counts them

    await post(sessions, clock, TransferSpec(b, a, 300, Category.P2P))  # b's lock adds its 300 to its row first
    assert (await balance(sessions, b)).posted_vnd == 0
    async with sessions.begin() as session:
        assert await ledger.fold_increases(session) == 2  # the bank's 1,000 and a's 300 back
    async with sessions.begin() as session:
        assert await ledger.fold_increases(session) == 0
        rows = await session.execute(
            text("SELECT id, debits_posted, credits_posted FROM ledger_account WHERE id IN (:bank, :a, :b)"),
            {"bank": bank, "a": a, "b": b},
        )
        assert sorted(map(tuple, rows)) == sorted([(bank, 1_000, 0), (a, 300, 1_300), (b, 300, 300)])
        assert await ledger.check_invariants(session) == []


@pytest.mark.parametrize(
    ("kind", "side"),
    [("liability", "D"), ("asset", "D")],
    ids=["a debit beside a wallet", "a wallet passed off as an asset"],
)
async def test_the_database_refuses_a_waiting_increase_that_would_lower_a_balance(
    sessions: Sessions, clock: FixedClock, kind: str, side: str
) -> None:
    _, a, _ = await open_accounts(sessions, clock, fund_a=100)
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            await session.execute(
                text(
                    "INSERT INTO ledger_balance_increase (account_id, account_kind, side, amount_vnd)"
                    " VALUES (:a, :kind, :side, 500)"
                ),
                {"a": a, "kind": kind, "side": side},
            )
    assert (await balance(sessions, a)).posted_vnd == 100


async def test_the_workers_fold_adds_what_waits_beside_an_account_that_only_receives(
    services: Services, api: Api, sessions: Sessions
) -> None:
    payer, shop = await api.register(), await api.register(full_name="Quán Cơm Bà Tư")
    await api.fund(payer, 90_000)
    for amount in (10_000, 20_000, 30_000):
        assert (await api.transfer(payer, shop, amount)).status_code == 201
    fold = next(job for job in services.jobs if job.name == "ledger fold")

    assert await fold.run() == 2  # the shop's three credits and the bank account the top-up reached
    async with sessions() as session:
        assert await session.scalar(text("SELECT COUNT(*) FROM ledger_balance_increase")) == 0
        row = await session.scalar(
            text("SELECT credits_posted FROM ledger_account WHERE id = :a"), {"a": shop.account_id}
        )
    assert row == 60_000
    assert await api.balance(shop) == 60_000
