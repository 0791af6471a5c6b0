"""Billers (đơn vị thu): who they are, where their money is settled, their system's API key, their payable."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import schemas as s
from billing.errors import BillerNotFound
from billing.models import CATEGORY_LABELS, CODE_LABELS, Biller, BillerCategory, PaymentPolicy
from civicpay.auth import service as auth
from civicpay.auth.models import Role
from civicpay.errors import InvalidField, Text
from wallet import ledger


def payable_account_code(key_id: str) -> str:
    """Named by the biller's API key id, which exists before the biller's row (the row points at the account)."""
    return f"liability:biller:{key_id}:payable"


def biller_view(biller: Biller) -> s.Biller:
    return s.Biller(
        id=biller.id,
        name=biller.name,
        category=BillerCategory(biller.category),
        bank_bin=biller.bank_bin,
        account_number=biller.account_number,
        account_holder=biller.account_holder,
        webhook_url=biller.webhook_url,
        payment_policy=PaymentPolicy(biller.payment_policy),
        api_key_id=biller.api_key_id,
        lookup_url=biller.lookup_url,
    )


async def create(session: AsyncSession, data: s.BillerCreate, *, bank_name: str, now: datetime) -> s.BillerCreated:
    """The biller, an API key for its system (shown once) and its payable account in the ledger.

    ``bank_name`` is the bank's name for the settlement account (``wallet.bank_account_name`` asks the bank).
    """
    taken = select(Biller.id).where(Biller.name == data.name)
    if await session.scalar(taken) is not None:
        raise InvalidField(Text("Đã có đơn vị thu với tên này", "A biller with this name exists"), field="name")
    key, plaintext = await auth.create_api_key(session, name=data.name, role=Role.BILLER, now=now)
    await session.flush()
    biller = Biller(
        name=data.name,
        category=data.category.value,
        bank_bin=data.bank_bin,
        account_number=data.account_number,
        account_holder=bank_name,
        api_key_id=key.id,
        webhook_url=data.webhook_url,
        webhook_secret=data.webhook_secret,
        payment_policy=data.payment_policy.value,
        lookup_url=data.lookup_url,
        created_at=now,
    )
    biller.account_id = await ledger.open_account(
        session,
        code=payable_account_code(key.key_id),
        name=f"Tiền thu hộ chờ chuyển cho: {data.name}",
        kind=ledger.AccountKind.LIABILITY,
        no_overdraft=True,
        now=now,
    )
    session.add(biller)
    await session.flush()
    view = biller_view(biller)
    return s.BillerCreated(**{field: getattr(view, field) for field in view.__struct_fields__}, api_key=plaintext)


async def list_all(session: AsyncSession) -> list[s.Biller]:
    return [biller_view(biller) for biller in await session.scalars(select(Biller).order_by(Biller.id))]


async def directory(session: AsyncSession) -> list[s.BillerListed]:
    rows = await session.execute(select(Biller.id, Biller.name, Biller.category).order_by(Biller.category, Biller.name))
    return [
        s.BillerListed(biller_id, name, kind, CATEGORY_LABELS[kind], CODE_LABELS[kind])
        for biller_id, name, category in rows
        for kind in [BillerCategory(category)]
    ]


async def get(session: AsyncSession, biller_id: int) -> Biller:
    biller = await session.get(Biller, biller_id)
    if biller is None:
        raise BillerNotFound()
    return biller


async def of_api_key(session: AsyncSession, api_key_id: int) -> Biller:
    biller = await session.scalar(select(Biller).where(Biller.api_key_id == api_key_id))
    if biller is None:
        raise BillerNotFound()
    return biller
