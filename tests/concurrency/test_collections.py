"""Concurrent payments of one fee collection on PostgreSQL: exactly one pays it, money moves once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.clock import FixedClock
from civicpay.settings import Settings
from qr.collections import office_account_code
from tests.conftest import Api, account_balance
from tests.desk import OFFICE, Desk, pay_by_bank

pytestmark = pytest.mark.postgres_only
Sessions = async_sessionmaker[AsyncSession]
FEE = 80_000
ROUNDS = 10


async def test_two_wallets_paying_one_collection_at_once_pay_it_once(desk: Desk, api: Api, sessions: Sessions) -> None:
    first, second = await api.register(), await api.register()
    for citizen in (first, second):
        await api.fund(citizen, FEE * ROUNDS)
    outcomes = []
    for _ in range(ROUNDS):
        collection = await desk.collect(FEE)
        answers = await asyncio.gather(desk.pay(first, collection["vietqr"]), desk.pay(second, collection["vietqr"]))
        outcomes.append(sorted((answer.status_code, answer.json().get("code")) for answer in answers))

    assert outcomes == [[(201, None), (409, "collection_already_paid")]] * ROUNDS
    assert await api.balance(first) + await api.balance(second) == 2 * FEE * ROUNDS - FEE * ROUNDS
    assert await account_balance(sessions, office_account_code(OFFICE["code"])) == FEE * ROUNDS


async def test_a_wallet_and_a_bank_app_paying_at_once_leave_the_second_in_suspense(
    desk: Desk, api: Api, settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    citizen = await api.register()
    await api.fund(citizen, FEE * ROUNDS)
    for _ in range(ROUNDS):
        collection = await desk.collect(FEE)
        wallet, bank = await asyncio.gather(
            desk.pay(citizen, collection["vietqr"]),
            pay_by_bank(api, settings, clock, code=collection["reference"], amount_vnd=FEE),
        )
        paid_from_wallet = wallet.status_code == 201
        assert bank.status_code == 200
        # Whichever came second is refused (the wallet) or waits in suspense (the bank's money): never both paid.
        assert bank.json()["outcome"] == ("suspense" if paid_from_wallet else "collected")
        assert paid_from_wallet or wallet.json()["code"] == "collection_already_paid"
        if paid_from_wallet:
            assert bank.json()["suspense_reason"] == "already_paid"

    assert await account_balance(sessions, office_account_code(OFFICE["code"])) == FEE * ROUNDS
