"""Bills pushed by a biller's system (``POST /biller-api/bills``): idempotent by the biller's own bill id.

The same bill again changes nothing; a changed bill is an amendment, and ``"status": "cancelled"`` a
cancellation, each a new version with its row in ``billing_bill_revision``. A paid or cancelled bill
cannot be changed, nor can one partly paid (its allocations are the biller's money already): that bill
is refused with a stable code, and the rest of the request still applies. A new bill of a customer code
with credit at a ``keep_credit`` biller is paid from that credit as it arrives.

The file import (``civicpay billing import``, ``billing/cli.py``) applies its rows here too, through ``apply``,
and so does the pull (``billing/pull.py``), with the bills a biller answers a look-up with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import schemas as s
from billing.allocations import apply_credit
from billing.models import Bill, Biller, BillRevision, BillStatus, CustomerCredit, PaymentPolicy
from civicpay.errors import Language, Text

_CHUNK = 500  # bill ids per look-up, well within SQLite's bound parameters
_PAID = Text("Hóa đơn đã được thanh toán, không thể sửa hay hủy", "The bill is paid; it cannot be amended or cancelled")
_CANCELLED = Text("Hóa đơn đã bị hủy, không thể sửa", "The bill is cancelled; it cannot be amended")
_UNKNOWN = Text("Không có hóa đơn này để hủy", "There is no such bill to cancel")
_PARTLY_PAID = Text(
    "Hóa đơn đã được thanh toán một phần, không thể sửa hay hủy",
    "The bill is partly paid; it cannot be amended or cancelled",
)


@dataclass(frozen=True, slots=True)
class BillRefusal:
    """One bill refused, in both languages: the push answers in the caller's, the file import in the operator's."""

    bill_id: str
    code: str
    detail: Text


BillOutcome = s.BillAccepted | BillRefusal


def _content(bill: s.BillIn) -> dict[str, Any]:
    return {
        "customer_code": bill.customer_code,
        "customer_name": bill.customer_name,
        "period": bill.period,
        "amount_vnd": bill.amount_vnd,
        "due_date": bill.due_date,
        "lines": msgspec.to_builtins(bill.lines),
        "status": bill.status,
    }


def _same(row: Bill, content: dict[str, Any]) -> bool:
    return all(getattr(row, name) == value for name, value in content.items())


def _revision(bill: Bill, now: datetime) -> dict[str, Any]:
    """The bill as it stands now, for its revision row (written once the new bills have their ids)."""
    return {
        "version": bill.version,
        "customer_name": bill.customer_name,
        "period": bill.period,
        "amount_vnd": bill.amount_vnd,
        "due_date": bill.due_date,
        "lines": bill.lines,
        "status": bill.status,
        "received_at": now,
    }


def _unchangeable(row: Bill) -> BillRefusal | None:
    """Why a bill the biller sends again may not change: paid, cancelled, or paid in part."""
    if row.status == BillStatus.PAID:
        return BillRefusal(row.external_id, "bill_already_paid", _PAID)
    if row.status == BillStatus.CANCELLED:
        return BillRefusal(row.external_id, "bill_cancelled", _CANCELLED)
    if row.amount_paid_vnd > 0:
        return BillRefusal(row.external_id, "bill_partly_paid", _PARTLY_PAID)
    return None


async def _known(session: AsyncSession, biller_id: int, external_ids: list[str]) -> dict[str, Bill]:
    """The biller's bills with these ids, locked (in id order) against a payment deciding at the same time."""
    found: dict[str, Bill] = {}
    for start in range(0, len(external_ids), _CHUNK):
        chunk = external_ids[start : start + _CHUNK]
        rows = await session.scalars(
            select(Bill)
            .where(Bill.biller_id == biller_id, Bill.external_id.in_(chunk))
            .order_by(Bill.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        found.update((row.external_id, row) for row in rows)
    return found


async def _pay_from_credit(session: AsyncSession, biller: Biller, created: list[Bill], now: datetime) -> None:
    """The new bills of each customer code with credit, paid from it (``allocations.apply_credit``)."""
    codes = sorted({bill.customer_code for bill in created})
    with_credit: set[str] = set()
    for start in range(0, len(codes), _CHUNK):
        with_credit.update(
            await session.scalars(
                select(CustomerCredit.customer_code).where(
                    CustomerCredit.biller_id == biller.id,
                    CustomerCredit.customer_code.in_(codes[start : start + _CHUNK]),
                    CustomerCredit.amount_vnd > 0,
                )
            )
        )
    for code in sorted(with_credit):
        await apply_credit(session, biller, [bill for bill in created if bill.customer_code == code], now)


async def changes(session: AsyncSession, biller_id: int, bills: list[s.BillIn]) -> list[s.BillIn]:
    """The bills among ``bills`` that a push would create or amend, read without a lock.

    A biller answering a look-up repeats the bills we already have, and still lists a bill we have been
    paid for until it hears of the payment; pushing only what changes spares every ``GET /bills`` the
    push's lock on the biller. What is chosen here is decided again, under that lock, by ``apply``.
    """
    known: dict[str, Bill] = {}
    ids = sorted({bill.bill_id for bill in bills})
    for start in range(0, len(ids), _CHUNK):
        rows = await session.scalars(
            select(Bill).where(Bill.biller_id == biller_id, Bill.external_id.in_(ids[start : start + _CHUNK]))
        )
        known.update((row.external_id, row) for row in rows)
    return [
        bill
        for bill in bills
        if (row := known.get(bill.bill_id)) is None
        or (row.status == BillStatus.OPEN and not _same(row, _content(bill)))
    ]


async def apply(
    session: AsyncSession, biller: Biller, bills: Sequence[s.BillIn], *, now: datetime
) -> list[BillOutcome]:
    """Each bill's outcome, in the order given: the push, the file import (``billing/cli.py``) and the bills
    pulled from billers that answer look-ups (``billing/pull.py``) all come here.

    The order matters to the import, which reports by row: one bill id may come twice (created, then amended).
    """
    # One push at a time per biller: two pushes of the same new bill would otherwise race on its unique key.
    # Payments lock bills, never the biller, so they do not wait for a push of other bills.
    await session.execute(select(Biller.id).where(Biller.id == biller.id).with_for_update())
    known = await _known(session, biller.id, sorted({bill.bill_id for bill in bills}))
    # Each bill's place: its row and version, or its refusal (the row's id is known only after the flush).
    outcomes: list[tuple[s.BillIn, Bill, int, s.Outcome] | BillRefusal] = []
    created: list[Bill] = []
    # Every version made by this request, even two of one bill (created, then amended further down).
    revisions: list[tuple[Bill, dict[str, Any]]] = []
    for incoming in bills:
        content = _content(incoming)
        row = known.get(incoming.bill_id)
        if row is not None and _same(row, content):
            outcomes.append((incoming, row, row.version, "unchanged"))
        elif row is None and incoming.status == "cancelled":
            outcomes.append(BillRefusal(incoming.bill_id, "bill_not_found", _UNKNOWN))
        elif row is None:
            row = Bill(
                biller_id=biller.id,
                external_id=incoming.bill_id,
                version=1,
                amount_paid_vnd=0,  # set now, not at flush: the same request may amend it further down
                created_at=now,
                updated_at=now,
            )
            for name, value in content.items():
                setattr(row, name, value)
            known[incoming.bill_id] = row
            created.append(row)
            revisions.append((row, _revision(row, now)))
            outcomes.append((incoming, row, row.version, "created"))
        elif (refusal := _unchangeable(row)) is not None:
            outcomes.append(refusal)
        else:
            for name, value in content.items():
                setattr(row, name, value)
            row.version += 1
            row.updated_at = now
            revisions.append((row, _revision(row, now)))
            outcome: s.Outcome = "cancelled" if incoming.status == "cancelled" else "amended"
            outcomes.append((incoming, row, row.version, outcome))
    session.add_all(created)
    await session.flush()
    session.add_all(BillRevision(bill_id=row.id, **fields) for row, fields in revisions)
    await session.flush()
    if created and biller.payment_policy == PaymentPolicy.KEEP_CREDIT:
        await _pay_from_credit(session, biller, created, now)
    answered: list[BillOutcome] = []
    for each in outcomes:
        if isinstance(each, BillRefusal):
            answered.append(each)
        else:
            sent, bill, version, kind = each
            answered.append(s.BillAccepted(sent.bill_id, bill.id, version, kind))
    return answered


async def push(
    session: AsyncSession, biller: Biller, data: s.BillPush, *, now: datetime, lang: Language
) -> s.PushResult:
    """The push's answer: the accepted bills and the refused ones, each refusal worded in ``lang``."""
    outcomes = await apply(session, biller, data.bills, now=now)
    return s.PushResult(
        accepted=[outcome for outcome in outcomes if isinstance(outcome, s.BillAccepted)],
        refused=[
            s.BillRefused(outcome.bill_id, outcome.code, outcome.detail.pick(lang))
            for outcome in outcomes
            if isinstance(outcome, BillRefusal)
        ],
    )
