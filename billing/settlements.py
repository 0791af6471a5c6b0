"""Billers' daily settlement (quyết toán tiền thu hộ): what citizens paid a biller, paid out to its bank account.

Bill payments credit the biller's payable, a liability of ours: the money itself is in the wallets'
pooled bank account. Once a business day (Asia/Ho_Chi_Minh) per biller, every bill payment made before
that day's cut-off and not settled yet becomes one payout to the biller's settlement account: its sum is
held on the payable toward the pooled account, and the instruction is written to the outbox in the
same transaction (``wallet.queue_instruction``), as merchants' settlements and Treasury remittances
are. The bank's callback confirms it (the hold posts: the money has left) or rejects it (the hold is
voided: the money is back on the payable, and those payments wait for a later day's run). A
settlement lists the payments it carries, and its report (``billing.reports``) is what the biller's
accountants match their books with.

Exactly once a business day per biller: the day's settlement is looked for under the payable's lock,
and UNIQUE (biller, business day) is committed with the hold, so two workers, or a worker and an
officer, settling at once make one payout. A day with nothing to pay writes nothing.

Why not the merchants' ``wallet.pay_out_balance``: that pays a wallet's whole balance through the
wallet's withdrawal rows, and a biller has no wallet; a biller is paid what its bill payments before
the cut-off add up to (later ones wait for the next day), and the report must name each of them. What
is truly shared, the instruction's path to the bank, is ``wallet``'s already and is used as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy import Select, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

import wallet
from billing import reports
from billing import schemas as s
from billing.errors import SettlementNotFound
from billing.models import Bill, Biller, BillerSettlement, BillerSettlementItem, BillPayment, BillPaymentItem
from civicpay.clock import BusinessCalendar
from civicpay.db import UnitsOfWork
from civicpay.money import Category, format_vnd
from civicpay.reference_codes import ReferenceScheme
from civicpay.settings import Settings
from wallet import ledger, wallet_pool_account

logger = logging.getLogger(__name__)

# "QTHD" (quyết toán hóa đơn) + a random number in eleven base-36 characters + a check character: 16
# characters, unguessable, and no count of our settlements to read off it.
SETTLEMENT = ReferenceScheme("QTHD", 11)
# The outbox message that hands a committed settlement to the bank.
SEND = "billing.settlement.send"
ReportFormat = Literal["csv", "xlsx"]


def settlement_day(calendar: BusinessCalendar, settings: Settings, now: datetime) -> tuple[date, datetime]:
    """The business day whose cut-off passed last, and that cut-off: what a run at ``now`` settles.

    The cut-off is ``biller_settlement_cutoff_hour`` o'clock in the business zone (midnight by default:
    a day's run pays everything up to the end of the day before). Before the cut-off, a run belongs to
    the day before, already settled or not, so a run never pays a day whose takings are still coming.
    """
    start = calendar.day_start(now)
    cutoff = start + timedelta(hours=settings.biller_settlement_cutoff_hour)
    if now < cutoff:
        start = calendar.day_start(start - timedelta(microseconds=1))
        cutoff = start + timedelta(hours=settings.biller_settlement_cutoff_hour)
    return start.astimezone(calendar.zone).date(), cutoff


def view(settlement: BillerSettlement) -> s.Settlement:
    return s.Settlement(
        id=settlement.id,
        biller_id=settlement.biller_id,
        business_day=settlement.business_day,
        cutoff_at=settlement.cutoff_at,
        reference=settlement.reference,
        amount_vnd=settlement.amount_vnd,
        amount_display=format_vnd(settlement.amount_vnd),
        bill_count=settlement.bill_count,
        bank_bin=settlement.bank_bin,
        account_number=settlement.account_number,
        account_holder=settlement.account_holder,
        status=wallet.InstructionStatus(settlement.status),
        reason_code=settlement.reason_code,
        created_at=settlement.created_at,
        resolved_at=settlement.resolved_at,
    )


def _unsettled(biller_id: int, cutoff: datetime) -> Select[int, int]:
    """The biller's allocations paid before the cut-off that no live (not rejected) settlement carries."""
    carried = (
        select(BillerSettlementItem.id)
        .join(BillerSettlement, BillerSettlement.id == BillerSettlementItem.settlement_id)
        .where(
            BillerSettlementItem.payment_item_id == BillPaymentItem.id,
            BillerSettlement.status != wallet.InstructionStatus.REJECTED.value,
        )
    )
    return (
        select(BillPaymentItem.id, BillPaymentItem.amount_vnd)
        .join(Bill, Bill.id == BillPaymentItem.bill_id)
        .join(BillPayment, BillPayment.id == BillPaymentItem.payment_id)
        .where(Bill.biller_id == biller_id, BillPayment.created_at < cutoff, ~exists(carried))
        .order_by(BillPaymentItem.id)
    )


