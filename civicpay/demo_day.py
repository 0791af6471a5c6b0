"""The demo's business day: money through our bank accounts, and the statements the bank and the Treasury send of it.

Seeded once, with the rest of the demo (``civicpay.demo``), on the business day before the one it is seeded on:
a top-up by bank transfer, fees paid at the counter by bank transfer and from a wallet (one of them the evening
before), a bill paid from a bank app, and the evening's Treasury sweep, which the bank confirms. Then the day's
statements are written from the ledger's own transfers (``reconciliation.generator``) under ``var/statements/``,
with breaks planted for the walkthrough to find:

- the wallets' pooled account, camt.053: the top-up's line is missing, and the bill's is 1.000 ₫ short (a bank
  charge taken from it);
- the office's collection account, MT940: as the ledger has it (it reconciles);
- the agency's Treasury account, our KBNN CSV: the remittance of the fee paid from a wallet never arrived;
- and the fee paid the evening before was swept 26 hours later, past Circular 74/2022's 24.

``business-day`` in that folder names the day, for the walkthrough's commands. The statements are written by every
``civicpay demo``, the same each time, so that the walkthrough finds them wherever the demo runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import billing
import qr
from billing.bank_codes import BILL_REFERENCE
from billing.models import Bill
from civicpay.auth.models import User
from civicpay.clock import BusinessCalendar
from civicpay.money import Category
from civicpay.settings import Settings
from qr import collections
from qr import schemas as qr_schemas
from qr.models import TreasuryRemittance
from qr.payments import pay_by_scan
from qr.treasury import sweep
from reconciliation.generator import BankEntry, camt053, closing_of, entry_of, kbnn_csv, mt940
from reconciliation.model import Direction
from reconciliation.runs import day_bounds, ledger_balance_at, our_side
from wallet import ledger, topup_code
from wallet.bank_instructions import receive_result
from wallet.bank_payouts import PayoutResult
from wallet.bank_topups import NotificationIn, receive
from wallet.service import holder_of_user

STATEMENTS = Path("var") / "statements"
TOPUP_VND = 2_000_000
FEES_VND = {"evening": 40_000, "by_bank": 120_000, "by_wallet": 50_000}
BANK_CHARGE_VND = 1_000


@dataclass(frozen=True, slots=True)
class DemoDay:
    day: date
    files: tuple[Path, ...]


def _phone(local: str) -> str:
    return f"+84{local[1:]}"


class _Day:
    """The day's clock: instants in Huế, and bank notifications numbered as a bank would."""

    def __init__(self, day: date, zone: ZoneInfo) -> None:
        self.day, self.zone, self.notes = day, zone, 0

    def at(self, hour: int, minute: int = 0, *, days: int = 0) -> datetime:
        return datetime.combine(self.day + timedelta(days=days), time(hour, minute), tzinfo=self.zone)

    def note(self, account: tuple[str, str], amount: int, content: str, when: datetime) -> NotificationIn:
        self.notes += 1
        return NotificationIn(
            id=f"DEMO-{self.day:%Y%m%d}-{self.notes}",
            bank=account[0],
            transaction_at=when,
            account_number=account[1],
            transfer_type="in",
            amount_vnd=amount,
            content=content,
            reference_code=f"FT{self.day:%y%j}{self.notes:05d}",
        )


