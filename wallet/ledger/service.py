"""Entries and balances: with holds.py beside it, the only code that writes balances.

One exception, kept to the same rules: on PostgreSQL the everyday wallet transfer posts through
``ledger_post_transfer`` (migrations 0003 and 0010), the same write of one transfer in SQL, spending
totals too, called by ``wallet_p2p_transfer`` after it has locked both accounts as ``lock_accounts`` does.

Every change follows lock, re-check, transition: the touched account rows are locked in primary-key
order (so two entries over the same accounts can never deadlock), the rule is checked against the
locked numbers, and only then are rows written. The database's CHECK constraints and, on
PostgreSQL, a deferred trigger that every entry balances stand behind these checks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.db import insert_ignoring_conflict, table_of
from civicpay.errors import Text
from civicpay.money import Category, format_vnd
from wallet.ledger import spending
from wallet.ledger.errors import (
    AccountNotFound,
    AccountsNotLocked,
    InsufficientFunds,
    InvalidTransfer,
)
from wallet.ledger.models import CREDIT_NORMAL, Account, AccountKind, Entry, Posting, Transfer

_account = table_of(Account)
_entry = table_of(Entry)
_transfer = table_of(Transfer)
_posting = table_of(Posting)


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's four running totals, as read (and usually locked) in this transaction."""

    account_id: int
    kind: AccountKind
    no_overdraft: bool
    counts_spending: bool
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int

    @property
    def credit_normal(self) -> bool:
        return self.kind in CREDIT_NORMAL

    @property
    def posted_vnd(self) -> int:
        """The balance on the account's normal side: what a wallet holder calls "số dư"."""
        if self.credit_normal:
            return self.credits_posted - self.debits_posted
        return self.debits_posted - self.credits_posted

    @property
    def available_vnd(self) -> int:
        """Posted balance less what pending holds have reserved against it."""
        if self.credit_normal:
            return self.posted_vnd - self.debits_pending
        return self.posted_vnd - self.credits_pending


class LockedBalances(dict[int, Balance]):
    """Balances read under ``FOR UPDATE`` in this transaction: the only kind ``post_entry`` may trust."""


@dataclass(frozen=True, slots=True)
class TransferSpec:
    """What a caller asks the ledger to move."""

    debit_account_id: int
    credit_account_id: int
    amount_vnd: int
    category: Category
    reference: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PostedEntry:
    entry_id: int
    transfer_ids: tuple[int, ...]


@dataclass(slots=True)
class _Delta:
    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0


def _balance(row: Any) -> Balance:
    return Balance(
        account_id=row.id,
        kind=AccountKind(row.kind),
        no_overdraft=row.no_overdraft,
        counts_spending=row.counts_spending,
        debits_posted=row.debits_posted,
        credits_posted=row.credits_posted,
        debits_pending=row.debits_pending,
        credits_pending=row.credits_pending,
    )


_BALANCE_COLUMNS = (
    _account.c.id,
    _account.c.kind,
    _account.c.no_overdraft,
    _account.c.counts_spending,
    _account.c.debits_posted,
    _account.c.credits_posted,
    _account.c.debits_pending,
    _account.c.credits_pending,
)


# Built once: the hot path binds values into these instead of building statements per call.
_BALANCES = select(*_BALANCE_COLUMNS).where(_account.c.id.in_(bindparam("ids", expanding=True)))
_LOCK_IN_ORDER = _BALANCES.order_by(_account.c.id).with_for_update()
_APPLY = (
    update(_account)
    .where(_account.c.id == bindparam("account"))
    .values(
        debits_posted=_account.c.debits_posted + bindparam("dp"),
        credits_posted=_account.c.credits_posted + bindparam("cp"),
        debits_pending=_account.c.debits_pending + bindparam("dq"),
        credits_pending=_account.c.credits_pending + bindparam("cq"),
    )
)
_INSERT_ENTRY = insert(_entry).returning(_entry.c.id)
_INSERT_TRANSFERS = insert(_transfer).returning(_transfer.c.id, sort_by_parameter_order=True)
_INSERT_POSTINGS = insert(_posting)


