"""The sweep of collected fees to the State Treasury (nộp phí, lệ phí vào KBNN), Circular 74/2022/TT-BTC.

Fees collected through an office's account must reach the agency's Treasury account "awaiting
remittance to the budget" within 24 hours. The sweep takes every paid collection not yet swept,
agency by agency, and books one remittance per agency: the fees leave each office's account with us
and the bank account their money is in, in one ledger entry, and each collection records the
remittance that carried it. A fee paid by bank transfer is in the office's collection account; one
paid from a wallet never left the wallets' pooled account, so it leaves from there. Each remittance
has a reference of its own (``KBNN`` + 11 + a check character) for the bank and its statement.
Run at least daily (the workers run it periodically; ``civicpay treasury sweep`` and the
finance officers' endpoint run it on demand); the report lists what has waited longer than 24 hours.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.money import format_vnd
from civicpay.reference_codes import ReferenceScheme
from civicpay.settings import Settings
from qr import schemas as s
from qr.collections import FEE_CATEGORY, collection_bank_account
from qr.models import CollectionStatus, FeeCollection, Office, PaidBy, TreasuryRemittance
from wallet import ledger, wallet_pool_account

DEADLINE = timedelta(hours=24)
# "KBNN" (Kho bạc Nhà nước) + a random number in eleven base-36 characters + a check character: 16 characters.
REMITTANCE = ReferenceScheme("KBNN", 11)
_UNSWEPT = (FeeCollection.status == CollectionStatus.PAID.value, FeeCollection.swept_by_id.is_(None))


def _line(remittance: TreasuryRemittance) -> s.RemittanceLine:
    return s.RemittanceLine(
        id=remittance.id,
        reference=remittance.reference,
        agency_code=remittance.agency_code,
        treasury_account=remittance.treasury_account,
        amount_vnd=remittance.amount_vnd,
        amount_display=format_vnd(remittance.amount_vnd),
        collections=remittance.collections,
        created_at=remittance.created_at,
    )


async def sweep(session: AsyncSession, settings: Settings, *, now: datetime) -> list[s.RemittanceLine]:
    """One remittance per agency with unswept fees; a second run finds nothing left to send."""
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
    by_agency: defaultdict[str, list[FeeCollection]] = defaultdict(list)
    for collection in due:
        by_agency[offices[collection.office_id].agency_code].append(collection)
    pool = await wallet_pool_account(session, settings, now) if due else 0
    lines = []
    for agency_code, collections in sorted(by_agency.items()):
        # What each office sends, by the bank account the money is in.
        per_source: defaultdict[tuple[int, int], int] = defaultdict(int)
        for collection in collections:
            office = offices[collection.office_id]
            paid_by_bank = collection.paid_by == PaidBy.BANK.value
            source = await collection_bank_account(session, office) if paid_by_bank else pool
            per_source[(office.id, source)] += collection.amount_vnd
        treasury_account = offices[collections[0].office_id].treasury_account
        # UNIQUE: a clash, about one in 10^17, fails this sweep and the next run draws again.
        reference = REMITTANCE.random()
        specs = [
            ledger.TransferSpec(
                debit_account_id=offices[office_id].account_id,
                credit_account_id=source,
                amount_vnd=amount,
                category=FEE_CATEGORY,
                reference=reference,
                metadata={"memo": f"Nộp KBNN tài khoản {treasury_account}", "agency": agency_code},
            )
            for (office_id, source), amount in sorted(per_source.items())
        ]
        posted = await ledger.post_entry(session, specs, now=now, description="treasury remittance")
        remittance = TreasuryRemittance(
            reference=reference,
            agency_code=agency_code,
            treasury_account=treasury_account,
            amount_vnd=sum(per_source.values()),
            collections=len(collections),
            entry_id=posted.entry_id,
            created_at=now,
        )
        session.add(remittance)
        await session.flush()
        await session.execute(
            update(FeeCollection)
            .where(FeeCollection.id.in_([collection.id for collection in collections]))
            .values(swept_by_id=remittance.id)
        )
        lines.append(_line(remittance))
    return lines


async def overdue(session: AsyncSession, *, now: datetime) -> list[s.Overdue]:
    """Paid fees not yet swept more than 24 hours after payment: a breach of Circular 74 to act on."""
    rows = await session.execute(
        select(FeeCollection, Office.agency_code)
        .join(Office, Office.id == FeeCollection.office_id)
        .where(*_UNSWEPT, FeeCollection.paid_at < now - DEADLINE)
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
    """Sweep, saying which of the fees swept had waited past the 24-hour deadline."""
    late = await overdue(session, now=now)
    return s.SweepReport(remittances=await sweep(session, settings, now=now), overdue=late)


async def history(session: AsyncSession, *, limit: int = 50) -> list[s.RemittanceLine]:
    remittances = await session.scalars(select(TreasuryRemittance).order_by(TreasuryRemittance.id.desc()).limit(limit))
    return [_line(remittance) for remittance in remittances]
