"""Signing in in a browser, for the pages officers work in (``/office``, ``/finance/console``): one form, and the
access token in one cookie that serves every page; each page says which roles it admits.

The API's callers send ``Authorization: Bearer``; a page cannot, so the same token (``POST /auth/login``'s, same
rules: password, TOTP once it is on, the same slow-down and locks) is kept in a cookie that only the pages read.
The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's form or link carries it,
which is what keeps another site from approving a batch in an officer's name) and, in production, ``Secure``; a
page's POST must also come from our own origin when the browser says where it comes from. That pair is the one
cross-site defence of every page: no per-form token, since a form another site posts arrives without the cookie
(SameSite=Strict) and, from a sibling origin, is refused by the Origin check. The API itself never reads the
cookie, so a browser signed in to the pages cannot be steered into calling the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

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
_NEXT_MAX = 200
NextPage = Annotated[str, QueryParameter(max_length=_NEXT_MAX)]


def _cookie_says(request: Request[Any, Any, Any]) -> Principal | None:
    """Whoever the cookie's token names, any role; None for no, an expired or a forged token."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    state = request.app.state
    settings: Settings = state.settings
    clock: Clock = state.clock
    claims = decode_access_token(settings, token, now=clock.now())
    if claims is None:
        return None
    return Principal("user", int(claims["sub"]), Role(claims["role"]))


def signed_in(request: Request[Any, Any, Any], *roles: Role) -> Principal | None:
    """Who the page's cookie says is signed in, if one of ``roles``; None for no, an expired or a forged token."""
    who = _cookie_says(request)
    return who if who is not None and who.role in roles else None


NOT_YOUR_PAGE = Text(
    "Trang này không dành cho vai trò của bạn; hãy đăng nhập bằng tài khoản khác",
    "This page is not for your role; sign in with another account",
)


def to_sign_in(request: Request[Any, Any, Any]) -> Template | Redirect:
    """Off to the sign-in form, coming back here afterwards; someone signed in whose role the page does not admit
    is told so there (403) rather than sent round the form again without a word."""
    here = request.url.path
    if request.url.query and len(here) + len(request.url.query) < _NEXT_MAX:
        here = f"{here}?{request.url.query}"  # the console's day page is its query: come back to the same day
    if _cookie_says(request) is not None:
        return _form(here, error=NOT_YOUR_PAGE, status_code=403)
    return Redirect(f"{SIGN_IN_PATH}?next={quote(here, safe='/')}", status_code=303)


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
