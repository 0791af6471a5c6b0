"""Bank accounts we hold, each mirrored by a ledger asset account of its own.

One ledger account per real bank account (keyed by the bank's BIN and the account number) is what
lets a bank statement be compared with our books: the statement of 970436/1017468888 against the
ledger account ``asset:bank:970436:1017468888``, and nothing else. Every posting that moves money
through a bank account names the one the money really went through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.db import insert_ignoring_conflict, table_of
from civicpay.errors import Conflict, Text
from wallet.ledger.models import Account, AccountKind, BankAccount, BankAccountPurpose
from wallet.ledger.service import CREDITS_POSTED, DEBITS_POSTED, open_account

_bank = table_of(BankAccount)
_account = table_of(Account)

# Money a bank told us reached an account of ours that we have no record of: it waits in suspense,
# and this balance says how much sits in accounts finance must first find out about.
UNREGISTERED = "asset:bank:unregistered"


class BankAccountTaken(Conflict):
    code = "bank_account_taken"
    title = Text(
        "Tài khoản ngân hàng này đã được dùng cho mục đích khác",
        "This bank account is already ours for another purpose",
    )


def ledger_code(bank_bin: str, account_number: str) -> str:
    return f"asset:bank:{bank_bin}:{account_number}"


async def open_bank_account(
    session: AsyncSession,
    *,
    bank_bin: str,
    account_number: str,
    holder_name: str,
    purpose: BankAccountPurpose,
    now: datetime,
) -> int:
    """The ledger account of a bank account we hold, registering both the first time (safe to call twice).

    One bank account serves one purpose: money of two purposes in one account could not be told apart
    on its statement, so an account already registered for another purpose is refused.
    """
    account_id = await open_account(
        session,
        code=ledger_code(bank_bin, account_number),
        name=f"Tiền gửi ngân hàng {bank_bin} {account_number}"[:200],
        kind=AccountKind.ASSET,
        # The bank's statement is the truth this account mirrors: the ledger records what the bank did.
        no_overdraft=False,
        now=now,
    )
    await session.execute(
        insert_ignoring_conflict(session.get_bind().dialect.name, _bank, ("bank_bin", "account_number")),
        {
            "bank_bin": bank_bin,
            "account_number": account_number,
            "holder_name": holder_name[:100],
            "purpose": purpose.value,
            "account_id": account_id,
            "created_at": now,
        },
    )
    registered = await session.scalar(
        select(_bank.c.purpose).where(_bank.c.bank_bin == bank_bin, _bank.c.account_number == account_number)
    )
    if registered != purpose.value:
        raise BankAccountTaken(field="account_number", purpose=registered)
    return account_id


async def bank_account_of(session: AsyncSession, bank_bin: str, account_number: str) -> int | None:
    """The ledger account of a registered bank account, or None when it is not one of ours."""
    found: int | None = await session.scalar(
        select(_bank.c.account_id).where(_bank.c.bank_bin == bank_bin, _bank.c.account_number == account_number)
    )
    return found


async def bank_account_behind(session: AsyncSession, account_id: int) -> tuple[str, str]:
    """The BIN and number of the bank account a ledger account mirrors (it must mirror one)."""
    row = (
        await session.execute(select(_bank.c.bank_bin, _bank.c.account_number).where(_bank.c.account_id == account_id))
    ).one()
    return row.bank_bin, row.account_number


async def unregistered_account(session: AsyncSession, now: datetime) -> int:
    return await open_account(
        session,
        code=UNREGISTERED,
        name="Tiền vào tài khoản ngân hàng chưa đăng ký",
        kind=AccountKind.ASSET,
        no_overdraft=False,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class BankAccountBalance:
    bank_bin: str
    account_number: str
    holder_name: str
    purpose: BankAccountPurpose | None  # None: the money in accounts not registered with us
    account_id: int
    balance_vnd: int
    available_vnd: int


async def bank_account_balances(session: AsyncSession) -> list[BankAccountBalance]:
    """Every bank account we hold with its ledger balance, read in one statement: one instant for all.

    The unregistered account comes last, when it exists, with an empty BIN and number.
    """
    rows = await session.execute(
        select(
            _bank.c.bank_bin,
            _bank.c.account_number,
            _bank.c.holder_name,
            _bank.c.purpose,
            _account.c.id,
            DEBITS_POSTED,
            CREDITS_POSTED,
            _account.c.credits_pending,
        )
        .select_from(_account.outerjoin(_bank, _bank.c.account_id == _account.c.id))
        .where((_bank.c.id.is_not(None)) | (_account.c.code == UNREGISTERED))
        .order_by(_bank.c.id.is_(None), _bank.c.bank_bin, _bank.c.account_number)
    )
    found = []
    for row in rows:
        posted = row.debits_posted - row.credits_posted
        found.append(
            BankAccountBalance(
                bank_bin=row.bank_bin or "",
                account_number=row.account_number or "",
                holder_name=row.holder_name or "",
                purpose=BankAccountPurpose(row.purpose) if row.purpose else None,
                account_id=row.id,
                balance_vnd=posted,
                # Money held to leave (a payout the bank has not confirmed) is not ours to send again.
                available_vnd=posted - row.credits_pending,
            )
        )
    return found
