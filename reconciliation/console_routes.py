"""The finance officers' console (bảng điều khiển đối soát): runs, drift and the exception queue, with its actions,
as server-rendered pages (Jinja templates in ``civicpay/web``), no script.

A finance officer signs in with the pages' own form (``civicpay.auth.browser``: ``/sign-in?next=/finance/console``,
the same cookie as the programme officers' pages, SameSite=Strict, and every POST's Origin checked). Each action is
the same use case the API's routes call, in one unit of work; a refusal is shown on the page in Vietnamese and
English, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.response import Redirect, Template
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth import browser
from civicpay.auth.models import Role
from civicpay.clock import BusinessCalendar, Clock
from civicpay.db import UnitsOfWork, table_of
from civicpay.errors import DomainError, Text
from civicpay.money import format_vnd
from reconciliation import closing, exceptions, runs
from reconciliation.imports import AccountRef
from reconciliation.models import ReconciliationRun
from reconciliation.queue_routes import load_day
from reconciliation.queue_schemas import account_of
from wallet.ledger import bank_account_balances
from wallet.routes import RowId

PREFIX = "/finance/console"
# As the API's reconciliation routes: the console does what they do, so an admin is kept out here as there.
OFFICERS = (Role.FINANCE_OFFICER,)
_run = table_of(ReconciliationRun)
_BAD_FORM = Text("Biểu mẫu không hợp lệ; hãy tải lại trang", "The form is not valid; reload the page")
_STATUS_WORDS = {
    "reconciled": "Khớp / Reconciled",
    "exceptions": "Có chênh lệch / Exceptions",
    "no_statement": "Chưa có sao kê / No statement",
}
_STATE_WORDS = {
    "open": "Chưa xử lý / Open",
    "matched": "Đã ghép / Matched",
    "adjusting": "Chờ duyệt điều chỉnh / Awaiting approval",
    "adjusted": "Đã điều chỉnh / Adjusted",
    "carried": "Chuyển ngày sau / Carried",
}


def _problem(error: DomainError) -> dict[str, str]:
    text = error.detail or error.title
    return {"code": error.code, "vi": text.vi, "en": text.en}


def _day_url(account: AccountRef | str, day: date | str, **extra: str) -> str:
    return f"{PREFIX}/day?" + urlencode({"account": str(account), "date": str(day), **extra})


async def _index_context(session: AsyncSession) -> dict[str, Any]:
    newest = (
        select(func.max(_run.c.id).label("id"))
        .group_by(_run.c.account_id, _run.c.business_day)
        .order_by(func.max(_run.c.id).desc())
        .limit(50)
        .subquery()
    )
    days = (
        await session.execute(select(_run).where(_run.c.id.in_(select(newest.c.id))).order_by(_run.c.id.desc()))
    ).all()
    accounts = [a for a in await bank_account_balances(session) if a.bank_bin]
    return {"days": days, "accounts": accounts}


class ConsoleController(Controller):
    path = PREFIX
    tags = ["reconciliation"]
    include_in_schema = False
    opt = {"exclude_from_auth": True}

    @get("/", media_type=MediaType.HTML)
    async def index(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """The days reconciled lately (each account's newest run per day) and a form to reconcile another."""
        if browser.signed_in(request, *OFFICERS) is None:
            return browser.to_sign_in(request)
        units: UnitsOfWork = request.app.state.units
        async with units() as unit:
            context = await _index_context(unit.session)
        problem = request.query_params.get("problem_vi")
        return Template(
            template_name="console_index.html",
            context={
                **context,
                "vnd": format_vnd,
                "status_words": _STATUS_WORDS,
                "day_url": _day_url,
                "today": request.app.state.calendar.business_day(request.app.state.clock.now()),
                "problem": ({"vi": problem, "en": request.query_params.get("problem_en", "")} if problem else None),
            },
        )

    @get("/day", media_type=MediaType.HTML)
    async def day(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """One account's business day: the newest run, drift, what explains it, the queue and its actions."""
        officer = browser.signed_in(request, *OFFICERS)
        if officer is None:
            return browser.to_sign_in(request)
        return await _render_day(
            request,
            officer.id,
            request.query_params.get("account", ""),
            request.query_params.get("date", ""),
            None,
        )

    @post("/runs", media_type=MediaType.HTML, status_code=303)
    async def run(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Reconcile an account's day (the same as ``POST /finance/reconciliation-runs``), then show it."""

        async def act(session: AsyncSession, officer: int, form: Any) -> None:
            state = request.app.state
            await runs.run(
                session,
                account_of(str(form.get("account", ""))),
                _date(form),
                calendar=state.calendar,
                user_id=officer,
                now=state.clock.now(),
            )

        return await _act(request, act)

    @post("/match", media_type=MediaType.HTML, status_code=303)
    async def match(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Match a statement line with our items by hand."""

        async def act(session: AsyncSession, officer: int, form: Any) -> None:
            await exceptions.match_by_hand(
                session,
                line_exception_id=_int(form.get("line")),
                item_exception_ids=[_int(value) for value in form.getall("item", [])],
                note=str(form.get("note", ""))[:500],
                officer_id=officer,
                now=request.app.state.clock.now(),
            )

        return await _act(request, act)

    @post("/exceptions/{exception_id:int}/carry", media_type=MediaType.HTML, status_code=303)
    async def carry(self, request: Request[Any, Any, Any], exception_id: RowId) -> Response[Any]:
        """Carry an exception to the next open day as a timing difference."""

        async def act(session: AsyncSession, officer: int, form: Any) -> None:
            note = str(form.get("note", ""))[:500]
            await exceptions.carry(
                session, exception_id, note=note, officer_id=officer, now=request.app.state.clock.now()
            )

        return await _act(request, act)

    @post("/exceptions/{exception_id:int}/adjust", media_type=MediaType.HTML, status_code=303)
    async def adjust(self, request: Request[Any, Any, Any], exception_id: RowId) -> Response[Any]:
        """Propose a suspense adjustment for an exception."""

        async def act(session: AsyncSession, officer: int, form: Any) -> None:
            await exceptions.propose_adjustment(
                session,
                exception_id,
                note=str(form.get("note", ""))[:500],
                officer_id=officer,
                now=request.app.state.clock.now(),
            )

        return await _act(request, act)

    @post("/adjustments/{adjustment_id:int}/approve", media_type=MediaType.HTML, status_code=303)
    async def approve(self, request: Request[Any, Any, Any], adjustment_id: RowId) -> Response[Any]:
        """Approve another officer's adjustment with your TOTP code."""

        async def act(session: AsyncSession, officer: int, form: Any) -> None:
            state = request.app.state
            await exceptions.approve_adjustment(
                session,
                state.settings,
                state.calendar,
                adjustment_id,
                officer_id=officer,
                otp=str(form.get("otp", "")).strip() or None,
                now=state.clock.now(),
            )

        return await _act(request, act)

    @post("/close", media_type=MediaType.HTML, status_code=303)
    async def close(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Close the day."""

        async def act(session: AsyncSession, officer: int, form: Any) -> None:
            state = request.app.state
            await closing.close_day(
                session,
                state.calendar,
                account_of(str(form.get("account", ""))),
                _date(form),
                officer_id=officer,
                now=state.clock.now(),
            )

        return await _act(request, act)


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise DomainError(_BAD_FORM, field="form") from None


def _date(form: Any) -> date:
    try:
        return date.fromisoformat(str(form.get("date", "")))
    except ValueError:
        raise DomainError(_BAD_FORM, field="date") from None


Action = Callable[[AsyncSession, int, Any], Awaitable[None]]


async def _act(request: Request[Any, Any, Any], action: Action) -> Response[Any]:
    """Check who and where the form comes from, do the action in its own unit of work, and go back to the day's page
    (or show the day with the refusal, nothing changed)."""
    signed_in = browser.signed_in(request, *OFFICERS)
    if signed_in is None:
        return browser.to_sign_in(request)
    officer = signed_in.id
    form = await request.form()
    account, day = str(form.get("account", "")), str(form.get("date", ""))
    if not browser.same_origin(request):
        cross_site = {"code": "cross_site", **_texts(browser.CROSS_SITE)}
        return await _render_day(request, officer, account, day, cross_site, 403)
    units: UnitsOfWork = request.app.state.units
    try:
        async with units() as unit:
            await action(unit.session, officer, form)
    except DomainError as refused:
        if not day:
            where = urlencode({"problem_vi": _problem(refused)["vi"], "problem_en": _problem(refused)["en"]})
            return Redirect(f"{PREFIX}?{where}", status_code=303)
        return await _render_day(request, officer, account, day, _problem(refused), refused.status)
    return Redirect(_day_url(account, day), status_code=303)


def _texts(text: Text) -> dict[str, str]:
    return {"vi": text.vi, "en": text.en}


async def _render_day(
    request: Request[Any, Any, Any],
    officer: int,
    account_text: str,
    day_text: str,
    problem: dict[str, str] | None,
    status_code: int = 200,
) -> Response[Any]:
    state = request.app.state
    calendar: BusinessCalendar = state.calendar
    clock: Clock = state.clock
    units: UnitsOfWork = state.units
    account = AccountRef.parse(account_text)
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        day = None
    if account is None or day is None:
        return Redirect(
            f"{PREFIX}?" + urlencode({"problem_vi": _BAD_FORM.vi, "problem_en": _BAD_FORM.en}), status_code=303
        )
    try:
        async with units() as unit:
            found = await load_day(unit.session, calendar, account, day)
    except DomainError as refused:
        shown = _problem(refused)
        return Redirect(
            f"{PREFIX}?" + urlencode({"problem_vi": shown["vi"], "problem_en": shown["en"]}), status_code=303
        )
    run = found.run
    queue = [e for e in run.exceptions if not (e.resolution or {}).get("carried_match")] if run else []
    carried_matches = [e for e in run.exceptions if (e.resolution or {}).get("carried_match")] if run else []
    return Template(
        template_name="console_day.html",
        context={
            "day": found,
            "queue": queue,
            "carried_matches": carried_matches,
            "lines": [e for e in queue if e.kind == "unmatched_theirs" and e.state == "open"],
            "items": [e for e in queue if e.kind == "unmatched_ours" and e.state == "open"],
            "pending": {a.exception_id: a for a in found.pending_adjustments},
            "officer": officer,
            "vnd": format_vnd,
            "status_words": _STATUS_WORDS,
            "state_words": _STATE_WORDS,
            "effect": _effect_of,
            "problem": problem,
            "now": clock.now(),
        },
        status_code=status_code,
    )


def _effect_of(exception: Any) -> int:
    return exceptions.effect(exception)


ROUTE_HANDLERS = [ConsoleController]
