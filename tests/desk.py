"""A one-stop office set up through the API as an admin would (the `desk` fixture): an account, a counter, a clerk."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from httpx import Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.auth.models import Role
from civicpay.clock import FixedClock
from civicpay.demo import DEMO_OFFICE
from civicpay.settings import Settings
from tests.conftest import Api, Citizen, create_staff, notify, signed_in

# The demo's office: what the tests set up is what a new user finds after `make run`.
OFFICE: dict[str, str] = msgspec.to_builtins(DEMO_OFFICE)


@dataclass
class Desk:
    """An office with one counter and its clerk, and the calls made at it."""

    api: Api
    admin: dict[str, str]
    clerk: dict[str, str]
    office: dict[str, Any]
    counter: dict[str, Any]
    phones: tuple[str, str]  # the admin's and the clerk's

    async def sign_in_again(self) -> None:
        """New tokens for the admin and the clerk, after a test has moved the clock past the old ones."""
        self.admin, self.clerk = [await signed_in(self.api, phone) for phone in self.phones]

    async def collect(self, amount_vnd: int = 50_000, **overrides: Any) -> dict[str, Any]:
        made = await self.post_collection(amount_vnd, **overrides)
        assert made.status_code == 201, made.text
        collection: dict[str, Any] = made.json()
        return collection

    async def post_collection(self, amount_vnd: int = 50_000, *, language: str = "vi", **overrides: Any) -> Response:
        """The clerk's request for a collection, its answer unchecked."""
        body = {
            "counter_id": self.counter["id"],
            "procedure_code": "1.001612",
            "procedure_name": "Chứng thực bản sao từ bản chính",
            "dossier_number": "000.00.12.H57-261129-0001",
            "payer_name": "Nguyễn Thị Hương",
            "amount_vnd": amount_vnd,
            **overrides,
        }
        headers = {**self.clerk, "Accept-Language": language}
        return await self.api.client.post("/collections", json=body, headers=headers)

    async def pay(self, citizen: Citizen, payload: str, *, key: str | None = None, **body: Any) -> Response:
        headers = {**citizen.headers, "Idempotency-Key": key or str(uuid.uuid4())}
        return await self.api.client.post("/qr/payments", json={"payload": payload, **body}, headers=headers)

    async def collection(self, collection_id: int) -> dict[str, Any]:
        shown = await self.api.client.get(f"/collections/{collection_id}", headers=self.clerk)
        assert shown.status_code == 200, shown.text
        found: dict[str, Any] = shown.json()
        return found


async def open_office(api: Api, admin: dict[str, str], **overrides: Any) -> dict[str, Any]:
    made = await api.client.post("/offices", json={**OFFICE, **overrides}, headers=admin)
    assert made.status_code == 201, made.text
    office: dict[str, Any] = made.json()
    return office


@pytest.fixture
async def desk(api: Api, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: FixedClock) -> Desk:
    admin_phone = await create_staff(sessions, settings, clock, Role.ADMIN, "Phạm Quốc Bảo")
    admin = await signed_in(api, admin_phone)
    clerk_phone = await create_staff(sessions, settings, clock, Role.CLERK, "Võ Thị Thu")
    office = await open_office(api, admin)
    counter = await api.client.post(f"/offices/{office['id']}/counters", json={"name": "Quầy 1"}, headers=admin)
    assert counter.status_code == 201, counter.text
    placed = await api.client.post(f"/offices/{office['id']}/clerks", json={"phone": clerk_phone}, headers=admin)
    assert placed.status_code == 204, placed.text
    return Desk(api, admin, await signed_in(api, clerk_phone), office, counter.json(), (admin_phone, clerk_phone))


async def pay_by_bank(api: Api, settings: Settings, clock: FixedClock, **note: Any) -> Response:
    """A bank app's transfer to the office's collection account, as the bank notifies it."""
    return await notify(api, settings, clock, **{"account_number": OFFICE["account_number"], **note})
