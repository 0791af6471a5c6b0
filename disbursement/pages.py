"""The programme officers' pages (``/office``): programmes and batches, a batch's validation report, its approval
with a TOTP code, and its payment's progress live while the workers pay it.

Rendered on the server from Jinja templates (``civicpay/web/office_*.html``), Vietnamese first with English, as
the other pages. An officer signs in with the pages' form (``civicpay.auth.browser``: the access token in a
cookie). The progress bar listens to ``GET /office/batches/{id}/events`` (Server-Sent Events, as the counter's
screen does): the stream subscribes to the batch's topic before it reads the counts, so a chunk committed in
between is never missed; each announcement a worker makes (``disbursement.progress``) is a reason to read the
counts again, once for however many arrived meanwhile.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, PathParameter
from litestar.response import Redirect, ServerSentEvent, ServerSentEventMessage, Template
from sqlalchemy import select

from civicpay import events
from civicpay.auth import browser
from civicpay.auth.guards import Principal
from civicpay.auth.models import Role
from civicpay.clock import Clock
from civicpay.db import MAX_ID, UnitsOfWork
from civicpay.errors import DomainError, Text
from civicpay.money import format_vnd
from civicpay.settings import Settings
from disbursement import batches, programmes, progress
from disbursement.models import Batch, BatchStatus

BatchId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
# Who reads the pages (as GET /batches/{id}), and who may approve there (as POST /batches/{id}/approve).
READERS = (Role.PROGRAMME_OFFICER, Role.FINANCE_OFFICER, Role.ADMIN)
APPROVERS = (Role.PROGRAMME_OFFICER, Role.FINANCE_OFFICER)
# As the counter's stream: keep proxies from closing it, and end it now and then (EventSource comes back).
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 600.0
# While a batch is paid, how long a stream waits for an announcement before it reads the counts anyway.
RUNNING_REREAD_SECONDS = 2.0
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
_NO_STORE = {"Cache-Control": "private, no-store"}

STATUS_WORDS = {
    BatchStatus.VALIDATED.value: "Chờ duyệt / Awaiting approval",
    BatchStatus.APPROVED.value: "Đang chi trả / Paying",
    BatchStatus.AWAITING_BANK.value: "Chờ chi qua ngân hàng / Awaiting bank payouts",
    BatchStatus.COMPLETED.value: "Hoàn tất / Completed",
}
STATE_WORDS = {
    "queued": "Đang chờ / Queued",
    "pending_bank": "Chờ ngân hàng / Awaiting bank",
    "paid_to_wallet": "Đã chi vào ví / Paid to wallet",
    "failed": "Không chi được / Failed",
}
_BAD_CODE = Text("Mã OTP gồm đúng 6 chữ số", "The code is exactly 6 digits")
_NOT_AN_APPROVER = Text(
    "Chỉ cán bộ chương trình hoặc cán bộ tài chính được duyệt", "Only programme or finance officers approve"
)


@dataclass
class ApprovalForm:
    otp: str = ""


ApprovalBody = Annotated[ApprovalForm, Body(media_type=RequestEncodingType.URL_ENCODED)]


def _local(moment: datetime | None) -> str:
    return moment.astimezone(LOCAL).strftime("%d/%m/%Y %H:%M") if moment else "—"


def _rate(batch: Batch, done: int) -> str | None:
    """A finished batch's items per second, approval to end; a running one's is measured by the page as it watches."""
    if batch.approved_at is None or batch.finished_at is None:
        return None
    seconds = (batch.finished_at - batch.approved_at).total_seconds()
    return f"{done / seconds:.1f} /s" if seconds > 0 else None


def _words(status: str) -> str:
    return STATUS_WORDS.get(status, status)


async def _batch_page(
    request: Request[Any, Any, Any],
    batch_id: int,
    officer_id: int,
    role: Role,
    *,
    error: Text | None = None,
    status_code: int = 200,
) -> Template:
    units: UnitsOfWork = request.app.state.units
    async with units() as unit:
        session = unit.session
        batch = await batches.get(session, batch_id)
        programme = await programmes.get(session, batch.programme_id)
        view = await batches.view(session, batch)
        now = await progress.read(session, batch)
    return Template(
        "office_batch.html",
        context={
            "batch": view,
            "programme": programme,
            "progress": now,
            "maker": batch.made_by == officer_id,
            "may_approve": role in APPROVERS,
            "error": error,
            "rate": _rate(batch, now["done"]),
            "status_words": STATUS_WORDS,
            "state_words": STATE_WORDS,
            "vnd": format_vnd,
            "local": _local,
        },
        status_code=status_code,
        headers=_NO_STORE,
    )


async def _approved(
    request: Request[Any, Any, Any], batch_id: int, officer: Principal, code: str
) -> tuple[Text, int] | None:
    """Approve as ``batches.approve`` does, in a unit of work of its own; what refused it and its status, if so."""
    if not browser.same_origin(request):
        return browser.CROSS_SITE, 403
    if officer.role not in APPROVERS:
        return _NOT_AN_APPROVER, 403
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return _BAD_CODE, 400
    state = request.app.state
    units: UnitsOfWork = state.units
    settings: Settings = state.settings
    clock: Clock = state.clock
    try:
        async with units() as unit:
            await batches.approve(unit.session, settings, batch_id, officer_id=officer.id, otp=code, now=clock.now())
            await progress.announce(unit.session, batch_id)  # other officers watching see it approved
    except DomainError as refusal:  # rolled back, the OTP failure still counted (keep_after_rollback)
        return refusal.detail or refusal.title, refusal.status
    return None


async def _state_now(units: UnitsOfWork, batch_id: int) -> str:
    async with units() as unit:
        batch = await unit.session.get(Batch, batch_id)
        state = await progress.read(unit.session, batch) if batch is not None else {"batch_id": batch_id}
    return json.dumps(state, separators=(",", ":"))


async def _progress_stream(hub: events.Hub, units: UnitsOfWork, batch_id: int) -> AsyncIterator[ServerSentEventMessage]:
    """``progress`` now, then again after each burst of announcements (or a resync: it reads the counts anyway).

    While the batch is being paid, a quiet spell of ``RUNNING_REREAD_SECONDS`` is a reason to read too: on the
    embedded database a worker or ``civicpay disburse run`` in another process announces only to its own process
    (``civicpay.events``), and on PostgreSQL an announcement lost with the listening connection is caught up on.
    """
    with hub.subscribe(progress.topic(batch_id)) as queue:
        state = await _state_now(units, batch_id)
        yield ServerSentEventMessage(event="progress", data=state, retry=1000)
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_SECONDS
        while (left := ends - loop.time()) > 0:
            running = json.loads(state).get("status") == BatchStatus.APPROVED.value
            try:
                quiet = RUNNING_REREAD_SECONDS if running else KEEPALIVE_SECONDS
                await asyncio.wait_for(queue.get(), timeout=min(quiet, left))
            except TimeoutError:
                if not running or (fresh := await _state_now(units, batch_id)) == state:
                    yield ServerSentEventMessage(comment="keep-alive")
                    continue
                state = fresh
            else:
                while not queue.empty():  # one read for all the chunks committed while the last one was read
                    queue.get_nowait()
                state = await _state_now(units, batch_id)
            yield ServerSentEventMessage(event="progress", data=state)


class OfficePages(Controller):
    path = "/office"
    include_in_schema = False

    @get("/", exclude_from_auth=True, media_type=MediaType.HTML)
    async def programmes(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        """Every programme with its funding, and its batches with their state."""
        officer = browser.signed_in(request, *READERS)
        if officer is None:
            return browser.to_sign_in(request)
        units: UnitsOfWork = request.app.state.units
        async with units() as unit:
            listed = await programmes.list_all(unit.session)
            rows = (await unit.session.scalars(select(Batch).order_by(Batch.programme_id, Batch.id.desc()))).all()
        by_programme: dict[int, list[Batch]] = {}
        for row in rows:
            by_programme.setdefault(row.programme_id, []).append(row)
        return Template(
            "office_programmes.html",
            context={
                "programmes": listed,
                "batches": by_programme,
                "words": _words,
                "vnd": format_vnd,
                "local": _local,
            },
            headers=_NO_STORE,
        )

    @get("/batches/{batch_id:int}", exclude_from_auth=True, media_type=MediaType.HTML)
    async def batch(self, request: Request[Any, Any, Any], batch_id: BatchId) -> Template | Redirect:
        """A batch: totals, its validation report (the refused rows and why), approval, and live progress."""
        officer = browser.signed_in(request, *READERS)
        if officer is None:
            return browser.to_sign_in(request)
        return await _batch_page(request, batch_id, officer.id, officer.role)

    @post("/batches/{batch_id:int}/approve", exclude_from_auth=True, media_type=MediaType.HTML, status_code=303)
    async def approve(
        self, request: Request[Any, Any, Any], batch_id: BatchId, data: ApprovalBody
    ) -> Template | Redirect:
        """Approve with a TOTP code, as ``POST /batches/{id}/approve`` does; a refusal is shown on the page.

        No Idempotency-Key here: a form sent twice finds the batch approved already (409) and the code used.
        """
        officer = browser.signed_in(request, *READERS)
        if officer is None:
            return browser.to_sign_in(request)
        refused = await _approved(request, batch_id, officer, data.otp.strip())
        if refused is not None:
            error, status_code = refused
            return await _batch_page(request, batch_id, officer.id, officer.role, error=error, status_code=status_code)
        return Redirect(f"/office/batches/{batch_id}", status_code=303)

    @get("/batches/{batch_id:int}/events", exclude_from_auth=True, errors=[events.TooManyWatchers])
    async def follow(self, request: Request[Any, Any, Any], batch_id: BatchId) -> ServerSentEvent | Response[str]:
        """Server-Sent Events: ``progress`` now, then after every committed chunk and at the batch's end."""
        if browser.signed_in(request, *READERS) is None:
            return Response("", status_code=401)
        state = request.app.state
        units: UnitsOfWork = state.units
        async with units() as unit:
            await batches.get(unit.session, batch_id)  # 404 for a batch that does not exist
        state.events.admit(progress.topic(batch_id))  # 429 past a topic's worth of watchers
        return ServerSentEvent(_progress_stream(state.events, units, batch_id))
