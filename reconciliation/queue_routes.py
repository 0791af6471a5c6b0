"""Thin HTTP controllers of the exception queue and day close, for finance officers."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth.approval import ApprovalOtp
from civicpay.auth.guards import Principal, requires
from civicpay.auth.models import Role
from civicpay.clock import BusinessCalendar, Clock
from civicpay.idempotency import Once, idempotent
from civicpay.settings import Settings
from reconciliation import closing, exceptions
from reconciliation import queue_schemas as q
from reconciliation import schemas as s
from reconciliation.imports import AccountRef
from wallet.routes import RowId


async def load_day(
    session: AsyncSession, calendar: BusinessCalendar, account: AccountRef, day: date
) -> q.ReconciliationDay:
    """The day with its newest run's queue and the adjustments waiting for a second officer."""
    found = await closing.summary(session, calendar, account, day)
    ids = [e.id for e in found.run.exceptions] if found.run is not None else []
    pending = await exceptions.pending_adjustments(session, ids)
    return q.ReconciliationDay.of(found, list(pending.values()))


async def day_of(session: AsyncSession, calendar: BusinessCalendar, exception_id: int) -> q.ReconciliationDay:
    bank_bin, number, day = await exceptions.day_of_exception(session, exception_id)
    return await load_day(session, calendar, AccountRef(bank_bin, number), day)


class ReconciliationDayController(Controller):
    path = "/finance/reconciliation-days"
    tags = ["reconciliation"]
    guards = [requires(Role.FINANCE_OFFICER)]

    @get("/", operation_id="getReconciliationDay")
    async def one(
        self,
        session: NamedDependency[AsyncSession],
        calendar: NamedDependency[BusinessCalendar],
        account: Annotated[str, QueryParameter(pattern=s.ACCOUNT_PATTERN, description="BIN:NUMBER")],
        day: Annotated[date, QueryParameter(name="date", description="The business day, YYYY-MM-DD")],
    ) -> q.ReconciliationDay:
        """A bank account's business day: its newest run with the exception queue, the drift and what explains it,
        the adjustments waiting for approval, and whether the day is closed."""
        return await load_day(session, calendar, q.account_of(account), day)

    @post("/close", operation_id="closeReconciliationDay", status_code=200)
    async def close(
        self,
        data: JSONBody[q.DayCloseCreate],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        calendar: NamedDependency[BusinessCalendar],
    ) -> q.ReconciliationDay:
        """Close the day when no exception is open and its drift is zero or explained; refused saying why otherwise.
        A closed day is locked: not run again, no action on its exceptions, later adjustments go to the next day."""
        account = q.account_of(data.account)
        await closing.close_day(session, calendar, account, data.date, officer_id=principal.user_id, now=clock.now())
        return await load_day(session, calendar, account, data.date)


class ReconciliationExceptionController(Controller):
    path = "/finance/reconciliation-exceptions"
    tags = ["reconciliation"]
    guards = [requires(Role.FINANCE_OFFICER)]

    @post("/manual-matches", operation_id="matchReconciliationExceptionsByHand", status_code=201)
    async def match(
        self,
        data: JSONBody[q.ManualMatchCreate],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        calendar: NamedDependency[BusinessCalendar],
    ) -> q.ReconciliationDay:
        """Match an unmatched statement line with one or more of our unmatched items that add up to it (rule
        'manual', recorded with who did it); the day's queue after it."""
        await exceptions.match_by_hand(
            session,
            line_exception_id=data.line_exception_id,
            item_exception_ids=data.item_exception_ids,
            note=data.note,
            officer_id=principal.user_id,
            now=clock.now(),
        )
        return await day_of(session, calendar, data.line_exception_id)

    @post("/{exception_id:int}/carry", operation_id="carryReconciliationException", status_code=200)
    async def carry(
        self,
        exception_id: RowId,
        data: JSONBody[q.ExceptionActionCreate],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        calendar: NamedDependency[BusinessCalendar],
    ) -> q.ReconciliationDay:
        """Carry an exception to the next open day as a timing difference: it joins that day's run, matched there
        once or shown again as carried; it explains its share of this day's drift."""
        await exceptions.carry(session, exception_id, note=data.note, officer_id=principal.user_id, now=clock.now())
        return await day_of(session, calendar, exception_id)

    @post("/{exception_id:int}/adjustments", operation_id="proposeReconciliationAdjustment", status_code=201)
    async def propose(
        self,
        exception_id: RowId,
        data: JSONBody[q.ExceptionActionCreate],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
    ) -> q.Adjustment:
        """Propose the ledger adjustment, against suspense, that the exception calls for; another finance officer
        approves it with TOTP (POST /finance/reconciliation-adjustments/{id}/approve). Nothing is posted yet."""
        view = await exceptions.propose_adjustment(
            session, exception_id, note=data.note, officer_id=principal.user_id, now=clock.now()
        )
        return q.Adjustment.of(view)


class ReconciliationAdjustmentController(Controller):
    path = "/finance/reconciliation-adjustments"
    tags = ["reconciliation"]
    guards = [requires(Role.FINANCE_OFFICER)]

    @get("/{adjustment_id:int}", operation_id="getReconciliationAdjustment")
    async def one(self, adjustment_id: RowId, session: NamedDependency[AsyncSession]) -> q.Adjustment:
        """One suspense adjustment: proposed or approved, by whom, and its ledger entry once posted."""
        return q.Adjustment.of(await exceptions.adjustment(session, adjustment_id))

    @post(
        "/{adjustment_id:int}/approve",
        operation_id="approveReconciliationAdjustment",
        **idempotent(200, q.Adjustment, "Approved: the balanced entry is posted"),
    )
    async def approve(
        self,
        adjustment_id: RowId,
        once: NamedDependency[Once],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        calendar: NamedDependency[BusinessCalendar],
        otp: ApprovalOtp = None,
    ) -> Response[bytes]:
        """Approve an adjustment another finance officer proposed, with your TOTP code: the balanced entry between
        the bank account's ledger account and suspense is posted (dated to the next open day if its day is closed).
        The proposer cannot approve; an approved one stays so."""
        officer, now = principal.user_id, once.now

        async def approve() -> q.Adjustment:
            view = await exceptions.approve_adjustment(
                session, settings, calendar, adjustment_id, officer_id=officer, otp=otp, now=now
            )
            return q.Adjustment.of(view)

        return await once(_NoBody(), approve)


class _NoBody(msgspec.Struct):
    """An approval takes no body (the code is a header): its fingerprint is its path."""


ROUTE_HANDLERS = [
    ReconciliationDayController,
    ReconciliationExceptionController,
    ReconciliationAdjustmentController,
]