async def seed_day(session: AsyncSession, settings: Settings, *, today: datetime, clerk_user_id: int) -> None:
    """The day's money, booked as it would have been; ``write_statements`` writes its statements."""
    calendar = BusinessCalendar(ZoneInfo(settings.business_timezone))
    clock = _Day(calendar.business_day(today) - timedelta(days=1), calendar.zone)
    claimants = [*qr.NOTIFICATION_CLAIMANTS, billing.notification_claimant(settings)]
    pool = (settings.wallet_pool_bank_bin, settings.wallet_pool_account_number)
    office = next(o for o in await collections.list_offices(session) if o.code == "PHUHOI")
    # A counter of its own, so that counter 1's screen, which shows its newest collection, waits for the walkthrough's.
    counter = await collections.create_counter(session, office.id, qr_schemas.CounterCreate("Quầy 2"), now=today)
    office_account = (office.bank_bin, office.account_number)

    async def collect(amount: int, payer: str, when: datetime) -> qr_schemas.Collection:
        data = qr_schemas.CollectionCreate(
            counter.id, "1.001612", "Chứng thực bản sao từ bản chính", "DEMO", payer, amount
        )
        return await collections.create_collection(session, settings, clerk_user_id=clerk_user_id, data=data, now=when)

    # The evening before: a fee paid by bank transfer that the next evening's sweep will carry (26 hours on).
    evening = await collect(FEES_VND["evening"], "Nguyễn Thị Hương", clock.at(15, days=-1))
    when = clock.at(15, 5, days=-1)
    await receive(
        session,
        settings,
        clock.note(office_account, evening.amount_vnd, f"NOP PHI {evening.reference}", when),
        now=when,
        claimants=claimants,
    )
    # The day: a citizen's top-up by transfer from her bank app, with her wallet's code in the description.
    huong = await holder_of_user(session, await _user(session, "0912345678"))
    when = clock.at(8, 15)
    code = topup_code.encode(huong.wallet_id)
    await receive(
        session, settings, clock.note(pool, TOPUP_VND, f"IBFT {code} nap vi", when), now=when, claimants=claimants
    )
    # Fees: one paid from a bank app into the office's account, one from a wallet (the money stays in the pool).
    by_bank = await collect(FEES_VND["by_bank"], "Trần Văn Minh", clock.at(9, 10))
    when = clock.at(9, 12)
    await receive(
        session,
        settings,
        clock.note(office_account, by_bank.amount_vnd, f"{by_bank.reference} le phi", when),
        now=when,
        claimants=claimants,
    )
    by_wallet = await collect(FEES_VND["by_wallet"], "Lê Thị Lan", clock.at(9, 40))
    lan = await _user(session, "0935123456")
    calendar_now = clock.at(9, 42)
    await pay_by_scan(
        session,
        settings,
        calendar,
        user_id=lan,
        data=qr_schemas.ScanPayment(by_wallet.vietqr),
        otp=None,
        now=calendar_now,
    )
    # A sanitation bill paid from a bank app, by its reference, into the pooled account.
    bill = await session.scalar(select(Bill).where(Bill.external_id == "VSMT-2026-12-00713"))
    if bill is not None:
        when = clock.at(10, 30)
        note = clock.note(pool, bill.amount_vnd, f"THANH TOAN {BILL_REFERENCE.encode(bill.id)}", when)
        await receive(session, settings, note, now=when, claimants=claimants)
    # The evening's sweep to the Treasury, which the bank confirms a quarter of an hour later.
    remittances = await sweep(session, settings, now=clock.at(17, 30))
    for line in remittances:
        result = PayoutResult(payout_id=line.reference, status="confirmed", bank_reference=f"KB{line.id:08d}")
        await receive_result(session, qr.INSTRUCTION_KINDS, result, now=clock.at(17, 45))
    await session.flush()


async def write_statements(session: AsyncSession, settings: Settings) -> DemoDay | None:
    """The demo day's three statements, written from the ledger under ``var/statements/`` (None before the day is
    seeded). The same each time: ``civicpay demo`` writes them again wherever it runs, as it does its other files.

    The demo day is the business day of the oldest Treasury remittance: the demo's own evening sweep, which
    comes before anything a person does with the demo.
    """
    calendar = BusinessCalendar(ZoneInfo(settings.business_timezone))
    first = await session.scalar(select(TreasuryRemittance).order_by(TreasuryRemittance.id).limit(1))
    if first is None:
        return None
    day = calendar.business_day(first.created_at)
    start, end = day_bounds(calendar, day)
    office = next(o for o in await collections.list_offices(session) if o.code == "PHUHOI")
    swept = await session.scalars(
        select(TreasuryRemittance)
        .where(TreasuryRemittance.created_at >= start, TreasuryRemittance.created_at < end)
        .order_by(TreasuryRemittance.id)
    )
    office_account = (office.bank_bin, office.account_number)
    pool = (settings.wallet_pool_bank_bin, settings.wallet_pool_account_number)
    files = await _statements(session, calendar, day, office_account, pool, list(swept), office)
    return DemoDay(day, files)


