"""Thin HTTP controllers for sign-up, wallets, transfers and history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from argon2 import PasswordHasher
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, HeaderParameter, JSONBody, PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth.guards import Principal, provide_principal, requires
from civicpay.auth.identity import normalise_phone
from civicpay.auth.models import Role
from civicpay.auth.secrets import signature_matches
from civicpay.clock import BusinessCalendar, Clock
from civicpay.db import MAX_ID, UnitsOfWork
from civicpay.errors import DomainError, Text, refuse_nul_characters
from civicpay.idempotency import IdempotencyKey, Once, StoredAnswer, idempotent, request_fingerprint
from civicpay.money import Category
from civicpay.settings import Settings
from wallet import bank_topups, fast_path, ledger, schemas, service, suspense_returns

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
        return await service.sign_up(session, hasher, data, now=clock.now())


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
        """The caller's wallet: balance, available balance, top-up code and the limits used this month."""
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
        """A wallet of the caller's, by id; another's is not found."""
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

    @post("/", operation_id="createTransfer", **idempotent(201, schemas.Transfer, "The transfer was made"))
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[schemas.TransferCreate],
        idempotency_key: IdempotencyKey,
        otp: OtpHeader = None,
    ) -> Response[bytes]:
        """Send money to another citizen's wallet by phone number."""
        # The busiest route takes the app's objects from its state rather than by injection (``once``
        # included): Litestar resolves two or more dependencies in a task group per request, which cost
        # as much CPU as the whole database call of the fast path. The unit of work is opened only when
        # it is needed.
        state = request.app.state
        settings: Settings = state.settings
        calendar: BusinessCalendar = state.calendar
        principal = provide_principal(request)
        now = state.clock.now()
        # The phone as the server reads it: "0987 654 321" and "0987654321" are one request.
        as_read = msgspec.structs.replace(data, to_phone=normalise_phone(data.to_phone) or data.to_phone)
        if settings.fast_transfers and not settings.is_sqlite:
            made = await fast_path.try_transfer(
                state.engine,
                settings,
                calendar,
                principal=principal.idempotency_scope,
                key=idempotency_key,
                fingerprint=request_fingerprint(request, as_read),
                sender_user_id=principal.user_id,
                data=as_read,
                now=now,
            )
            if made is not None:
                return StoredAnswer(201, made, replayed=False).to_response()

        units: UnitsOfWork = state.units
        async with units() as unit:
            once = Once(request, unit.session, caller=principal.idempotency_scope, key=idempotency_key, now=now)
            return await once(
                as_read,
                lambda: service.transfer_to_phone(
                    unit.session, settings, calendar, sender_user_id=principal.user_id, data=data, otp=otp, now=now
                ),
            )

    @get("/{transfer_id:int}", operation_id="getTransfer")
    async def one(
        self, transfer_id: RowId, principal: NamedDependency[Principal], session: NamedDependency[AsyncSession]
    ) -> schemas.Transfer:
        """A transfer the caller sent or received."""
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


class BadSignature(DomainError):
    code = "bad_signature"
    status = 401
    title = Text("Chữ ký HMAC của thông báo không hợp lệ", "The notification's HMAC signature does not match")


async def bank_signature_required(request: Request[Any, Any, Any]) -> None:
    """Check the signature before the body is even parsed: an unsigned caller learns nothing."""
    settings: Settings = request.app.state.settings
    if not signature_matches(settings.bank_webhook_secret, await request.body(), request.headers.get("x-signature")):
        raise BadSignature(field="header.X-Signature")
    await refuse_nul_characters(request)  # this hook stands in for the app-wide one on this route


class BankWebhookController(Controller):
    path = "/webhooks/bank"
    tags = ["bank transfers"]

    @post(
        "/notifications",
        operation_id="receiveBankNotification",
        exclude_from_auth=True,
        before_request=bank_signature_required,
        status_code=200,
    )
    async def receive(
        self,
        data: JSONBody[bank_topups.NotificationIn],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        clock: NamedDependency[Clock],
        claimants: NamedDependency[list[bank_topups.Claimant]],
    ) -> bank_topups.Receipt:
        """An incoming-transfer notification, signed with HMAC-SHA256 of the raw body in ``X-Signature`` (hex).

        Answered 2xx only once its money is booked (to a fee collection its reference names, to a wallet,
        or to suspense); a retry of a handled notification id answers the same again with
        ``duplicate: true`` and moves nothing.
        """
        return await bank_topups.receive(session, settings, data, now=clock.now(), claimants=claimants)


class BankAccountsController(Controller):
    path = "/finance/bank-accounts"
    tags = ["bank transfers"]
    guards = [requires(Role.FINANCE_OFFICER)]

    @get("/", operation_id="listBankAccountsHeld")
    async def held(
        self, session: NamedDependency[AsyncSession], clock: NamedDependency[Clock]
    ) -> bank_topups.BankAccountsHeld:
        """Each bank account we hold (by BIN and number) with its ledger balance, all at one instant."""
        return await bank_topups.bank_accounts_held(session, now=clock.now())


class SuspenseAssign(msgspec.Struct, forbid_unknown_fields=True):
    to_phone: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=500)]


class SuspenseReturn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=500)]


class SuspenseController(Controller):
    path = "/finance/suspense"
    tags = ["bank transfers"]
    guards = [requires(Role.FINANCE_OFFICER)]

    @get("/", operation_id="listSuspense")
    async def open_items(self, session: NamedDependency[AsyncSession]) -> list[bank_topups.SuspenseItem]:
        """Bank transfers that could not be placed, oldest first."""
        return await bank_topups.open_suspense(session)

    @post(
        "/{item_id:int}/assign",
        operation_id="assignSuspense",
        **idempotent(200, bank_topups.Resolution, "Booked to the wallet"),
    )
    async def assign(
        self,
        item_id: RowId,
        data: JSONBody[SuspenseAssign],
        once: NamedDependency[Once],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        """Book a suspense item to the wallet of a phone number; audited with the reason."""
        return await once(
            data,
            lambda: bank_topups.assign(
                session,
                item_id=item_id,
                officer_user_id=principal.user_id,
                to_phone=data.to_phone,
                reason=data.reason,
                now=once.now,
            ),
        )

    @post(
        "/{item_id:int}/return",
        operation_id="returnSuspense",
        **idempotent(200, bank_topups.Resolution, "Held and queued to the bank"),
    )
    async def give_back(
        self,
        item_id: RowId,
        data: JSONBody[SuspenseReturn],
        once: NamedDependency[Once],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        """Ask the bank to send a suspense item back to whoever sent it; audited with the reason.

        The answer says ``returning``: the money is held and the return goes to the bank after the
        commit. The bank's callback confirms it (``returned``) or rejects it (the item is open again,
        ``return_rejected`` with the bank's reason code).
        """
        return await once(
            data,
            lambda: suspense_returns.give_back(
                session, item_id=item_id, officer_user_id=principal.user_id, reason=data.reason, now=once.now
            ),
        )
