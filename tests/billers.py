"""A biller set up through the API as an admin would, and the calls its system and citizens make (``biller_desk``).

Every biller the desk makes has its webhook at the ``WebhookInbox``, a real HTTP server for the whole run,
so a payment's notification reaches a socket (never the Internet) and tests can read what arrived.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

import pytest
from httpx import Response
from litestar import Litestar, Request, post
from litestar import Response as LitestarResponse
from litestar.params import PathParameter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.auth.models import Role
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from sandbox.bank import AccountOpen, Bank
from sandbox.billers import Company, FakeBillers, create_billers_app, demo_companies
from tests.conftest import Api, Citizen, create_staff, signed_in
from tests.servers import serving

FAKE_BILLER_SECRET = "test-biller-webhook-secret"

_accounts = iter(range(1, 10**6))
_hooks = itertools.count(1)


@dataclass(frozen=True)
class Arrived:
    """One request that reached a biller's webhook, as the biller's system sees it."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookInbox:
    """Billers' webhook endpoints (``/hooks/{name}``): answers 200, or the statuses queued for a path first."""

    arrived: list[Arrived] = field(default_factory=list)
    answers: dict[str, list[int]] = field(default_factory=dict)

    def app(self) -> Litestar:
        @post("/hooks/{name:str}", status_code=200)
        async def receive(
            name: Annotated[str, PathParameter()], request: Request[Any, Any, Any]
        ) -> LitestarResponse[str]:
            path = f"/hooks/{name}"
            self.arrived.append(Arrived(path, dict(request.headers), await request.body()))
            queued = self.answers.get(path)
            status = queued.pop(0) if queued else 200
            return LitestarResponse("ok" if status < 300 else "busy", status_code=status)

        return Litestar([receive])

    def at(self, biller: dict[str, Any]) -> list[Arrived]:
        return [request for request in self.arrived if biller["webhook_url"].endswith(request.path)]


@pytest.fixture(scope="session")
def webhook_inbox_server() -> Iterator[tuple[str, WebhookInbox]]:
    inbox = WebhookInbox()
    with serving(inbox.app()) as url:
        yield url, inbox


@pytest.fixture
def webhook_inbox(webhook_inbox_server: tuple[str, WebhookInbox]) -> WebhookInbox:
    """The billers' webhooks, emptied for this test."""
    inbox = webhook_inbox_server[1]
    inbox.arrived.clear()
    inbox.answers.clear()
    return inbox


@dataclass
class BillerDesk:
    api: Api
    admin: dict[str, str]
    bank: Bank
    inbox_url: str

    async def biller(
        self,
        name: str = "Điện lực Thừa Thiên Huế",
        category: str = "electricity",
        lookup_url: str | None = None,
        policy: str = "refuse",
    ) -> dict[str, Any]:
        """The biller as the admin's answer shows it, plus ``webhook_secret`` (its own, for checking signatures)."""
        number = f"0161{next(_accounts):09d}"
        self.bank.accounts[("970436", number)] = AccountOpen("970436", number, name.upper())
        hook = next(_hooks)
        body = {
            "name": name,
            "category": category,
            "bank_bin": "970436",
            "account_number": number,
            "webhook_url": f"{self.inbox_url}/hooks/biller-{hook}",
            "webhook_secret": f"signing-secret-of-biller-{hook}",
            **({"lookup_url": lookup_url} if lookup_url is not None else {}),
            "payment_policy": policy,
        }
        made = await self.api.client.post("/billers", json=body, headers=self.admin)
        assert made.status_code == 201, made.text
        biller: dict[str, Any] = made.json()
        biller["webhook_secret"] = body["webhook_secret"]
        return biller

    async def push(self, biller: dict[str, Any], *bills: dict[str, Any]) -> Response:
        return await self.api.client.post(
            "/biller-api/bills", json={"bills": list(bills)}, headers={"X-API-Key": biller["api_key"]}
        )

    async def link(self, citizen: Citizen, biller: dict[str, Any], code: str) -> Response:
        body = {"biller_id": biller["id"], "customer_code": code}
        return await self.api.client.post("/bill-links", json=body, headers=citizen.headers)

    async def pay(self, citizen: Citizen, *bill_ids: int, key: str | None = None) -> Response:
        headers = {**citizen.headers, "Idempotency-Key": key or str(uuid.uuid4())}
        return await self.api.client.post("/bill-payments", json={"bill_ids": list(bill_ids)}, headers=headers)

    async def pay_amounts(self, citizen: Citizen, *amounts: tuple[int, int]) -> Response:
        """Pay each (bill id, amount) from the wallet: less than is due where the biller allows part payment."""
        headers = {**citizen.headers, "Idempotency-Key": str(uuid.uuid4())}
        body = {"bills": [{"id": bill_id, "amount_vnd": amount} for bill_id, amount in amounts]}
        return await self.api.client.post("/bill-payments", json=body, headers=headers)


def bill(bill_id: str, code: str = "PC03AA0000001", amount_vnd: object = 150_000, **fields: Any) -> dict[str, Any]:
    return {
        "bill_id": bill_id,
        "customer_code": code,
        "customer_name": "NGUYEN VAN AN",
        "period": "2026-11",
        "amount_vnd": amount_vnd,
        "due_date": date(2026, 12, 15).isoformat(),
        **fields,
    }


@pytest.fixture
async def biller_desk(
    api: Api,
    bank: Bank,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
    webhook_inbox_server: tuple[str, WebhookInbox],
    webhook_inbox: WebhookInbox,
) -> BillerDesk:
    phone = await create_staff(sessions, settings, clock, Role.ADMIN, "Lê Văn Quản")
    return BillerDesk(api, await signed_in(api, phone), bank, webhook_inbox_server[0])


@dataclass
class FakeBillersServer:
    """The fake billers (sandbox/billers.py) on a real socket, and their state, shared with the server's thread."""

    url: str
    state: FakeBillers

    def company(self, slug: str) -> Company:
        return self.state.companies[slug]

    def lookup_url(self, slug: str) -> str:
        return f"{self.url}/{slug}/customers/{{customer_code}}/bills"


@pytest.fixture(scope="session")
def fake_billers_server() -> Iterator[FakeBillersServer]:
    state = FakeBillers({})
    with serving(create_billers_app(state)) as url:
        yield FakeBillersServer(url, state)


@pytest.fixture
def fake_billers(fake_billers_server: FakeBillersServer) -> Iterator[FakeBillersServer]:
    """The electricity company, the water company and the school as at the start: up, no look-up, nothing received."""
    fake_billers_server.state.companies = demo_companies(lambda _slug: FAKE_BILLER_SECRET)
    yield fake_billers_server
    # A slow answer still waiting ends as soon as its company is no longer slow.
    for company in fake_billers_server.state.companies.values():
        company.mode = "ok"
