"""Programmes (chương trình chi trả) and their funding: budget money recorded by one finance officer and
approved, with a TOTP code, by another.

The budget's money arrives in the wallets' pooled bank account (tài khoản đảm bảo thanh toán ví), not in an
account of its own: paying a beneficiary's wallet is then an entry between two liabilities of ours (the
programme's funding → the wallet), with no money to move between our own bank accounts first, and the pooled
account's statement shows the budget's transfer for reconciliation to match by the funding's reference.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay import audit
from civicpay.auth.approval import checker_approves
from civicpay.db import insert_ignoring_conflict, table_of
from civicpay.money import Category
from civicpay.settings import Settings
from disbursement import schemas as s
from disbursement.errors import (
    FundingNotFound,
    FundingNotPending,
    ProgrammeNameTaken,
    ProgrammeNotFound,
)
from disbursement.models import FUNDING_REFERENCE, Funding, FundingStatus, Payment, Programme, ProgrammeKind
from wallet import ledger, wallet_pool_account


def category_of(kind: str) -> Category:
    """What a programme's movements are for: a pension's are pensions, the others welfare."""
    return Category.PENSION if kind == ProgrammeKind.PENSION else Category.WELFARE


async def create(session: AsyncSession, data: s.ProgrammeCreate, *, officer_id: int, now: datetime) -> s.Programme:
    """A programme with its funding and reserve accounts, opened in the same transaction."""
    name = " ".join(data.name.split())
    # The accounts' codes cannot carry the programme's id (not drawn yet); a random token keeps them unique.
    token = uuid.uuid4().hex[:16]
    funding = await ledger.open_account(
        session,
        # Its name is what a beneficiary's wallet history shows as the sender: the programme's own.
        code=f"liability:programme:{token}:funding",
        name=name,
        kind=ledger.AccountKind.LIABILITY,
        no_overdraft=True,
        now=now,
    )
    reserve = await ledger.open_account(
        session,
        code=f"liability:programme:{token}:reserved",
        name=f"Tiền đã dành cho các đợt chi trả: {name}"[:200],
        kind=ledger.AccountKind.LIABILITY,
        # It only ever carries holds' pending credits, never a posting.
        no_overdraft=True,
        now=now,
    )
    programme = Programme(
        name=name,
        kind=data.kind.value,
        max_amount_vnd=data.max_amount_vnd,
        funding_account_id=funding,
        reserve_account_id=reserve,
        created_by=officer_id,
        created_at=now,
    )
    try:
        # The UNIQUE constraint decides, so two officers creating one name at once cannot both win.
        async with session.begin_nested():
            session.add(programme)
    except IntegrityError:
        raise ProgrammeNameTaken(field="name") from None
    return (await _views(session, [programme]))[0]


async def list_all(session: AsyncSession) -> list[s.Programme]:
    return await _views(session, (await session.scalars(select(Programme).order_by(Programme.id))).all())


async def get(session: AsyncSession, programme_id: int) -> Programme:
    found = await session.get(Programme, programme_id)
    if found is None:
        raise ProgrammeNotFound()
    return found


async def _views(session: AsyncSession, programmes: Sequence[Programme]) -> list[s.Programme]:
    claims = [programme.claims_account_id for programme in programmes if programme.claims_account_id is not None]
    held = await ledger.balances(session, [programme.funding_account_id for programme in programmes] + claims)
    return [
        s.Programme(
            id=programme.id,
            name=programme.name,
            kind=ProgrammeKind(programme.kind),
            max_amount_vnd=programme.max_amount_vnd,
            funding_account_id=programme.funding_account_id,
            funded_vnd=held[programme.funding_account_id].posted_vnd,
            available_vnd=held[programme.funding_account_id].available_vnd,
            unclaimed_vnd=held[programme.claims_account_id].posted_vnd if programme.claims_account_id else 0,
            created_at=programme.created_at,
        )
        for programme in programmes
    ]


async def record_funding(
    session: AsyncSession, programme_id: int, data: s.FundingCreate, *, officer_id: int, now: datetime
) -> s.Funding:
    """Budget money the bank says arrived for a programme: recorded, nothing posted until a second officer approves."""
    await get(session, programme_id)
    funding = Funding(
        programme_id=programme_id,
        amount_vnd=data.amount_vnd,
        bank_reference=data.bank_reference,
        status=FundingStatus.PENDING.value,
        recorded_by=officer_id,
        created_at=now,
    )
    session.add(funding)
    await session.flush()
    return _funding_view(funding)


async def approve_funding(
    session: AsyncSession, settings: Settings, funding_id: int, *, officer_id: int, otp: str | None, now: datetime
) -> s.Funding:
    """A second finance officer confirms the funding with TOTP: pooled bank account → programme's funding.

    Locked, re-checked, transitioned: a second approval finds it approved already and moves nothing.
    """
    funding = await session.scalar(
        select(Funding).where(Funding.id == funding_id).with_for_update().execution_options(populate_existing=True)
    )
    if funding is None:
        raise FundingNotFound()
    if funding.status != FundingStatus.PENDING:
        raise FundingNotPending()
    await checker_approves(session, settings, maker_id=funding.recorded_by, checker_id=officer_id, otp=otp, now=now)
    programme = await get(session, funding.programme_id)
    pool = await wallet_pool_account(session, settings, now)
    reference = FUNDING_REFERENCE.encode(funding.id)
    spec = ledger.TransferSpec(
        debit_account_id=pool,
        credit_account_id=programme.funding_account_id,
        amount_vnd=funding.amount_vnd,
        category=category_of(programme.kind),
        reference=reference,
        metadata={"memo": f"Ngân sách cấp cho {programme.name}", "bank_reference": funding.bank_reference},
    )
    posted = await ledger.post_entry(session, [spec], now=now, description=f"programme funding {reference}")
    funding.status, funding.approved_by, funding.approved_at = FundingStatus.APPROVED.value, officer_id, now
    funding.entry_id = posted.entry_id
    await audit.record(
        session,
        actor_user_id=officer_id,
        action="disbursement.funding.approve",
        subject_type="disbursement_funding",
        subject_id=funding.id,
        reason="maker-checker approval with TOTP",
        details={"programme_id": programme.id, "amount_vnd": funding.amount_vnd, "recorded_by": funding.recorded_by},
        now=now,
    )
    await session.flush()
    return _funding_view(funding)


async def list_fundings(session: AsyncSession, programme_id: int) -> list[s.Funding]:
    await get(session, programme_id)
    found = await session.scalars(select(Funding).where(Funding.programme_id == programme_id).order_by(Funding.id))
    return [_funding_view(funding) for funding in found]


def _funding_view(funding: Funding) -> s.Funding:
    return s.Funding(
        id=funding.id,
        programme_id=funding.programme_id,
        amount_vnd=funding.amount_vnd,
        bank_reference=funding.bank_reference,
        reference=FUNDING_REFERENCE.encode(funding.id),
        status=FundingStatus(funding.status),
        recorded_by=funding.recorded_by,
        approved_by=funding.approved_by,
        created_at=funding.created_at,
        approved_at=funding.approved_at,
    )


_payment = table_of(Payment)
# PostgreSQL: a chunk's payments from arrays in one statement, prepared once; a multi-row VALUES of a thousand
# rows is compiled anew each time (some 0.5 s a chunk). The same rows under the same UNIQUE constraint.
_UNNEST_PAYMENTS = text(
    "INSERT INTO disbursement_payment (programme_id, period, citizen_id, item_id, created_at)"
    " SELECT CAST(:programme AS bigint), period, citizen_id, item_id, CAST(:now AS timestamptz)"
    " FROM unnest(CAST(:periods AS text[]), CAST(:citizens AS text[]), CAST(:items AS bigint[]))"
    " AS p(period, citizen_id, item_id)"
    " ON CONFLICT (programme_id, period, citizen_id) DO NOTHING RETURNING item_id"
)


async def first_payments(session: AsyncSession, programme_id: int, items: Sequence[Any], *, now: datetime) -> set[int]:
    """Record a payment per item (``id``, ``period``, ``citizen_id``); the items whose beneficiary it is the first
    for, in the programme and period. The constraint decides, not a look first, so two workers cannot both pay."""
    if session.get_bind().dialect.name == "postgresql":
        found = await session.scalars(
            _UNNEST_PAYMENTS,
            {
                "programme": programme_id,
                "now": now,
                "periods": [item.period for item in items],
                "citizens": [item.citizen_id for item in items],
                "items": [item.id for item in items],
            },
        )
        return set(found)
    first_payment = insert_ignoring_conflict(
        "sqlite", _payment, ("programme_id", "period", "citizen_id"), _payment.c.item_id
    )
    rows = [
        {
            "programme_id": programme_id,
            "period": item.period,
            "citizen_id": item.citizen_id,
            "item_id": item.id,
            "created_at": now,
        }
        for item in items
    ]
    return set(await session.scalars(first_payment.values(rows)))