async def open_account(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    kind: AccountKind,
    no_overdraft: bool,
    now: datetime,
    counts_spending: bool = False,
) -> int:
    """Create an account, or return the existing one with this code (safe to call twice).

    ``counts_spending``: a wallet, whose spending the limits need (``spending``); kept from its first entry.
    """
    await session.execute(
        insert_ignoring_conflict(session.get_bind().dialect.name, _account, ("code",)),
        {
            "code": code,
            "name": name,
            "kind": kind.value,
            "no_overdraft": no_overdraft,
            "counts_spending": counts_spending,
            "debits_posted": 0,
            "credits_posted": 0,
            "debits_pending": 0,
            "credits_pending": 0,
            "created_at": now,
        },
    )
    return await account_id(session, code)


async def account_id(session: AsyncSession, code: str) -> int:
    found: int | None = await session.scalar(select(_account.c.id).where(_account.c.code == code))
    if found is None:
        raise AccountNotFound(Text(f"Không có tài khoản {code}", f"No account {code}"))
    return found


async def balances(session: AsyncSession, account_ids: Iterable[int]) -> dict[int, Balance]:
    """Read balances without locking: for display, never for a decision that writes."""
    rows = await session.execute(_BALANCES, {"ids": list(set(account_ids))})
    return {row.id: _balance(row) for row in rows}


async def lock_accounts(session: AsyncSession, account_ids: Iterable[int]) -> LockedBalances:
    """Lock every account an entry touches, at once and in primary-key order, and return their balances.

    The one way accounts are locked: ``SELECT … FOR UPDATE ORDER BY id`` on PostgreSQL (SQLite already
    serialises writers with ``BEGIN IMMEDIATE``). Taking every lock in one statement, in one order, is
    what keeps two entries over overlapping accounts from deadlocking; so a caller that must check a
    rule of its own first (a spending limit, say) locks the entry's whole set here, checks, and hands
    the result to ``post_entry`` or ``hold``, which then lock nothing more.
    """
    wanted = sorted(set(account_ids))
    rows = await session.execute(_LOCK_IN_ORDER, {"ids": wanted})
    found = LockedBalances((row.id, _balance(row)) for row in rows)
    missing = [account for account in wanted if account not in found]
    if missing:
        raise AccountNotFound(Text(f"Không có tài khoản #{missing[0]}", f"No account #{missing[0]}"))
    return found


def counting(locked: Mapping[int, Balance]) -> dict[int, bool]:
    """Which of the locked accounts keep spending totals."""
    return {account: balance.counts_spending for account, balance in locked.items()}


def _check_limits(locked: Mapping[int, Balance], deltas: Mapping[int, _Delta]) -> None:
    for account, delta in deltas.items():
        balance = locked[account]
        if not balance.no_overdraft:
            continue
        after = Balance(
            account_id=account,
            kind=balance.kind,
            no_overdraft=True,
            counts_spending=balance.counts_spending,
            debits_posted=balance.debits_posted + delta.debits_posted,
            credits_posted=balance.credits_posted + delta.credits_posted,
            debits_pending=balance.debits_pending + delta.debits_pending,
            credits_pending=balance.credits_pending + delta.credits_pending,
        )
        if after.available_vnd < 0:
            raise InsufficientFunds(
                Text(
                    f"Số dư khả dụng là {format_vnd(balance.available_vnd)}, không đủ cho giao dịch.",
                    f"The available balance is {format_vnd(balance.available_vnd)}, not enough for this.",
                ),
                available_vnd=balance.available_vnd,
            )


async def _apply(session: AsyncSession, deltas: Mapping[int, _Delta]) -> None:
    await session.execute(
        _APPLY,
        [
            {
                "account": account,
                "dp": delta.debits_posted,
                "cp": delta.credits_posted,
                "dq": delta.debits_pending,
                "cq": delta.credits_pending,
            }
            for account, delta in sorted(deltas.items())
        ],
    )


