"""Migration 0007 on a database with money in it: every balance kept, the old accounts emptied, payouts still found.

The database is built at revision 0006 and given a realistic state as the code of that revision left it:
wallets funded by bank transfers (one to an account we have no record of) and by card (one top-up still
pending), fees paid by transfer and from a wallet and swept to the Treasury, a suspense item returned, a
confirmed withdrawal, one in flight under its old 18-character payout id and one still queued (the bank was
down). Then it is upgraded to head (0009 too: the remittance becomes confirmed, the returned item stays
returned; 0010 back-fills the wallets' spending totals), and the queued payout is sent by the outbox under
the id it had.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from civicpay import bootstrap
from civicpay.auth.secrets import password_hasher
from civicpay.clock import BusinessCalendar
from civicpay.db import alembic_config, create_session_factory, table_of
from civicpay.money import Category
from civicpay.settings import Settings
from qr.models import Counter, FeeCollection, Office, TreasuryRemittance
from qr.treasury import REMITTANCE
from sandbox.bank import AccountOpen, Bank
from tests.conftest import make_settings
from tests.migrations import database_at
from wallet import bank_instructions, ledger
from wallet.bank_payouts import PayoutResult
from wallet.bank_topups import SUSPENSE_RETURN
from wallet.ledger.bank_accounts import UNREGISTERED, ledger_code
from wallet.models import BankNotification, CardTopup, LinkedBankAccount, Withdrawal
from wallet.schemas import CitizenCreate
from wallet.service import holder_of_user, register_citizen
from wallet.withdrawals import PAYOUT, WITHDRAWAL_PAYOUT

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
IN_FLIGHT = "WD0123456789ABCDEF"  # the bank already holds this payout under its old id
QUEUED = "WDAAAAAAAAAAAAAAAA"  # never reached the bank before the upgrade
MINH_ACCOUNT = ("970415", "101867654321")
OFFICE_ACCOUNT = ("970436", "0161001234567")
UNKNOWN_ACCOUNT = ("970436", "5550001112")


@pytest.fixture
async def url_at_0006(tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own at revision 0006."""
    async with database_at("0006", tmp_path) as url:
        yield url


async def _lend_today(engine: AsyncEngine, *, lend: bool) -> None:
    """Today's ledger writes what revision 0006 had not: which accounts keep spending totals, the totals
    (0010), and increases waiting beside the rows (0011).

    Lent while the old money is booked with today's code and taken back before the upgrade (the waiting
    increases folded into their rows first, where 0006 kept all money), so the upgrade is checked on what
    0010 itself adds and back-fills.
    """
    totals, increases = table_of(ledger.SpendingTotal), table_of(ledger.BalanceIncrease)
    by_kind = next(index for index in table_of(ledger.Account).indexes if index.name == "uq_ledger_account_id_kind")
    async with engine.begin() as connection:
        if lend:
            flag = "ALTER TABLE ledger_account ADD COLUMN counts_spending BOOLEAN NOT NULL DEFAULT false"
            await connection.execute(text(flag))
            await connection.run_sync(totals.create)
            await connection.run_sync(by_kind.create)
            await connection.run_sync(increases.create)
        else:
            async with AsyncSession(connection) as session:
                while await ledger.fold_increases(session):
                    pass
            await connection.run_sync(increases.drop)
            await connection.run_sync(by_kind.drop)
            await connection.run_sync(totals.drop)
            await connection.execute(text("ALTER TABLE ledger_account DROP COLUMN counts_spending"))


