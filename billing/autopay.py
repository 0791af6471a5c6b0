"""Auto-pay (tự động thanh toán) and due-date reminders: the billing room's two periodic jobs.

A citizen turns auto-pay on per link with a monthly ceiling. From then on, a bill of that code is paid
on its due date (the business day in Asia/Ho_Chi_Minh), or on the first run after it should a worker
have been down. Bills already due before the day of opting in are not: they were in the citizen's
list as overdue, and opting in to "pay on the due date" is not consent to pay old bills unseen; they
are paid by hand as before.

Exactly once per bill, however many workers run:
- each (link, bill) gets one ``AutopayAttempt`` row, UNIQUE, written in the transaction that moves the
  money (or records why it did not): a second worker's try at the same pair finds it and leaves;
- the link's row is locked first, so the month's sum under the ceiling cannot be raced by two bills of
  the link at once, and a second worker on the same pair waits for the first's commit and then sees it;
- the payment itself is ``payments.pay_bills``, the code of ``POST /bill-payments``, which locks the bill
  and keeps one allocation per bill: two citizens of a household with auto-pay on the same code pay it
  once, and the second finds it paid (``skipped``, told to no one).

Auto-pay never asks for step-up (there is no one to type the code): a bill that would need it, that
would pass the ceiling, or that the wallet cannot cover is not paid, its attempt is ``failed`` with
the reason, and the citizen is told in the inbox once; it is not tried again. Lock order: link, then
bill, then accounts (what ``pay_bills`` takes), never the other way round.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import String, and_, cast, exists, func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing import links, payments
from billing import schemas as s
from billing.models import AutopayAttempt, AutopayOutcome, Bill, Biller, BillLink, BillStatus
from civicpay.clock import BusinessCalendar
from civicpay.db import UnitsOfWork
from civicpay.errors import DomainError, Text
from civicpay.money import format_vnd
from civicpay.notifications import Notification, notify
from civicpay.settings import Settings

logger = logging.getLogger(__name__)

CEILING_EXCEEDED = "autopay_ceiling_exceeded"
# One reminder per bill per citizen: the inbox's UNIQUE (user, key) holds it.
REMINDER_KEY = "bill_reminder:"


async def turn_on(
    session: AsyncSession,
    calendar: BusinessCalendar,
    *,
    user_id: int,
    link_id: int,
    data: s.AutopayCreate,
    now: datetime,
) -> s.Link:
    """Auto-pay on, or its ceiling changed; changing the ceiling keeps the day it was turned on."""
    link = await links.locked_link(session, user_id=user_id, link_id=link_id)
    if link.autopay_from is None:
        link.autopay_from = calendar.business_day(now)
    link.autopay_ceiling_vnd = data.monthly_ceiling_vnd
    await session.flush()
    return await links.view(session, link)


async def turn_off(session: AsyncSession, *, user_id: int, link_id: int) -> s.Link:
    """Auto-pay off; what it already paid or failed stays recorded. Off twice is off."""
    link = await links.locked_link(session, user_id=user_id, link_id=link_id)
    link.autopay_ceiling_vnd = None
    link.autopay_from = None
    await session.flush()
    return await links.view(session, link)


@dataclass(frozen=True, slots=True)
class AutopayResult:
    link_id: int
    bill_id: int
    outcome: AutopayOutcome
    reason: str | None


async def pay_due_bills(
    units: UnitsOfWork, settings: Settings, calendar: BusinessCalendar, *, now: datetime
) -> list[AutopayResult]:
    """Pay every bill due by today on a link with auto-pay; one unit of work per (link, bill)."""
    today = calendar.business_day(now)
    attempted = exists().where(AutopayAttempt.link_id == BillLink.id, AutopayAttempt.bill_id == Bill.id)
    async with units() as unit:
        due = (
            await unit.session.execute(
                select(BillLink.id, Bill.id)
                .join(Bill, and_(Bill.biller_id == BillLink.biller_id, Bill.customer_code == BillLink.customer_code))
                .where(
                    BillLink.autopay_ceiling_vnd.is_not(None),
                    Bill.status == BillStatus.OPEN.value,
                    Bill.due_date <= today,
                    Bill.due_date >= BillLink.autopay_from,
                    ~attempted,
                )
                .order_by(Bill.id, BillLink.id)
            )
        ).all()
    results = []
    for link_id, bill_id in due:
        try:
            async with units() as unit:
                result = await _pay_one(unit.session, settings, calendar, link_id, bill_id, today, now)
        except IntegrityError:
            # Another worker's attempt for the pair committed between our look and our insert (the link's
            # lock makes this rare; the UNIQUE makes it harmless): ours rolled back, money and all.
            logger.info("auto-pay: link %s, bill %s was attempted by another worker", link_id, bill_id)
            continue
        if result is not None:
            results.append(result)
    return results


async def _pay_one(
    session: AsyncSession,
    settings: Settings,
    calendar: BusinessCalendar,
    link_id: int,
    bill_id: int,
    today: date,
    now: datetime,
) -> AutopayResult | None:
    link = await session.scalar(
        select(BillLink).where(BillLink.id == link_id).with_for_update().execution_options(populate_existing=True)
    )
    if link is None or link.autopay_ceiling_vnd is None or link.autopay_from is None:
        return None  # unlinked or turned off since the list was read
    if await session.scalar(
        select(AutopayAttempt.id).where(AutopayAttempt.link_id == link_id, AutopayAttempt.bill_id == bill_id)
    ):
        return None  # another worker has done it; its commit was what our lock on the link waited for
    bill = await session.scalar(
        select(Bill).where(Bill.id == bill_id).with_for_update().execution_options(populate_existing=True)
    )
    if bill is None or not link.autopay_from <= bill.due_date <= today:
        return None  # amended to a later due date since the list was read: its day will come
    biller = await session.get(Biller, bill.biller_id)
    assert biller is not None  # noqa: S101 - a bill's biller is a foreign key
    amount = bill.amount_vnd
    reason: Text | None = None
    payment_id = None
    if bill.status != BillStatus.OPEN:
        outcome, code = AutopayOutcome.SKIPPED, f"bill_{bill.status}"
    else:
        month_paid = await _month_paid(session, calendar, link_id, now)
        if month_paid + amount > link.autopay_ceiling_vnd:
            outcome, code = AutopayOutcome.FAILED, CEILING_EXCEEDED
            ceiling, paid = format_vnd(link.autopay_ceiling_vnd), format_vnd(month_paid)
            reason = Text(
                f"vượt hạn mức tự động thanh toán {ceiling} mỗi tháng (tháng này đã trả {paid})",
                f"over the auto-pay ceiling of {ceiling} a month ({paid} paid this month)",
            )
        else:
            try:
                # A savepoint: a refusal after the ledger entry (step-up is asked after posting) undoes the
                # payment alone, and the attempt and the notice still commit.
                async with session.begin_nested():
                    paid_bills = await payments.pay_bills(
                        session,
                        settings,
                        calendar,
                        user_id=link.user_id,
                        data=s.BillPaymentCreate([bill_id]),
                        otp=None,  # auto-pay never does step-up: a payment that needs it is not made
                        now=now,
                    )
            except DomainError as refused:
                outcome, code, reason = AutopayOutcome.FAILED, refused.code, refused.title
            else:
                outcome, code, payment_id = AutopayOutcome.PAID, None, paid_bills.id
    session.add(
        AutopayAttempt(
            link_id=link_id,
            bill_id=bill_id,
            user_id=link.user_id,
            outcome=outcome.value,
            reason=code,
            amount_vnd=amount,
            payment_id=payment_id,
            created_at=now,
        )
    )
    await session.flush()
    if outcome != AutopayOutcome.SKIPPED:
        await _tell(session, link, bill, biller, (code, reason), now)
    return AutopayResult(link_id, bill_id, outcome, code)


async def _month_paid(session: AsyncSession, calendar: BusinessCalendar, link_id: int, now: datetime) -> int:
    """What auto-pay paid on the link this business month: what the ceiling is weighed against."""
    total = await session.scalar(
        select(func.coalesce(func.sum(AutopayAttempt.amount_vnd), 0)).where(
            AutopayAttempt.link_id == link_id,
            AutopayAttempt.outcome == AutopayOutcome.PAID.value,
            AutopayAttempt.created_at >= calendar.month_start(now),
            AutopayAttempt.created_at < calendar.next_month_start(now),
        )
    )
    return int(total or 0)


def _about(bill: Bill, biller_name: str) -> Text:
    amount = format_vnd(bill.amount_vnd)
    return Text(
        f"{biller_name}, mã khách hàng {bill.customer_code}, kỳ {bill.period}, {amount}, hạn {bill.due_date:%d/%m/%Y}",
        f"{biller_name}, customer code {bill.customer_code}, period {bill.period}, {amount}, due {bill.due_date}",
    )


async def _tell(
    session: AsyncSession,
    link: BillLink,
    bill: Bill,
    biller: Biller,
    failure: tuple[str | None, Text | None],
    now: datetime,
) -> None:
    code, reason = failure
    about = _about(bill, biller.name)
    params = {
        "bill_id": bill.id,
        "link_id": link.id,
        "biller_id": biller.id,
        "amount_vnd": bill.amount_vnd,
        "due_date": bill.due_date.isoformat(),
    }
    if reason is None:
        await notify(
            session,
            link.user_id,
            kind="bill_autopay_paid",
            title=Text("Đã tự động thanh toán hóa đơn", "Bill paid automatically"),
            body=Text(f"{about.vi}: đã thanh toán từ ví của bạn.", f"{about.en}: paid from your wallet."),
            params=params,
            key=f"bill_autopay:{link.id}:{bill.id}",
            now=now,
        )
        return
    await notify(
        session,
        link.user_id,
        kind="bill_autopay_failed",
        title=Text("Chưa thể tự động thanh toán hóa đơn", "A bill could not be paid automatically"),
        body=Text(
            f"{about.vi}: {reason.vi}. Vui lòng thanh toán trong ứng dụng.",
            f"{about.en}: {reason.en}. Please pay it in the app.",
        ),
        params={**params, "reason": code},
        key=f"bill_autopay:{link.id}:{bill.id}",
        now=now,
    )


async def send_reminders(units: UnitsOfWork, settings: Settings, calendar: BusinessCalendar, *, now: datetime) -> int:
    """A reminder in each linked citizen's inbox for each open bill due within the next N days; how many.

    Once per bill per citizen (the inbox's UNIQUE key); a bill pushed late, already inside the window,
    is reminded of on the next run; an overdue one is not (it is flagged in "my bills" instead).
    """
    today = calendar.business_day(now)
    horizon = today + timedelta(days=settings.bill_reminder_days_before)
    reminded = exists().where(
        Notification.user_id == BillLink.user_id,
        Notification.key == literal(REMINDER_KEY) + cast(Bill.id, String),
    )
    query = (
        select(BillLink, Bill, Biller.name)
        .join(Bill, and_(Bill.biller_id == BillLink.biller_id, Bill.customer_code == BillLink.customer_code))
        .join(Biller, Biller.id == Bill.biller_id)
        .where(Bill.status == BillStatus.OPEN.value, Bill.due_date >= today, Bill.due_date <= horizon, ~reminded)
        .order_by(Bill.id, BillLink.id)
        .limit(_REMINDER_BATCH)
    )
    sent = 0
    while True:
        # A batch per unit of work: a day with many bills due does not hold one long transaction.
        async with units() as unit:
            rows = (await unit.session.execute(query)).all()
            for link, bill, biller_name in rows:
                sent += int(await _remind(unit.session, link, bill, biller_name, now))
        if len(rows) < _REMINDER_BATCH:
            return sent


_REMINDER_BATCH = 500


async def _remind(session: AsyncSession, link: BillLink, bill: Bill, biller_name: str, now: datetime) -> bool:
    about = _about(bill, biller_name)
    body = Text(f"{about.vi}.", f"{about.en}.")
    if link.autopay_from is not None and bill.due_date >= link.autopay_from:
        body = Text(
            f"{body.vi} Hóa đơn sẽ được tự động thanh toán vào ngày đến hạn.",
            f"{body.en} It will be paid automatically on the due date.",
        )
    return await notify(
        session,
        link.user_id,
        kind="bill_due_soon",
        title=Text("Hóa đơn sắp đến hạn thanh toán", "A bill is due soon"),
        body=body,
        params={
            "bill_id": bill.id,
            "biller_id": bill.biller_id,
            "amount_vnd": bill.amount_vnd,
            "due_date": bill.due_date.isoformat(),
        },
        key=f"{REMINDER_KEY}{bill.id}",
        now=now,
    )
