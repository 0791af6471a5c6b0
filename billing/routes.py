"""Thin HTTP controllers of the billing room: billers (admin), the billers' push, links, my bills, paying,
and billers' settlements with their reports."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from billing import autopay, billers, fast_path, ingestion, links, payments, settlements, statements, webhooks
from billing import schemas as s
from billing.pull import BillLookup
from billing.reports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE
from civicpay.auth.guards import Principal, provide_principal, requires
from civicpay.auth.models import Role
from civicpay.clock import BusinessCalendar, Clock
from civicpay.db import MAX_ID, UnitsOfWork
from civicpay.errors import negotiate_language
from civicpay.idempotency import IdempotencyKey, Once, StoredAnswer, idempotent, request_fingerprint
from civicpay.report_files import download as _file
from civicpay.settings import Settings
from wallet import BankPayouts, bank_account_name
from wallet.routes import OtpHeader, RowId

BillerFilter = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID, description="Only this biller's")]
DeliveriesLimit = Annotated[
    int,
    QueryParameter(ge=1, le=webhooks.DELIVERIES_PAGE_MAX, description="How many deliveries, newest first"),
]
BeforeDelivery = Annotated[
    int | None,
    QueryParameter(
        ge=1, le=MAX_ID, description="Only deliveries older than this one: the last id of the page before, for the next"
    ),
]


class BillerController(Controller):
    path = "/billers"
    tags = ["bills"]
    guards = [requires(Role.ADMIN)]

    @post("/", operation_id="createBiller", status_code=201)
    async def create(
        self,
        data: JSONBody[s.BillerCreate],
        session: NamedDependency[AsyncSession],
        bank: NamedDependency[BankPayouts],
        clock: NamedDependency[Clock],
    ) -> s.BillerCreated:
        """A biller: its category, settlement account (named by the bank), webhook, and an API key shown once."""
        bank_name = await bank_account_name(bank, data.bank_bin, data.account_number)
        return await billers.create(session, data, bank_name=bank_name, now=clock.now())

    @get("/", operation_id="listBillers")
    async def list_all(self, session: NamedDependency[AsyncSession]) -> list[s.Biller]:
        """Every biller, with its settlement account and payment policy."""
        return await billers.list_all(session)

    @get("/{biller_id:int}/deliveries", operation_id="listBillerDeliveries")
    async def deliveries(
        self,
        biller_id: RowId,
        session: NamedDependency[AsyncSession],
        limit: DeliveriesLimit = webhooks.DELIVERIES_PAGE,
        before_id: BeforeDelivery = None,
    ) -> list[s.WebhookDelivery]:
        """The biller's payment notifications, newest first: state, tries and each try's answer.

        A page at a time: pass the last one's ``id`` as ``before_id`` for the next page.
        """
        return await webhooks.deliveries(session, biller_id, limit=limit, before_id=before_id)

    @post(
        "/{biller_id:int}/deliveries/{delivery_id:int}/redeliver",
        operation_id="redeliverBillerDelivery",
        status_code=200,
    )
    async def redeliver(
        self,
        biller_id: RowId,
        delivery_id: RowId,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
    ) -> s.WebhookDelivery:
        """Send a given-up or delivered notification again under its delivery key (the biller dedupes); audited."""
        return await webhooks.redeliver(
            session, biller_id=biller_id, delivery_id=delivery_id, actor_user_id=principal.user_id, now=clock.now()
        )


class BillerDirectoryController(Controller):
    path = "/billers/directory"
    tags = ["bills"]
    guards = [requires(Role.CITIZEN, Role.ADMIN)]

    @get("/", operation_id="listBillerDirectory")
    async def directory(self, session: NamedDependency[AsyncSession]) -> list[s.BillerListed]:
        """The billers a citizen can link a customer code at, by kind, with what each calls the code."""
        return await billers.directory(session)


class BillerApiController(Controller):
    path = "/biller-api"
    tags = ["bills"]
    guards = [requires(Role.BILLER)]

    @post("/bills", operation_id="pushBills", status_code=200)
    async def push(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[s.BillPush],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
    ) -> s.PushResult:
        """Up to 10,000 bills from the biller's system, idempotent by its own bill id.

        A changed bill is an amendment, ``"status": "cancelled"`` a cancellation, each kept in the bill's
        history; a paid bill is refused with its code while the rest of the request applies. Each refusal's
        `detail` is in Vietnamese unless `Accept-Language` prefers English, as every problem's is.
        """
        biller = await billers.of_api_key(session, principal.id)
        lang = negotiate_language(request.headers.get("accept-language"))
        return await ingestion.push(session, biller, data, now=clock.now(), lang=lang)

    @get("/settlements", operation_id="myBillerSettlements")
    async def settlements(
        self, principal: NamedDependency[Principal], session: NamedDependency[AsyncSession]
    ) -> list[s.Settlement]:
        """Your daily settlements, newest first: each a payout to your settlement account and the bank's outcome."""
        biller = await billers.of_api_key(session, principal.id)
        return await settlements.list_settlements(session, biller_id=biller.id)

    @get("/settlements/{settlement_id:int}/report.csv", operation_id="myBillerSettlementCsv", media_type=CSV_MEDIA_TYPE)
    async def report_csv(
        self,
        settlement_id: RowId,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        calendar: NamedDependency[BusinessCalendar],
    ) -> Response[bytes]:
        """One of your settlements' reports as CSV: its header, then each bill payment it carries."""
        biller = await billers.of_api_key(session, principal.id)
        return _file(
            await settlements.report(
                session, calendar, settlement_id=settlement_id, biller_id=biller.id, report_format="csv"
            )
        )

    @get(
        "/settlements/{settlement_id:int}/report.xlsx",
        operation_id="myBillerSettlementXlsx",
        media_type=XLSX_MEDIA_TYPE,
    )
    async def report_xlsx(
        self,
        settlement_id: RowId,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        calendar: NamedDependency[BusinessCalendar],
    ) -> Response[bytes]:
        """One of your settlements' reports as an Excel workbook, laid out as the CSV is."""
        biller = await billers.of_api_key(session, principal.id)
        return _file(
            await settlements.report(
                session, calendar, settlement_id=settlement_id, biller_id=biller.id, report_format="xlsx"
            )
        )

    @get("/deliveries", operation_id="myBillerDeliveries")
    async def deliveries(
        self,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        limit: DeliveriesLimit = webhooks.DELIVERIES_PAGE,
        before_id: BeforeDelivery = None,
    ) -> list[s.WebhookDelivery]:
        """Your payment notifications, newest first, each with its tries: what to compare with what arrived.

        A page at a time: pass the last one's ``id`` as ``before_id`` for the next page.
        """
        biller = await billers.of_api_key(session, principal.id)
        return await webhooks.deliveries(session, biller.id, limit=limit, before_id=before_id)


