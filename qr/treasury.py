"""The sweep of collected fees to the State Treasury (nộp phí, lệ phí vào KBNN), Circular 74/2022/TT-BTC.

Fees collected through an office's account must reach the agency's Treasury account "awaiting
remittance to the budget" within 24 hours. The sweep takes every paid collection not yet swept and
makes one remittance per agency and bank account of ours the fees are in: a fee paid by bank transfer
is in the office's collection account; one paid from a wallet never left the wallets' pooled account.
So each remittance is one instruction to the bank, debiting one of our bank accounts, with a reference
of its own (``KBNN`` + 11 + a check character) for the bank and its statement.

The sweep moves the fees out of the offices' accounts into money on its way to the Treasury and holds
it toward the paying bank account (so nothing is swept twice, and a fee on its way cannot be refunded),
and queues the instruction in the outbox (``wallet.queue_instruction``). The bank's signed callback
confirms it (the hold is posted: the money leaves that bank account) or rejects it with a reason code
(the hold is released and the fees go back to their offices unswept, for the next sweep to send again
under a new reference). A fee counts as overdue in the 24-hour report until its remittance is
confirmed: only money at the Treasury meets the deadline. Run at least daily (the workers run it
periodically; ``civicpay treasury sweep`` and the finance officers' endpoint run it on demand).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

import wallet
from civicpay.money import format_vnd
from civicpay.reference_codes import ReferenceScheme
from civicpay.settings import Settings
from qr import schemas as s
from qr.collections import FEE_CATEGORY
from qr.models import CollectionStatus, FeeCollection, Office, PaidBy, TreasuryRemittance
from wallet import ledger, wallet_pool_account

DEADLINE = timedelta(hours=24)
# "KBNN" (Kho bạc Nhà nước) + a random number in eleven base-36 characters + a check character: 16 characters.
REMITTANCE = ReferenceScheme("KBNN", 11)
# The outbox message that hands a committed remittance to the bank.
SEND = "treasury.remit"
# Fees out of their offices' accounts and not yet confirmed at the Treasury: still owed to the agencies.
REMITTING = "liability:treasury:remitting"
_UNSWEPT = (FeeCollection.status == CollectionStatus.PAID.value, FeeCollection.swept_by_id.is_(None))


def _line(remittance: TreasuryRemittance) -> s.RemittanceLine:
    return s.RemittanceLine(
        id=remittance.id,
        reference=remittance.reference,
        agency_code=remittance.agency_code,
        treasury_account=remittance.treasury_account,
        from_bank_bin=remittance.from_bank_bin,
        from_account_number=remittance.from_account_number,
        amount_vnd=remittance.amount_vnd,
        amount_display=format_vnd(remittance.amount_vnd),
        collections=remittance.collections,
        status=wallet.InstructionStatus(remittance.status),
        reason_code=remittance.reason_code,
        created_at=remittance.created_at,
        resolved_at=remittance.resolved_at,
    )


async def _remitting_account(session: AsyncSession, now: datetime) -> int:
    return await ledger.open_account(
        session,
        code=REMITTING,
        name="Phí, lệ phí đang chuyển nộp KBNN",
        kind=ledger.AccountKind.LIABILITY,
        no_overdraft=True,
        now=now,
    )


def _per_office(collections: Sequence[FeeCollection]) -> Counter[int]:
    """What each office's account gives to a remittance."""
    amounts: Counter[int] = Counter()
    for collection in collections:
        amounts[collection.office_id] += collection.amount_vnd
    return amounts


