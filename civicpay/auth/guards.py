"""Who is calling, and may they call this.

The middleware turns a bearer token (people) or an ``X-API-Key`` (billers' systems) into a
``Principal``; guards on each controller name the roles that may enter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from civicpay.auth.models import Role
from civicpay.auth.secrets import decode_access_token
from civicpay.auth.service import authenticate_api_key
from civicpay.clock import Clock
from civicpay.db import UnitsOfWork
from civicpay.settings import Settings


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a person (``user``) or a machine key (``api_key``)."""

    kind: str
    id: int
    role: Role

    @property
    def idempotency_scope(self) -> str:
        """Whose Idempotency-Keys these are: two callers may use the same key independently."""
        return f"{self.kind}:{self.id}"

    @property
    def user_id(self) -> int:
        if self.kind != "user":
            raise PermissionDeniedException()
        return self.id


class AuthenticationMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        state = connection.app.state
        if presented_key := connection.headers.get("x-api-key"):
            units: UnitsOfWork = state.units
            async with units() as unit:
                key = await authenticate_api_key(unit.session, presented_key)
            if key is None:
                raise NotAuthorizedException()
            return AuthenticationResult(user=Principal("api_key", key.id, Role(key.role)), auth=None)
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthorizedException()
        settings: Settings = state.settings
        clock: Clock = state.clock
        claims = decode_access_token(settings, token, now=clock.now())
        if claims is None:
            raise NotAuthorizedException()
        return AuthenticationResult(user=Principal("user", int(claims["sub"]), Role(claims["role"])), auth=claims)


Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def requires(*roles: Role) -> Guard:
    """A guard admitting only the given roles; everyone else gets 403."""
    allowed = frozenset(roles)

    # Async, so Litestar calls it in the event loop rather than handing it to a worker thread.
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get("method") == "OPTIONS":
            return  # a CORS preflight carries no credentials and reveals nothing but the methods
        principal = connection.scope.get("user")
        if not isinstance(principal, Principal) or principal.role not in allowed:
            raise PermissionDeniedException()

    return guard


def provide_principal(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal: Principal = request.user
    return principal