class SettlementController(Controller):
    """Billers' settlements for the operator's staff: run them now, and read any biller's."""

    path = "/billers/settlements"
    tags = ["bills"]
    guards = [requires(Role.ADMIN, Role.FINANCE_OFFICER)]

    @post("/", operation_id="settleBillers", **idempotent(200, list[s.Settlement], "Payouts queued"))
    async def settle(
        self,
        once: NamedDependency[Once],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        calendar: NamedDependency[BusinessCalendar],
    ) -> Response[bytes]:
        """Pay each biller's takings before the cut-off to its bank account, once a business day (as the workers do).

        The payouts go to the bank once this request has committed; a biller settled today already is left.
        """
        return await once(_NoBody(), lambda: settlements.settle_all(session, settings, calendar, now=once.now))

    @get("/", operation_id="listBillerSettlements")
    async def list_all(
        self, session: NamedDependency[AsyncSession], biller_id: BillerFilter = None
    ) -> list[s.Settlement]:
        """Settlements, newest first; every biller's, or one's with ``biller_id``."""
        return await settlements.list_settlements(session, biller_id=biller_id)

    @get("/{settlement_id:int}/report.csv", operation_id="getBillerSettlementCsv", media_type=CSV_MEDIA_TYPE)
    async def report_csv(
        self, settlement_id: RowId, session: NamedDependency[AsyncSession], calendar: NamedDependency[BusinessCalendar]
    ) -> Response[bytes]:
        """Any biller's settlement report as CSV."""
        return _file(
            await settlements.report(
                session, calendar, settlement_id=settlement_id, biller_id=None, report_format="csv"
            )
        )

    @get("/{settlement_id:int}/report.xlsx", operation_id="getBillerSettlementXlsx", media_type=XLSX_MEDIA_TYPE)
    async def report_xlsx(
        self, settlement_id: RowId, session: NamedDependency[AsyncSession], calendar: NamedDependency[BusinessCalendar]
    ) -> Response[bytes]:
        """Any biller's settlement report as an Excel workbook."""
        return _file(
            await settlements.report(
                session, calendar, settlement_id=settlement_id, biller_id=None, report_format="xlsx"
            )
        )


class _NoBody(msgspec.Struct):
    """Settling takes no body; its fingerprint is its path."""


