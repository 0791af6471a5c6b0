"""Merchants (điểm chấp nhận thanh toán): a printed static VietQR, takings from wallets, daily settlement.

The static code names the merchant's own bank account, so a customer's bank app pays the merchant
directly and we never see that money. A customer paying the same code from our wallet credits the
merchant's account with us instead (``qr.payments``), and once a day what has gathered there is paid
out to that bank account as a payout the bank confirms later (the withdrawal machinery of the wallet:
held, queued, sent with a payout id the bank keeps once, posted or given back by the bank's callback).
"""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth import service as auth
from civicpay.auth.models import Role
from civicpay.clock import BusinessCalendar
from civicpay.db import UnitsOfWork
from civicpay.errors import InvalidField, Text
from civicpay.settings import Settings
from qr import schemas as s
from qr import vietqr
from qr.collections import fits_a_qr
from qr.errors import MerchantNotFound
from qr.models import Merchant
from wallet import (
    Holder,
    holder_of_user,
    ledger,
    link_settlement_account,
    open_wallet,
    pay_out_balance,
    wallet_pool_account,
)


def static_code(merchant: Merchant) -> str:
    """The printed code: the merchant's account, its name and city, its category; the payer types the amount."""
    return vietqr.encode(
        vietqr.VietQr(
            bin=merchant.bank_bin,
            account=merchant.account_number,
            merchant_name=vietqr.fit_for_qr(merchant.name, 25),
            city=vietqr.fit_for_qr(merchant.city, 15),
            mcc=merchant.mcc,
            store=f"CH{merchant.id}",
        )
    )


async def _view(session: AsyncSession, merchant: Merchant, holder: Holder | None = None) -> s.Merchant:
    holder = holder or await holder_of_user(session, merchant.user_id)
    balance = (await ledger.balances(session, [holder.account_id]))[holder.account_id]
    return s.Merchant(
        id=merchant.id,
        name=merchant.name,
        city=merchant.city,
        mcc=merchant.mcc,
        bank_bin=merchant.bank_bin,
        account_number=merchant.account_number,
        vietqr=static_code(merchant),
        balance_vnd=balance.posted_vnd,
        available_vnd=balance.available_vnd,
    )


async def register(
    session: AsyncSession, hasher: PasswordHasher, data: s.MerchantCreate, *, bank_name: str, now: datetime
) -> s.Merchant:
    """The owner's sign-in, the merchant's account with us, and its bank account for settlement.

    ``bank_name`` is the bank's name for that account (``wallet.bank_account_name`` asks the bank).
    """
    fits_a_qr(data.name, 25, field="name")
    fits_a_qr(data.city, 15, field="city")
    taken = select(Merchant.id).where(
        Merchant.bank_bin == data.bank_bin, Merchant.account_number == data.account_number
    )
    if await session.scalar(taken) is not None:
        raise InvalidField(Text("Tài khoản này đã có điểm bán", "A merchant has this account"), field="account_number")
    user = await auth.create_user(
        session, hasher, auth.NewUser(data.phone, data.owner_name, data.password, Role.MERCHANT), now=now
    )
    await session.flush()
    wallet = await open_wallet(session, user, now=now)
    link_id = await link_settlement_account(
        session,
        wallet_id=wallet.id,
        bank_bin=data.bank_bin,
        account_number=data.account_number,
        bank_name=bank_name,
        now=now,
    )
    merchant = Merchant(
        user_id=user.id,
        wallet_id=wallet.id,
        name=data.name,
        city=data.city,
        mcc=data.mcc,
        bank_bin=data.bank_bin,
        account_number=data.account_number,
        bank_account_id=link_id,
        created_at=now,
    )
    session.add(merchant)
    await session.flush()
    return await _view(session, merchant)


async def _merchant(session: AsyncSession, merchant_id: int) -> Merchant:
    merchant = await session.get(Merchant, merchant_id)
    if merchant is None:
        raise MerchantNotFound()
    return merchant


async def get(session: AsyncSession, merchant_id: int) -> s.Merchant:
    return await _view(session, await _merchant(session, merchant_id))


async def mine(session: AsyncSession, user_id: int) -> s.Merchant:
    merchant = await session.scalar(select(Merchant).where(Merchant.user_id == user_id))
    if merchant is None:
        raise MerchantNotFound()
    return await _view(session, merchant)


async def poster_of(session: AsyncSession, merchant_id: int) -> tuple[str, Merchant]:
    merchant = await _merchant(session, merchant_id)
    return static_code(merchant), merchant


async def settle(
    units: UnitsOfWork, settings: Settings, calendar: BusinessCalendar, *, now: datetime
) -> list[s.SettlementLine]:
    """Queue a payout of each merchant's whole available balance, once a business day; one transaction each.

    The workers run this periodically (and operators on demand); whichever comes first in a
    business day pays the merchant, the others find the day's payout and leave it. Each payout is
    written to the outbox with its hold, for the bank after the commit.
    """
    async with units() as unit:
        merchants = (await unit.session.scalars(select(Merchant).order_by(Merchant.id))).all()
    lines = []
    for merchant in merchants:
        async with units() as unit:
            line = await _settle_one(unit.session, settings, merchant, calendar, now)
        if line is not None:
            lines.append(line)
    return lines


async def settle_all(
    session: AsyncSession, settings: Settings, calendar: BusinessCalendar, *, now: datetime
) -> list[s.SettlementLine]:
    """``settle`` in the caller's one transaction: an operator's request is one unit of work.

    Every merchant's account and the pool are locked at once, in id order, before any is paid out:
    locking them a merchant at a time would hold the pool while reaching for lower ids, the other
    order from a worker settling one merchant, and the two would deadlock.
    """
    merchants = (await session.scalars(select(Merchant).order_by(Merchant.id))).all()
    holders = [await holder_of_user(session, merchant.user_id) for merchant in merchants]
    pool = await wallet_pool_account(session, settings, now)
    await ledger.lock_accounts(session, [*(holder.account_id for holder in holders), pool])
    return [line for merchant in merchants if (line := await _settle_one(session, settings, merchant, calendar, now))]


async def _settle_one(
    session: AsyncSession, settings: Settings, merchant: Merchant, calendar: BusinessCalendar, now: datetime
) -> s.SettlementLine | None:
    holder = await holder_of_user(session, merchant.user_id)
    queued = await pay_out_balance(
        session,
        settings,
        wallet_id=holder.wallet_id,
        account_id=holder.account_id,
        link_id=merchant.bank_account_id,
        once_since=calendar.day_start(now),
        now=now,
    )
    return None if queued is None else s.SettlementLine(merchant.id, queued.amount_vnd, queued.payout_id, queued.id)
