"""Thin HTTP controllers of the QR room: offices and counters, fee collections, paying by scan, merchants,
and the Treasury sweep. The counter's screen is in ``qr.counter``."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from argon2 import PasswordHasher
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth.guards import Principal, requires
from civicpay.auth.models import Role
from civicpay.clock import BusinessCalendar, Clock
from civicpay.idempotency import Once, idempotent
from civicpay.settings import Settings
from qr import collections, merchants, payments, render, treasury
from qr import schemas as s
from wallet import BankPayouts, bank_account_name
from wallet.routes import OtpHeader, RowId

ImageFormat = Annotated[Literal["png", "svg"], QueryParameter(name="format", description="png or svg")]
_MEDIA = {"png": "image/png", "svg": "image/svg+xml"}


def _image(payload: str, image_format: str, caption: render.Caption | None = None) -> Response[bytes]:
    draw = render.png if image_format == "png" else render.svg
    return Response(draw(payload, caption=caption), media_type=_MEDIA[image_format])


class OfficeController(Controller):
    path = "/offices"
    tags = ["fee collection"]
    guards = [requires(Role.ADMIN)]

    @post("/", operation_id="createOffice", status_code=201)
    async def create(
        self, data: JSONBody[s.OfficeCreate], session: NamedDependency[AsyncSession], clock: NamedDependency[Clock]
    ) -> s.Office:
        """A one-stop office, its collection account, and the agency and Treasury account its fees go to."""
        return await collections.create_office(session, data, now=clock.now())

    @get("/", operation_id="listOffices")
    async def list_all(self, session: NamedDependency[AsyncSession]) -> list[s.Office]:
        """Every one-stop office with its collection account and Treasury account."""
        return await collections.list_offices(session)

    @post("/{office_id:int}/counters", operation_id="createCounter", status_code=201)
    async def add_counter(
        self,
        office_id: RowId,
        data: JSONBody[s.CounterCreate],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
    ) -> s.Counter:
        """A counter at the office, with the address of its screen."""
        return await collections.create_counter(session, office_id, data, now=clock.now())

    @get("/{office_id:int}/counters", operation_id="listCounters")
    async def counters(self, office_id: RowId, session: NamedDependency[AsyncSession]) -> list[s.Counter]:
        """The office's counters and their screens."""
        return await collections.list_counters(session, office_id)

    @post("/{office_id:int}/clerks", operation_id="assignClerk", status_code=204)
    async def add_clerk(
        self, office_id: RowId, data: JSONBody[s.ClerkAssign], session: NamedDependency[AsyncSession]
    ) -> None:
        """Place a clerk (by phone) at this office; they collect at its counters only."""
        await collections.assign_clerk(session, office_id, data)


