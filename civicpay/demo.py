"""A small demo data set, seeded once, so a new user has people and money to try things with."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth.models import Role, User
from civicpay.auth.service import NewUser, create_user
from civicpay.clock import Clock
from civicpay.money import Category
from civicpay.settings import Settings
from qr import collections, merchants
from qr import schemas as qr_schemas
from wallet import ledger
from wallet.bank_topups import wallet_pool_account
from wallet.schemas import CitizenCreate
from wallet.service import holder_of_user, register_citizen

DEMO_PASSWORD = "demo-password"
OPENING_TOP_UP_VND = 5_000_000
DEMO_OFFICE = qr_schemas.OfficeCreate(
    code="PHUHOI",
    name="Bộ phận Một cửa phường Phú Hội",
    city="Huế",
    bank_bin="970436",
    account_number="0161001234567",
    agency_code="UBND-PHUHOI",
    agency_name="Ủy ban nhân dân phường Phú Hội",
    treasury_account="3511.0.1054321",
)
DEMO_CLERK_PHONE = "0901000003"
DEMO_MERCHANT = qr_schemas.MerchantCreate(
    phone="0905111222",
    owner_name="Trần Thị Thuận",
    password=DEMO_PASSWORD,
    name="Cà phê Thuận Hóa",
    city="Huế",
    mcc="5814",
    bank_bin="970422",
    account_number="0905111222",
)
# The demo people's own bank accounts (see README) by BIN and number, under the names their banks
# give: the bank sandbox opens them, and the demo merchant is registered under its account's name.
DEMO_BANK_ACCOUNTS = {
    ("970436", "0011001234567"): "NGUYEN THI HUONG",
    ("970415", "101867654321"): "TRAN VAN MINH",
    ("970418", "21510000123456"): "LE THI LAN",
    (DEMO_MERCHANT.bank_bin, DEMO_MERCHANT.account_number): "CA PHE THUAN HOA",
}
DEMO_MERCHANT_BANK_NAME = DEMO_BANK_ACCOUNTS[(DEMO_MERCHANT.bank_bin, DEMO_MERCHANT.account_number)]


@dataclass(frozen=True, slots=True)
class DemoPerson:
    phone: str
    full_name: str
    role: Role
    citizen_id: str | None = None


DEMO_PEOPLE = (
    DemoPerson("0912345678", "Nguyễn Thị Hương", Role.CITIZEN, "046190001234"),
    DemoPerson("0987654321", "Trần Văn Minh", Role.CITIZEN, "046085004321"),
    DemoPerson("0935123456", "Lê Thị Lan", Role.CITIZEN, "046300007777"),
    DemoPerson("0901000001", "Phạm Quốc Bảo", Role.ADMIN),
    DemoPerson("0901000002", "Hoàng Minh Châu", Role.FINANCE_OFFICER),
    DemoPerson("0901000003", "Võ Thị Thu", Role.CLERK),
    DemoPerson("0901000004", "Đặng Văn Hải", Role.PROGRAMME_OFFICER),
)


# What seeding does, one step each (a password is hashed in most): the people, then the office, the merchant.
DEMO_STEPS = len(DEMO_PEOPLE) + 2


async def seed_demo(
    session: AsyncSession,
    settings: Settings,
    hasher: PasswordHasher,
    clock: Clock,
    *,
    step: Callable[[], None] = lambda: None,
) -> bool:
    """The demo people (each citizen's wallet funded), a one-stop office with a counter and its clerk, and a
    merchant; False if they already exist. ``step`` is called after each of the ``DEMO_STEPS``."""
    if await session.scalar(select(User.id).where(User.phone == "+84912345678")):
        return False
    now = clock.now()
    # The demo's opening money stands for top-ups that reached the wallets' pooled account.
    bank = await wallet_pool_account(session, settings, now)
    for person in DEMO_PEOPLE:
        if person.role == Role.CITIZEN:
            assert person.citizen_id is not None  # noqa: S101 - every demo citizen has one
            citizen = await register_citizen(
                session,
                hasher,
                CitizenCreate(person.phone, person.citizen_id, person.full_name, DEMO_PASSWORD),
                now=now,
            )
            holder = await holder_of_user(session, citizen.user_id)
            spec = ledger.TransferSpec(
                debit_account_id=bank,
                credit_account_id=holder.account_id,
                amount_vnd=OPENING_TOP_UP_VND,
                category=Category.TOPUP,
                reference="DEMO",
                metadata={"memo": "Nạp tiền demo"},
            )
            await ledger.post_entry(session, [spec], now=now, description="demo top-up")
        else:
            await create_user(
                session, hasher, NewUser(person.phone, person.full_name, DEMO_PASSWORD, person.role), now=now
            )
        step()
    office = await collections.create_office(session, DEMO_OFFICE, now=now)
    await collections.create_counter(session, office.id, qr_schemas.CounterCreate("Quầy 1"), now=now)
    await collections.assign_clerk(session, office.id, qr_schemas.ClerkAssign(DEMO_CLERK_PHONE))
    step()
    await merchants.register(session, hasher, DEMO_MERCHANT, bank_name=DEMO_MERCHANT_BANK_NAME, now=now)
    step()
    return True


def biller_webhook_secret(settings: Settings, slug: str) -> str:
    """The signing secret of the demo biller ``slug`` (electricity, water, school), derived from the secret key.

    The demo billers civicpay creates and the fake billers of ``civicpay-sandbox billers serve`` each
    compute it from the same settings, so they agree without a secret file of their own; an HMAC is one-way,
    so a biller's secret never reveals the key that signs access tokens.
    """
    return hmac.new(settings.secret_key.encode(), f"sandbox-biller-webhook:{slug}".encode(), hashlib.sha256).hexdigest()


def biller_lookup_url(settings: Settings, slug: str) -> str:
    """Where the fake biller ``slug`` answers look-ups of a customer's open bills (``{customer_code}`` filled in)."""
    return f"{settings.sandbox_billers_base.rstrip('/')}/{slug}/customers/{{customer_code}}/bills"


def biller_webhook_url(settings: Settings, slug: str) -> str:
    """Where the fake biller ``slug`` receives our signed payment notifications."""
    return f"{settings.sandbox_billers_base.rstrip('/')}/{slug}/webhooks"