class BillLinkController(Controller):
    path = "/bill-links"
    tags = ["bills"]
    guards = [requires(Role.CITIZEN)]

    @post("/", operation_id="linkCustomerCode", status_code=201)
    async def create(
        self,
        data: JSONBody[s.LinkCreate],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        bill_lookup: NamedDependency[BillLookup],
    ) -> s.Link:
        """Link your customer code at a biller; the biller's name for it must be yours, diacritics and case aside."""
        # A biller that answers look-ups is asked first, so a code it has never pushed can be linked.
        await bill_lookup.refresh_code(data.biller_id, data.customer_code)
        return await links.create(session, user_id=principal.user_id, data=data, now=clock.now())

    @get("/", operation_id="listBillLinks")
    async def list_mine(
        self, principal: NamedDependency[Principal], session: NamedDependency[AsyncSession]
    ) -> list[s.Link]:
        """Your linked customer codes."""
        return await links.list_mine(session, user_id=principal.user_id)

    @delete("/{link_id:int}", operation_id="unlinkCustomerCode", status_code=204)
    async def remove(
        self, link_id: RowId, principal: NamedDependency[Principal], session: NamedDependency[AsyncSession]
    ) -> None:
        """Unlink a customer code; others of your household who linked it keep it."""
        await links.delete(session, user_id=principal.user_id, link_id=link_id)

    @put("/{link_id:int}/autopay", operation_id="turnOnAutopay")
    async def turn_on_autopay(
        self,
        link_id: RowId,
        data: JSONBody[s.AutopayCreate],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        calendar: NamedDependency[BusinessCalendar],
        clock: NamedDependency[Clock],
    ) -> s.Link:
        """Pay this code's bills automatically on their due date, up to a ceiling a month; again to change it.

        Bills due from today on are paid; older ones by hand. A payment that would need an OTP, pass the
        ceiling or the wallet's limits, or that the wallet cannot cover, is not made: your inbox says why.
        """
        return await autopay.turn_on(
            session, calendar, user_id=principal.user_id, link_id=link_id, data=data, now=clock.now()
        )

    @delete("/{link_id:int}/autopay", operation_id="turnOffAutopay", status_code=200)
    async def turn_off_autopay(
        self, link_id: RowId, principal: NamedDependency[Principal], session: NamedDependency[AsyncSession]
    ) -> s.Link:
        """Stop paying this code's bills automatically."""
        return await autopay.turn_off(session, user_id=principal.user_id, link_id=link_id)


class BillController(Controller):
    path = "/bills"
    tags = ["bills"]
    guards = [requires(Role.CITIZEN)]

    @get("/", operation_id="myBills")
    async def mine(
        self,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        calendar: NamedDependency[BusinessCalendar],
        clock: NamedDependency[Clock],
        bill_lookup: NamedDependency[BillLookup],
    ) -> s.MyBills:
        """Every open bill across your links, by biller and due date, with totals and overdue flags.

        Billers that answer look-ups are asked first, all at once and for a short while at most; one that
        cannot be asked in time is listed in ``stale_billers`` and its bills are served as last known.
        """
        # Before the request's own session reads anything: the pulled bills are committed by then, and
        # no connection is held while the billers are asked.
        stale = await bill_lookup.refresh_mine(principal.user_id)
        bills = await statements.my_bills(session, calendar, user_id=principal.user_id, now=clock.now())
        bills.stale_billers = stale
        return bills

    @get("/{bill_id:int}", operation_id="getBill")
    async def one(
        self,
        bill_id: RowId,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        calendar: NamedDependency[BusinessCalendar],
        clock: NamedDependency[Clock],
    ) -> s.BillDetail:
        """One of your bills with its lines, payments, bank reference and VietQR; any other bill answers 404."""
        return await statements.one_bill(
            session, settings, calendar, user_id=principal.user_id, bill_id=bill_id, now=clock.now()
        )

    @get("/{bill_id:int}/qr", operation_id="getBillQr", media_type="image/png")
    async def code(
        self,
        bill_id: RowId,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Response[bytes]:
        """The bill's dynamic VietQR as a PNG, for the amount still due: scan it with any bank app to pay."""
        image = await statements.bill_qr_png(session, settings, user_id=principal.user_id, bill_id=bill_id)
        return Response(image, media_type="image/png")


class BillPaymentController(Controller):
    path = "/bill-payments"
    tags = ["bills"]
    guards = [requires(Role.CITIZEN)]

    @post("/", operation_id="payBills", **idempotent(201, s.BillPaid, "Paid"))
    async def pay(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[s.BillPaymentCreate],
        idempotency_key: IdempotencyKey,
        otp: OtpHeader = None,
    ) -> Response[bytes]:
        """Pay bills from the wallet in one entry: all of them, or none if one cannot be paid (named in the problem)."""
        # As the transfer route: the app's objects from its state, not injected (resolving dependencies cost
        # as much CPU as the fast path's whole database call), and a unit of work only when it is needed.
        state = request.app.state
        settings: Settings = state.settings
        calendar: BusinessCalendar = state.calendar
        principal = provide_principal(request)
        now = state.clock.now()
        if settings.fast_transfers and not settings.is_sqlite:
            made = await fast_path.try_pay(
                state.engine,
                settings,
                calendar,
                principal=principal.idempotency_scope,
                key=idempotency_key,
                fingerprint=request_fingerprint(request, data),
                user_id=principal.user_id,
                data=data,
                now=now,
            )
            if made is not None:
                # As the portable path's commit does: wake this process's dispatcher for the billers' webhooks.
                state.services.outbox.doorbell.ring()
                return StoredAnswer(201, made, replayed=False).to_response()

        units: UnitsOfWork = state.units
        async with units() as unit:
            once = Once(request, unit.session, caller=principal.idempotency_scope, key=idempotency_key, now=now)
            return await once(
                data,
                lambda: payments.pay_bills(
                    unit.session, settings, calendar, user_id=principal.user_id, data=data, otp=otp, now=now
                ),
            )
