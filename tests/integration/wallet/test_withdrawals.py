"""Withdrawals to a citizen's own bank account, against the bank sandbox on a real socket.

The bank's callbacks are signed by the sandbox and handed to the app by the test. The ledger
invariants are checked after every test (conftest).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec
import pytest
from httpx import Response
from litestar import Litestar

from civicpay.auth.secrets import sign_body
from civicpay.clock import FixedClock
from civicpay.outbox import Dispatcher
from civicpay.settings import Settings
from sandbox.bank import AccountOpen, Bank
from tests.conftest import (
    BANK_WEBHOOK_SECRET,
    Api,
    Citizen,
    bank_decides,
    bank_settles,
    deliver_callback,
    enrol,
)

VCB = "970436"
ACCOUNT = "0011001234567"


async def link(api: Api, citizen: Citizen, bank_bin: str = VCB, account: str = ACCOUNT) -> Response:
    return await api.client.post(
        "/bank-accounts", json={"bank_bin": bank_bin, "account_number": account}, headers=citizen.headers
    )


async def linked(api: Api, bank: Bank, citizen: Citizen, holder: str = "NGUYEN THI HUONG") -> int:
    bank.accounts[(VCB, ACCOUNT)] = AccountOpen(VCB, ACCOUNT, holder)
    made = await link(api, citizen)
    assert made.status_code == 201, made.text
    account_id: int = made.json()["id"]
    return account_id


async def withdraw(
    api: Api, citizen: Citizen, account_id: int, amount_vnd: int, *, key: str = "w-1", otp: str | None = None
) -> Response:
    headers = {**citizen.headers, "Idempotency-Key": key, **({"X-OTP": otp} if otp else {})}
    body = {"bank_account_id": account_id, "amount_vnd": amount_vnd}
    return await api.client.post("/withdrawals", json=body, headers=headers)


async def wallet_of(api: Api, citizen: Citizen) -> tuple[int, int]:
    shown = (await api.client.get("/wallets/me", headers=citizen.headers)).json()
    return shown["balance_vnd"], shown["available_vnd"]


async def test_linking_needs_the_banks_holder_name_to_be_the_citizens(api: Api, bank: Bank) -> None:
    huong = await api.register(full_name="Nguyễn Thị Hương")
    bank.accounts[(VCB, ACCOUNT)] = AccountOpen(VCB, ACCOUNT, "NGUYEN THI HUONG")
    bank.accounts[(VCB, "0011009999999")] = AccountOpen(VCB, "0011009999999", "TRAN VAN B")

    ours = await link(api, huong)
    again = await link(api, huong)
    someone_elses = await link(api, huong, account="0011009999999")
    missing = await link(api, huong, account="0011000000000")
    no_bank = await link(api, huong, bank_bin="999999")

    assert ours.status_code == 201, ours.text
    assert (ours.json()["bank_name"], ours.json()["holder_name"]) == ("Vietcombank", "NGUYEN THI HUONG")
    assert again.json()["id"] == ours.json()["id"]
    assert (someone_elses.status_code, someone_elses.json()["code"]) == (422, "holder_name_mismatch")
    assert missing.json()["errors"][0]["field"] == "account_number"
    assert no_bank.json()["errors"][0]["field"] == "bank_bin"
    listed = (await api.client.get("/bank-accounts", headers=huong.headers)).json()
    assert [account["account_number"] for account in listed] == [ACCOUNT]


async def test_a_withdrawal_is_held_until_the_bank_confirms_and_a_repeat_changes_nothing(
    api: Api, bank: Bank, bank_server: tuple[str, Bank]
) -> None:
    huong = await api.register(full_name="Nguyễn Thị Hương")
    await api.fund(huong, 1_000_000)
    account_id = await linked(api, bank, huong)

    made = await withdraw(api, huong, account_id, 300_000)

    assert made.status_code == 201, made.text
    withdrawal = made.json()
    assert await wallet_of(api, huong) == (1_000_000, 700_000)  # held at once
    shown = (await api.client.get(f"/withdrawals/{withdrawal['id']}", headers=huong.headers)).json()
    assert shown["status"] == "sent"
    assert list(bank.payouts) == [withdrawal["payout_id"]]
    assert bank.payouts[withdrawal["payout_id"]].amount_vnd == 300_000
    confirmed = await bank_settles(api, bank_server[0], withdrawal["payout_id"], "confirmed")
    repeat = await bank_settles(api, bank_server[0], withdrawal["payout_id"], "confirmed")
    assert (confirmed.json()["status"], confirmed.json()["changed"]) == ("confirmed", True)
    assert (repeat.status_code, repeat.json()["changed"]) == (200, False)
    assert await wallet_of(api, huong) == (700_000, 700_000)
    history = (await api.client.get(f"/wallets/{huong.wallet_id}/history", headers=huong.headers)).json()["items"]
    assert (history[0]["direction"], history[0]["category"], history[0]["amount_vnd"]) == ("out", "withdrawal", 300_000)


async def test_a_rejected_payout_gives_the_money_back(api: Api, bank: Bank, bank_server: tuple[str, Bank]) -> None:
    huong = await api.register(full_name="Nguyễn Thị Hương")
    await api.fund(huong, 1_000_000)
    account_id = await linked(api, bank, huong)
    later = (await withdraw(api, huong, account_id, 200_000, key="later")).json()

    rejected = await bank_settles(api, bank_server[0], later["payout_id"], "rejected", "AC06")
    bank.accounts[(VCB, ACCOUNT)].closed = True
    at_once = (await withdraw(api, huong, account_id, 100_000, key="at-once")).json()

    assert (rejected.json()["status"], rejected.json()["changed"]) == ("rejected", True)
    contradiction = await bank_settles(api, bank_server[0], later["payout_id"], "confirmed")
    assert (contradiction.status_code, contradiction.json()["code"]) == (409, "payout_contradiction")
    shown = (await api.client.get(f"/withdrawals/{at_once['id']}", headers=huong.headers)).json()
    assert (shown["status"], shown["reason_code"]) == ("rejected", "AC04")
    assert await wallet_of(api, huong) == (1_000_000, 1_000_000)


async def test_a_payout_the_bank_could_not_take_stays_held_and_is_sent_later_once(
    api: Api, app: Litestar, bank: Bank, clock: FixedClock, settings: Settings
) -> None:
    huong = await api.register(full_name="Nguyễn Thị Hương")
    await api.fund(huong, 500_000)
    account_id = await linked(api, bank, huong)
    bank.down = True

    made = (await withdraw(api, huong, account_id, 150_000)).json()

    assert made["status"] == "queued"
    assert await wallet_of(api, huong) == (500_000, 350_000)
    outbox: Dispatcher = app.state.outbox
    not_yet_due = await outbox.drain()  # the request's own try failed: the next waits out its backoff
    clock.advance(timedelta(seconds=settings.outbox_backoff_cap_seconds))
    still_down = await outbox.drain()
    bank.down = False
    clock.advance(timedelta(seconds=settings.outbox_backoff_cap_seconds))
    sent = await outbox.drain()
    clock.advance(timedelta(seconds=settings.outbox_backoff_cap_seconds))
    sent_again = await outbox.drain()
    assert (not_yet_due, still_down, sent, sent_again) == (0, 1, 1, 0)
    shown = (await api.client.get(f"/withdrawals/{made['id']}", headers=huong.headers)).json()
    assert shown["status"] == "sent"
    assert list(bank.payouts) == [made["payout_id"]]


async def test_a_large_withdrawal_needs_the_otp_and_holds_nothing_without_it(
    api: Api, bank: Bank, settings: Settings, clock: FixedClock
) -> None:
    huong = await api.register(full_name="Nguyễn Thị Hương")
    await api.fund(huong, 30_000_000)
    account_id = await linked(api, bank, huong)
    totp = await enrol(api, huong, clock)
    amount = settings.stepup_single_vnd + 1

    refused = await withdraw(api, huong, account_id, amount, key="big")
    held = await wallet_of(api, huong)
    allowed = await withdraw(api, huong, account_id, amount, key="big", otp=totp.at(clock.now()))

    assert (refused.status_code, refused.json()["code"]) == (403, "step_up_required")
    assert held == (30_000_000, 30_000_000)
    assert allowed.status_code == 201, allowed.text
    assert await wallet_of(api, huong) == (30_000_000, 30_000_000 - amount)


async def test_a_forged_payout_callback_is_refused(api: Api, bank: Bank) -> None:
    huong = await api.register(full_name="Nguyễn Thị Hương")
    await api.fund(huong, 100_000)
    made = (await withdraw(api, huong, await linked(api, bank, huong), 100_000)).json()

    forged = await api.client.post(
        "/webhooks/bank/payouts",
        json={"payout_id": made["payout_id"], "status": "rejected", "reason_code": "AC04"},
        headers={"X-Signature": "0" * 64},
    )

    assert forged.status_code == 401
    assert await wallet_of(api, huong) == (100_000, 0)


@pytest.mark.postgres_only
async def test_concurrent_withdrawals_never_overdraw(api: Api, bank: Bank) -> None:
    huong = await api.register(full_name="Nguyễn Thị Hương")
    await api.fund(huong, 1_000_000)
    account_id = await linked(api, bank, huong)

    answers = await asyncio.gather(
        *(withdraw(api, huong, account_id, 100_000, key=f"race-{number}") for number in range(20))
    )

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * 10 + [422] * 10
    assert {answer.json()["code"] for answer in answers if answer.status_code == 422} == {"insufficient_funds"}
    assert await wallet_of(api, huong) == (1_000_000, 0)
    assert len(bank.payouts) == 10


async def test_another_citizens_withdrawal_or_bank_account_answers_like_one_that_does_not_exist(
    api: Api, bank: Bank
) -> None:
    huong, minh = await api.register(full_name="Nguyễn Thị Hương"), await api.register()
    await api.fund(huong, 1_000_000)
    await api.fund(minh, 1_000_000)
    account_id = await linked(api, bank, huong)
    made = await withdraw(api, huong, account_id, 100_000)
    assert made.status_code == 201, made.text
    withdrawal_id = made.json()["id"]

    theirs = await api.client.get(f"/withdrawals/{withdrawal_id}", headers=minh.headers)
    missing = await api.client.get(f"/withdrawals/{withdrawal_id + 1000}", headers=minh.headers)
    their_account = await withdraw(api, minh, account_id, 100_000, key="w-theirs")
    no_account = await withdraw(api, minh, account_id + 1000, 100_000, key="w-missing")

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert their_account.status_code == no_account.status_code == 404
    assert their_account.json() == no_account.json()
    assert their_account.json()["errors"][0]["field"] == "bank_account_id"
    assert await wallet_of(api, minh) == (1_000_000, 1_000_000)


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        pytest.param({"status": 1}, "status", id="status-a-number"),
        pytest.param({"status": "maybe"}, "status", id="status-unknown"),
        pytest.param({"payout_id": ["RUT"]}, "payout_id", id="id-an-array"),
        pytest.param({"settled_vnd": 100_000}, "settled_vnd", id="unknown-field"),
    ],
)
async def test_a_signed_but_malformed_payout_callback_is_a_400_naming_the_field_and_changes_nothing(
    api: Api, bank: Bank, bank_server: tuple[str, Bank], spoil: dict[str, object], field: str
) -> None:
    huong = await api.register(full_name="Nguyễn Thị Hương")
    await api.fund(huong, 1_000_000)
    made = (await withdraw(api, huong, await linked(api, bank, huong), 300_000)).json()
    callback = await bank_decides(bank_server[0], made["payout_id"], "confirmed")
    body = msgspec.json.encode({**msgspec.json.decode(callback["body"]), **spoil})

    refused = await deliver_callback(api, {"body": body.decode(), "signature": sign_body(BANK_WEBHOOK_SECRET, body)})

    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "validation_failed"
    assert [error["field"] for error in refused.json()["errors"]] == [field]
    assert await wallet_of(api, huong) == (1_000_000, 700_000)
    assert (await deliver_callback(api, callback)).json()["status"] == "confirmed"
