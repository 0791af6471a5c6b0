"""GET /banks: the bank picker's list, public and sorted by name."""

from __future__ import annotations

from httpx import AsyncClient


async def test_anyone_can_list_the_banks_by_bin(client: AsyncClient) -> None:
    answer = await client.get("/banks")

    assert answer.status_code == 200
    banks = answer.json()
    names = [bank["short_name"].lower() for bank in banks]
    assert names == sorted(names)
    bidv = next(bank for bank in banks if bank["bin"] == "970418")
    assert bidv == {
        "bin": "970418",
        "short_name": "BIDV",
        "legal_name": "Ngân hàng TMCP Đầu tư và Phát triển Việt Nam",
        "can_receive": True,
        "can_send": True,
    }