async def _old_state(session: AsyncSession, settings: Settings) -> dict[str, int]:
    """Money as revision 0006 booked it: every bank account one ``asset:bank:settlement``."""

    def asset(code: str) -> Any:
        kind = ledger.AccountKind.ASSET
        return ledger.open_account(session, code=code, name=code, kind=kind, no_overdraft=False, now=NOW)

    bank, card = await asset("asset:bank:settlement"), await asset("asset:card:acquirer")
    suspense = await ledger.open_account(
        session, code="liability:suspense", name="s", kind=ledger.AccountKind.LIABILITY, no_overdraft=True, now=NOW
    )
    fees = await ledger.open_account(
        session, code="liability:office:PHUHOI", name="o", kind=ledger.AccountKind.LIABILITY, no_overdraft=True, now=NOW
    )
    hasher = password_hasher(settings)
    people = []
    for number in (1, 2):
        citizen = await register_citizen(
            session,
            hasher,
            CitizenCreate(f"09120000{number:02d}", f"04619000000{number}", "Nguyễn Văn An", "pw-1234567"),
            now=NOW,
        )
        people.append(await holder_of_user(session, citizen.user_id))
    huong, minh = people

    async def post(debit: int, credit: int, amount: int, category: Category = Category.TOPUP, **meta: Any) -> int:
        spec = ledger.TransferSpec(debit, credit, amount, category, metadata=meta)
        return (await ledger.post_entry(session, [spec], now=NOW, description="0006")).transfer_ids[0]

    notifications = table_of(BankNotification)

    async def notified(account: tuple[str, str], amount: int, transfer_id: int, outcome: str) -> int:
        row_id: int = (
            await session.execute(
                insert(notifications).returning(notifications.c.id),
                {
                    "bank_notification_id": f"ntf_{uuid.uuid4().hex}",
                    "bank": account[0],
                    "account_number": account[1],
                    "direction": "in",
                    "amount_vnd": amount,
                    "content": "NAP TIEN",
                    "bank_reference": f"FT{uuid.uuid4().hex[:10]}",
                    "transaction_at": NOW,
                    "received_at": NOW,
                    "outcome": outcome,
                    "transfer_id": transfer_id,
                },
            )
        ).scalar_one()
        return row_id

    pool = (settings.wallet_pool_bank_bin, settings.wallet_pool_account_number)
    await notified(pool, 1_000_000, await post(bank, huong.account_id, 1_000_000), "credited")
    await notified(UNKNOWN_ACCOUNT, 300_000, await post(bank, minh.account_id, 300_000), "credited")
    await post(bank, minh.account_id, 400_000)  # the demo's opening money: no record behind it

    # Cards: one top-up through, one still waiting for the acquirer's word.
    for amount, status in ((500_000, "succeeded"), (200_000, "pending")):
        spec = ledger.TransferSpec(card, huong.account_id, amount, Category.TOPUP, reference="card")
        hold_id = await ledger.hold(session, spec, now=NOW, expires_at=None)
        if status == "succeeded":
            await ledger.post_hold(session, hold_id, now=NOW)
        await session.execute(
            insert(table_of(CardTopup)),
            {
                "wallet_id": huong.wallet_id,
                "amount_vnd": amount,
                "hold_id": hold_id,
                "payment_intent_id": f"pi_{uuid.uuid4().hex[:12]}",
                "status": status,
                "refunded_vnd": 0,
                "created_at": NOW,
            },
        )

    # Fees: one paid by transfer and one from a wallet, swept; one paid by transfer not yet swept.
    office_id = (
        await session.execute(
            insert(table_of(Office)).returning(table_of(Office).c.id),
            {
                "code": "PHUHOI",
                "name": "Bo phan Mot cua Phu Hoi",
                "city": "Hue",
                "bank_bin": OFFICE_ACCOUNT[0],
                "account_number": OFFICE_ACCOUNT[1],
                "agency_code": "UBND-PHUHOI",
                "agency_name": "UBND",
                "treasury_account": "3511.0.1054321",
                "account_id": fees,
                "created_at": NOW,
            },
        )
    ).scalar_one()
    counter_id = (
        await session.execute(
            insert(table_of(Counter)).returning(table_of(Counter).c.id),
            {"office_id": office_id, "name": "Quay 1", "created_at": NOW},
        )
    ).scalar_one()
    collections = []
    for number, (amount, by) in enumerate(((50_000, "bank"), (30_000, "wallet"), (40_000, "bank")), start=1):
        if by == "bank":
            transfer_id = await post(bank, fees, amount, Category.PUBLIC_SERVICE_FEE)
            note_id: int | None = await notified(OFFICE_ACCOUNT, amount, transfer_id, "collected")
        else:
            transfer_id, note_id = await post(huong.account_id, fees, amount, Category.PUBLIC_SERVICE_FEE), None
        collections.append(
            {
                "office_id": office_id,
                "counter_id": counter_id,
                "clerk_user_id": huong.user_id,
                "procedure_code": "1.001612",
                "procedure_name": "Chung thuc",
                "dossier_number": f"D{number}",
                "payer_name": "An",
                "kind": "fee",
                "amount_vnd": amount,
                "status": "paid",
                "created_at": NOW,
                "expires_at": NOW + timedelta(minutes=30),
                "paid_at": NOW,
                "paid_by": by,
                "bank_notification_id": note_id,
                "transfer_id": transfer_id,
                "receipt_number": f"R{number}",
            }
        )
    await session.execute(insert(table_of(FeeCollection)), collections)
    sweep = ledger.TransferSpec(fees, bank, 80_000, Category.PUBLIC_SERVICE_FEE, reference="KBNN UBND-PHUHOI")
    swept = await ledger.post_entry(session, [sweep], now=NOW, description="treasury remittance")
    remittances = table_of(TreasuryRemittance)
    remittance_id = (
        await session.execute(
            insert(remittances).returning(remittances.c.id),
            {
                "agency_code": "UBND-PHUHOI",
                "treasury_account": "3511.0.1054321",
                "amount_vnd": 80_000,
                "collections": 2,
                "entry_id": swept.entry_id,
                "created_at": NOW,
            },
        )
    ).scalar_one()
    fee_table = table_of(FeeCollection)
    await session.execute(
        fee_table.update().where(fee_table.c.dossier_number.in_(["D1", "D2"])).values(swept_by_id=remittance_id)
    )

    # A transfer to the office's account nobody could place, returned to its payer.
    returned = await notified(OFFICE_ACCOUNT, 70_000, await post(bank, suspense, 70_000), "returned")
    await post(suspense, bank, 70_000, Category.RETURN, bank_notification=returned)

    # Withdrawals: one the bank confirmed, one it has under its old id and has not answered yet.
    link_id = (
        await session.execute(
            insert(table_of(LinkedBankAccount)).returning(table_of(LinkedBankAccount).c.id),
            {
                "wallet_id": minh.wallet_id,
                "bank_bin": MINH_ACCOUNT[0],
                "account_number": MINH_ACCOUNT[1],
                "holder_name": "NGUYEN VAN AN",
                "created_at": NOW,
            },
        )
    ).scalar_one()
    payouts = (("WDFFFFFFFFFFFFFFFF", 100_000, "confirmed"), (IN_FLIGHT, 150_000, "sent"), (QUEUED, 20_000, "queued"))
    for payout_id, amount, status in payouts:
        spec = ledger.TransferSpec(minh.account_id, bank, amount, Category.WITHDRAWAL, reference="payout")
        hold_id = await ledger.hold(session, spec, now=NOW, expires_at=None)
        if status == "confirmed":
            await ledger.post_hold(session, hold_id, now=NOW)
        await session.execute(
            insert(table_of(Withdrawal)),
            {
                "wallet_id": minh.wallet_id,
                "bank_account_id": link_id,
                "amount_vnd": amount,
                "hold_id": hold_id,
                "payout_id": payout_id,
                "status": status,
                "created_at": NOW,
            },
        )
    return {"huong": huong.account_id, "minh": minh.account_id, "bank": bank, "card": card}