async def _settle_one(
    session: AsyncSession, settings: Settings, calendar: BusinessCalendar, biller: Biller, now: datetime
) -> s.Settlement | None:
    day, cutoff = settlement_day(calendar, settings, now)
    pool = await wallet_pool_account(session, settings, now)
    # The payable's lock is what two settlers of one biller queue on: the second finds the first's row.
    locked = await ledger.lock_accounts(session, [biller.account_id, pool])
    already = select(BillerSettlement.id).where(
        BillerSettlement.biller_id == biller.id, BillerSettlement.business_day == day
    )
    if await session.scalar(already) is not None:
        return None
    due = (await session.execute(_unsettled(biller.id, cutoff))).all()
    if not due:
        return None
    amount = sum(amount_vnd for _, amount_vnd in due)
    # UNIQUE: a clash, about one in 10^17, fails this biller's run and the next run draws again.
    reference = SETTLEMENT.random()
    memo = {"memo": f"Quyết toán thu hộ {biller.name} ngày {day.isoformat()}", "biller_id": biller.id}
    # As a merchant's settlement: money leaving us for a business's own bank account.
    spec = ledger.TransferSpec(biller.account_id, pool, amount, Category.WITHDRAWAL, reference, memo)
    # No expiry: only the bank's word may end this hold, or the money could be paid out and given back.
    hold_id = await ledger.hold(session, spec, now=now, expires_at=None, locked=locked)
    settlement = BillerSettlement(
        biller_id=biller.id,
        business_day=day,
        cutoff_at=cutoff,
        reference=reference,
        amount_vnd=amount,
        bill_count=len(due),
        bank_bin=biller.bank_bin,
        account_number=biller.account_number,
        account_holder=biller.account_holder,
        from_bank_bin=settings.wallet_pool_bank_bin,
        from_account_number=settings.wallet_pool_account_number,
        hold_id=hold_id,
        status=wallet.InstructionStatus.QUEUED.value,
        created_at=now,
    )
    session.add(settlement)
    await session.flush()
    await session.execute(
        insert(BillerSettlementItem),
        [{"settlement_id": settlement.id, "payment_item_id": item_id} for item_id, _ in due],
    )
    await wallet.queue_instruction(session, INSTRUCTION, settlement, now=now)
    return view(settlement)


async def settle(
    units: UnitsOfWork,
    settings: Settings,
    calendar: BusinessCalendar,
    *,
    now: datetime,
    on_biller: Callable[[], None] | None = None,
) -> list[s.Settlement]:
    """The workers' run: each biller in a transaction of its own, so one biller's trouble stops no other's.

    ``on_biller`` is called after each biller, settled or not (``civicpay billing settle``'s bar).
    """
    async with units() as unit:
        billers = (await unit.session.scalars(select(Biller).order_by(Biller.id))).all()
    made = []
    for biller in billers:
        try:
            async with units() as unit:
                settlement = await _settle_one(unit.session, settings, calendar, biller, now)
        except Exception:  # nothing of this biller's run was committed; the next run tries it again
            logger.exception("biller settlement: biller %s was not settled this run", biller.id)
            settlement = None
        if settlement is not None:
            made.append(settlement)
        if on_biller is not None:
            on_biller()
    return made


