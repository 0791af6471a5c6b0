"""My bills (hóa đơn của tôi): every open bill across a citizen's links, grouped by biller and due date.

A bill is the citizen's to see while one of their links names its biller and customer code; any other
bill answers exactly as one that does not exist. Overdue is judged by the business day in
Asia/Ho_Chi_Minh: a bill due today is not yet overdue.
"""

from __future__ import annotations

from datetime import date, datetime
from itertools import groupby

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from billing import bank_codes
from billing import schemas as s
from billing.allocations import due
from billing.errors import BillNotFound, BillNotOpen
from billing.models import (
    CATEGORY_LABELS,
    Bill,
    Biller,
    BillerCategory,
    BillLink,
    BillPayment,
    BillPaymentItem,
    BillStatus,
    PaymentSource,
)
from civicpay.clock import BusinessCalendar
from civicpay.money import format_vnd
from civicpay.settings import Settings

STATUS_LABELS = {
    BillStatus.OPEN: "Chưa thanh toán",
    BillStatus.PAID: "Đã thanh toán",
    BillStatus.CANCELLED: "Đã hủy",
}
OVERDUE_LABEL = "Quá hạn"
PARTLY_PAID_LABEL = "Đã thanh toán một phần"


def _mine(user_id: int) -> Select[Bill, Biller]:
    """The bills one of the citizen's links names, with their billers."""
    on_link = and_(BillLink.biller_id == Bill.biller_id, BillLink.customer_code == Bill.customer_code)
    return (
        select(Bill, Biller)
        .join(BillLink, on_link)
        .join(Biller, Biller.id == Bill.biller_id)
        .where(BillLink.user_id == user_id)
    )


def _label(bill: Bill, status: BillStatus) -> str:
    """Open and partly paid says so: the amount shown is what is left, not what was billed."""
    return PARTLY_PAID_LABEL if status == BillStatus.OPEN and bill.amount_paid_vnd else STATUS_LABELS[status]


def _view(bill: Bill, today: date) -> s.Bill:
    status = BillStatus(bill.status)
    overdue = status == BillStatus.OPEN and bill.due_date < today
    owed = due(bill)
    return s.Bill(
        id=bill.id,
        biller_id=bill.biller_id,
        biller_bill_id=bill.external_id,
        customer_code=bill.customer_code,
        customer_name=bill.customer_name,
        period=bill.period,
        amount_vnd=owed,
        amount_display=format_vnd(owed),
        due_date=bill.due_date,
        overdue=overdue,
        status=status,
        status_label=OVERDUE_LABEL if overdue else _label(bill, status),
    )


def _today(calendar: BusinessCalendar, now: datetime) -> date:
    return now.astimezone(calendar.zone).date()


async def my_bills(session: AsyncSession, calendar: BusinessCalendar, *, user_id: int, now: datetime) -> s.MyBills:
    today = _today(calendar, now)
    rows = (
        await session.execute(
            _mine(user_id).where(Bill.status == BillStatus.OPEN).order_by(Biller.id, Bill.due_date, Bill.id)
        )
    ).all()
    groups: list[s.BillerGroup] = []
    for _, in_biller in groupby(rows, key=lambda row: row[1].id):
        biller_rows = list(in_biller)
        biller = biller_rows[0][1]
        dates: list[s.DueDateGroup] = []
        for due_date, on_date in groupby(biller_rows, key=lambda row: row[0].due_date):
            bills = [_view(bill, today) for bill, _ in on_date]
            total = sum(bill.amount_vnd for bill in bills)
            overdue = due_date < today
            label = f"{OVERDUE_LABEL} từ {due_date:%d/%m/%Y}" if overdue else f"Hạn thanh toán {due_date:%d/%m/%Y}"
            dates.append(s.DueDateGroup(due_date, overdue, label, total, format_vnd(total), bills))
        category = BillerCategory(biller.category)
        total = sum(group.total_vnd for group in dates)
        groups.append(
            s.BillerGroup(biller.id, biller.name, category, CATEGORY_LABELS[category], total, format_vnd(total), dates)
        )
    total = sum(group.total_vnd for group in groups)
    overdue_total = sum(group.total_vnd for biller in groups for group in biller.due_dates if group.overdue)
    return s.MyBills(total, format_vnd(total), overdue_total, len(rows), groups)


async def _my_bill(session: AsyncSession, user_id: int, bill_id: int) -> Bill:
    row = (await session.execute(_mine(user_id).where(Bill.id == bill_id))).first()
    if row is None:
        raise BillNotFound()
    return row[0]


def _payable_code(settings: Settings, bill: Bill) -> str | None:
    """The bill's VietQR while something is due on it; a closed bill has nothing for a bank app to pay."""
    owed = due(bill)
    return bank_codes.vietqr(settings, bill, owed) if owed else None


async def one_bill(
    session: AsyncSession, settings: Settings, calendar: BusinessCalendar, *, user_id: int, bill_id: int, now: datetime
) -> s.BillDetail:
    bill = await _my_bill(session, user_id, bill_id)
    view = _view(bill, _today(calendar, now))
    payments = await session.execute(
        select(BillPaymentItem.payment_id, BillPaymentItem.amount_vnd, BillPayment.created_at, BillPayment.source)
        .join(BillPayment, BillPayment.id == BillPaymentItem.payment_id)
        .where(BillPaymentItem.bill_id == bill.id)
        .order_by(BillPaymentItem.id)
    )
    return s.BillDetail(
        **{field: getattr(view, field) for field in view.__struct_fields__},
        version=bill.version,
        lines=[s.BillLineOut(**line) for line in bill.lines],
        payments=[
            s.BillPaymentLine(payment_id, amount, paid_at, PaymentSource(source))
            for payment_id, amount, paid_at, source in payments
        ],
        reference=bank_codes.reference(bill),
        vietqr=_payable_code(settings, bill),
    )


async def bill_qr_png(session: AsyncSession, settings: Settings, *, user_id: int, bill_id: int) -> bytes:
    """The bill's VietQR as a PNG; a bill with nothing due answers ``bill_not_open``."""
    bill = await _my_bill(session, user_id, bill_id)
    payload = _payable_code(settings, bill)
    if payload is None:
        raise BillNotOpen(field="bill_id", bill_id=bill.id, bill_status=bill.status)
    return bank_codes.png(payload)
