"""The receipt of a bill payment, as a printable page and as a PDF: ``/bill-payments/{id}/receipt[.pdf]``.

Its own controller, because its readers are not only the citizens who pay (``BillPaymentController``):
admins and finance officers read receipts too. A receipt names a person and what they paid, so neither
form may be cached by anything between us and the reader.
"""

from __future__ import annotations

from anyio import to_thread
from litestar import Controller, MediaType, Response, get
from litestar.di import NamedDependency
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from billing import receipt_pdf, receipts
from civicpay.auth.guards import Principal, requires
from civicpay.auth.models import Role
from civicpay.clock import BusinessCalendar
from wallet.routes import RowId

PDF = "application/pdf"
_PRIVATE = {"Cache-Control": "private, no-store"}


class BillReceiptController(Controller):
    path = "/bill-payments/{payment_id:int}"
    tags = ["bills"]
    guards = [requires(Role.CITIZEN, *receipts.READS_EVERY_RECEIPT)]

    @get("/receipt", operation_id="billPaymentReceipt", media_type=MediaType.HTML)
    async def page(
        self,
        payment_id: RowId,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        calendar: NamedDependency[BusinessCalendar],
    ) -> Template:
        """Your payment's receipt (biên lai) as a printable HTML page; another person's answers 404, as an unknown id.

        Admins and finance officers may read every receipt.
        """
        receipt = await receipts.bill_receipt(session, calendar, principal=principal, payment_id=payment_id)
        return Template("bill_receipt.html", context={"receipt": receipt}, headers=_PRIVATE)

    @get("/receipt.pdf", operation_id="billPaymentReceiptPdf", media_type=PDF)
    async def pdf(
        self,
        payment_id: RowId,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        calendar: NamedDependency[BusinessCalendar],
    ) -> Response[bytes]:
        """Your payment's receipt (biên lai) as a PDF; another person's answers 404, as an unknown id.

        Admins and finance officers may read every receipt.
        """
        receipt = await receipts.bill_receipt(session, calendar, principal=principal, payment_id=payment_id)
        # About a tenth of a second of CPU: in a thread, so the event loop keeps serving meanwhile.
        content = await to_thread.run_sync(receipt_pdf.render, receipt)
        disposition = f'inline; filename="bien-lai-{receipt.receipt_number}.pdf"'
        return Response(content, media_type=PDF, headers={**_PRIVATE, "Content-Disposition": disposition})
