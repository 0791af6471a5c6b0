"""The one-call bill payment on PostgreSQL (billing/fast_path.py) against the portable path it stands in for.

The same payments, refusals and replays are made twice on one database, by new citizens at new billers:
once by an app that pays through ``billing_pay_bills``, once by an app that never does. What the citizen,
the billers and the ledger see must be the same, and the fast path must have made every payment that
needed no word, and written nothing for the rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest
from httpx import Response
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import fast_path
from billing import schemas as s
from billing.models import PAYMENT_REFERENCE, Bill, Biller, BillPayment, BillPaymentItem
from civicpay import bootstrap, outbox
from civicpay.app import create_app, running
from civicpay.clock import FixedClock
from civicpay.idempotency import IdempotencyRecord, fingerprint
from tests.billers import BillerDesk, bill
from tests.conftest import Api, Citizen, http_into, make_settings
from wallet import ledger

pytestmark = pytest.mark.postgres_only

# Small limits, so that the cap and both step-ups are reached with a few bills.
LIMITS = {"monthly_cap_vnd": 500_000, "stepup_single_vnd": 300_000, "stepup_daily_vnd": 400_000}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return LIMITS


Pay = Callable[[Citizen, dict[str, Any], str], Awaitable[tuple[Response | bytes, bool]]]


@dataclasses.dataclass
class Run:
    """One run of the scenario: what each request answered, with this run's ids named by their labels."""

    suffix: str
    bills: dict[int, str] = dataclasses.field(default_factory=dict)
    billers: dict[int, str] = dataclasses.field(default_factory=dict)
    answers: list[Any] = dataclasses.field(default_factory=list)
    fast: list[bool] = dataclasses.field(default_factory=list)

    def named(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self.named(v, k) for k, v in value.items() if k not in {"instance", "id", "transfer_id"}}
        if isinstance(value, list):
            return [self.named(v) for v in value]
        if isinstance(value, str):
            return value.replace(self.suffix, "") if self.suffix else value
        return {"bill_id": self.bills, "biller_id": self.billers}.get(key, {}).get(value, value)

    async def ask(self, pay: Pay, citizen: Citizen, body: dict[str, Any], key: str) -> None:
        made, fast = await pay(citizen, body, key)
        if isinstance(made, bytes):
            self.answers.append((201, self.named(msgspec.json.decode(made)), None))
        else:
            self.answers.append((made.status_code, self.named(made.json()), made.headers.get("idempotent-replayed")))
        self.fast.append(fast)


