"""A small demo data set, seeded once, so a new user has people and money to try things with."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth.models import Role, User
from civicpay.auth.service import NewUser, create_user
from civicpay.clock import Clock
from civicpay.money import Category
from wallet import ledger
from wallet.bank_topups import bank_settlement_account
from wallet.schemas import CitizenCreate
from wallet.service import holder_of_user, register_citizen

DEMO_PASSWORD = "demo-password"
OPENING_TOP_UP_VND = 5_000_000


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


async def seed_demo(session: AsyncSession, hasher: PasswordHasher, clock: Clock) -> bool:
    """Create the demo people and fund each citizen's wallet; False if they already exist."""
    if await session.scalar(select(User.id).where(User.phone == "+84912345678")):
        return False
    now = clock.now()
    bank = await bank_settlement_account(session, now)
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
    return True
