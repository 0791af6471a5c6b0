"""Thin HTTP controllers of the billing room: billers (admin), the billers' push, links, my bills, paying."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from billing import billers, ingestion, links, payments, statements
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
