"""Wallet-to-wallet transfers through the HTTP API, with the ledger checked after each (conftest)."""

from __future__ import annotations

from tests.conftest import Api


async def test_transfer_moves_money_and_both_histories_show_it(api: Api) -> None:
    huong, minh = await api.register(full_name="Nguyễn Thị Hương"), await api.register(full_name="Trần Văn Minh")
    await api.fund(huong, 1_000_000)

    sent = await api.transfer(huong, minh, 250_000, memo="Trả tiền ăn trưa")

    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert body["amount_display"] == "250.000 ₫"
    assert body["recipient"]["name"] == "Trần Văn Minh"
    assert await api.balance(huong) == 750_000
    assert await api.balance(minh) == 250_000
    out = (await api.client.get(f"/wallets/{huong.wallet_id}/history", headers=huong.headers)).json()["items"][0]
    inbound = (await api.client.get(f"/wallets/{minh.wallet_id}/history", headers=minh.headers)).json()["items"][0]
    assert (out["direction"], out["amount_vnd"], out["memo"]) == ("out", 250_000, "Trả tiền ăn trưa")
    assert (inbound["direction"], inbound["counterparty"]["name"]) == ("in", "Nguyễn Thị Hương")


async def test_insufficient_funds_is_refused_and_moves_nothing(api: Api) -> None:
    huong, minh = await api.register(), await api.register()
    await api.fund(huong, 100_000)

    refused = await api.transfer(huong, minh, 100_001)

    assert refused.status_code == 422
    assert refused.json()["code"] == "insufficient_funds"
    assert refused.json()["available_vnd"] == 100_000
    assert (await api.balance(huong), await api.balance(minh)) == (100_000, 0)
