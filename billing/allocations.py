"""Recording a bill payment, whatever paid it: the payment row, its allocation to each bill, the bills' new state.

Both ways a bill is paid end here: the wallet (``payments.pay_bills``) and a bank transfer naming the
bill's reference (``bank_payments``). So what must follow every payment (the biller's webhook) is
written once, in ``record_payment``. Callers move the money first (one ledger entry) and hold each
bill's row lock: this module only writes down what that entry did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import Bill, BillerCategory, BillPayment, BillPaymentItem, BillStatus, PaymentSource
from civicpay.money import Category

# A biller's category is the movement's category; ``other`` counts towards the monthly cap as a purchase does.
CATEGORIES = {
    BillerCategory.ELECTRICITY: Category.ELECTRICITY,
    BillerCategory.WATER: Category.WATER,
    BillerCategory.SANITATION: Category.SANITATION,
    BillerCategory.TUITION: Category.TUITION,
    BillerCategory.PUBLIC_SERVICE_FEE: Category.PUBLIC_SERVICE_FEE,
    BillerCategory.TELECOM: Category.TELECOM,
    BillerCategory.HOSPITAL: Category.HOSPITAL,
    BillerCategory.OTHER: Category.MERCHANT_PAYMENT,
}


@dataclass(frozen=True, slots=True)
class Allocation:
    """What one ledger transfer of a payment paid on one bill (locked by the caller)."""

    bill: Bill
    amount_vnd: int
    transfer_id: int


async def record_payment(
    session: AsyncSession,
    *,
    source: PaymentSource,
    entry_id: int,
    allocations: list[Allocation],
    now: datetime,
    user_id: int | None = None,
    wallet_id: int | None = None,
    notification_id: int | None = None,
) -> BillPayment:
    """The payment, one allocation per bill, each bill paid; the single place every bill payment is recorded."""
    payment = BillPayment(
        source=source.value,
        user_id=user_id,
        wallet_id=wallet_id,
        notification_id=notification_id,
        entry_id=entry_id,
        amount_vnd=sum(allocation.amount_vnd for allocation in allocations),
        created_at=now,
    )
    session.add(payment)
    await session.flush()
    for allocation in allocations:
        bill = allocation.bill
        session.add(
            BillPaymentItem(
                payment_id=payment.id,
                bill_id=bill.id,
                amount_vnd=allocation.amount_vnd,
                transfer_id=allocation.transfer_id,
            )
        )
        bill.status = BillStatus.PAID
        bill.paid_at = now
        bill.updated_at = now
    await session.flush()
    # The biller's webhook is queued here and only here, as an outbox row in the money's transaction, for
    # a wallet payment and a bank transfer alike: ``webhooks.enqueue_payment(session, payment_id=..., now=now)``.
    return payment
