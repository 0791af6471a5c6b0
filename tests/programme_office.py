"""A programme office set up through the API (the `office` fixture): two programme officers, two finance officers,
TOTP on for the approvers, and helpers to create, fund, upload, approve and run."""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from httpx import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import disbursement
from civicpay.auth.identity import normalise_phone
from civicpay.auth.models import Role, User
from civicpay.bootstrap import Services
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from tests.conftest import PASSWORD, TOTP_STEP, Api, Citizen, create_staff, enrol, new_phone, signed_in
from wallet import ledger
from wallet.service import wallet_account_code

HEADER = ["citizen_id", "full_name", "amount_vnd", "period", "destination", "bank_bin", "account_number", "holder_name"]
PERIOD = "2026-12"
_names = itertools.count(1)


@dataclass
class Officer:
    user_id: int
    headers: dict[str, str]
    totp: pyotp.TOTP | None = None

    def keyed(self, key: str | None = None) -> dict[str, str]:
        """The officer's headers with an Idempotency-Key, as every money-moving POST needs."""
        return {**self.headers, "Idempotency-Key": key or str(uuid.uuid4())}


@dataclass
class Beneficiary:
    citizen: Citizen
    citizen_id: str
    full_name: str


def csv_bytes(rows: list[dict[str, Any]], header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: row.get(name, "") for name in header})
    return out.getvalue().encode()


def wallet_row(who: Beneficiary, amount_vnd: int | str = 1_500_000, **overrides: Any) -> dict[str, Any]:
    return {
        "citizen_id": who.citizen_id,
        "full_name": who.full_name,
        "amount_vnd": str(amount_vnd),
        "period": PERIOD,
        "destination": "wallet",
        **overrides,
    }


def bank_row(citizen_id: str, amount_vnd: int = 2_000_000, **overrides: Any) -> dict[str, Any]:
    return {
        "citizen_id": citizen_id,
        "full_name": "Lê Văn Tám",
        "amount_vnd": str(amount_vnd),
        "period": PERIOD,
        "destination": "bank",
        "bank_bin": "970436",
        "account_number": "1012345678",
        "holder_name": "LE VAN TAM",
        **overrides,
    }


def unclaimed_row(citizen_id: str, full_name: str, amount_vnd: int = 1_500_000, **overrides: Any) -> dict[str, Any]:
    """Someone with neither a wallet nor a bank account (yet)."""
    return {
        "citizen_id": citizen_id,
        "full_name": full_name,
        "amount_vnd": str(amount_vnd),
        "period": PERIOD,
        "destination": "unclaimed",
        **overrides,
    }