async def settle_all(
    session: AsyncSession, settings: Settings, calendar: BusinessCalendar, *, now: datetime
) -> list[s.Settlement]:
    """``settle`` in the caller's one transaction: an officer's request is one unit of work.

    Every payable and the pool are locked at once, in id order, before any is paid out: locking them a
    biller at a time would hold the pool while reaching for lower ids, the other order from a worker
    settling one biller, and the two would deadlock (as with merchants).
    """
    billers = (await session.scalars(select(Biller).order_by(Biller.id))).all()
    pool = await wallet_pool_account(session, settings, now)
    await ledger.lock_accounts(session, [*(biller.account_id for biller in billers), pool])
    return [made for biller in billers if (made := await _settle_one(session, settings, calendar, biller, now))]


async def list_settlements(session: AsyncSession, *, biller_id: int | None, limit: int = 100) -> list[s.Settlement]:
    """Newest first; one biller's, or everyone's for an officer."""
    query = select(BillerSettlement).order_by(BillerSettlement.id.desc()).limit(limit)
    if biller_id is not None:
        query = query.where(BillerSettlement.biller_id == biller_id)
    return [view(settlement) for settlement in await session.scalars(query)]


async def _lines(session: AsyncSession, settlement_id: int) -> list[reports.ReportLine]:
    rows = await session.execute(
        select(
            Bill.external_id,
            Bill.customer_code,
            Bill.period,
            BillPaymentItem.amount_vnd,
            BillPayment.created_at,
            BillPayment.id,
        )
        .select_from(BillerSettlementItem)
        .join(BillPaymentItem, BillPaymentItem.id == BillerSettlementItem.payment_item_id)
        .join(Bill, Bill.id == BillPaymentItem.bill_id)
        .join(BillPayment, BillPayment.id == BillPaymentItem.payment_id)
        .where(BillerSettlementItem.settlement_id == settlement_id)
        .order_by(BillPayment.created_at, BillPaymentItem.id)
    )
    return [reports.ReportLine(*row) for row in rows]


async def report(
    session: AsyncSession,
    calendar: BusinessCalendar,
    *,
    settlement_id: int,
    biller_id: int | None,
    report_format: ReportFormat,
) -> tuple[bytes, str, str]:
    """The report's bytes, media type and file name; ``biller_id`` set: only that biller's settlement is found."""
    settlement = await session.get(BillerSettlement, settlement_id)
    if settlement is None or (biller_id is not None and settlement.biller_id != biller_id):
        raise SettlementNotFound(settlement_id=settlement_id)
    biller = await session.get(Biller, settlement.biller_id)
    assert biller is not None  # noqa: S101 - a foreign key
    header = reports.ReportHeader(
        biller_id=biller.id,
        biller_name=biller.name,
        business_day=settlement.business_day,
        reference=settlement.reference,
        total_vnd=settlement.amount_vnd,
        count=settlement.bill_count,
        bank_bin=settlement.bank_bin,
        account_number=settlement.account_number,
        account_holder=settlement.account_holder,
        status=settlement.status,
    )
    lines = await _lines(session, settlement.id)
    name = f"{settlement.reference}-{settlement.business_day.isoformat()}.{report_format}"
    if report_format == "xlsx":
        return reports.as_xlsx(header, lines, calendar.zone), reports.XLSX_MEDIA_TYPE, name
    return reports.as_csv(header, lines, calendar.zone), reports.CSV_MEDIA_TYPE, name


async def _instruction(_session: AsyncSession, settlement: BillerSettlement) -> wallet.Payout:
    return wallet.Payout(
        payout_id=settlement.reference,
        from_bank_bin=settlement.from_bank_bin,
        from_account_number=settlement.from_account_number,
        bank_bin=settlement.bank_bin,
        account_number=settlement.account_number,
        holder_name=settlement.account_holder,
        amount_vnd=settlement.amount_vnd,
        # What the biller's statement line says: our collection on its behalf ("thu hộ"), and the reference.
        description=f"CIVICPAY THU HO {settlement.reference}",
    )


# A rejection needs nothing besides the voided hold: the money is back on the payable, and the payments
# carried by a rejected settlement count as unsettled again (``_unsettled``).
INSTRUCTION = wallet.InstructionKind(
    message=SEND,
    model=BillerSettlement,
    id_field="settlement_id",
    named=lambda reference: BillerSettlement.reference == reference,
    instruction=_instruction,
)

INSTRUCTION_KINDS: Sequence[wallet.InstructionKind] = [INSTRUCTION]
