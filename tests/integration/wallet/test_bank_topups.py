"""Top-up by bank transfer: signed notifications, exactly once, suspense, and finance officers' decisions."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.audit import AuditEntry
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from sandbox import bank_notifications
from sandbox.bank import Bank
from tests.conftest import (
    Api,
    Citizen,
    account_balance,
    bank_decides,
    bank_settles,
    deliver_callback,
    finance_officer,
    notify,
)
from wallet import ledger, topup_code
from wallet.bank_payouts import TransferReturn
from wallet.bank_topups import SUSPENSE, SUSPENSE_RETURN
from wallet.ledger.bank_accounts import ledger_code
from wallet.models import BankNotification

Sessions = async_sessionmaker[AsyncSession]


async def code_of(api: Api, citizen: Citizen) -> str:
    code: str = (await api.client.get("/wallets/me", headers=citizen.headers)).json()["topup_code"]
    return code


async def test_a_code_inside_noisy_bank_text_credits_that_wallet(
    api: Api, settings: Settings, clock: FixedClock
) -> None:
    huong = await api.register()
    code = await code_of(api, huong)
    assert topup_code.decode(code) == huong.wallet_id

    answer = await notify(api, settings, clock, code=code, amount_vnd=200_000)

    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "credited"
    assert await api.balance(huong) == 200_000
    history = (await api.client.get(f"/wallets/{huong.wallet_id}/history", headers=huong.headers)).json()
    assert (history["items"][0]["category"], history["items"][0]["direction"]) == ("topup", "in")


async def test_a_notification_retried_five_times_credits_once(
    api: Api, settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    huong = await api.register()
    note = bank_notifications.notification(code=await code_of(api, huong), amount_vnd=50_000, at=clock.now())
    body, headers = bank_notifications.signed(note, settings.bank_webhook_secret)

    answers = [await api.client.post(bank_notifications.WEBHOOK_PATH, content=body, headers=headers) for _ in range(5)]

    assert [answer.status_code for answer in answers] == [200] * 5
    assert [answer.json()["duplicate"] for answer in answers] == [False, True, True, True, True]
    assert len({answer.json()["notification_id"] for answer in answers}) == 1
    assert await api.balance(huong) == 50_000
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(BankNotification)) == 1


@pytest.mark.parametrize(
    ("content_code", "reason"),
    [
        ("NO CODE AT ALL", "no_code"),
        (topup_code.encode(999_999), "unknown_code"),
        ("NAP000001Z", "no_code"),  # one character off: the check character refuses it
    ],
    ids=["no-code", "unknown-wallet", "mistyped"],
)
async def test_money_nobody_can_be_found_for_waits_in_suspense(
    api: Api, settings: Settings, clock: FixedClock, sessions: Sessions, content_code: str, reason: str
) -> None:
    answer = await notify(api, settings, clock, code=content_code, amount_vnd=75_000)

    assert answer.json() == {
        "notification_id": answer.json()["notification_id"],
        "outcome": "suspense",
        "duplicate": False,
        "suspense_reason": reason,
    }
    assert await account_balance(sessions, SUSPENSE) == 75_000


async def test_two_codes_in_one_description_wait_in_suspense(api: Api, settings: Settings, clock: FixedClock) -> None:
    huong, minh = await api.register(), await api.register()
    both = f"{await code_of(api, huong)} {await code_of(api, minh)}"

    answer = await notify(api, settings, clock, code=both, amount_vnd=10_000)

    assert answer.json()["suspense_reason"] == "ambiguous_code"
    assert (await api.balance(huong), await api.balance(minh)) == (0, 0)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_topup_vnd": 1_000_000}


async def test_a_top_up_over_the_limit_waits_in_suspense(api: Api, settings: Settings, clock: FixedClock) -> None:
    huong = await api.register()

    answer = await notify(api, settings, clock, code=await code_of(api, huong), amount_vnd=1_000_001)

    assert answer.json()["suspense_reason"] == "over_limit"
    assert await api.balance(huong) == 0


async def test_a_forged_signature_is_refused_and_nothing_is_recorded(
    api: Api, settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    huong = await api.register()
    note = bank_notifications.notification(code=await code_of(api, huong), amount_vnd=9_000_000, at=clock.now())
    body, _ = bank_notifications.signed(note, "not-the-bank's-key")
    headers = {
        "Content-Type": "application/json",
        "X-Signature": bank_notifications.signed(note, "guess")[1]["X-Signature"],
    }

    forged = await api.client.post(bank_notifications.WEBHOOK_PATH, content=body, headers=headers)
    unsigned = await api.client.post(
        bank_notifications.WEBHOOK_PATH, content=body, headers={"Content-Type": "application/json"}
    )

    assert forged.status_code == unsigned.status_code == 401
    assert forged.json()["code"] == "bad_signature"
    assert await api.balance(huong) == 0
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(BankNotification)) == 0


async def test_a_finance_officer_assigns_suspense_once_and_it_is_audited(
    api: Api, settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    minh = await api.register()
    officer = await finance_officer(api, sessions, settings, clock)
    await notify(api, settings, clock, code="NAP TIEN CHO ANH MINH", amount_vnd=300_000)
    [item] = (await api.client.get("/finance/suspense", headers=officer)).json()
    decision = {"to_phone": minh.phone, "reason": "Payer called: the money is for Trần Văn Minh"}
    path = f"/finance/suspense/{item['id']}/assign"

    assigned = await api.client.post(path, json=decision, headers={**officer, "Idempotency-Key": "a-1"})
    replayed = await api.client.post(path, json=decision, headers={**officer, "Idempotency-Key": "a-1"})
    again = await api.client.post(path, json=decision, headers={**officer, "Idempotency-Key": "a-2"})

    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["outcome"] == "assigned"
    assert replayed.content == assigned.content
    assert again.status_code == 409
    assert again.json()["code"] == "suspense_item_resolved"
    assert await api.balance(minh) == 300_000
    assert await account_balance(sessions, SUSPENSE) == 0
    assert (await api.client.get("/finance/suspense", headers=officer)).json() == []
    async with sessions() as session:
        [entry] = (await session.scalars(select(AuditEntry))).all()
    assert (entry.action, entry.subject_id, entry.reason) == ("suspense.assign", str(item["id"]), decision["reason"])


async def _return(api: Api, officer: dict[str, str], item_id: int, key: str) -> dict[str, Any]:
    returned = await api.client.post(
        f"/finance/suspense/{item_id}/return",
        json={"reason": "No such citizen; returned to the payer"},
        headers={**officer, "Idempotency-Key": key},
    )
    assert returned.status_code == 200, returned.text
    answer: dict[str, Any] = returned.json()
    return answer


async def test_a_return_the_bank_confirms_leaves_the_bank_account_the_money_arrived_in(
    api: Api, bank: Bank, bank_server: tuple[str, Bank], settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    officer = await finance_officer(api, sessions, settings, clock)
    await notify(api, settings, clock, code="???", amount_vnd=40_000)
    [item] = (await api.client.get("/finance/suspense", headers=officer)).json()
    pool = ledger_code(settings.wallet_pool_bank_bin, settings.wallet_pool_account_number)

    returning = await _return(api, officer, item["id"], "r-1")
    while_returning = await api.client.get("/finance/suspense", headers=officer)
    again = await api.client.post(
        f"/finance/suspense/{item['id']}/return",
        json={"reason": "twice"},
        headers={**officer, "Idempotency-Key": "r-2"},
    )
    held_in_the_pool = await account_balance(sessions, pool)
    callback = await bank_decides(bank_server[0], returning["return_reference"], "confirmed")
    confirmed = await deliver_callback(api, callback)
    replayed = await deliver_callback(api, callback)
    contradiction = await bank_settles(api, bank_server[0], returning["return_reference"], "rejected", "AC04")

    assert (returning["outcome"], returning["transfer_id"]) == ("returning", None)
    reference = returning["return_reference"]
    assert SUSPENSE_RETURN.decode(reference) is not None
    assert while_returning.json() == []
    assert (again.status_code, again.json()["code"]) == (409, "suspense_item_resolved")
    assert held_in_the_pool == 40_000  # held, not yet gone
    sent = bank.payouts[reference]
    assert isinstance(sent, TransferReturn)
    assert (sent.original_reference, sent.amount_vnd) == (item["bank_reference"], 40_000)
    assert (sent.from_bank_bin, sent.from_account_number) == (
        settings.wallet_pool_bank_bin,
        settings.wallet_pool_account_number,
    )
    assert (confirmed.status_code, confirmed.json()["changed"]) == (200, True)
    assert (replayed.status_code, replayed.json()["changed"]) == (200, False)
    assert (contradiction.status_code, contradiction.json()["code"]) == (409, "payout_contradiction")
    assert await account_balance(sessions, SUSPENSE) == 0
    assert await account_balance(sessions, pool) == 0
    async with sessions() as session:
        stored = await session.scalar(select(BankNotification).where(BankNotification.id == item["id"]))
        [entry] = (await session.scalars(select(AuditEntry))).all()
    assert stored is not None
    assert (stored.outcome, stored.return_reference) == ("returned", reference)
    assert (entry.action, entry.subject_id) == ("suspense.return", str(item["id"]))


async def test_a_return_the_bank_rejects_is_open_in_suspense_again_with_the_reason(
    api: Api, bank: Bank, bank_server: tuple[str, Bank], settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    officer = await finance_officer(api, sessions, settings, clock)
    await notify(api, settings, clock, code="???", amount_vnd=40_000)
    [item] = (await api.client.get("/finance/suspense", headers=officer)).json()

    first = await _return(api, officer, item["id"], "r-1")
    rejected = await bank_settles(api, bank_server[0], first["return_reference"], "rejected", "AC04")
    [reopened] = (await api.client.get("/finance/suspense", headers=officer)).json()
    in_suspense = await account_balance(sessions, SUSPENSE)
    second = await _return(api, officer, item["id"], "r-2")

    assert (rejected.status_code, rejected.json()["status"]) == (200, "rejected")
    assert (reopened["id"], reopened["reason"], reopened["return_rejected_code"]) == (
        item["id"],
        "return_rejected",
        "AC04",
    )
    assert in_suspense == 40_000
    # Another try is another return, under a reference of its own.
    assert second["return_reference"] != first["return_reference"]
    assert sorted(bank.payouts) == sorted([first["return_reference"], second["return_reference"]])


async def test_only_finance_officers_see_or_decide_suspense(api: Api) -> None:
    citizen = await api.register()
    assert (await api.client.get("/finance/suspense", headers=citizen.headers)).status_code == 403
    refused = await api.client.post(
        "/finance/suspense/1/return", json={"reason": "mine"}, headers={**citizen.headers, "Idempotency-Key": "x"}
    )
    assert refused.status_code == 403


async def test_an_outgoing_notification_is_recorded_and_moves_nothing(
    api: Api, settings: Settings, clock: FixedClock, sessions: Sessions
) -> None:
    note = msgspec.structs.replace(
        bank_notifications.notification(code="PAYOUT", amount_vnd=10_000, at=clock.now()), transfer_type="out"
    )
    body, headers = bank_notifications.signed(note, settings.bank_webhook_secret)

    answer = await api.client.post(bank_notifications.WEBHOOK_PATH, content=body, headers=headers)

    assert answer.json()["outcome"] == "outgoing"
    async with sessions() as session:
        assert await ledger.check_invariants(session) == []
        assert await session.scalar(select(func.count()).select_from(ledger.Transfer)) == 0


@pytest.mark.postgres_only
async def test_two_deliveries_of_one_notification_racing_credit_once(
    api: Api, settings: Settings, clock: FixedClock
) -> None:
    huong = await api.register()
    note = bank_notifications.notification(code=await code_of(api, huong), amount_vnd=80_000, at=clock.now())
    body, headers = bank_notifications.signed(note, settings.bank_webhook_secret)

    answers = await asyncio.gather(
        *(api.client.post(bank_notifications.WEBHOOK_PATH, content=body, headers=headers) for _ in range(8))
    )

    assert {answer.status_code for answer in answers} == {200}
    assert sum(not answer.json()["duplicate"] for answer in answers) == 1
    assert await api.balance(huong) == 80_000
