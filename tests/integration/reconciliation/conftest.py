"""A business day of money through one bank account we hold, and the bank's statement of it, written from the
ledger's own transfers (``reconciliation.generator``) with whatever breaks a test plants.

The ledger invariants are checked after every test by the root conftest's ``services`` fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.bootstrap import Services
from civicpay.clock import FixedClock
from civicpay.money import Category
from civicpay.reference_codes import ReferenceScheme
from reconciliation.generator import BankEntry, camt053, closing_of, entry_of
from reconciliation.matcher import OurItem
from reconciliation.runs import day_bounds, ledger_balance_at, our_side
from tests.conftest import START
from wallet import ledger
from wallet.ledger import AccountKind, BankAccountPurpose

BIN, NUMBER = "970415", "1140000123"
ACCOUNT = f"{BIN}:{NUMBER}"
DAY = date(2026, 11, 23)  # START is 10:00 of this day in Huế
# The test's own kind of reference, with a check character as ours have.
REF = ReferenceScheme("DSTEST", 4)
MONEY_IN = (100_000, 200_000, 300_000, 400_000, 500_000)
MONEY_OUT = 150_000


@dataclass
class Day:
    """The day's facts: the bank account's ledger account, our items, and the ledger's opening and closing."""

    account_id: int
    items: list[OurItem]
    opening: int
    closing: int

    def by_amount(self, amount: int) -> OurItem:
        return next(item for item in self.items if item.amount == amount)


def bank_ref(number: int) -> str:
    return f"FT26327{number:06d}"


@pytest.fixture
async def day(services: Services, sessions: async_sessionmaker[AsyncSession], clock: FixedClock) -> Day:
    """Five transfers in and one out through the bank account, all on DAY, with distinct references."""
    now = clock.now()
    async with sessions.begin() as session:
        bank = await ledger.open_bank_account(
            session,
            bank_bin=BIN,
            account_number=NUMBER,
            holder_name="BO PHAN MOT CUA PHUONG PHU HOI",
            purpose=BankAccountPurpose.FEE_COLLECTION,
            now=now,
        )
        held = await ledger.open_account(
            session, code="liability:test:recon", name="test", kind=AccountKind.LIABILITY, no_overdraft=True, now=now
        )
        specs = [
            ledger.TransferSpec(bank, held, amount, Category.PUBLIC_SERVICE_FEE, reference=REF.encode(n))
            for n, amount in enumerate(MONEY_IN, start=1)
        ]
        specs.append(ledger.TransferSpec(held, bank, MONEY_OUT, Category.WITHDRAWAL, reference=REF.encode(6)))
        await ledger.post_entry(session, specs, now=now, description="a day of fees")
    async with sessions() as session:
        start, end = day_bounds(services.calendar, DAY)
        items, _ = await our_side(session, bank, start, end, DAY)
        closing = await ledger_balance_at(session, bank, end)
        opening = await ledger_balance_at(session, bank, start)
    return Day(bank, items, opening, closing)


def entries_of(items: Iterable[OurItem]) -> list[BankEntry]:
    return [entry_of(item, bank_ref(n)) for n, item in enumerate(items, start=1)]


WriteStatement = Callable[..., Path]


@pytest.fixture
def write_statement(tmp_path: Path, day: Day) -> WriteStatement:
    """A camt.053 of DAY for the account from ``entries`` (default: the ledger's own, unbroken)."""

    def write(
        entries: list[BankEntry] | None = None,
        *,
        name: str = "statement.xml",
        account: str = NUMBER,
        closing: int | None = None,
    ) -> Path:
        chosen = entries_of(day.items) if entries is None else entries
        path = tmp_path / name
        with path.open("wb") as out:
            for chunk in camt053(
                account=account,
                day=DAY,
                opening=day.opening,
                closing=closing_of(day.opening, chosen) if closing is None else closing,
                entries=chosen,
            ):
                out.write(chunk)
        return path

    return write


__all__ = ["ACCOUNT", "BIN", "DAY", "NUMBER", "START", "Day", "bank_ref", "entries_of"]
