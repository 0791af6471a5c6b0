"""Thin HTTP controllers of the billing room: billers (admin), the billers' push, links, my bills, paying."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from billing import billers, ingestion, links, payments, statements, webhooks
from billing import schemas as s
from civicpay.auth.guards import Principal, requires
from civicpay.auth.models import Role
from civicpay.clock import BusinessCalendar, Clock
from civicpay.idempotency import Once, idempotent
from civicpay.settings import Settings
from wallet import BankPayouts, bank_account_name
from wallet.routes import OtpHeader, RowId


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
    async def deliveries(self, biller_id: RowId, session: NamedDependency[AsyncSession]) -> list[s.WebhookDelivery]:
        """The biller's payment notifications, newest first: state, tries and each try's answer."""
        return await webhooks.deliveries(session, biller_id)

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


class BillerApiController(Controller):
    path = "/biller-api"
    tags = ["bills"]
    guards = [requires(Role.BILLER)]

    @post("/bills", operation_id="pushBills", status_code=200)
    async def push(
        self,
        data: JSONBody[s.BillPush],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
    ) -> s.PushResult:
        """Up to 10,000 bills from the biller's system, idempotent by its own bill id.

        A changed bill is an amendment, ``"status": "cancelled"`` a cancellation, each kept in the bill's
        history; a paid bill is refused with its code while the rest of the request applies.
        """
        biller = await billers.of_api_key(session, principal.id)
        return await ingestion.push(session, biller, data, now=clock.now())

    @get("/deliveries", operation_id="myBillerDeliveries")
    async def deliveries(
        self, principal: NamedDependency[Principal], session: NamedDependency[AsyncSession]
    ) -> list[s.WebhookDelivery]:
        """Your payment notifications, newest first, each with its tries: what to compare with what arrived."""
        biller = await billers.of_api_key(session, principal.id)
        return await webhooks.deliveries(session, biller.id)


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
    ) -> s.Link:
        """Link your customer code at a biller; the biller's name for it must be yours, diacritics and case aside."""
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
    ) -> s.MyBills:
        """Every open bill across your links, by biller and due date, with totals and overdue flags."""
        return await statements.my_bills(session, calendar, user_id=principal.user_id, now=clock.now())

    @get("/{bill_id:int}", operation_id="getBill")
    async def one(
        self,
        bill_id: RowId,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        calendar: NamedDependency[BusinessCalendar],
        clock: NamedDependency[Clock],
    ) -> s.BillDetail:
        """One of your bills with its lines and payments; any other bill answers 404."""
        return await statements.one_bill(session, calendar, user_id=principal.user_id, bill_id=bill_id, now=clock.now())


class BillPaymentController(Controller):
    path = "/bill-payments"
    tags = ["bills"]
    guards = [requires(Role.CITIZEN)]

    @post("/", operation_id="payBills", **idempotent(201, s.BillPaid, "Paid"))
    async def pay(
        self,
        data: JSONBody[s.BillPaymentCreate],
        once: NamedDependency[Once],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        calendar: NamedDependency[BusinessCalendar],
        otp: OtpHeader = None,
    ) -> Response[bytes]:
        """Pay bills from the wallet in one entry: all of them, or none if one cannot be paid (named in the problem)."""
        return await once(
            data,
            lambda: payments.pay_bills(
                session, settings, calendar, user_id=principal.user_id, data=data, otp=otp, now=once.now
            ),
        )
