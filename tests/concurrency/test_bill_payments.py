"""Two devices of one household paying one bill at once on PostgreSQL: exactly one pays it, money moves once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.billers import payable_account_code
from tests.billers import BillerDesk, bill
from tests.conftest import Api, account_balance

pytestmark = pytest.mark.postgres_only
AMOUNT = 90_000
ROUNDS = 10


async def test_two_devices_paying_one_bill_at_once_pay_it_once(
    biller_desk: BillerDesk, api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    evn = await biller_desk.biller()
    first, second = await api.register(), await api.register()
    pushed = await biller_desk.push(evn, *(bill(f"R{round_}", amount_vnd=AMOUNT) for round_ in range(ROUNDS)))
    for citizen in (first, second):  # one household: both linked the same customer code
        await api.fund(citizen, AMOUNT * ROUNDS)
        assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    outcomes = []
    for line in pushed.json()["accepted"]:
        answers = await asyncio.gather(biller_desk.pay(first, line["id"]), biller_desk.pay(second, line["id"]))
        outcomes.append(sorted((answer.status_code, answer.json().get("code")) for answer in answers))

    assert outcomes == [[(201, None), (409, "bill_already_paid")]] * ROUNDS
    assert await api.balance(first) + await api.balance(second) == AMOUNT * ROUNDS
    key_id = evn["api_key"].split("_")[1]
    assert await account_balance(sessions, payable_account_code(key_id)) == AMOUNT * ROUNDS