async def _posted(session: AsyncSession, account_id: int) -> ledger.Balance:
    return (await ledger.balances(session, [account_id]))[account_id]


async def _bank_assets(session: AsyncSession) -> int:
    """Everything we hold at banks (the card acquirer's settlements included), by the ledger."""
    codes = select(ledger.Account.id).where(
        ledger.Account.code.like("asset:bank:%") | (ledger.Account.code == "asset:card:acquirer")
    )
    found = await ledger.balances(session, (await session.scalars(codes)).all())
    return sum(balance.posted_vnd for balance in found.values())


async def test_0007_keeps_every_balance_and_moves_the_old_accounts_money_to_its_bank_accounts(
    url_at_0006: str, bank: Bank, bank_server: tuple[str, Bank]
) -> None:
    settings = make_settings(url_at_0006)
    engine = create_async_engine(url_at_0006)
    calendar = BusinessCalendar(ZoneInfo(settings.business_timezone))
    sessions: async_sessionmaker[AsyncSession] = create_session_factory(engine, ledger.session_info(calendar))
    try:
        await _lend_today(engine, lend=True)
        async with sessions.begin() as session:
            ids = await _old_state(session, settings)
        async with sessions() as session:
            wallets_before = {name: (await _posted(session, ids[name])).posted_vnd for name in ("huong", "minh")}
            assets_before = await _bank_assets(session)
        await _lend_today(engine, lend=False)

        await asyncio.to_thread(command.upgrade, alembic_config(url_at_0006), "head")

        async with sessions() as session:
            assert await ledger.check_invariants(session) == []  # the back-filled spending totals too
            assert await session.scalar(text("SELECT COUNT(*) FROM ledger_spending_total WHERE period = 'month'"))
            wallets_after = {name: (await _posted(session, ids[name])).posted_vnd for name in ("huong", "minh")}
            assets_after = await _bank_assets(session)
            old_bank, old_card = await _posted(session, ids["bank"]), await _posted(session, ids["card"])
            by_code = {
                code: await _posted(session, await ledger.account_id(session, code))
                for code in (
                    ledger_code(settings.wallet_pool_bank_bin, settings.wallet_pool_account_number),
                    ledger_code(settings.card_settlement_bank_bin, settings.card_settlement_account_number),
                    ledger_code(*OFFICE_ACCOUNT),
                    UNREGISTERED,
                )
            }
            in_flight = await session.scalar(select(Withdrawal).where(Withdrawal.legacy_payout_id == IN_FLIGHT))
            confirmed = await session.scalar(select(Withdrawal).where(Withdrawal.status == "confirmed"))
            remittance = await session.scalar(select(TreasuryRemittance))
            returned = await session.scalar(select(BankNotification).where(BankNotification.outcome == "returned"))
            registered = (await session.execute(select(ledger.BankAccount.purpose))).scalars().all()

        pool, card, office, unregistered = by_code.values()
        assert wallets_after == wallets_before
        assert assets_after == assets_before
        assert (old_bank.posted_vnd, old_bank.debits_pending, old_bank.credits_pending) == (0, 0, 0)
        assert (old_card.posted_vnd, old_card.debits_pending, old_card.credits_pending) == (0, 0, 0)
        # 1.000.000 + 400.000 in, the wallet-paid fee swept (30.000) and the confirmed payout (100.000) out.
        assert (pool.posted_vnd, pool.credits_pending) == (1_270_000, 170_000)
        assert (card.posted_vnd, card.debits_pending) == (500_000, 200_000)
        # 50.000 + 40.000 + 70.000 in, the swept 50.000 and the returned 70.000 out.
        assert office.posted_vnd == 40_000
        assert unregistered.posted_vnd == 300_000
        assert sorted(registered) == ["card_settlement", "fee_collection", "wallet_pool"]

        assert in_flight is not None
        assert confirmed is not None
        assert WITHDRAWAL_PAYOUT.decode(in_flight.payout_id) is not None
        assert (in_flight.sent_as, confirmed.legacy_payout_id) == (IN_FLIGHT, "WDFFFFFFFFFFFFFFFF")
        assert WITHDRAWAL_PAYOUT.decode(confirmed.payout_id) is not None
        assert remittance is not None
        assert REMITTANCE.decode(remittance.reference) is not None
        # 0009: the money of a remittance booked before it left at once, so the bank has nothing to say.
        assert (remittance.status, remittance.hold_id, remittance.from_bank_bin) == ("confirmed", None, None)
        assert remittance.resolved_at is not None
        assert returned is not None
        assert returned.return_reference is not None
        assert SUSPENSE_RETURN.decode(returned.return_reference) is not None

        # The bank answers for the in-flight payout by the id it knows: found, and posted to the pool.
        async with sessions.begin() as session:
            receipt = await bank_instructions.receive_result(
                session, [PAYOUT], PayoutResult(payout_id=IN_FLIGHT, status="confirmed"), now=NOW + timedelta(hours=1)
            )
            pending = await session.scalar(select(CardTopup.hold_id).where(CardTopup.status == "pending"))
            assert pending is not None
            await ledger.post_hold(session, pending, now=NOW + timedelta(hours=1))
        async with sessions() as session:
            assert await ledger.check_invariants(session) == []
            pool_now = await _posted(session, pool.account_id)
            card_now = await _posted(session, card.account_id)
            old_now = await _posted(session, ids["bank"])
        assert (receipt.payout_id, receipt.status, receipt.changed) == (IN_FLIGHT, "confirmed", True)
        assert (pool_now.posted_vnd, pool_now.credits_pending) == (1_120_000, 20_000)
        assert card_now.posted_vnd == 700_000
        assert old_now.posted_vnd == 0

        # The payout still queued at the upgrade goes to the bank once, under the id it was made with.
        bank.accounts[MINH_ACCOUNT] = AccountOpen(*MINH_ACCOUNT, holder_name="NGUYEN VAN AN")
        async with bootstrap.running(make_settings(url_at_0006, bank_api_base=bank_server[0])) as services:
            delivered = await services.outbox.drain()
            again = await services.outbox.drain()
        async with sessions() as session:
            queued = await session.scalar(select(Withdrawal).where(Withdrawal.legacy_payout_id == QUEUED))
        assert (delivered, again) == (1, 0)
        assert list(bank.payouts) == [QUEUED]
        assert bank.payouts[QUEUED].amount_vnd == 20_000
        assert queued is not None
        assert queued.status == "sent"
    finally:
        await engine.dispose()
