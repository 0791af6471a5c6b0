"""The ledger's running spending totals (wallet/ledger/spending.py), which the monthly cap and the daily step-up read.

After every test the invariant check (tests/conftest.py) recomputes every total from the postings and holds, so
each scenario of the suite proves them equal to the old sums; these tests take them through each way money
leaves a wallet or stops being held, and across the turn of the day and of the month in Vietnam.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from httpx import Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay import bootstrap
from civicpay.app import create_app, running
from civicpay.bootstrap import Services
from civicpay.clock import FixedClock
from civicpay.db import create_session_factory
from civicpay.money import Category
from tests.conftest import Api, http_into, make_settings
from wallet import ledger
from wallet.ledger import AccountKind, TransferSpec

Sessions = async_sessionmaker[AsyncSession]
MILLION = 1_000_000
# 23:00 on Monday 30 November 2026 in Vietnam (UTC+7): an hour before both the day and the month turn.
LAST_EVENING = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


async def open_wallets(sessions: Sessions, clock: FixedClock) -> tuple[int, int, int]:
    """A payer with 50 million đồng, a payee (both wallets, keeping totals) and a bank account (keeping none)."""
    now = clock.now()
    async with sessions.begin() as session:
        bank = await ledger.open_account(
            session, code="asset:test-bank", name="Bank", kind=AccountKind.ASSET, no_overdraft=False, now=now
        )
        payer, payee = [
            await ledger.open_account(
                session,
                code=f"wallet:test-{name}",
                name=name,
                kind=AccountKind.LIABILITY,
                no_overdraft=True,
                now=now,
                counts_spending=True,
            )
            for name in ("payer", "payee")
        ]
        funding = TransferSpec(bank, payer, 50 * MILLION, Category.TOPUP)
        await ledger.post_entry(session, [funding], now=now, description="funding")
    return payer, payee, bank


async def sent(sessions: Sessions, services: Services, account: int, at: datetime) -> tuple[int, int]:
    """(this month's cap-counted total, this day's total) as the limits read them at ``at``."""
    async with sessions() as session:
        return await ledger.sent_so_far(session, account, services.calendar, at)


async def pay(sessions: Sessions, spec: TransferSpec, at: datetime) -> None:
    async with sessions.begin() as session:
        await ledger.post_entry(session, [spec], now=at, description="payment")


async def held(sessions: Sessions, spec: TransferSpec, at: datetime, expires_at: datetime | None = None) -> int:
    async with sessions.begin() as session:
        return await ledger.hold(session, spec, now=at, expires_at=expires_at)


async def test_a_payment_counts_for_its_month_and_day_an_exempt_one_for_its_day_only_money_in_for_neither(
    sessions: Sessions, services: Services, clock: FixedClock
) -> None:
    payer, payee, bank = await open_wallets(sessions, clock)
    await pay(sessions, TransferSpec(payer, payee, 1 * MILLION, Category.P2P), clock.now())
    await pay(sessions, TransferSpec(payer, bank, 2 * MILLION, Category.WATER), clock.now())

    assert await sent(sessions, services, payer, clock.now()) == (1 * MILLION, 3 * MILLION)
    assert await sent(sessions, services, payee, clock.now()) == (0, 0)
    async with sessions() as session:
        assert (
            await session.scalar(
                text("SELECT COUNT(*) FROM ledger_spending_total WHERE account_id = :bank"), {"bank": bank}
            )
            == 0
        )  # the bank account was debited by the funding, and keeps no totals


async def test_the_day_and_the_month_turn_at_midnight_in_vietnam(
    sessions: Sessions, services: Services, clock: FixedClock
) -> None:
    payer, payee, _ = await open_wallets(sessions, clock)
    day_before = LAST_EVENING - timedelta(days=1)
    await pay(sessions, TransferSpec(payer, payee, 1 * MILLION, Category.P2P), day_before)
    await pay(sessions, TransferSpec(payer, payee, 2 * MILLION, Category.P2P), LAST_EVENING + 59 * timedelta(minutes=1))

    assert await sent(sessions, services, payer, day_before + HOUR - timedelta(seconds=1)) == (3 * MILLION, 1 * MILLION)
    last_instant = LAST_EVENING + HOUR - timedelta(microseconds=1)
    assert await sent(sessions, services, payer, last_instant) == (3 * MILLION, 2 * MILLION)
    # Midnight in Vietnam is 17:00 UTC, the same UTC date: both totals start again.
    assert await sent(sessions, services, payer, LAST_EVENING + HOUR) == (0, 0)


async def test_a_hold_counts_where_it_was_made_and_once_posted_in_part_its_posting_counts_where_it_was_posted(
    sessions: Sessions, services: Services
) -> None:
    payer, payee, _ = await open_wallets(sessions, FixedClock(LAST_EVENING))
    hold = await held(sessions, TransferSpec(payer, payee, 5 * MILLION, Category.WITHDRAWAL), LAST_EVENING)
    assert await sent(sessions, services, payer, LAST_EVENING) == (5 * MILLION, 5 * MILLION)

    next_morning = LAST_EVENING + 10 * HOUR  # 09:00 on 1 December
    async with sessions.begin() as session:
        await ledger.post_hold(session, hold, now=next_morning, amount_vnd=3 * MILLION)

    assert await sent(sessions, services, payer, LAST_EVENING) == (0, 0)  # the hold counts no more in November
    assert await sent(sessions, services, payer, next_morning) == (3 * MILLION, 3 * MILLION)  # only what was posted


@pytest.mark.parametrize("ending", ["void", "expiry"])
async def test_a_voided_or_expired_hold_stops_counting_in_the_period_it_was_made(
    sessions: Sessions, services: Services, ending: str
) -> None:
    payer, payee, _ = await open_wallets(sessions, FixedClock(LAST_EVENING))
    spec = TransferSpec(payer, payee, 4 * MILLION, Category.P2P)
    hold = await held(sessions, spec, LAST_EVENING, expires_at=LAST_EVENING + 2 * HOUR)
    await pay(sessions, TransferSpec(payer, payee, 1 * MILLION, Category.P2P), LAST_EVENING)

    later = LAST_EVENING + 3 * HOUR  # another day and another month
    async with sessions.begin() as session:
        if ending == "void":
            await ledger.void_hold(session, hold, now=later)
        else:
            assert await ledger.expire_holds(session, now=later) == [hold]

    assert await sent(sessions, services, payer, LAST_EVENING) == (1 * MILLION, 1 * MILLION)
    assert await sent(sessions, services, payer, later) == (0, 0)


async def test_a_refund_into_the_wallet_gives_no_spending_back_and_a_refund_out_of_it_counts(
    sessions: Sessions, services: Services, clock: FixedClock
) -> None:
    """As the old sums did: only money leaving the wallet counts, whatever brought it back."""
    payer, payee, bank = await open_wallets(sessions, clock)
    await pay(sessions, TransferSpec(payer, payee, 2 * MILLION, Category.MERCHANT_PAYMENT), clock.now())
    await pay(sessions, TransferSpec(payee, payer, 2 * MILLION, Category.MERCHANT_PAYMENT), clock.now())
    await pay(sessions, TransferSpec(payer, bank, 1 * MILLION, Category.TOPUP), clock.now())  # back to the card

    assert await sent(sessions, services, payer, clock.now()) == (3 * MILLION, 3 * MILLION)
    assert await sent(sessions, services, payee, clock.now()) == (2 * MILLION, 2 * MILLION)


async def test_a_wallets_spending_is_not_written_through_a_session_without_the_business_calendar(
    services: Services, sessions: Sessions, clock: FixedClock
) -> None:
    payer, payee, _ = await open_wallets(sessions, clock)
    bare = create_session_factory(services.engine)
    with pytest.raises(ledger.NoBusinessCalendar):
        async with bare.begin() as session:
            await ledger.post_entry(
                session, [TransferSpec(payer, payee, 1, Category.P2P)], now=clock.now(), description="p2p"
            )


@pytest.mark.breaks_ledger_on_purpose
@pytest.mark.usefixtures("command_shell")
@pytest.mark.parametrize(
    ("tamper", "promise"),
    [
        ("UPDATE ledger_spending_total SET amount_vnd = amount_vnd + 1", "every spending total equals"),
        ("DELETE FROM ledger_spending_total WHERE period = 'day'", "everything a wallet sent is in its spending"),
    ],
    ids=["a-total-off-by-one", "a-total-missing"],
)
async def test_a_corrupted_total_is_a_breach_and_ledger_verify_exits_1(
    sessions: Sessions,
    clock: FixedClock,
    capsys: pytest.CaptureFixture[str],
    tamper: str,
    promise: str,
) -> None:
    from civicpay.cli import main  # noqa: PLC0415 - imported where the command is exercised

    payer, payee, _ = await open_wallets(sessions, clock)
    await pay(sessions, TransferSpec(payer, payee, 1 * MILLION, Category.P2P), clock.now())
    async with sessions.begin() as session:
        assert await ledger.check_invariants(session) == []
        await session.execute(text(tamper))
        breaches = await ledger.check_invariants(session)
    assert [breach for breach in breaches if breach.startswith(promise)], breaches

    with pytest.raises(SystemExit) as verdict:
        await asyncio.to_thread(main, ["ledger", "verify"])
    assert verdict.value.code == 1
    assert promise in capsys.readouterr().out


@pytest.mark.postgres_only
async def test_concurrent_transfers_from_one_wallet_on_both_paths_keep_its_totals_exact(
    api: Api, database_url: str, clock: FixedClock, services: Services, sessions: Sessions
) -> None:
    payer, payee = await api.register(), await api.register()
    await api.fund(payer, 1 * MILLION)
    portable = create_app(bootstrap.build(make_settings(database_url, fast_transfers=False), clock))

    async with running(portable), http_into(portable) as other:

        async def tap(number: int) -> Response:
            client = api.client if number % 2 else other  # the fast path, or the portable one
            headers = {**payer.headers, "Idempotency-Key": f"tap-{number}"}
            return await client.post(
                "/transfers", json={"to_phone": payee.phone, "amount_vnd": 10_000}, headers=headers
            )

        answers = await asyncio.gather(*(tap(number) for number in range(24)))

    assert {answer.status_code for answer in answers} == {201}
    async with sessions() as session:
        account = await ledger.account_id(session, f"wallet:{payer.user_id}")
    assert await sent(sessions, services, account, clock.now()) == (240_000, 240_000)
    assert await api.balance(payer) == 760_000
