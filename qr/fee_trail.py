"""Each paid fee's trail to the State Treasury as the QR room recorded it: the collection, its remittance, accounts.

Told to the reconciliation room (which may not read these tables) through the shell as ``FEE_BOOK``: it sets
this beside the bank's and the Treasury's statements for the three-way check of Circular 74/2022.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

import wallet
from qr.models import CollectionStatus, FeeCollection, Office, TreasuryRemittance


@dataclass(frozen=True, slots=True)
class FeeTrail:
    collection_id: int
    reference: str
    office_code: str
    agency_code: str
    agency_name: str
    treasury_account: str
    amount_vnd: int
    paid_at: datetime
    paid_by: str
    transfer_id: int | None
    remittance_reference: str | None
    remittance_amount_vnd: int | None
    remittance_status: str | None
    swept_at: datetime | None
    confirmed_at: datetime | None
    from_bank_bin: str | None
    from_account_number: str | None


class QrFeeBook:
    """The QR room's answers to ``reconciliation.fee_book.FeeBook``."""

    async def fees(self, session: AsyncSession, start: datetime, end: datetime) -> list[FeeTrail]:
        rows = await session.execute(
            select(FeeCollection, Office, TreasuryRemittance)
            .join(Office, Office.id == FeeCollection.office_id)
            .outerjoin(TreasuryRemittance, TreasuryRemittance.id == FeeCollection.swept_by_id)
            .where(
                # A refunded fee was paid too, but its money went back: only what is still owed to the budget.
                FeeCollection.status == CollectionStatus.PAID.value,
                or_(
                    (FeeCollection.paid_at >= start) & (FeeCollection.paid_at < end),
                    (TreasuryRemittance.created_at >= start) & (TreasuryRemittance.created_at < end),
                ),
            )
            .order_by(FeeCollection.paid_at, FeeCollection.id)
        )
        trail = []
        for collection, office, remittance in rows:
            assert collection.paid_at is not None  # noqa: S101 - it is paid
            confirmed = remittance is not None and remittance.status == wallet.InstructionStatus.CONFIRMED.value
            trail.append(
                FeeTrail(
                    collection_id=collection.id,
                    reference=collection.reference,
                    office_code=office.code,
                    agency_code=office.agency_code,
                    agency_name=office.agency_name,
                    treasury_account=remittance.treasury_account if remittance else office.treasury_account,
                    amount_vnd=collection.amount_vnd,
                    paid_at=collection.paid_at,
                    paid_by=collection.paid_by or "",
                    transfer_id=collection.transfer_id,
                    remittance_reference=remittance.reference if remittance else None,
                    remittance_amount_vnd=remittance.amount_vnd if remittance else None,
                    remittance_status=remittance.status if remittance else None,
                    swept_at=remittance.created_at if remittance else None,
                    confirmed_at=remittance.resolved_at if confirmed and remittance else None,
                    from_bank_bin=remittance.from_bank_bin if remittance else None,
                    from_account_number=remittance.from_account_number if remittance else None,
                )
            )
        return trail

    async def treasury_accounts(self, session: AsyncSession) -> Mapping[str, str]:
        rows = await session.execute(select(Office.treasury_account, Office.agency_code).order_by(Office.id))
        return {row.treasury_account: row.agency_code for row in rows}


FEE_BOOK = QrFeeBook()
