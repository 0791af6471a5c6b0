"""Merchants: a static code to their own bank account; wallets pay it; the takings are settled to the bank daily."""

from __future__ import annotations

import uuid
from datetime import timedelta

from httpx import Response

from civicpay.clock import FixedClock
from civicpay.settings import Settings
from qr import vietqr
from sandbox.bank import AccountOpen, Bank
from tests.conftest import Api, Citizen, bank_settles, signed_in
from tests.desk import Desk
from wallet.bank_payouts import Payout

SHOP = {
    "phone": "0905111222",
    "owner_name": "Trần Thị Thuận",
    "password": "mat-khau-cua-hang",
    "name": "Cà phê Thuận Hóa",
    "city": "Huế",
    "mcc": "5814",
    "bank_bin": "970422",
    "account_number": "0905111222",
}


async def register_shop(desk: Desk, bank: Bank) -> dict[str, object]:
    bank.accounts[("970422", "0905111222")] = AccountOpen("970422", "0905111222", "CA PHE THUAN HOA")
    made = await desk.api.client.post("/merchants", json=SHOP, headers=desk.admin)
    assert made.status_code == 201, made.text
    shop: dict[str, object] = made.json()
    return shop


async def pay(api: Api, citizen: Citizen, payload: object, amount_vnd: int | None = None) -> dict[str, object]:
    body: dict[str, object] = {"payload": payload}
    if amount_vnd is not None:
        body["amount_vnd"] = amount_vnd
    answer = await api.client.post(
        "/qr/payments", json=body, headers={**citizen.headers, "Idempotency-Key": str(uuid.uuid4())}
    )
    result: dict[str, object] = {"status": answer.status_code, **answer.json()}
    return result


async def settle(desk: Desk, key: str) -> Response:
    return await desk.api.client.post("/merchants/settlements", headers={**desk.admin, "Idempotency-Key": key})


async def test_a_static_code_takes_what_the_payer_types_and_is_settled_to_the_bank(
    desk: Desk, api: Api, bank: Bank, bank_server: tuple[str, Bank], clock: FixedClock, settings: Settings
) -> None:
    shop = await register_shop(desk, bank)
    code = vietqr.decode(str(shop["vietqr"]))
    citizen = await api.register()
    await api.fund(citizen, 300_000)

    no_amount = await pay(api, citizen, shop["vietqr"])
    first = await pay(api, citizen, shop["vietqr"], 45_000)
    second = await pay(api, citizen, shop["vietqr"], 30_000)
    owner = await api.client.post("/auth/login", json={"phone": SHOP["phone"], "password": SHOP["password"]})
    mine = await api.client.get("/merchants/me", headers={"Authorization": f"Bearer {owner.json()['access_token']}"})
    settled = await settle(desk, "settle-1")
    retried = await settle(desk, "settle-1")
    sent_by_then = list(bank.payouts)
    nothing_left = await settle(desk, "settle-2")
    assert settled.status_code == 200, settled.text
    (line,) = settled.json()
    confirmed = await bank_settles(api, bank_server[0], line["payout_id"], "confirmed")
    after = await api.client.get(f"/merchants/{shop['id']}", headers=desk.admin)
    later_today = await pay(api, citizen, shop["vietqr"], 10_000)
    same_day = await settle(desk, "settle-3")
    clock.advance(timedelta(days=1))
    await desk.sign_in_again()
    next_day = await settle(desk, "settle-4")

    assert (code.initiation, code.amount_vnd, code.mcc) == ("static", None, "5814")
    assert (code.bin, code.account, code.merchant_name) == ("970422", "0905111222", "Ca phe Thuan Hoa")
    assert (no_amount["status"], no_amount["code"]) == (422, "validation_failed")
    assert first["status"] == second["status"] == 201
    assert first["payee"] == "Cà phê Thuận Hóa"
    assert mine.json()["balance_vnd"] == 75_000
    assert (line["amount_vnd"], bank.payouts[line["payout_id"]].amount_vnd) == (75_000, 75_000)
    payout = bank.payouts[line["payout_id"]]
    assert isinstance(payout, Payout)
    assert (payout.account_number, payout.from_account_number) == ("0905111222", settings.wallet_pool_account_number)
    assert payout.description == f"CIVICPAY THANH TOAN {line['payout_id']}"  # its statement: a settlement
    assert (retried.content, retried.headers["idempotent-replayed"]) == (settled.content, "true")
    assert sent_by_then == [line["payout_id"]]  # the retry sent nothing again
    assert nothing_left.json() == []
    assert confirmed.status_code == 200, confirmed.text
    assert (after.json()["balance_vnd"], after.json()["available_vnd"]) == (0, 0)
    assert later_today["status"] == 201
    assert same_day.json() == []  # once a business day, however many processes ask
    assert [settled["amount_vnd"] for settled in next_day.json()] == [10_000]
    wallet = (await api.client.get("/wallets/me", headers=await signed_in(api, citizen.phone))).json()
    assert wallet["balance_vnd"] == 215_000
    assert wallet["limits"]["month_used_vnd"] == 85_000  # a shop is not an exempt category


async def test_a_merchant_needs_an_account_the_bank_knows(desk: Desk, bank: Bank) -> None:
    unknown = await desk.api.client.post("/merchants", json=SHOP, headers=desk.admin)

    assert (unknown.status_code, unknown.json()["errors"][0]["field"]) == (422, "account_number")


async def test_the_poster_is_a_printable_png(desk: Desk, bank: Bank) -> None:
    shop = await register_shop(desk, bank)

    poster = await desk.api.client.get(f"/merchants/{shop['id']}/poster", headers=desk.admin)

    assert poster.headers["content-type"] == "image/png"
    assert poster.content.startswith(b"\x89PNG")
