"""Customer links (liên kết mã khách hàng): a citizen's customer code at a biller, checked against the name the
biller has for it, diacritics and case aside. One code may be linked by several citizens: a household."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ScalarSelect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing import schemas as s
from billing.errors import AlreadyLinked, BillerNotFound, CustomerCodeUnknown, CustomerNameMismatch, LinkNotFound
from billing.models import Bill, Biller, BillLink, BillRevision
from civicpay.auth.identity import folded_name
from civicpay.auth.models import User


def _customer_name(biller_id: Any, customer_code: Any) -> ScalarSelect[str]:
    """The name the biller has now for the code: the one on the version of any of its bills received last.

    Not the name on the newest bill: a paid bill cannot be amended, so when the biller corrects a name on the
    bills still open, the newest bill (paid) would keep the old name for good; nor the bill changed last, as a
    payment changes a bill too. Revisions are written in the order they are received (one push or import at a
    time per biller), so the highest revision id is the biller's latest word. A correlated subquery, so a list
    of links is one statement, not one per link.
    """
    return (
        select(BillRevision.customer_name)
        .join(Bill, Bill.id == BillRevision.bill_id)
        .where(Bill.biller_id == biller_id, Bill.customer_code == customer_code)
        .order_by(BillRevision.id.desc())
        .limit(1)
        .scalar_subquery()
    )


async def create(session: AsyncSession, *, user_id: int, data: s.LinkCreate, now: datetime) -> s.Link:
    biller = await session.get(Biller, data.biller_id)
    if biller is None:
        raise BillerNotFound(field="biller_id")
    name = await session.scalar(select(_customer_name(biller.id, data.customer_code)))
    if name is None:
        raise CustomerCodeUnknown(field="customer_code")
    user = await session.get(User, user_id)
    if user is None or folded_name(user.full_name) != folded_name(name):
        raise CustomerNameMismatch(field="customer_code")
    link = BillLink(user_id=user_id, biller_id=biller.id, customer_code=data.customer_code, created_at=now)
    try:
        # The UNIQUE constraint decides, so two taps of "link" at once cannot both win.
        async with session.begin_nested():
            session.add(link)
    except IntegrityError:
        raise AlreadyLinked(field="customer_code") from None
    return s.Link(link.id, biller.id, biller.name, link.customer_code, name)


async def list_mine(session: AsyncSession, *, user_id: int) -> list[s.Link]:
    rows = await session.execute(
        select(BillLink, Biller.name, _customer_name(BillLink.biller_id, BillLink.customer_code))
        .join(Biller, Biller.id == BillLink.biller_id)
        .where(BillLink.user_id == user_id)
        .order_by(BillLink.id)
    )
    return [
        s.Link(link.id, link.biller_id, biller_name, link.customer_code, customer_name or "")
        for link, biller_name, customer_name in rows.all()
    ]


async def delete(session: AsyncSession, *, user_id: int, link_id: int) -> None:
    link = await session.get(BillLink, link_id)
    if link is None or link.user_id != user_id:
        raise LinkNotFound()
    await session.delete(link)
    await session.flush()
