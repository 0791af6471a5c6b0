"""Bank transfers that pay fee collections: the claim the QR room makes on incoming notifications.

Any bank app paying a collection's VietQR copies its reference into the transfer's description, and
the bank's notification of the transfer carries that text. Before top-up codes are looked for, the
reference is: if it names a collection, the money is the collection's business. It pays the
collection when it is open and the amount is exact. Anything else is never silently accepted nor
lost: the money waits in suspense with a reason of its own, shown to finance officers:

- ``underpaid`` / ``overpaid``: not the amount asked;
- ``after_expiry``: the collection had expired;
- ``already_paid``: a second payment of a paid code (a dynamic code can be paid twice);
- ``collection_closed``: cancelled or refunded;
- ``ambiguous_reference``: the description names more than one collection;
- ``wrong_account``: the money reached an account other than the collection's office's.

Whether it was paid in time is judged by when the bank says the transfer was made, not by when its
notification reached us: a notification delayed past the expiry still pays a fee paid on time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qr.collections import FEE_CATEGORY, expire_if_due, mark_paid
from qr.models import COLLECTION, CollectionStatus, FeeCollection, Office, PaidBy
from wallet import NotificationIn, NotificationOutcome, Placement

_CLOSED_REASON = {
    CollectionStatus.PAID: "already_paid",
    CollectionStatus.EXPIRED: "after_expiry",
    CollectionStatus.CANCELLED: "collection_closed",
    CollectionStatus.REFUNDED: "collection_closed",
}


async def claim_notification(session: AsyncSession, note: NotificationIn, now: datetime) -> Placement | None:
    """Where the money of a notification naming a collection goes; None when it names none of ours."""
    numbers = COLLECTION.find(note.content)
    if not numbers:
        return None
    # Locked in id order, like every other lock on collections, so two notifications cannot deadlock.
    collections = (
        await session.scalars(
            select(FeeCollection)
            .where(FeeCollection.id.in_(numbers))
            .order_by(FeeCollection.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    if not collections:
        return None
    if len(collections) > 1:
        return Placement(NotificationOutcome.SUSPENSE, reason="ambiguous_reference")
    collection = collections[0]
    office = await session.get(Office, collection.office_id)
    assert office is not None  # noqa: S101 - a foreign key
    # A bank's clock ahead of ours cannot make a late payment early.
    expire_if_due(collection, min(note.transaction_at, now))
    reason = _CLOSED_REASON.get(CollectionStatus(collection.status))
    if reason is None and (note.bank, note.account_number) != (office.bank_bin, office.account_number):
        reason = "wrong_account"
    if reason is None and note.amount_vnd != collection.amount_vnd:
        reason = "underpaid" if note.amount_vnd < collection.amount_vnd else "overpaid"
    if reason is not None:
        await session.flush()  # an expiry noticed here is kept with the suspense booking
        return Placement(NotificationOutcome.SUSPENSE, reason=reason)

    async def booked(notification_id: int, transfer_id: int) -> None:
        await mark_paid(
            session,
            collection,
            office,
            by=PaidBy.BANK,
            transfer_id=transfer_id,
            now=now,
            notification_id=notification_id,
        )

    return Placement(
        NotificationOutcome.COLLECTED,
        account_id=office.account_id,
        category=FEE_CATEGORY,
        memo=f"{collection.procedure_name} ({collection.reference})",
        booked=booked,
    )