async def _user(session: AsyncSession, local_phone: str) -> int:
    found = await session.scalar(select(User.id).where(User.phone == _phone(local_phone)))
    assert found is not None  # noqa: S101 - a demo person
    return found


async def _entries(
    session: AsyncSession, calendar: BusinessCalendar, day: date, account: tuple[str, str]
) -> tuple[list[tuple[str, BankEntry]], int]:
    """The bank's entries of the account's day as the ledger has them (each with its movement's category), and the
    opening balance."""
    account_id = await ledger.bank_account_of(session, *account)
    assert account_id is not None  # noqa: S101 - registered by the day's money
    start, end = day_bounds(calendar, day)
    items, _ = await our_side(session, account_id, start, end, day)
    entries = []
    for number, item in enumerate(items, start=1):
        entry = entry_of(item, f"FT{day:%y%j}{account[1][-4:]}{number:04d}")
        # A payout carries our reference as the EndToEndId, which MT940 prints in :61:.
        if item.direction is Direction.DEBIT:
            entry = replace(entry, end_to_end_id=item.reference)
        entries.append((item.kind, entry))
    return entries, await ledger_balance_at(session, account_id, start)


def _write(path: Path, chunks: Iterable[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for chunk in chunks:
            out.write(chunk)
    return path


async def _statements(
    session: AsyncSession,
    calendar: BusinessCalendar,
    day: date,
    office_account: tuple[str, str],
    pool: tuple[str, str],
    remittances: list[TreasuryRemittance],
    office: qr_schemas.Office,
) -> tuple[Path, ...]:
    # The pooled account, camt.053: the top-up's line missing, the bill's short by a bank charge.
    found, opening = await _entries(session, calendar, day, pool)
    broken = list(_pool_breaks(found))
    pool_file = _write(
        STATEMENTS / f"{day}-pool-{pool[1]}.camt053.xml",
        camt053(
            account=f"{pool[0]}:{pool[1]}",
            day=day,
            opening=opening,
            closing=closing_of(opening, broken),
            entries=broken,
        ),
    )
    # The office's collection account, MT940, as the ledger has it.
    found, opening = await _entries(session, calendar, day, office_account)
    entries = [entry for _, entry in found]
    office_file = _write(
        STATEMENTS / f"{day}-office-{office_account[1]}.mt940",
        mt940(
            account=office_account[1], day=day, opening=opening, closing=closing_of(opening, entries), entries=entries
        ),
    )
    # The agency's Treasury account: the office's remittance arrived; the pool's (the wallet-paid fee) did not.
    arrived = [
        BankEntry(
            line.amount_vnd,
            Direction.CREDIT,
            day,
            f"KB-{day:%Y%m%d}-{n:03d}",
            f"Nop phi, le phi {line.agency_code}",
            end_to_end_id=line.reference,
        )
        for n, line in enumerate(remittances, start=1)
        if (line.from_bank_bin, line.from_account_number) == office_account
    ]
    treasury_file = _write(
        STATEMENTS / f"{day}-kbnn-{office.treasury_account}.csv",
        kbnn_csv(account=office.treasury_account, day=day, opening=0, closing=closing_of(0, arrived), entries=arrived),
    )
    (STATEMENTS / "business-day").write_text(f"{day}\n")
    return pool_file, office_file, treasury_file


def _pool_breaks(entries: list[tuple[str, BankEntry]]) -> Iterator[BankEntry]:
    for kind, entry in entries:
        if kind == Category.TOPUP:
            continue  # the top-up's line is missing
        if kind == Category.SANITATION:
            yield replace(entry, amount=entry.amount - BANK_CHARGE_VND)  # short by the bank's charge
            continue
        yield entry
