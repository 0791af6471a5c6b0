"""The bank and civicpay talking over real sockets both ways, as in production.

civicpay runs in uvicorn; the bank sandbox sends it a signed incoming-transfer notification and later
a signed payout result, and answers civicpay's name inquiry and payout request. Nothing is handed
over by the test. The ledger invariants are checked after the test (conftest).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from litestar import Litestar

from sandbox.bank import AccountOpen, Bank
from tests.conftest import PASSWORD
from tests.servers import serving


@pytest.fixture
def live_bank(app_for_a_thread: Litestar, bank: Bank) -> Iterator[tuple[str, Bank]]:
    """civicpay served on a socket, and the bank sandbox told to call it there."""
    with serving(app_for_a_thread) as url:
        bank.civicpay_url = url
        try:
            yield url, bank
        finally:
            bank.civicpay_url = None


async def test_top_up_by_transfer_then_withdraw_with_every_message_on_the_wire(
    live_bank: tuple[str, Bank], bank_server: tuple[str, Bank]
) -> None:
    civicpay, bank = live_bank
    bank.accounts[("970415", "101867654321")] = AccountOpen("970415", "101867654321", "TRAN VAN MINH")
    async with httpx.AsyncClient(base_url=civicpay) as app, httpx.AsyncClient(base_url=bank_server[0]) as back_office:
        citizen = {"phone": "0987000111", "citizen_id": "079201009999", "full_name": "Trần Văn Minh"}
        assert (await app.post("/citizens", json={**citizen, "password": PASSWORD})).status_code == 201
        token = (await app.post("/auth/login", json={"phone": "0987000111", "password": PASSWORD})).json()
        me = {"Authorization": f"Bearer {token['access_token']}"}
        code = (await app.get("/wallets/me", headers=me)).json()["topup_code"]

        notified = await back_office.post("/_sandbox/incoming", json={"content": code, "amount_vnd": 1_000_000})
        linked = await app.post(
            "/bank-accounts", json={"bank_bin": "970415", "account_number": "101867654321"}, headers=me
        )
        withdrawal = await app.post(
            "/withdrawals",
            json={"bank_account_id": linked.json()["id"], "amount_vnd": 400_000},
            headers={**me, "Idempotency-Key": "wire-1"},
        )
        payout_id = withdrawal.json()["payout_id"]
        settled = await back_office.post(f"/_sandbox/payouts/{payout_id}/settle", json={"status": "confirmed"})
        shown = await app.get(f"/withdrawals/{withdrawal.json()['id']}", headers=me)
        wallet = (await app.get("/wallets/me", headers=me)).json()

    assert notified.json()["delivered_status"] == 200
    assert (linked.status_code, withdrawal.status_code) == (201, 201)
    assert bank.payouts[payout_id].amount_vnd == 400_000
    assert settled.json()["delivered_status"] == 200
    assert shown.json()["status"] == "confirmed"
    assert (wallet["balance_vnd"], wallet["available_vnd"]) == (600_000, 600_000)