async def sweep(session: AsyncSession, settings: Settings, *, now: datetime) -> list[s.RemittanceLine]:
    """One remittance per agency and paying bank account with unswept fees; a second run finds nothing left."""
    offices = {office.id: office for office in await session.scalars(select(Office))}
    # Locked in id order, as payments and refunds lock them, so a sweep cannot deadlock with them.
    due = (
        await session.scalars(
            select(FeeCollection)
            .where(*_UNSWEPT)
            .order_by(FeeCollection.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    if not due:
        return []
    pool = (settings.wallet_pool_bank_bin, settings.wallet_pool_account_number)
    by_remittance: defaultdict[tuple[str, tuple[str, str]], list[FeeCollection]] = defaultdict(list)
    for collection in due:
        office = offices[collection.office_id]
        paying = (office.bank_bin, office.account_number) if collection.paid_by == PaidBy.BANK.value else pool
        by_remittance[(office.agency_code, paying)].append(collection)
    await wallet_pool_account(session, settings, now)  # registered, for its ledger account to be found
    remitting = await _remitting_account(session, now)
    sources = {paying: await ledger.bank_account_of(session, *paying) for _, paying in by_remittance}
    # Every account the sweep moves, locked in one call (the entries below lock them again, held already).
    await ledger.lock_accounts(
        session, [remitting, *filter(None, sources.values()), *(offices[c.office_id].account_id for c in due)]
    )
    lines = []
    for (agency_code, paying), collections in sorted(by_remittance.items()):
        source = sources[paying]
        assert source is not None  # noqa: S101 - the pool and every office's account are registered
        lines.append(await _remit(session, offices, agency_code, paying, source, remitting, collections, now))
    return lines


async def _remit(
    session: AsyncSession,
    offices: dict[int, Office],
    agency_code: str,
    paying: tuple[str, str],
    source: int,
    remitting: int,
    collections: Sequence[FeeCollection],
    now: datetime,
) -> s.RemittanceLine:
    treasury_account = offices[collections[0].office_id].treasury_account
    # UNIQUE: a clash, about one in 10^17, fails this sweep and the next run draws again.
    reference = REMITTANCE.random()
    metadata = {"memo": f"Nộp KBNN tài khoản {treasury_account}", "agency": agency_code}
    per_office = _per_office(collections)
    specs = [
        ledger.TransferSpec(offices[office_id].account_id, remitting, amount, FEE_CATEGORY, reference, metadata)
        for office_id, amount in sorted(per_office.items())
    ]
    posted = await ledger.post_entry(session, specs, now=now, description="treasury remittance")
    amount = sum(per_office.values())
    held = ledger.TransferSpec(remitting, source, amount, FEE_CATEGORY, reference, metadata)
    # No expiry: only the bank's word may end this hold, or the fees could be sent twice.
    hold_id = await ledger.hold(session, held, now=now, expires_at=None)
    remittance = TreasuryRemittance(
        reference=reference,
        agency_code=agency_code,
        treasury_account=treasury_account,
        from_bank_bin=paying[0],
        from_account_number=paying[1],
        amount_vnd=amount,
        collections=len(collections),
        entry_id=posted.entry_id,
        hold_id=hold_id,
        status=wallet.InstructionStatus.QUEUED.value,
        created_at=now,
    )
    session.add(remittance)
    await session.flush()
    await session.execute(
        update(FeeCollection)
        .where(FeeCollection.id.in_([collection.id for collection in collections]))
        .values(swept_by_id=remittance.id)
    )
    await wallet.queue_instruction(session, INSTRUCTION, remittance, now=now)
    return _line(remittance)


async def _carried(session: AsyncSession, remittance: TreasuryRemittance) -> Sequence[FeeCollection]:
    found = await session.scalars(
        select(FeeCollection).where(FeeCollection.swept_by_id == remittance.id).order_by(FeeCollection.id)
    )
    return found.all()


async def _offices_of(session: AsyncSession, remittance: TreasuryRemittance) -> list[int]:
    """The offices' accounts a rejected remittance gives its fees back to (locked with its hold's)."""
    office_ids = {collection.office_id for collection in await _carried(session, remittance)}
    accounts = await session.scalars(select(Office.account_id).where(Office.id.in_(office_ids)))
    return list(accounts)


async def _settled(
    session: AsyncSession, remittance: TreasuryRemittance, result: wallet.PayoutResult, now: datetime
) -> None:
    """A rejected remittance's fees go back to their offices' accounts, unswept: the next sweep sends them."""
    if result.status != "rejected":
        return
    collections = await _carried(session, remittance)
    offices = {office.id: office for office in await session.scalars(select(Office))}
    remitting = await _remitting_account(session, now)
    specs = [
        ledger.TransferSpec(
            remitting,
            offices[office_id].account_id,
            amount,
            FEE_CATEGORY,
            remittance.reference,
            {"memo": f"KBNN từ chối ({result.reason_code or 'RJCT'}): chờ lần nộp sau"},
        )
        for office_id, amount in sorted(_per_office(collections).items())
    ]
    await ledger.post_entry(session, specs, now=now, description="treasury remittance rejected")
    await session.execute(
        update(FeeCollection).where(FeeCollection.swept_by_id == remittance.id).values(swept_by_id=None)
    )


async def _instruction(_session: AsyncSession, remittance: TreasuryRemittance) -> wallet.TreasuryPayout:
    # Only remittances booked before revision 0009 have no paying account, and they are never sent.
    assert remittance.from_bank_bin is not None  # noqa: S101
    assert remittance.from_account_number is not None  # noqa: S101
    return wallet.TreasuryPayout(
        payout_id=remittance.reference,
        from_bank_bin=remittance.from_bank_bin,
        from_account_number=remittance.from_account_number,
        amount_vnd=remittance.amount_vnd,
        description=f"CIVICPAY NOP KBNN {remittance.agency_code} {remittance.reference}",
        treasury_account=remittance.treasury_account,
        agency_code=remittance.agency_code,
    )


INSTRUCTION = wallet.InstructionKind(
    message=SEND,
    model=TreasuryRemittance,
    id_field="remittance_id",
    named=lambda reference: TreasuryRemittance.reference == reference,
    instruction=_instruction,
    settled=_settled,
    touches=_offices_of,
)


async def overdue(session: AsyncSession, *, now: datetime) -> list[s.Overdue]:
    """Paid fees not at the Treasury more than 24 hours after payment: a breach of Circular 74 to act on.

    A fee on its way (its remittance queued or sent) is still overdue until the bank confirms it.
    """
    rows = await session.execute(
        select(FeeCollection, Office.agency_code)
        .join(Office, Office.id == FeeCollection.office_id)
        .outerjoin(TreasuryRemittance, TreasuryRemittance.id == FeeCollection.swept_by_id)
        .where(
            FeeCollection.status == CollectionStatus.PAID.value,
            or_(
                FeeCollection.swept_by_id.is_(None),
                TreasuryRemittance.status != wallet.InstructionStatus.CONFIRMED.value,
            ),
            FeeCollection.paid_at < now - DEADLINE,
        )
        .order_by(FeeCollection.paid_at)
    )
    report = []
    for collection, agency_code in rows:
        assert collection.paid_at is not None  # noqa: S101 - it is paid
        report.append(
            s.Overdue(
                collection_id=collection.id,
                reference=collection.reference,
                agency_code=agency_code,
                amount_vnd=collection.amount_vnd,
                paid_at=collection.paid_at,
                hours_waiting=int((now - collection.paid_at) / timedelta(hours=1)),
            )
        )
    return report


async def sweep_and_report(session: AsyncSession, settings: Settings, *, now: datetime) -> s.SweepReport:
    """Sweep, with the 24-hour report as it stood: fees past the deadline and not yet at the Treasury."""
    late = await overdue(session, now=now)
    return s.SweepReport(remittances=await sweep(session, settings, now=now), overdue=late)


async def history(session: AsyncSession, *, limit: int = 50) -> list[s.RemittanceLine]:
    remittances = await session.scalars(select(TreasuryRemittance).order_by(TreasuryRemittance.id.desc()).limit(limit))
    return [_line(remittance) for remittance in remittances]
