"""Paying bills from the wallet (thanh toán hóa đơn): several bills, one ledger entry, all or nothing.

The bills are locked ``FOR UPDATE`` in id order before any money moves, so two devices paying the same
bill at once queue on its row: the first pays it, the second finds it paid (``bill_already_paid``,
409). The bill's paid amount (CHECKed against its amount) and its allocations numbered per bill
(unique) are the last word should anything slip past the lock. A bill that cannot be paid (unknown,
not on the payer's links, cancelled, paid) fails the whole payment and names itself. Each bill is paid
all that is still due, or (``bills`` with an amount) less where its biller's policy is ``allow_partial``:
the bill stays open for the rest. A wallet never pays more than is due: credit comes only from bank
transfers, whose amount the payer typed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import schemas as s
from billing.allocations import CATEGORIES, Allocation, due, record_payment
from billing.errors import AmountExceedsDue, BillAlreadyPaid, BillNotFound, BillNotOpen, PartialPaymentRefused
from billing.models import Bill, Biller, BillerCategory, BillLink, BillStatus, PaymentPolicy, PaymentSource
from civicpay.clock import BusinessCalendar
from civicpay.errors import InvalidField, Text
from civicpay.money import CAP_EXEMPT, Category, format_vnd
from civicpay.settings import Settings
from wallet import check_spending, holder_of_user, ledger, step_up_if_needed


async def _payable_bills(
    session: AsyncSession, user_id: int, bill_ids: list[int], field: str
) -> list[tuple[Bill, Biller]]:
    """The bills, locked in id order, each checked: on the payer's links and open; else the whole payment fails."""
    locked = await session.scalars(
        select(Bill)
        .where(Bill.id.in_(bill_ids))
        .order_by(Bill.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    bills = {bill.id: bill for bill in locked}
    linked = {
        (biller_id, code)
        for biller_id, code in await session.execute(
            select(BillLink.biller_id, BillLink.customer_code)
            .join(Bill, and_(Bill.biller_id == BillLink.biller_id, Bill.customer_code == BillLink.customer_code))
            .where(BillLink.user_id == user_id, Bill.id.in_(bill_ids))
        )
    }
    billers = {
        biller.id: biller
        for biller in await session.scalars(select(Biller).where(Biller.id.in_({b.biller_id for b in bills.values()})))
    }
    found: list[tuple[Bill, Biller]] = []
    for bill_id in bill_ids:
        bill = bills.get(bill_id)
        if bill is None or (bill.biller_id, bill.customer_code) not in linked:
            raise BillNotFound(field=field, bill_id=bill_id)
        if bill.status == BillStatus.PAID:
            raise BillAlreadyPaid(field=field, bill_id=bill_id, bill_status=bill.status)
        if bill.status != BillStatus.OPEN:
            raise BillNotOpen(field=field, bill_id=bill_id, bill_status=bill.status)
        found.append((bill, billers[bill.biller_id]))
    return found


def asked_amounts(data: s.BillPaymentCreate) -> dict[int, int | None]:
    """Each bill asked for and the amount asked (None: all that is due), from either form of the body."""
    if bool(data.bill_ids) == bool(data.bills):
        raise InvalidField(
            Text("Gửi bill_ids hoặc bills, một trong hai", "Send either bill_ids or bills, one of the two"),
            field="bill_ids",
        )
    if data.bill_ids:
        return dict.fromkeys(data.bill_ids)
    asked: dict[int, int | None] = {}
    for index, line in enumerate(data.bills):
        if line.id in asked:
            raise InvalidField(
                Text("Hóa đơn được nêu hai lần", "The bill is named twice"), field=f"bills[{index}].id", bill_id=line.id
            )
        asked[line.id] = line.amount_vnd
    return asked


def _amount(bill: Bill, biller: Biller, asked: int | None, field: str) -> int:
    """What this payment pays on the bill: all that is due, or less where the biller allows part payment."""
    owed = due(bill)
    if asked is None or asked == owed:
        return owed
    if asked > owed:
        raise AmountExceedsDue(field=field, bill_id=bill.id, due_vnd=owed)
    if biller.payment_policy != PaymentPolicy.ALLOW_PARTIAL:
        raise PartialPaymentRefused(field=field, bill_id=bill.id, due_vnd=owed)
    return asked


async def pay_bills(
    session: AsyncSession,
    settings: Settings,
    calendar: BusinessCalendar,
    *,
    user_id: int,
    data: s.BillPaymentCreate,
    otp: str | None,
    now: datetime,
) -> s.BillPaid:
    asked = asked_amounts(data)
    field = "bills" if data.bills else "bill_ids"
    payer = await holder_of_user(session, user_id)
    bills = await _payable_bills(session, user_id, sorted(asked), field)
    amounts = [_amount(bill, biller, asked[bill.id], field) for bill, biller in bills]
    total = sum(amounts)
    categories = [CATEGORIES[BillerCategory(biller.category)] for _, biller in bills]
    # The monthly cap weighs only what it does not exempt (Circular 40/2024); step-up weighs everything.
    capped = sum(amount for amount, category in zip(amounts, categories, strict=True) if category not in CAP_EXEMPT)
    check = await check_spending(
        session,
        settings,
        calendar,
        payer=payer,
        amount_vnd=capped or total,
        category=Category.MERCHANT_PAYMENT if capped else categories[0],
        now=now,
    )
    specs = [
        ledger.TransferSpec(
            payer.account_id,
            biller.account_id,
            amount,
            category,
            bill.external_id,
            {"memo": f"{biller.name}: {bill.customer_code} {bill.period}", "bill_id": bill.id},
        )
        for (bill, biller), amount, category in zip(bills, amounts, categories, strict=True)
    ]
    posted = await ledger.post_entry(session, specs, now=now, description="bill payment", locked=check.locked)
    await step_up_if_needed(session, settings, check, user_id=user_id, amount_vnd=total, otp=otp, now=now)
    payment = await record_payment(
        session,
        source=PaymentSource.WALLET,
        entry_id=posted.entry_id,
        allocations=[
            Allocation(bill, amount, transfer_id)
            for (bill, _), amount, transfer_id in zip(bills, amounts, posted.transfer_ids, strict=True)
        ],
        now=now,
        user_id=user_id,
        wallet_id=payer.wallet_id,
    )
    paid = [
        s.PaidBill(bill.id, biller.id, amount, transfer_id)
        for (bill, biller), amount, transfer_id in zip(bills, amounts, posted.transfer_ids, strict=True)
    ]
    return s.BillPaid(payment.id, total, format_vnd(total), now, paid)
