"""The receipt of a bill payment (biên lai thanh toán hóa đơn): what it shows, and who may read it.

One view, ``BillReceipt``, feeds both the HTML page and the PDF, so the two never disagree. The payer
reads their own receipts; admins and finance officers read any (a complaint, a reconciliation). For
anyone else a receipt that exists answers exactly as one that does not: the same 404, so payment ids
cannot be probed for other people's payments.

The receipt number is the payment's own reference (``TTHD…``, ``BillPayment.reference``): 16 characters
with a check character, short enough to read over the phone, and the one the biller's webhook quotes, so
a citizen's receipt and the biller's records name the payment alike.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.errors import BillPaymentNotFound
from billing.models import CATEGORY_LABELS, Bill, Biller, BillerCategory, BillPayment, BillPaymentItem, PaymentSource
from civicpay.auth.guards import Principal
from civicpay.auth.identity import mask_phone
from civicpay.auth.models import Role, User
from civicpay.clock import BusinessCalendar
from civicpay.money import amount_in_words, format_vnd

TITLE = "BIÊN LAI THANH TOÁN HÓA ĐƠN"
# Staff who answer complaints and reconcile read every receipt; everyone else only their own.
READS_EVERY_RECEIPT = frozenset({Role.ADMIN, Role.FINANCE_OFFICER})
PAID_FROM = {
    PaymentSource.WALLET: "Ví điện tử civicpay",
    PaymentSource.BANK: "Chuyển khoản từ ứng dụng ngân hàng",
    PaymentSource.CREDIT: "Số dư trả trước tại đơn vị thu",
}
# A bank transfer's payer is whoever the bank's notification names; we keep no user for it.
UNKNOWN_PAYER = "—"


@dataclass(frozen=True, slots=True)
class ReceiptBill:
    """One bill on the receipt, as the biller named it (composed, NFC: see ``_composed``)."""

    biller_name: str
    category_label: str
    biller_bill_id: str
    customer_code: str
    customer_name: str
    period: str
    amount_vnd: int
    amount_display: str


@dataclass(frozen=True, slots=True)
class BillReceipt:
    """Everything a receipt shows, formatted once: amounts as ``1.234.567 ₫``, time in the business zone."""

    title: str
    receipt_number: str
    payment_id: int
    entry_id: int
    paid_at: datetime
    # dd/mm/yyyy HH:MM:SS in Asia/Ho_Chi_Minh, with its offset said, so a printed copy is unambiguous.
    paid_at_local: str
    utc_offset: str
    zone_name: str
    payer_name: str
    payer_phone: str
    paid_from: str
    bills: tuple[ReceiptBill, ...]
    total_vnd: int
    total_display: str
    total_in_words: str


def _composed(text: str) -> str:
    """Text as people type it (NFC): a biller may send names decomposed, which prints badly (receipt_pdf)."""
    return unicodedata.normalize("NFC", text)


def _offset(moment: datetime) -> str:
    """``+07:00``: ``%z`` writes ``+0700``, which people do not read as a time zone."""
    raw = moment.strftime("%z")
    return f"{raw[:3]}:{raw[3:]}"


async def bill_receipt(
    session: AsyncSession, calendar: BusinessCalendar, *, principal: Principal, payment_id: int
) -> BillReceipt:
    payment = await session.get(BillPayment, payment_id)
    if payment is None or (principal.role not in READS_EVERY_RECEIPT and payment.user_id != principal.user_id):
        raise BillPaymentNotFound()
    payer = None if payment.user_id is None else await session.get_one(User, payment.user_id)
    rows = await session.execute(
        select(Bill, Biller, BillPaymentItem.amount_vnd)
        .join(BillPaymentItem, BillPaymentItem.bill_id == Bill.id)
        .join(Biller, Biller.id == Bill.biller_id)
        .where(BillPaymentItem.payment_id == payment.id)
        .order_by(BillPaymentItem.id)
    )
    bills = tuple(
        ReceiptBill(
            biller_name=_composed(biller.name),
            category_label=CATEGORY_LABELS[BillerCategory(biller.category)],
            biller_bill_id=bill.external_id,
            customer_code=bill.customer_code,
            customer_name=_composed(bill.customer_name),
            period=_composed(bill.period),
            amount_vnd=paid,
            amount_display=format_vnd(paid),
        )
        for bill, biller, paid in rows
    )
    local = payment.created_at.astimezone(calendar.zone)
    return BillReceipt(
        title=TITLE,
        receipt_number=payment.reference,
        payment_id=payment.id,
        entry_id=payment.entry_id,
        paid_at=payment.created_at,
        paid_at_local=f"{local:%d/%m/%Y %H:%M:%S}",
        utc_offset=_offset(local),
        zone_name=calendar.zone.key,
        payer_name=UNKNOWN_PAYER if payer is None else payer.full_name,
        payer_phone=UNKNOWN_PAYER if payer is None else mask_phone(payer.phone),
        paid_from=PAID_FROM[PaymentSource(payment.source)],
        bills=bills,
        total_vnd=payment.amount_vnd,
        total_display=format_vnd(payment.amount_vnd),
        total_in_words=amount_in_words(payment.amount_vnd),
    )
