"""Each bank account we hold has its own ledger balance, and every movement through a bank names the right one.

Checked the way a finance officer sees it: ``GET /finance/bank-accounts``, set beside what the bank did.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.clock import FixedClock
from civicpay.settings import Settings
from sandbox.bank import Bank
from tests.conftest import Api, bank_settles, finance_officer, notify
from tests.desk import OFFICE, Desk, pay_by_bank
from tests.integration.qr.test_merchants import pay, register_shop
from tests.integration.wallet.test_withdrawals import linked, withdraw
from wallet.withdrawals import SETTLEMENT_PAYOUT, WITHDRAWAL_PAYOUT

Sessions = async_sessionmaker[AsyncSession]


class Books:
    """The bank accounts a finance officer is shown, as {(BIN, number): balance}."""

    def __init__(self, api: Api, officer: dict[str, str]) -> None:
        self.api, self.officer = api, officer

    async def report(self) -> dict[str, Any]:
        answer = await self.api.client.get("/finance/bank-accounts", headers=self.officer)
        assert answer.status_code == 200, answer.text
        report: dict[str, Any] = answer.json()
        return report

    async def balances(self) -> dict[tuple[str, str], int]:
        accounts = (await self.report())["accounts"]
        return {(held["bank_bin"], held["account_number"]): held["balance_vnd"] for held in accounts}

    async def moved_since(self, before: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
        """Only what changed: each account's movement since ``before``."""
        after = await self.balances()
        return {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}


async def test_each_movement_through_a_bank_moves_that_bank_accounts_balance(
    desk: Desk, api: Api, bank: Bank, bank_server: tuple[str, Bank], settings: Settings, clock: FixedClock
) -> None:
    books = Books(api, await finance_officer(api, api.sessions, settings, clock))
    pool = (settings.wallet_pool_bank_bin, settings.wallet_pool_account_number)
    office = (OFFICE["bank_bin"], OFFICE["account_number"])
    huong = await api.register(full_name="Nguyễn Thị Hương")
    code = (await api.client.get("/wallets/me", headers=huong.headers)).json()["topup_code"]

    start = await books.balances()
    topped_up = await notify(api, settings, clock, code=code, amount_vnd=900_000)
    after_topup = await books.moved_since(start)

    fee = await desk.collect(50_000)
    start = await books.balances()
    await pay_by_bank(api, settings, clock, code=fee["reference"], amount_vnd=50_000)
    after_fee = await books.moved_since(start)

    by_wallet = await desk.collect(30_000)
    await desk.pay(huong, by_wallet["vietqr"])
    start = await books.balances()
    swept = await api.client.post("/finance/treasury/sweep", headers={**books.officer, "Idempotency-Key": "sweep-1"})
    before_the_bank_confirms = await books.moved_since(start)
    for remittance in swept.json()["remittances"]:
        await bank_settles(api, bank_server[0], remittance["reference"], "confirmed")
    after_sweep = await books.moved_since(start)

    start = await books.balances()
    made = await withdraw(api, huong, await linked(api, bank, huong), 200_000)
    held = await books.report()
    await bank_settles(api, bank_server[0], made.json()["payout_id"], "confirmed")
    after_withdrawal = await books.moved_since(start)

    shop = await register_shop(desk, bank)
    await pay(api, huong, shop["vietqr"], 45_000)
    start = await books.balances()
    settled = await api.client.post("/merchants/settlements", headers={**desk.admin, "Idempotency-Key": "settle-1"})
    await bank_settles(api, bank_server[0], settled.json()[0]["payout_id"], "confirmed")
    after_settlement = await books.moved_since(start)

    assert topped_up.json()["outcome"] == "credited"
    assert after_topup == {pool: 900_000}
    assert after_fee == {office: 50_000}
    # The fee paid by transfer leaves the office's account; the one paid from a wallet never left the pool.
    # Each is a remittance of its own, and leaves only when the bank confirms it.
    assert swept.status_code == 200, swept.text
    assert len(swept.json()["remittances"]) == 2
    assert before_the_bank_confirms == {}
    assert after_sweep == {office: -50_000, pool: -30_000}
    # A payout the bank has not confirmed is still in the account, but no longer available to send.
    [held_pool] = [held for held in held["accounts"] if (held["bank_bin"], held["account_number"]) == pool]
    assert held_pool["available_vnd"] == held_pool["balance_vnd"] - 200_000
    assert WITHDRAWAL_PAYOUT.decode(made.json()["payout_id"]) is not None
    assert after_withdrawal == {pool: -200_000}
    assert SETTLEMENT_PAYOUT.decode(settled.json()[0]["payout_id"]) is not None
    assert after_settlement == {pool: -45_000}


async def test_the_list_names_each_account_its_bank_and_purpose_and_what_reached_unknown_ones(
    desk: Desk, api: Api, settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    officer = await finance_officer(api, sessions, settings, clock)
    huong = await api.register()
    code = (await api.client.get("/wallets/me", headers=huong.headers)).json()["topup_code"]
    await notify(api, settings, clock, code=code, amount_vnd=10_000)

    unknown = await notify(api, settings, clock, code=code, amount_vnd=70_000, account_number="999000111")
    listed = await api.client.get("/finance/bank-accounts", headers=officer)
    refused = await api.client.get("/finance/bank-accounts", headers=huong.headers)

    assert (unknown.json()["outcome"], unknown.json()["suspense_reason"]) == ("suspense", "unknown_account")
    assert await api.balance(huong) == 10_000
    assert listed.status_code == 200, listed.text
    shown = {(held["bank_bin"], held["account_number"]): held for held in listed.json()["accounts"]}
    pool = shown[(settings.wallet_pool_bank_bin, settings.wallet_pool_account_number)]
    office = shown[(OFFICE["bank_bin"], OFFICE["account_number"])]
    assert (pool["bank_name"], pool["purpose"], pool["balance_vnd"]) == ("Vietcombank", "wallet_pool", 10_000)
    assert (office["purpose"], office["holder_name"], office["balance_vnd"]) == ("fee_collection", OFFICE["name"], 0)
    assert listed.json()["unregistered_vnd"] == 70_000
    assert refused.status_code == 403