async def scenario(
    desk: BillerDesk, api: Api, pay: Pay, suffix: str = ""
) -> tuple[Run, list[Citizen], list[dict[str, Any]]]:
    """Every kind of answer a payment can get, in an order that reaches each rule's boundary.

    ``suffix``: after the billers' names, which are unique; the run's ``named`` takes it out again.
    """
    run = Run(suffix)
    evn = await desk.biller(f"Điện lực Thừa Thiên Huế{suffix}")
    water = await desk.biller(f"Cấp nước Huế{suffix}", "water", policy="allow_partial")
    club = await desk.biller(f"Câu lạc bộ thể thao phường{suffix}", "other")
    citizen, poor = await api.register(), await api.register()
    pushed = {
        "evn": await desk.push(
            evn,
            bill("E1", amount_vnd=120_000),
            bill("E3", amount_vnd=70_000),
            bill("E4", amount_vnd=10_000),
            bill("E5", code="PC03AA0000002", amount_vnd=20_000),
            bill("X1", code="PC03AA0000009", customer_name="Le Thi Cuc"),
        ),
        "water": await desk.push(
            water,
            bill("W1", code="HUE-1", amount_vnd=60_000),
            bill("W2", code="HUE-1", amount_vnd=100_000),
            bill("W3", code="HUE-1", amount_vnd=50_000),
        ),
        "club": await desk.push(
            club, bill("C1", code="CLB-7", amount_vnd=90_000), bill("C2", code="CLB-7", amount_vnd=450_000)
        ),
    }
    await desk.push(evn, bill("E4", amount_vnd=10_000, status="cancelled"))
    ids = {line["bill_id"]: line["id"] for answer in pushed.values() for line in answer.json()["accepted"]}
    run.bills = {bill_id: label for label, bill_id in ids.items()}
    run.billers = {evn["id"]: "evn", water["id"]: "water", club["id"]: "club"}
    for biller, code in ((evn, "PC03AA0000001"), (water, "HUE-1"), (club, "CLB-7")):
        assert (await desk.link(citizen, biller, code)).status_code == 201
    assert (await desk.link(poor, evn, "PC03AA0000002")).status_code == 201
    await api.fund(citizen, 1_000_000)
    await api.fund(poor, 10_000)

    await run.ask(pay, citizen, {"bill_ids": [ids["W1"], ids["E1"]]}, "two-billers")  # 180.000 ₫ today
    await run.ask(pay, citizen, {"bills": [{"id": ids["W2"], "amount_vnd": 40_000}]}, "part-1")  # 220.000 ₫
    await run.ask(pay, citizen, {"bills": [{"id": ids["W2"], "amount_vnd": 60_000}]}, "part-2")  # 280.000 ₫
    await run.ask(pay, citizen, {"bills": [{"id": ids["E3"], "amount_vnd": 30_000}]}, "part-refused")
    await run.ask(pay, citizen, {"bills": [{"id": ids["W3"], "amount_vnd": 60_000}]}, "over-due")
    await run.ask(pay, citizen, {"bill_ids": [ids["E1"]]}, "paid-already")
    await run.ask(pay, citizen, {"bill_ids": [ids["X1"]]}, "not-linked")
    await run.ask(pay, citizen, {"bill_ids": [ids["E4"]]}, "cancelled")
    await run.ask(pay, citizen, {"bill_ids": [ids["E3"], 999_999]}, "unknown")
    await run.ask(pay, citizen, {"bill_ids": [ids["C1"]]}, "capped")  # 90.000 ₫ counted; 370.000 ₫ today
    await run.ask(pay, citizen, {"bill_ids": [ids["C2"]]}, "over-cap")
    await run.ask(pay, citizen, {"bill_ids": [ids["E3"]]}, "daily-step-up")  # 440.000 ₫ today
    await run.ask(pay, citizen, {"bill_ids": [ids["W1"], ids["E1"]]}, "two-billers")  # the same tap again
    await run.ask(pay, citizen, {"bill_ids": [ids["E3"]]}, "two-billers")  # the key, another body
    await run.ask(pay, citizen, {"bill_ids": [ids["E3"]], "bills": [{"id": ids["E3"], "amount_vnd": 1}]}, "both")
    await run.ask(pay, poor, {"bill_ids": [ids["E5"]]}, "too-poor")
    return run, [citizen, poor], [evn, water, club]


async def what_was_left(
    run: Run, api: Api, sessions: async_sessionmaker[AsyncSession], citizens: list[Citizen], billers: list[Any]
) -> dict[str, Any]:
    """The bills, allocations, billers' webhooks, balances and wallet histories a run left, by label."""
    biller_ids = [biller["id"] for biller in billers]
    async with sessions() as session:
        bills = (await session.scalars(select(Bill).where(Bill.biller_id.in_(biller_ids)).order_by(Bill.id))).all()
        items = (
            await session.execute(
                select(BillPaymentItem.bill_id, BillPaymentItem.sequence, BillPaymentItem.amount_vnd)
                .where(BillPaymentItem.bill_id.in_([b.id for b in bills]))
                .order_by(BillPaymentItem.id)
            )
        ).all()
        payments = (
            await session.scalars(
                select(BillPayment)
                .where(BillPayment.user_id.in_([c.user_id for c in citizens]))
                .order_by(BillPayment.id)
            )
        ).all()
        messages = (
            await session.scalars(
                select(outbox.OutboxMessage)
                .where(outbox.OutboxMessage.key.like("biller-webhook:%"))
                .where(outbox.OutboxMessage.payload["biller_id"].as_integer().in_(biller_ids))
                .order_by(outbox.OutboxMessage.id)
            )
        ).all()
        accounts = [c.account_id for c in citizens] + list(
            (
                await session.scalars(select(Biller.account_id).where(Biller.id.in_(biller_ids)).order_by(Biller.id))
            ).all()
        )
        balances = await ledger.balances(session, accounts)
    webhooks = []
    for message in messages:
        body = message.payload["body"]
        assert body["payment_reference"] == PAYMENT_REFERENCE.encode(body["payment_id"])
        assert message.key == f"biller-webhook:{body['payment_id']}:{message.payload['biller_id']}"
        unnumbered = {k: v for k, v in body.items() if k not in {"payment_id", "payment_reference"}}
        webhooks.append((message.kind, run.named({**message.payload, "body": unnumbered})))
    histories = []
    for citizen in citizens:
        page = await api.client.get(f"/wallets/{citizen.wallet_id}/history", headers=citizen.headers)
        # The test's funding is dated by the wall clock, not the test's: the payments are what is compared.
        histories.append(run.named([item for item in page.json()["items"] if item["category"] != "topup"]))
    return {
        "bills": [(run.bills[b.id], b.status, b.amount_paid_vnd, b.paid_at is not None) for b in bills],
        "allocations": [(run.bills[bill_id], sequence, amount) for bill_id, sequence, amount in items],
        "payments": [(p.source, p.amount_vnd, p.entry_id is not None) for p in payments],
        "webhooks": webhooks,
        "balances": [(balances[a].posted_vnd, balances[a].available_vnd) for a in accounts],
        "histories": histories,
    }


