"""Bills paid from any bank app: the billing room's claim on incoming bank-transfer notifications.

A bank app paying a bill's VietQR copies its ``HDON…`` reference into the transfer's description, and
the bank's notification carries that text. Like fee collections (``qr.bank_claims``), the billing room
looks at it before top-up codes are looked for: a notification naming one of our bills is the bill's
business. It pays the bill when the bill is open, the money reached the account bills are paid into,
and the amount is what is due, or what the biller's policy accepts: less under ``allow_partial`` (the
bill stays open for the rest), more under ``keep_credit`` (the rest becomes the customer code's credit,
paying its other bills still open, then the next ones the biller sends). Anything else is never silently
accepted nor lost: the money waits in suspense with a reason of its own, shown to finance officers, who
assign or return it:

- ``underpaid`` / ``overpaid``: not the amount due, and the biller's policy does not take it;
- ``already_paid``: a second payment of a paid bill (a dynamic code can be paid twice);
- ``bill_cancelled``: the biller cancelled the bill;
- ``ambiguous_reference``: the description names more than one bill;
- ``wrong_account``: the money reached an account of ours other than the one bills are paid into.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import bank_codes
from billing.allocations import (
    CATEGORIES,
    Allocation,
    add_credit,
    apply_credit,
    credit_account,
    due,
    record_payment,
)
from billing.models import Bill, Biller, BillerCategory, BillStatus, PaymentPolicy, PaymentSource
from civicpay.settings import Settings
from wallet import Claimant, NotificationIn, NotificationOutcome, Placement, ledger

_CLOSED_REASON = {BillStatus.PAID: "already_paid", BillStatus.CANCELLED: "bill_cancelled"}


def claimant(settings: Settings) -> Claimant:
    """The claim, bound to the settings that say which account bills are paid into (``bank_codes``)."""

    async def claim(session: AsyncSession, note: NotificationIn, now: datetime) -> Placement | None:
        return await claim_notification(session, settings, note, now)

    return claim


async def claim_notification(
    session: AsyncSession, settings: Settings, note: NotificationIn, now: datetime
) -> Placement | None:
    """Where the money of a notification naming a bill goes; None when it names none of ours."""
    numbers = bank_codes.BILL_REFERENCE.find(note.content)
    if not numbers:
        return None
    named = (
        await session.execute(
            select(Bill.id, Bill.biller_id, Bill.customer_code, Biller.payment_policy)
            .join(Biller, Biller.id == Bill.biller_id)
            .where(Bill.id.in_(numbers))
        )
    ).all()
    if not named:
        return None
    if len(named) > 1:
        return Placement(NotificationOutcome.SUSPENSE, reason="ambiguous_reference")
    ((bill_id, biller_id, customer_code, policy_value),) = named
    # At a keep_credit biller, what is paid beyond this bill may pay the code's other open bills: they are
    # locked now, with it, in one id order (the wallet's payments lock bills so), never one after another.
    wanted = Bill.id == bill_id
    if policy_value == PaymentPolicy.KEEP_CREDIT:
        wanted |= (
            (Bill.biller_id == biller_id) & (Bill.customer_code == customer_code) & (Bill.status == BillStatus.OPEN)
        )
    # Locked in id order, like the wallet's payments lock them, so a bank transfer and a wallet payment of
    # the same bill queue on its row: whichever comes second finds it paid.
    locked = (
        await session.scalars(
            select(Bill).where(wanted).order_by(Bill.id).with_for_update().execution_options(populate_existing=True)
        )
    ).all()
    bill = next(locked_bill for locked_bill in locked if locked_bill.id == bill_id)
    others = [locked_bill for locked_bill in locked if locked_bill.id != bill_id]
    biller = await session.get(Biller, bill.biller_id)
    assert biller is not None  # noqa: S101 - a foreign key
    reason = _CLOSED_REASON.get(BillStatus(bill.status))
    if reason is None and not bank_codes.is_collection_account(settings, note.bank, note.account_number):
        reason = "wrong_account"
    owed = due(bill)
    policy = PaymentPolicy(biller.payment_policy)
    if reason is None and note.amount_vnd < owed and policy != PaymentPolicy.ALLOW_PARTIAL:
        reason = "underpaid"
    if reason is None and note.amount_vnd > owed and policy != PaymentPolicy.KEEP_CREDIT:
        reason = "overpaid"
    if reason is not None:
        return Placement(NotificationOutcome.SUSPENSE, reason=reason)
    category = CATEGORIES[BillerCategory(biller.category)]
    memo = f"{biller.name}: {bill.customer_code} {bill.period} ({bank_codes.reference(bill)})"
    if note.amount_vnd <= owed:

        async def booked(notification_id: int, transfer_id: int) -> None:
            transfer = await session.get(ledger.Transfer, transfer_id)
            assert transfer is not None  # noqa: S101 - the ledger has just written it
            await record_payment(
                session,
                source=PaymentSource.BANK,
                entry_id=transfer.entry_id,
                allocations=[Allocation(bill, note.amount_vnd, transfer_id)],
                now=now,
                notification_id=notification_id,
            )

        return Placement(
            NotificationOutcome.COLLECTED, account_id=biller.account_id, category=category, memo=memo, booked=booked
        )

    # More than is due, kept as credit: the whole transfer reaches the credit account, and the bill's part
    # moves on to the payable in a second entry, so the credit account only ever holds the customer's rest.
    held = await credit_account(session, biller, now)

    async def booked_with_credit(notification_id: int, _transfer_id: int) -> None:
        posted = await ledger.post_entry(
            session,
            [
                ledger.TransferSpec(
                    held, biller.account_id, owed, category, bill.external_id, {"memo": memo, "bill_id": bill.id}
                )
            ],
            now=now,
            description="bill payment from a bank transfer",
        )
        await record_payment(
            session,
            source=PaymentSource.BANK,
            entry_id=posted.entry_id,
            allocations=[Allocation(bill, owed, posted.transfer_ids[0])],
            now=now,
            notification_id=notification_id,
        )
        await add_credit(session, biller, bill.customer_code, note.amount_vnd - owed, now)
        # The rest pays the code's bills already open, as it will pay the ones the biller pushes later.
        if still_open := [other for other in others if due(other) > 0]:
            await apply_credit(session, biller, still_open, now)

    return Placement(
        NotificationOutcome.COLLECTED, account_id=held, category=category, memo=memo, booked=booked_with_credit
    )
