"""Thin HTTP controllers for sign-up, wallets, transfers and history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from argon2 import PasswordHasher
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromQuery, HeaderParameter, JSONBody, PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth.guards import Principal, requires
from civicpay.auth.models import Role
from civicpay.clock import BusinessCalendar, Clock
from civicpay.db import MAX_ID
from civicpay.errors import negotiate_language
from civicpay.idempotency import IdempotencyKey, fingerprint, run_once
from civicpay.money import Category
from civicpay.settings import Settings
from wallet import ledger, schemas, service

RowId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
OtpHeader = Annotated[
    str | None,
    HeaderParameter(
        name="X-OTP",
        pattern=r"^[0-9]{6}$",
        min_length=6,
        max_length=6,
        description="TOTP code, needed when a transfer passes the step-up thresholds of Decision 2345",
    ),
]


class CitizenController(Controller):
    path = "/citizens"
    tags = ["wallets"]

    @post("/", operation_id="registerCitizen", exclude_from_auth=True, status_code=201)
    async def register(
        self,
        data: JSONBody[schemas.CitizenCreate],
        session: NamedDependency[AsyncSession],
        hasher: NamedDependency[PasswordHasher],
        clock: NamedDependency[Clock],
    ) -> schemas.Citizen:
        """Sign up with phone, citizen id (CCCD), full name and password; opens the wallet."""
        return await service.register_citizen(session, hasher, data, now=clock.now())


class WalletController(Controller):
    path = "/wallets"
    tags = ["wallets"]
    guards = [requires(Role.CITIZEN)]

    @get("/me", operation_id="getMyWallet")
    async def mine(
        self,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        calendar: NamedDependency[BusinessCalendar],
        clock: NamedDependency[Clock],
    ) -> schemas.Wallet:
        holder = await service.holder_of_user(session, principal.user_id)
        return await service.wallet_view(session, holder, settings, calendar, clock.now())

    @get("/{wallet_id:int}", operation_id="getWallet")
    async def one(
        self,
        wallet_id: RowId,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        calendar: NamedDependency[BusinessCalendar],
        clock: NamedDependency[Clock],
    ) -> schemas.Wallet:
        holder = await service.holder_of_wallet(session, wallet_id, viewer_user_id=principal.user_id)
        return await service.wallet_view(session, holder, settings, calendar, clock.now())

    @get("/{wallet_id:int}/history", operation_id="getWalletHistory")
    async def history(
        self,
        wallet_id: RowId,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        cursor: Annotated[str | None, QueryParameter(max_length=64)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        direction: FromQuery[Literal["in", "out"] | None] = None,
        category: FromQuery[Category | None] = None,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
    ) -> schemas.HistoryPage:
        """Movements newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
        holder = await service.holder_of_wallet(session, wallet_id, viewer_user_id=principal.user_id)
        where = service.HistoryFilter(direction=direction, category=category, since=since, until=until)
        return await service.history(session, holder, cursor=cursor, limit=limit, where=where)


class TransferController(Controller):
    path = "/transfers"
    tags = ["wallets"]
    guards = [requires(Role.CITIZEN)]

    @post(
        "/",
        operation_id="createTransfer",
        status_code=201,
        responses={201: ResponseSpec(data_container=schemas.Transfer, description="The transfer was made")},
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[schemas.TransferCreate],
        idempotency_key: IdempotencyKey,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        calendar: NamedDependency[BusinessCalendar],
        clock: NamedDependency[Clock],
        otp: OtpHeader = None,
    ) -> Response[bytes]:
        """Send money to another citizen's wallet by phone number."""
        now = clock.now()

        async def act() -> tuple[int, bytes]:
            made = await service.transfer_to_phone(
                session, settings, calendar, sender_user_id=principal.user_id, data=data, otp=otp, now=now
            )
            return 201, msgspec.json.encode(made)

        answer = await run_once(
            session,
            principal=f"user:{principal.user_id}",
            key=idempotency_key,
            request_fingerprint=fingerprint("POST", "/transfers", data),
            lang=negotiate_language(request.headers.get("accept-language")),
            now=now,
            action=act,
        )
        return answer.to_response()

    @get("/{transfer_id:int}", operation_id="getTransfer")
    async def one(
        self, transfer_id: RowId, principal: NamedDependency[Principal], session: NamedDependency[AsyncSession]
    ) -> schemas.Transfer:
        return await service.get_transfer(session, transfer_id, viewer_user_id=principal.user_id)


class LedgerReport(msgspec.Struct):
    sound: bool
    breaches: list[str]


class LedgerController(Controller):
    path = "/ledger"
    tags = ["ledger"]
    guards = [requires(Role.FINANCE_OFFICER, Role.ADMIN)]

    @get("/verify", operation_id="verifyLedger")
    async def verify(self, session: NamedDependency[AsyncSession]) -> LedgerReport:
        """Check every ledger invariant against the live database (read-only)."""
        breaches = await ledger.check_invariants(session)
        return LedgerReport(sound=not breaches, breaches=breaches)