async def keys_and_entries(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessions() as session:
        keys = await session.scalar(select(func.count()).select_from(IdempotencyRecord))
        entries = await session.scalar(select(func.count()).select_from(ledger.Entry))
    return keys or 0, entries or 0


async def test_the_fast_path_pays_as_the_portable_path_and_leaves_it_every_refusal(
    biller_desk: BillerDesk,
    api: Api,
    app: Litestar,
    clock: FixedClock,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async def fast_pay(citizen: Citizen, body: dict[str, Any], key: str) -> tuple[Response | bytes, bool]:
        """The fast path called as the route calls it, so a None proves it left the request alone; then HTTP."""
        data = msgspec.convert(body, s.BillPaymentCreate)
        before = await keys_and_entries(sessions)
        made = await fast_path.try_pay(
            app.state.engine,
            app.state.settings,
            app.state.calendar,
            principal=f"user:{citizen.user_id}",
            key=key,
            fingerprint=fingerprint("POST", "/bill-payments", data),
            user_id=citizen.user_id,
            data=data,
            now=clock.now(),
        )
        if made is not None:
            return made, True
        assert await keys_and_entries(sessions) == before  # what it leaves to the portable path, it did not touch
        return await biller_desk.api.client.post("/bill-payments", json=body, headers=headers(citizen, key)), False

    fast_run, citizens, billers = await scenario(biller_desk, api, fast_pay)
    fast_left = await what_was_left(fast_run, api, sessions, citizens, billers)

    portable = create_app(bootstrap.build(make_settings(database_url, fast_transfers=False, **LIMITS), clock))
    async with running(portable), http_into(portable) as other:

        async def portable_pay(citizen: Citizen, body: dict[str, Any], key: str) -> tuple[Response | bytes, bool]:
            return await other.post("/bill-payments", json=body, headers=headers(citizen, key)), False

        # Billers, bills and citizens are set up as before; only the payments go to the portable app.
        portable_run, citizens, billers = await scenario(biller_desk, api, portable_pay, " (2)")
    portable_left = await what_was_left(portable_run, api, sessions, citizens, billers)

    assert fast_run.answers == portable_run.answers
    # Every payment that needed no word was made in the one call (the replay is the portable path's to answer).
    assert fast_run.fast == [answer[0] == 201 and answer[2] is None for answer in fast_run.answers]
    assert fast_run.fast.count(True) == 4
    assert fast_left == portable_left
    assert [code for _, answer, _ in fast_run.answers[3:12] for code in [answer.get("code")]] == [
        "partial_payment_refused",
        "amount_exceeds_due",
        "bill_already_paid",
        "bill_not_found",
        "bill_not_open",
        "bill_not_found",
        None,
        "monthly_limit_exceeded",
        "step_up_required",
    ]
    async with sessions() as session:
        assert await ledger.check_invariants(session) == []


def headers(citizen: Citizen, key: str) -> dict[str, str]:
    return {**citizen.headers, "Idempotency-Key": key}
