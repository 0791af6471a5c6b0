"""Recording a bill payment, whatever paid it: the payment row, its allocation to each bill, the bills' new state.

Every way a bill is paid ends here: the wallet (``payments.pay_bills``), a bank transfer naming the
bill's reference (``bank_payments``) and a customer's credit (``apply_credit``). So what must follow
every payment (the biller's webhook) is written once, in ``record_payment``. Callers move the money
first (one ledger entry) and hold each bill's row lock: this module writes down what that entry did.

A bill may be paid in parts (the ``allow_partial`` policy): ``amount_paid_vnd`` on its row is raised
under the row's lock and never passes its amount (a CHECK), and each part is an allocation numbered
per bill (unique), so a second payment of what is no longer due fails even if it slipped past the lock.

Credit (the ``keep_credit`` policy): what a bank transfer pays beyond a bill's due amount is booked to
the biller's credit account in the ledger, and ``billing_credit`` says whose it is (biller and customer
code). It pays that code's bills still open at once (``bank_payments``) and its next bills when the
biller sends them (``ingestion``). A ledger account rather than only a row,
so the money owed to nobody's bill yet is visible beside the biller's payable and in every invariant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import webhooks
from billing.models import (
    Bill,
    Biller,
    BillerCategory,
    BillPayment,
    BillPaymentItem,
    BillStatus,
    CustomerCredit,
    PaymentSource,
)
from civicpay.db import insert_ignoring_conflict, table_of
from civicpay.money import Category
from wallet import ledger

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


def due(bill: Bill) -> int:
    """What is still due on a bill: nothing once it is paid or cancelled."""
    return bill.amount_vnd - bill.amount_paid_vnd if bill.status == BillStatus.OPEN else 0


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
    """The payment and one allocation per bill, each bill's paid amount raised (paid once it is all paid).

    The single place every bill payment is recorded, from a wallet, a bank transfer or a customer's credit.
    """
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
    bill_ids = [allocation.bill.id for allocation in allocations]
    # Counted under the bills' row locks, which every caller holds (see BillPaymentItem.sequence).
    counted = await session.execute(
        select(BillPaymentItem.bill_id, func.count())
        .where(BillPaymentItem.bill_id.in_(bill_ids))
        .group_by(BillPaymentItem.bill_id)
    )
    earlier: dict[int, int] = dict(counted.all())
    for allocation in allocations:
        bill = allocation.bill
        session.add(
            BillPaymentItem(
                payment_id=payment.id,
                bill_id=bill.id,
                sequence=earlier.get(bill.id, 0) + 1,
                amount_vnd=allocation.amount_vnd,
                transfer_id=allocation.transfer_id,
            )
        )
        bill.amount_paid_vnd += allocation.amount_vnd
        if bill.amount_paid_vnd == bill.amount_vnd:
            bill.status = BillStatus.PAID
            bill.paid_at = now
        bill.updated_at = now
    await session.flush()
    # The biller's webhook is queued here and only here, as an outbox row in the money's transaction, for
    # a wallet payment, a bank transfer and a credit alike: a payment that rolls back notifies nobody.
    await webhooks.enqueue_payment(session, payment_id=payment.id, now=now)
    return payment


# --- a customer code's credit at a keep_credit biller ---------------------------------------------


async def credit_account(session: AsyncSession, biller: Biller, now: datetime) -> int:
    """The biller's account of its customers' credit: money paid beyond their bills, owed to no bill yet."""
    return await ledger.open_account(
        session,
        code=f"liability:biller:{biller.id}:credit",
        name=f"Tiền khách hàng trả trước chờ trừ vào hóa đơn: {biller.name}",
        kind=ledger.AccountKind.LIABILITY,
        no_overdraft=True,
        now=now,
    )


async def _locked_credit(session: AsyncSession, biller_id: int, customer_code: str, now: datetime) -> CustomerCredit:
    table = table_of(CustomerCredit)
    await session.execute(
        insert_ignoring_conflict(session.get_bind().dialect.name, table, ("biller_id", "customer_code")),
        {"biller_id": biller_id, "customer_code": customer_code, "amount_vnd": 0, "updated_at": now},
    )
    credit = await session.scalar(
        select(CustomerCredit)
        .where(CustomerCredit.biller_id == biller_id, CustomerCredit.customer_code == customer_code)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert credit is not None  # noqa: S101 - inserted just above, or there already
    return credit


async def add_credit(session: AsyncSession, biller: Biller, customer_code: str, amount_vnd: int, now: datetime) -> None:
    """Record what the caller has just booked into the biller's credit account for this customer code."""
    credit = await _locked_credit(session, biller.id, customer_code, now)
    credit.amount_vnd += amount_vnd
    credit.updated_at = now
    await session.flush()


async def apply_credit(session: AsyncSession, biller: Biller, bills: list[Bill], now: datetime) -> BillPayment | None:
    """Pay bills of one customer code from its credit, earliest due first, as far as the credit goes.

    Only bills no one else can take meanwhile: ones this transaction has just created, which no one else
    can see yet (the credit's row is then locked first and no bill after it, so this never waits for a
    payment that waits for the credit), or open ones the caller locked before the credit's row
    (``bank_payments``: with the bill the transfer names, in id order).
    """
    credit = await _locked_credit(session, biller.id, bills[0].customer_code, now)
    left = credit.amount_vnd
    taken: list[tuple[Bill, int]] = []
    for bill in sorted(bills, key=lambda bill: (bill.due_date, bill.id)):
        if left == 0:
            break
        if (amount := min(left, due(bill))) > 0:
            taken.append((bill, amount))
            left -= amount
    if not taken:
        return None
    held = await credit_account(session, biller, now)
    category = CATEGORIES[BillerCategory(biller.category)]
    posted = await ledger.post_entry(
        session,
        [
            ledger.TransferSpec(
                held,
                biller.account_id,
                amount,
                category,
                bill.external_id,
                {"memo": f"{biller.name}: {bill.customer_code} {bill.period} (trả trước)", "bill_id": bill.id},
            )
            for bill, amount in taken
        ],
        now=now,
        description="bill paid from credit",
    )
    credit.amount_vnd = left
    credit.updated_at = now
    return await record_payment(
        session,
        source=PaymentSource.CREDIT,
        entry_id=posted.entry_id,
        allocations=[
            Allocation(bill, amount, transfer_id)
            for (bill, amount), transfer_id in zip(taken, posted.transfer_ids, strict=True)
        ],
        now=now,
    )
