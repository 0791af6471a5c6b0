"""A small demo data set, seeded once, so a new user has people and money to try things with."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pyotp
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import schemas as billing_schemas
from billing.billers import create as create_biller
from billing.billers import get as get_biller
from billing.ingestion import apply as apply_bills
from billing.models import BillerCategory, BillLink
from civicpay.auth import secrets as auth_secrets
from civicpay.auth.models import Role, User
from civicpay.auth.service import NewUser, create_user
from civicpay.clock import Clock
from civicpay.demo_day import seed_day
from civicpay.money import Category
from civicpay.settings import Settings
from disbursement import programmes
from disbursement import schemas as disbursement_schemas
from disbursement.models import Programme, ProgrammeKind
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
    ("970415", "114000201001"): "CONG TY DIEN LUC THUA THIEN HUE",
    ("970436", "0161000456789"): "CONG TY CP CAP NUOC THUA THIEN HUE",
    ("970418", "55110000888999"): "TRUONG THCS NGUYEN TRI PHUONG",
    ("970405", "4000211002233"): "CONG TY MOI TRUONG VA CONG TRINH DO THI HUE",
    ("970415", "114000305566"): "TRUNG TAM PHUC VU HANH CHINH CONG TINH",
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


@dataclass(frozen=True, slots=True)
class DemoBiller:
    """A biller of the demo, at the billers sandbox under ``slug``; ``asks`` when it answers look-ups."""

    slug: str
    name: str
    category: BillerCategory
    bank_bin: str
    account_number: str
    asks: bool


DEMO_BILLERS = (
    DemoBiller("electricity", "Điện lực Thừa Thiên Huế", BillerCategory.ELECTRICITY, "970415", "114000201001", True),
    DemoBiller(
        "water", "Công ty Cổ phần Cấp nước Thừa Thiên Huế", BillerCategory.WATER, "970436", "0161000456789", True
    ),
    DemoBiller("school", "Trường THCS Nguyễn Tri Phương", BillerCategory.TUITION, "970418", "55110000888999", True),
    DemoBiller(
        "sanitation",
        "Công ty Môi trường và Công trình đô thị Huế",
        BillerCategory.SANITATION,
        "970405",
        "4000211002233",
        False,
    ),
    DemoBiller(
        "public-service",
        "Trung tâm Phục vụ hành chính công tỉnh",
        BillerCategory.PUBLIC_SERVICE_FEE,
        "970415",
        "114000305566",
        False,
    ),
)
# The demo citizens' customer codes, by phone and biller: the three that answer look-ups know them
# (sandbox/billers.py), and the other two push their bills (DEMO_PUSHED_BILLS).
DEMO_LINKS = {
    "0912345678": {
        "electricity": "PQ0400123456",
        "water": "HUEWACO-10234",
        "school": "HS-2026-0417",
        "sanitation": "VSMT-PH-00712",
        "public-service": "000.00.12.H57-261201-0042",
    },
    "0987654321": {"electricity": "PQ0400234567", "school": "HS-2026-0523", "sanitation": "VSMT-PH-00713"},
    "0935123456": {"water": "HUEWACO-10567"},
}
DEMO_PUSHED_BILLS = {
    "sanitation": [
        billing_schemas.BillIn(
            "VSMT-2026-12-00712", "VSMT-PH-00712", "Nguyễn Thị Hương", "2026-12", 45_000, date(2026, 12, 20)
        ),
        billing_schemas.BillIn(
            "VSMT-2026-12-00713", "VSMT-PH-00713", "Trần Văn Minh", "2026-12", 45_000, date(2026, 12, 20)
        ),
    ],
    "public-service": [
        billing_schemas.BillIn(
            "HCC-261201-0042",
            "000.00.12.H57-261201-0042",
            "Nguyễn Thị Hương",
            "2026-12",
            150_000,
            date(2026, 12, 10),
            [billing_schemas.BillLine("Phí thẩm định hồ sơ cấp giấy phép xây dựng nhà ở riêng lẻ", 150_000)],
        )
    ],
}

# What seeding does, one step each (a password is hashed in most): the people, then the office, the merchant,
# the billers, and a business day of money with its statements (``civicpay.demo_day``).
DEMO_STEPS = len(DEMO_PEOPLE) + 4


async def seed_demo(
    session: AsyncSession,
    settings: Settings,
    hasher: PasswordHasher,
    clock: Clock,
    *,
    step: Callable[[], None] = lambda: None,
) -> bool:
    """The demo people (each citizen's wallet funded), a one-stop office with a counter and its clerk, a
    merchant, the billers, and yesterday's money with its statements under ``var/statements/``; False if they
    already exist (and nothing is written). ``step`` is called after each of the ``DEMO_STEPS``."""
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
            # Booked two days back, before the demo's business day (``civicpay.demo_day``): the pooled account's
            # statement of that day then opens on the money the wallets hold, as a bank's would.
            await ledger.post_entry(session, [spec], now=now - timedelta(days=2), description="demo top-up")
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
    await _seed_billers(session, settings, clock)
    step()
    clerk = await session.scalar(select(User.id).where(User.phone == f"+84{DEMO_CLERK_PHONE[1:]}"))
    assert clerk is not None  # noqa: S101 - seeded above
    await seed_day(session, settings, today=now, clerk_user_id=clerk)
    step()
    return True


async def _seed_billers(session: AsyncSession, settings: Settings, clock: Clock) -> None:
    """The demo billers at the billers sandbox, the demo citizens' links, and the pushing billers' bills.

    Links are written as they stand, without asking the billers: seeding runs before the sandboxes start.
    """
    now = clock.now()
    users = {
        phone: await session.scalar(select(User.id).where(User.phone == f"+84{phone[1:]}")) for phone in DEMO_LINKS
    }
    for demo in DEMO_BILLERS:
        made = await create_biller(
            session,
            billing_schemas.BillerCreate(
                name=demo.name,
                category=demo.category,
                bank_bin=demo.bank_bin,
                account_number=demo.account_number,
                webhook_url=biller_webhook_url(settings, demo.slug),
                webhook_secret=biller_webhook_secret(settings, demo.slug),
                lookup_url=biller_lookup_url(settings, demo.slug) if demo.asks else None,
            ),
            bank_name=DEMO_BANK_ACCOUNTS[(demo.bank_bin, demo.account_number)],
            now=now,
        )
        session.add_all(
            BillLink(user_id=users[phone], biller_id=made.id, customer_code=codes[demo.slug], created_at=now)
            for phone, codes in DEMO_LINKS.items()
            if demo.slug in codes
        )
        if demo.slug in DEMO_PUSHED_BILLS:
            biller = await get_biller(session, made.id)
            await apply_bills(session, biller, DEMO_PUSHED_BILLS[demo.slug], now=now)


def biller_webhook_secret(settings: Settings, slug: str) -> str:
    """The signing secret of the demo biller ``slug`` (``DEMO_BILLERS``), derived from the secret key.

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


# The pension programme of the demo (README walkthrough, "Pensions"): funded, with a batch file to import.
DEMO_PENSION = disbursement_schemas.ProgrammeCreate(
    name="Lương hưu hằng tháng - Thừa Thiên Huế", kind=ProgrammeKind.PENSION, max_amount_vnd=10_000_000
)
DEMO_PENSION_FUNDING = disbursement_schemas.FundingCreate(amount_vnd=5_000_000_000, bank_reference="KBNN-LH-2026-12")
DEMO_PENSION_PERIOD = "2026-12"
# Where `civicpay demo` writes the files of the demo, beside the development secrets (var/ is git-ignored).
DEMO_FILES = Path("var/demo")
# Maker-checker needs two of each: the first programme officer (DEMO_PEOPLE) makes batches, this one approves them;
# the finance officer of DEMO_PEOPLE records the funding, this one approves it. Both have TOTP on, with a seed
# the demo writes down (``demo_totp_uri``) so that the walkthrough can play their authenticator app.
DEMO_CHECKER = DemoPerson("0901000005", "Ngô Thị Mai", Role.PROGRAMME_OFFICER)
DEMO_TREASURER = DemoPerson("0901000006", "Trương Mỹ Linh", Role.FINANCE_OFFICER)
DEMO_MAKER_PHONE = "0901000004"
DEMO_RECORDER_PHONE = "0901000002"
_FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Võ", "Đặng")
_GIVEN = ("Văn Bình", "Thị Cúc", "Văn Đức", "Thị Hạnh", "Văn Khải", "Thị Loan")


def _pensioner(number: int) -> DemoPerson:
    """The demo's pensioners, each a citizen with a wallet: born 1950-1964 in Thừa Thiên Huế (CCCD 046…)."""
    name = f"{_FAMILY[number % len(_FAMILY)]} {_GIVEN[number % len(_GIVEN)]}"
    female = "Thị" in name
    citizen_id = f"046{1 if female else 0}{50 + number % 15:02d}{100 + number:06d}"
    return DemoPerson(f"0966{number:06d}", name, Role.CITIZEN, citizen_id)


DEMO_PENSIONERS = tuple(_pensioner(number) for number in range(1, 28))
# What seeding the pension programme does, one step each: the two approvers, the pensioners, then the programme.
DEMO_PENSION_STEPS = 2 + len(DEMO_PENSIONERS) + 1


def demo_totp_secret(settings: Settings, phone: str) -> str:
    """The TOTP seed of a demo approver, derived from the secret key as the demo billers' secrets are."""
    digest = hmac.new(settings.secret_key.encode(), f"demo-totp:{phone}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:20]).decode()


def demo_totp_uri(settings: Settings, phone: str) -> str:
    """What the approver's authenticator app was given: the provisioning URI of ``demo_totp_secret``."""
    return auth_secrets.provisioning_uri(demo_totp_secret(settings, phone), account_name=f"+84{phone[1:]}")


class _HashedOnce(PasswordHasher):
    """The pensioners share the demo's published password: argon2 is slow on purpose, so it is hashed once for
    all of them (one salt for them all, which only matters for passwords that are not published)."""

    def __init__(self, hasher: PasswordHasher) -> None:
        super().__init__(
            time_cost=hasher.time_cost,
            memory_cost=hasher.memory_cost,
            parallelism=hasher.parallelism,
            hash_len=hasher.hash_len,
            salt_len=hasher.salt_len,
            type=hasher.type,
        )
        self._hashed: dict[str | bytes, str] = {}

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        if password not in self._hashed:
            self._hashed[password] = super().hash(password, salt=salt)
        return self._hashed[password]


async def _user_id(session: AsyncSession, phone: str) -> int | None:
    found: int | None = await session.scalar(select(User.id).where(User.phone == f"+84{phone[1:]}"))
    return found


async def seed_pensions(
    session: AsyncSession,
    settings: Settings,
    hasher: PasswordHasher,
    clock: Clock,
    *,
    step: Callable[[], None] = lambda: None,
) -> bool:
    """The pension programme, funded through maker-checker, its pensioners' wallets and a second officer of each
    kind with TOTP on; False if the programme exists already. Its own check, not ``seed_demo``'s: a database
    seeded before pensions were in the demo gets them from the next ``civicpay demo``."""
    if await session.scalar(select(Programme.id).where(Programme.name == DEMO_PENSION.name)):
        return False
    now = clock.now()
    approvers = {}
    for person in (DEMO_CHECKER, DEMO_TREASURER):
        user = await create_user(
            session, hasher, NewUser(person.phone, person.full_name, DEMO_PASSWORD, person.role), now=now
        )
        user.totp_secret = demo_totp_secret(settings, person.phone)
        approvers[person.phone] = user.id
        step()
    once = _HashedOnce(hasher)
    for person in DEMO_PENSIONERS:
        assert person.citizen_id is not None  # noqa: S101 - every pensioner has one
        await register_citizen(
            session, once, CitizenCreate(person.phone, person.citizen_id, person.full_name, DEMO_PASSWORD), now=now
        )
        step()
    maker, recorder = await _user_id(session, DEMO_MAKER_PHONE), await _user_id(session, DEMO_RECORDER_PHONE)
    assert maker is not None  # noqa: S101 - seed_demo made them
    assert recorder is not None  # noqa: S101 - seed_demo made them
    programme = await programmes.create(session, DEMO_PENSION, officer_id=maker, now=now)
    funding = await programmes.record_funding(session, programme.id, DEMO_PENSION_FUNDING, officer_id=recorder, now=now)
    # The second finance officer approves it with the code their app showed a moment ago (the server takes the step
    # before): a code is taken once, and the walkthrough, which may follow within seconds, starts at the current one.
    code = pyotp.TOTP(demo_totp_secret(settings, DEMO_TREASURER.phone)).at(now - timedelta(seconds=30))
    treasurer = approvers[DEMO_TREASURER.phone]
    await programmes.approve_funding(session, settings, funding.id, officer_id=treasurer, otp=code, now=now)
    step()
    return True


def demo_pension_file() -> bytes:
    """The demo's batch of pensions for ``DEMO_PENSION_PERIOD``: the three demo citizens and the pensioners, and
    two rows refused on purpose, so that the validation report has something to say."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["citizen_id", "full_name", "amount_vnd", "period", "destination"])
    citizens = [person for person in DEMO_PEOPLE if person.role == Role.CITIZEN]
    for number, person in enumerate([*citizens, *DEMO_PENSIONERS]):
        amount = 2_350_000 + (number * 173_000) % 4_000_000
        # A clerk's typing: dots as thousands separators, refused as amount_malformed (digits only).
        shown = f"{amount:,}".replace(",", ".") if number == 7 else str(amount)
        writer.writerow([person.citizen_id, person.full_name, shown, DEMO_PENSION_PERIOD, "wallet"])
    # Nobody holds a wallet with this citizen ID: refused as citizen_unknown.
    writer.writerow(["046057009999", "Đỗ Văn Sáu", "3100000", DEMO_PENSION_PERIOD, "wallet"])
    return out.getvalue().encode()


def write_demo_files(settings: Settings, folder: Path) -> list[Path]:
    """The demo's files for the walkthrough: the pension batch, and each approver's TOTP provisioning URI (what
    their authenticator app holds). The same content each time: writing them again changes nothing."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {folder / f"luong-huu-{DEMO_PENSION_PERIOD}.csv": demo_pension_file()}
    for person in (DEMO_CHECKER, DEMO_TREASURER):
        written[folder / f"totp-{person.phone}.txt"] = f"{demo_totp_uri(settings, person.phone)}\n".encode()
    for path, content in written.items():
        if not path.exists() or path.read_bytes() != content:
            path.write_bytes(content)
    return list(written)