async def sign_up(api: Api, citizen_id: str, full_name: str) -> Citizen:
    """A citizen opening a wallet with this citizen ID through the API, signed in."""
    phone = new_phone()
    created = await api.client.post(
        "/citizens",
        json={"phone": phone, "citizen_id": citizen_id, "full_name": full_name, "password": PASSWORD},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    login = await api.client.post("/auth/login", json={"phone": phone, "password": PASSWORD})
    assert login.status_code == 200, login.text
    async with api.sessions() as session:
        account = await ledger.account_id(session, wallet_account_code(body["user_id"]))
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    return Citizen(phone, body["user_id"], body["wallet_id"], account, headers)


class Office:
    def __init__(
        self, api: Api, services: Services, clock: FixedClock, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        self.api, self.services, self.clock, self.sessions = api, services, clock, sessions
        self.maker: Officer
        self.checker: Officer
        self.recorder: Officer
        self.treasurer: Officer

    async def officer(self, role: Role, name: str, *, totp: bool) -> Officer:
        settings: Settings = self.services.settings
        phone = await create_staff(self.sessions, settings, self.clock, role, name)
        headers = await signed_in(self.api, phone)
        async with self.sessions() as session:
            user_id = await session.scalar(select(User.id).where(User.phone == normalise_phone(phone)))
        assert user_id is not None
        officer = Officer(user_id, headers)
        if totp:
            officer.totp = await enrol(self.api, Citizen(phone, user_id, 0, 0, headers), self.clock)
        return officer

    def code(self, officer: Officer) -> str:
        """A fresh code: the clock moves a step on first, so no two approvals in a test replay one."""
        assert officer.totp is not None
        self.clock.advance(TOTP_STEP)
        return officer.totp.at(self.clock.now())

    async def beneficiary(self, full_name: str = "Nguyễn Văn An") -> Beneficiary:
        citizen = await self.api.register(full_name=full_name)
        async with self.sessions() as session:
            citizen_id = await session.scalar(select(User.citizen_id).where(User.id == citizen.user_id))
        assert citizen_id is not None
        return Beneficiary(citizen, citizen_id, full_name)

    async def programme(self, *, max_amount_vnd: int = 5_000_000, kind: str = "welfare", name: str = "") -> int:
        created = await self.api.client.post(
            "/programmes",
            json={"name": name or f"Trợ cấp xã hội {next(_names)}", "kind": kind, "max_amount_vnd": max_amount_vnd},
            headers=self.maker.headers,
        )
        assert created.status_code == 201, created.text
        programme_id: int = created.json()["id"]
        return programme_id

    async def fund(self, programme_id: int, amount_vnd: int) -> dict[str, Any]:
        recorded = await self.api.client.post(
            f"/programmes/{programme_id}/fundings",
            json={"amount_vnd": amount_vnd, "bank_reference": "FT26341000123"},
            headers=self.recorder.headers,
        )
        assert recorded.status_code == 201, recorded.text
        approved = await self.api.client.post(
            f"/fundings/{recorded.json()['id']}/approve",
            headers={**self.treasurer.keyed(), "X-OTP": self.code(self.treasurer)},
        )
        assert approved.status_code == 200, approved.text
        funding: dict[str, Any] = approved.json()
        return funding

    async def upload(self, programme_id: int, content: bytes, name: str = "batch.csv") -> Response:
        return await self.api.client.post(
            f"/programmes/{programme_id}/batches",
            files={"file": (name, content, "text/csv")},
            headers=self.maker.headers,
        )

    async def uploaded(self, programme_id: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
        answer = await self.upload(programme_id, csv_bytes(rows))
        assert answer.status_code == 201, answer.text
        batch: dict[str, Any] = answer.json()
        return batch

    async def approve(self, batch_id: int, officer: Officer | None = None, otp: str | None = None) -> Response:
        officer = officer or self.checker
        headers = officer.keyed()
        if otp is not None:
            headers["X-OTP"] = otp
        elif officer.totp is not None:
            headers["X-OTP"] = self.code(officer)
        return await self.api.client.post(f"/batches/{batch_id}/approve", headers=headers)

    async def batch(self, batch_id: int) -> dict[str, Any]:
        answer = await self.api.client.get(f"/batches/{batch_id}", headers=self.maker.headers)
        assert answer.status_code == 200, answer.text
        batch: dict[str, Any] = answer.json()
        return batch

    async def run(self, **kwargs: Any) -> disbursement.Executed:
        return await disbursement.run_disbursements(self.services.units, self.services.settings, self.clock, **kwargs)

    async def report(self, batch_id: int) -> dict[str, tuple[int, int]]:
        """The batch's report: each outcome's (count, total)."""
        answer = await self.api.client.get(f"/batches/{batch_id}/report", headers=self.maker.headers)
        assert answer.status_code == 200, answer.text
        return {row["outcome"]: (row["count"], row["total_vnd"]) for row in answer.json()["outcomes"]}

    async def listed(self, programme_id: int) -> dict[str, Any]:
        """The programme as GET /programmes lists it."""
        answer = await self.api.client.get("/programmes", headers=self.maker.headers)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = next(row for row in answer.json() if row["id"] == programme_id)
        return found

    async def hold(self, hold_id: int) -> ledger.Hold:
        async with self.sessions() as session:
            found = await session.get(ledger.Hold, hold_id)
            assert found is not None
            return found


async def approved(office: Office, people: int) -> tuple[int, list[Beneficiary]]:
    """An approved batch paying ``people`` new beneficiaries to their wallets, 1.000.000 ₫ + their number each."""
    found = [await office.beneficiary(f"Người Nhận Số {chr(65 + number % 26)}") for number in range(people)]
    programme = await office.programme()
    await office.fund(programme, 100_000_000)
    batch = await office.uploaded(programme, [wallet_row(who, 1_000_000 + number) for number, who in enumerate(found)])
    assert batch["valid"] == people
    assert (await office.approve(batch["id"])).status_code == 200
    batch_id: int = batch["id"]
    return batch_id, found


@pytest.fixture
async def office(api: Api, services: Services, clock: FixedClock, sessions: async_sessionmaker[AsyncSession]) -> Office:
    built = Office(api, services, clock, sessions)
    built.maker = await built.officer(Role.PROGRAMME_OFFICER, "Phan Thị Lan", totp=True)
    built.checker = await built.officer(Role.PROGRAMME_OFFICER, "Đặng Quốc Bảo", totp=True)
    built.recorder = await built.officer(Role.FINANCE_OFFICER, "Hoàng Minh Châu", totp=False)
    built.treasurer = await built.officer(Role.FINANCE_OFFICER, "Trương Mỹ Linh", totp=True)
    return built
