"""A biller set up through the API as an admin would, and the calls its system and citizens make (``biller_desk``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from httpx import Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.auth.models import Role
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from sandbox.bank import AccountOpen, Bank
from tests.conftest import Api, Citizen, create_staff, signed_in

_accounts = iter(range(1, 10**6))


@dataclass
class BillerDesk:
    api: Api
    admin: dict[str, str]
    bank: Bank

    async def biller(
        self, name: str = "Điện lực Thừa Thiên Huế", category: str = "electricity", policy: str = "refuse"
    ) -> dict[str, Any]:
        number = f"0161{next(_accounts):09d}"
        self.bank.accounts[("970436", number)] = AccountOpen("970436", number, name.upper())
        body = {
            "name": name,
            "category": category,
            "bank_bin": "970436",
            "account_number": number,
            "webhook_url": "https://billing.example.vn/hook",
            "webhook_secret": "a-long-enough-signing-secret",
            "payment_policy": policy,
        }
        made = await self.api.client.post("/billers", json=body, headers=self.admin)
        assert made.status_code == 201, made.text
        biller: dict[str, Any] = made.json()
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
    api: Api, bank: Bank, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: FixedClock
) -> BillerDesk:
    phone = await create_staff(sessions, settings, clock, Role.ADMIN, "Lê Văn Quản")
    return BillerDesk(api, await signed_in(api, phone), bank)