def _validate(spec: TransferSpec) -> None:
    if spec.amount_vnd <= 0:
        raise InvalidTransfer(
            Text("Số tiền phải lớn hơn 0", "The amount must be greater than zero"), field="amount_vnd"
        )
    if spec.debit_account_id == spec.credit_account_id:
        raise InvalidTransfer(Text("Không thể chuyển cho chính tài khoản đó", "Debit and credit accounts are the same"))


async def _lock_for(
    session: AsyncSession, account_ids: Iterable[int], locked: LockedBalances | None
) -> Mapping[int, Balance]:
    wanted = set(account_ids)
    if locked is None:
        return await lock_accounts(session, wanted)
    if not wanted <= locked.keys():
        # Locking the rest now would take locks out of id order after the first set: a deadlock waiting
        # to happen. The caller must lock the entry's every account in its one call to lock_accounts.
        raise AccountsNotLocked(sorted(wanted - locked.keys()))
    return locked


async def post_entry(
    session: AsyncSession,
    transfers: Sequence[TransferSpec],
    *,
    now: datetime,
    description: str,
    locked: LockedBalances | None = None,
) -> PostedEntry:
    """Write transfers that commit together as one balanced entry.

    ``locked`` is what ``lock_accounts`` returned earlier in this transaction, when the caller
    needed to check a rule of its own first.
    """
    if not transfers:
        raise InvalidTransfer(Text("Bút toán không có giao dịch nào", "An entry needs at least one transfer"))
    deltas: dict[int, _Delta] = defaultdict(_Delta)
    for spec in transfers:
        _validate(spec)
        deltas[spec.debit_account_id].debits_posted += spec.amount_vnd
        deltas[spec.credit_account_id].credits_posted += spec.amount_vnd
    touched = await _lock_for(session, deltas, locked)
    _check_limits(touched, deltas)
    return await _write_entry(
        session, transfers, now=now, description=description, hold_id=None, deltas=deltas, locked=touched
    )


async def _write_entry(
    session: AsyncSession,
    transfers: Sequence[TransferSpec],
    *,
    now: datetime,
    description: str,
    hold_id: int | None,
    deltas: Mapping[int, _Delta],
    locked: Mapping[int, Balance],
    released: Iterable[spending.Sent] = (),
) -> PostedEntry:
    """The entry's rows and its accounts' balances and spending totals (less what ``released`` stops counting)."""
    entry_id: int = (
        await session.execute(_INSERT_ENTRY, {"description": description[:200], "created_at": now})
    ).scalar_one()
    transfer_rows = [
        {
            "entry_id": entry_id,
            "debit_account_id": spec.debit_account_id,
            "credit_account_id": spec.credit_account_id,
            "amount_vnd": spec.amount_vnd,
            "category": spec.category.value,
            "reference": spec.reference,
            "metadata": dict(spec.metadata),
            "hold_id": hold_id,
            "created_at": now,
        }
        for spec in transfers
    ]
    transfer_ids = tuple((await session.scalars(_INSERT_TRANSFERS, transfer_rows)).all())
    posting_rows = []
    for transfer_id, spec in zip(transfer_ids, transfers, strict=True):
        for side, account in (("D", spec.debit_account_id), ("C", spec.credit_account_id)):
            posting_rows.append(
                {
                    "entry_id": entry_id,
                    "transfer_id": transfer_id,
                    "account_id": account,
                    "side": side,
                    "amount_vnd": spec.amount_vnd,
                    "category": spec.category.value,
                    "created_at": now,
                }
            )
    await session.execute(_INSERT_POSTINGS, posting_rows)
    await _apply(session, deltas)
    sent = [spending.Sent(spec.debit_account_id, spec.amount_vnd, spec.category.value, now) for spec in transfers]
    await spending.count(session, counting(locked), [*released, *sent])
    return PostedEntry(entry_id=entry_id, transfer_ids=transfer_ids)
