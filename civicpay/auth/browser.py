"""Signing in in a browser, for the pages officers work in (``/office``): a form, and the access token in a cookie.

The API's callers send ``Authorization: Bearer``; a page cannot, so the same token (``POST /auth/login``'s, same
rules: password, TOTP once it is on, the same slow-down and locks) is kept in a cookie that only the pages read.
The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's form or link carries it,
which is what keeps another site from approving a batch in an officer's name) and, in production, ``Secure``; a
page's POST must also come from our own origin when the browser says where it comes from. The API itself never
reads the cookie, so a browser signed in to the pages cannot be steered into calling the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from litestar import Controller, MediaType, Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, QueryParameter
from litestar.response import Redirect, Template

from civicpay.auth import service, throttle
from civicpay.auth.guards import Principal
from civicpay.auth.models import Role
from civicpay.auth.secrets import decode_access_token
from civicpay.clock import Clock
from civicpay.db import UnitsOfWork
from civicpay.errors import DomainError, Text
from civicpay.settings import Settings

COOKIE = "civicpay_page_session"
SIGN_IN_PATH = "/sign-in"
_NO_STORE = {"Cache-Control": "private, no-store"}


@dataclass
class SignInForm:
    phone: str = ""
    password: str = ""
    otp: str = ""
    next: str = ""


SignInBody = Annotated[SignInForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
# Where to go once signed in: a path of ours (``_next_page``).
NextPage = Annotated[str, QueryParameter(max_length=200)]


def signed_in(request: Request[Any, Any, Any], *roles: Role) -> Principal | None:
    """Who the page's cookie says is signed in, if one of ``roles``; None for no, an expired or a forged token."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    state = request.app.state
    settings: Settings = state.settings
    clock: Clock = state.clock
    claims = decode_access_token(settings, token, now=clock.now())
    if claims is None or Role(claims["role"]) not in roles:
        return None
    return Principal("user", int(claims["sub"]), Role(claims["role"]))


def to_sign_in(request: Request[Any, Any, Any]) -> Redirect:
    """Off to the sign-in form, coming back here afterwards."""
    return Redirect(f"{SIGN_IN_PATH}?next={request.url.path}", status_code=303)


def same_origin(request: Request[Any, Any, Any]) -> bool:
    """A page's POST comes from one of our pages: its ``Origin`` (when the browser sends one) is ours."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    sent, ours = urlsplit(origin), urlsplit(str(request.base_url))
    return (sent.scheme, sent.netloc) == (ours.scheme, ours.netloc)


CROSS_SITE = Text("Yêu cầu không đến từ trang của chúng tôi", "The request did not come from our own page")


def _next_page(wanted: str) -> str:
    # Only a path of ours: "//elsewhere" or "https://…" would make the form an open redirect.
    return wanted if wanted.startswith("/") and not wanted.startswith("//") else "/office"


def _form(next_page: str, *, phone: str = "", error: Text | None = None, status_code: int = 200) -> Template:
    return Template(
        "sign_in.html",
        context={"next": _next_page(next_page), "phone": phone, "error": error},
        status_code=status_code,
        headers=_NO_STORE,
    )


class PageSignInController(Controller):
    """The sign-in form of the pages; behind the same per-address rate limit as ``POST /auth/login``."""

    path = "/"
    include_in_schema = False

    @get(SIGN_IN_PATH, exclude_from_auth=True, media_type=MediaType.HTML)
    async def form(self, next: NextPage = "/office") -> Template:
        return _form(next)

    @post(SIGN_IN_PATH, exclude_from_auth=True, media_type=MediaType.HTML, status_code=303)
    async def sign_in(self, request: Request[Any, Any, Any], data: SignInBody) -> Template | Redirect:
        """The password (and TOTP code once it is on) checked as ``POST /auth/login`` checks them."""
        if not same_origin(request):
            return _form(data.next, error=CROSS_SITE, status_code=403)
        state = request.app.state
        units: UnitsOfWork = state.units
        settings: Settings = state.settings
        clock: Clock = state.clock
        try:
            async with units() as unit:
                token = await service.login(
                    unit.session,
                    settings,
                    state.hasher,
                    phone=data.phone,
                    password=data.password,
                    otp=data.otp.strip() or None,
                    address=throttle.address_of(request),
                    now=clock.now(),
                )
        except DomainError as refused:
            return _form(data.next, phone=data.phone, error=refused.detail or refused.title, status_code=refused.status)
        cookie = Cookie(
            key=COOKIE,
            value=token.token,
            max_age=token.expires_in,
            path="/",
            httponly=True,
            samesite="strict",
            secure=settings.env == "production",
        )
        return Redirect(_next_page(data.next), status_code=303, cookies=[cookie], headers=_NO_STORE)

    @post("/sign-out", exclude_from_auth=True, status_code=303)
    async def sign_out(self) -> Redirect:
        return Redirect(SIGN_IN_PATH, status_code=303, cookies=[Cookie(key=COOKIE, value="", max_age=0, path="/")])