class CollectionController(Controller):
    path = "/collections"
    tags = ["fee collection"]
    guards = [requires(Role.CLERK, Role.FINANCE_OFFICER)]

    @post("/", operation_id="createCollection", status_code=201, guards=[requires(Role.CLERK)])
    async def create(
        self,
        data: JSONBody[s.CollectionCreate],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        clock: NamedDependency[Clock],
    ) -> s.Collection:
        """A fee to collect at one of your counters: its reference and dynamic VietQR; the counter's screen shows it."""
        return await collections.create_collection(
            session, settings, clerk_user_id=principal.user_id, data=data, now=clock.now()
        )

    @get("/{collection_id:int}", operation_id="getCollection")
    async def one(
        self,
        collection_id: RowId,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
    ) -> s.Collection:
        """A fee collection: a clerk sees their office's, a finance officer any."""
        return await collections.get_collection(
            session, user_id=principal.user_id, role=principal.role, collection_id=collection_id, now=clock.now()
        )

    @get("/{collection_id:int}/qr", operation_id="getCollectionQr", media_type="image/png")
    async def image(
        self,
        collection_id: RowId,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        image_format: ImageFormat = "png",
    ) -> Response[bytes]:
        """The collection's VietQR as an image, captioned with payee and amount."""
        found = await collections.get_collection(
            session, user_id=principal.user_id, role=principal.role, collection_id=collection_id, now=clock.now()
        )
        return _image(found.vietqr, image_format, render.Caption(payee=found.payee, amount_vnd=found.amount_vnd))

    @post(
        "/{collection_id:int}/cancel", operation_id="cancelCollection", status_code=200, guards=[requires(Role.CLERK)]
    )
    async def cancel(
        self,
        collection_id: RowId,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
    ) -> s.Collection:
        """Withdraw an open collection; a payment that still arrives waits in suspense."""
        return await collections.cancel_collection(
            session, clerk_user_id=principal.user_id, collection_id=collection_id, now=clock.now()
        )

    @get("/{collection_id:int}/receipt", operation_id="getCollectionReceipt")
    async def receipt(
        self, collection_id: RowId, principal: NamedDependency[Principal], session: NamedDependency[AsyncSession]
    ) -> s.Receipt:
        """The e-receipt (biên lai điện tử) of a paid collection."""
        return await collections.receipt(
            session, user_id=principal.user_id, role=principal.role, collection_id=collection_id
        )

    @post(
        "/{collection_id:int}/refund",
        operation_id="refundCollection",
        guards=[requires(Role.FINANCE_OFFICER)],
        **idempotent(200, s.Collection, "Refunded"),
    )
    async def refund(
        self,
        collection_id: RowId,
        data: JSONBody[s.RefundCreate],
        once: NamedDependency[Once],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        """Give a paid fee back, before it is swept to the Treasury; audited.

        To the wallet that paid it; a fee paid by bank transfer goes to suspense, to be returned from there.
        """
        return await once(
            data,
            lambda: collections.refund_collection(
                session,
                officer_user_id=principal.user_id,
                collection_id=collection_id,
                reason=data.reason,
                now=once.now,
            ),
        )


class ScanPaymentController(Controller):
    path = "/qr/payments"
    tags = ["fee collection"]
    guards = [requires(Role.CITIZEN)]

    @post("/", operation_id="payByScan", **idempotent(201, s.ScanPaid, "Paid"))
    async def pay(
        self,
        data: JSONBody[s.ScanPayment],
        once: NamedDependency[Once],
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        calendar: NamedDependency[BusinessCalendar],
        otp: OtpHeader = None,
    ) -> Response[bytes]:
        """Pay a scanned VietQR from the wallet: a counter's fee collection or a merchant's code.

        Any other code answers ``qr_not_payable``; a malformed one ``qr_invalid`` with the reason and position.
        """
        return await once(
            data,
            lambda: payments.pay_by_scan(
                session, settings, calendar, user_id=principal.user_id, data=data, otp=otp, now=once.now
            ),
        )


class MerchantController(Controller):
    path = "/merchants"
    tags = ["merchants"]

    @post("/", operation_id="registerMerchant", status_code=201, guards=[requires(Role.ADMIN)])
    async def register(
        self,
        data: JSONBody[s.MerchantCreate],
        session: NamedDependency[AsyncSession],
        hasher: NamedDependency[PasswordHasher],
        bank: NamedDependency[BankPayouts],
        clock: NamedDependency[Clock],
    ) -> s.Merchant:
        """An acceptance point: its owner's sign-in and its static VietQR to its own bank account."""
        bank_name = await bank_account_name(bank, data.bank_bin, data.account_number)
        return await merchants.register(session, hasher, data, bank_name=bank_name, now=clock.now())

    @get("/me", operation_id="myMerchant", guards=[requires(Role.MERCHANT)])
    async def mine(self, principal: NamedDependency[Principal], session: NamedDependency[AsyncSession]) -> s.Merchant:
        """The merchant's code and what wallets have paid it, not yet settled to its bank account."""
        return await merchants.mine(session, principal.user_id)

    @get("/{merchant_id:int}", operation_id="getMerchant", guards=[requires(Role.ADMIN, Role.FINANCE_OFFICER)])
    async def one(self, merchant_id: RowId, session: NamedDependency[AsyncSession]) -> s.Merchant:
        """A merchant, its static code and its takings not yet settled."""
        return await merchants.get(session, merchant_id)

    @get(
        "/{merchant_id:int}/poster",
        operation_id="getMerchantPoster",
        media_type="image/png",
        guards=[requires(Role.ADMIN)],
    )
    async def poster(self, merchant_id: RowId, session: NamedDependency[AsyncSession]) -> Response[bytes]:
        """A printable 300 dpi poster of the merchant's static code."""
        payload, merchant = await merchants.poster_of(session, merchant_id)
        return Response(render.poster(payload, payee=merchant.name, city=merchant.city), media_type="image/png")

    @post(
        "/settlements",
        operation_id="settleMerchants",
        guards=[requires(Role.ADMIN, Role.FINANCE_OFFICER)],
        **idempotent(200, list[s.SettlementLine], "Payouts queued"),
    )
    async def settle(
        self,
        once: NamedDependency[Once],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        calendar: NamedDependency[BusinessCalendar],
    ) -> Response[bytes]:
        """Pay each merchant's takings out to its bank account, once a business day (the workers also do).

        The payouts go to the bank once this request has committed.
        """
        return await once(_NoBody(), lambda: merchants.settle_all(session, settings, calendar, now=once.now))


class TreasuryController(Controller):
    path = "/finance/treasury"
    tags = ["fee collection"]
    guards = [requires(Role.FINANCE_OFFICER)]

    @post("/sweep", operation_id="sweepToTreasury", **idempotent(200, s.SweepReport, "Swept"))
    async def sweep(
        self, once: NamedDependency[Once], session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]
    ) -> Response[bytes]:
        """Send every collected fee not yet swept to its agency's Treasury account (Circular 74/2022)."""
        return await once(_NoBody(), lambda: treasury.sweep_and_report(session, settings, now=once.now))

    @get("/overdue", operation_id="treasuryOverdue")
    async def overdue(self, session: NamedDependency[AsyncSession], clock: NamedDependency[Clock]) -> list[s.Overdue]:
        """Fees paid more than 24 hours ago and not yet swept: each one is a breach to explain."""
        return await treasury.overdue(session, now=clock.now())

    @get("/remittances", operation_id="listRemittances")
    async def remittances(self, session: NamedDependency[AsyncSession]) -> list[s.RemittanceLine]:
        """Every remittance of fees to a Treasury account, newest first, with the bank's outcome."""
        return await treasury.history(session)


class _NoBody(msgspec.Struct):
    """The sweep and the settlement take no body; their fingerprint is their path."""
