"""Sign-in, the caller's own profile, TOTP enrolment, and the admin's staff and API-key desk."""

from __future__ import annotations

import base64
from typing import Any

from argon2 import PasswordHasher
from litestar import Controller, Request, Router, get, post
from litestar.di import NamedDependency
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import JSONBody
from litestar.types import ControllerRouterHandler
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth import secrets as sec
from civicpay.auth import service, throttle
from civicpay.auth.browser import PageSignInController
from civicpay.auth.guards import Principal, requires
from civicpay.auth.models import ApiKey, Role, User
from civicpay.auth.schemas import (
    ApiKeyCreate,
    ApiKeyIssued,
    LoginCreate,
    Me,
    Staff,
    StaffCreate,
    Token,
    TotpConfirm,
    TotpEnrolment,
    TotpEnrolmentCreate,
    TotpStatus,
)
from civicpay.clock import Clock
from civicpay.errors import InvalidField, NotFound, Text
from civicpay.settings import Settings

STAFF_ROLES = frozenset(Role) - {Role.CITIZEN, Role.BILLER}
# Every caller who can sign in or hold a key: people and billers' systems alike.
ANY_CALLER = tuple(Role)


class SessionController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/login", operation_id="login", exclude_from_auth=True, status_code=200)
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[LoginCreate],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        hasher: NamedDependency[PasswordHasher],
        clock: NamedDependency[Clock],
    ) -> Token:
        """Sign in with phone and password, plus the OTP code once TOTP is set up.

        Wrong passwords slow down, then lock, that number from the caller's address (429 with Retry-After);
        many numbers tried from one address lock the address.
        """
        token = await service.login(
            session,
            settings,
            hasher,
            phone=data.phone,
            password=data.password,
            otp=data.otp,
            address=throttle.address_of(request),
            now=clock.now(),
        )
        return Token(access_token=token.token, expires_in=token.expires_in)


class ProfileController(Controller):
    """Outside the sign-in rate limit: apps ask "who am I" often, and it proves nothing new."""

    path = "/auth"
    tags = ["auth"]

    @get("/me", operation_id="whoAmI", guards=[requires(*ANY_CALLER)])
    async def me(self, principal: NamedDependency[Principal], session: NamedDependency[AsyncSession]) -> Me:
        """Who is calling: the signed-in person, or the biller's system an API key belongs to."""
        if principal.kind == "api_key":
            key = await session.get(ApiKey, principal.id)
            if key is None:
                raise NotFound()
            return Me(id=key.id, role=Role(key.role), name=key.name, phone=None, totp_enabled=False)
        user = await session.get(User, principal.id)
        if user is None:
            raise NotFound()
        return Me(
            id=user.id,
            role=Role(user.role),
            name=user.full_name,
            phone=user.phone,
            totp_enabled=user.totp_secret is not None,
        )


class TotpController(Controller):
    path = "/auth/totp/enrolment"
    tags = ["auth"]
    guards = [requires(*(set(Role) - {Role.BILLER}))]

    @post("/", operation_id="startTotpEnrolment", status_code=201)
    async def start(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[TotpEnrolmentCreate],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        hasher: NamedDependency[PasswordHasher],
        clock: NamedDependency[Clock],
    ) -> TotpEnrolment:
        """Create a TOTP seed (the password is asked again); scan its QR into an authenticator app, then confirm."""
        uri = await service.start_totp_enrolment(
            session,
            settings,
            hasher,
            principal.user_id,
            data.password,
            address=throttle.address_of(request),
            now=clock.now(),
        )
        return TotpEnrolment(provisioning_uri=uri, qr_png_base64=base64.b64encode(sec.qr_png(uri)).decode())

    @post("/confirm", operation_id="confirmTotpEnrolment", status_code=200)
    async def confirm(
        self,
        data: JSONBody[TotpConfirm],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        clock: NamedDependency[Clock],
    ) -> TotpStatus:
        """Activate TOTP with the first code the app shows."""
        await service.confirm_totp_enrolment(session, settings, principal.user_id, data.code, now=clock.now())
        return TotpStatus(totp_enabled=True)


class AdminController(Controller):
    path = "/admin"
    tags = ["admin"]
    guards = [requires(Role.ADMIN)]

    @post("/staff", operation_id="createStaff", status_code=201)
    async def create_staff(
        self,
        data: JSONBody[StaffCreate],
        session: NamedDependency[AsyncSession],
        hasher: NamedDependency[PasswordHasher],
        clock: NamedDependency[Clock],
    ) -> Staff:
        """Create a clerk, merchant, officer or admin; citizens sign themselves up."""
        if data.role not in STAFF_ROLES:
            raise InvalidField(
                Text("Vai trò này không tạo được ở đây", "This role cannot be created here"), field="role"
            )
        user = await service.create_user(
            session,
            hasher,
            service.NewUser(data.phone, data.full_name, data.password, data.role, data.citizen_id),
            now=clock.now(),
        )
        return Staff(id=user.id, phone=user.phone, full_name=user.full_name, role=Role(user.role))

    @get("/staff", operation_id="listStaff")
    async def list_staff(self, session: NamedDependency[AsyncSession]) -> list[Staff]:
        """Everyone who is not a citizen: clerks, merchants, officers and admins, oldest first."""
        users = await session.scalars(select(User).where(User.role != Role.CITIZEN.value).order_by(User.id))
        return [Staff(id=u.id, phone=u.phone, full_name=u.full_name, role=Role(u.role)) for u in users]

    @post("/api-keys", operation_id="createApiKey", status_code=201)
    async def create_api_key(
        self, data: JSONBody[ApiKeyCreate], session: NamedDependency[AsyncSession], clock: NamedDependency[Clock]
    ) -> ApiKeyIssued:
        """Issue an API key for a biller's system; the key is shown only in this answer."""
        key, plaintext = await service.create_api_key(session, name=data.name, role=Role.BILLER, now=clock.now())
        return ApiKeyIssued(id=key.id, name=key.name, role=Role.BILLER, api_key=plaintext)


def rate_limited(settings: Settings, route_handlers: list[ControllerRouterHandler]) -> Router:
    """Sign-up, sign-in and OTP endpoints sit behind a per-address rate limit, on top of account lockout.

    Sign-up too: its "already registered" answer would otherwise be a free way to test phone numbers.
    """
    rate_limit = RateLimitConfig(rate_limit=("minute", settings.auth_rate_per_minute))
    return Router(path="/", route_handlers=route_handlers, middleware=[rate_limit.middleware])


# The pages' sign-in form too: it checks the same passwords and codes.
SIGN_IN = [SessionController, TotpController, PageSignInController]

__all__ = ["SIGN_IN", "AdminController", "ProfileController", "rate_limited"]
