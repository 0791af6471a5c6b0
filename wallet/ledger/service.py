"""Entries and balances: with holds.py and bulk.py beside it, the only code that writes balances.

One exception, kept to the same rules: on PostgreSQL the everyday wallet transfer posts through
``ledger_post_transfer`` (migrations 0003, 0010 and 0011), the same write of one transfer in SQL,
spending totals too, called by ``wallet_p2p_transfer`` after it has locked the payer as
``lock_accounts`` does.

Every change that can lower a balance follows lock, re-check, transition: those account rows are
locked in primary-key order (so two entries over the same accounts can never deadlock), the rule is
checked against the locked numbers, and only then are rows written. A change that can only raise a
balance (a credit to a wallet or a payable, a debit to an asset) takes no lock: it waits beside the
row as a ``BalanceIncrease`` until the account is next locked or the worker folds it, so payments to
one busy receiver do not queue on its row. The database's CHECK constraints and, on PostgreSQL, a
deferred trigger that every entry balances stand behind these checks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, cast, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.clock import BusinessCalendar
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
from wallet.ledger.models import CREDIT_NORMAL, Account, AccountKind, BalanceIncrease, Entry, Posting, Transfer

_account = table_of(Account)
_increase = table_of(BalanceIncrease)
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

    def plus(self, delta: _Delta) -> Balance:
        return replace(
            self,
            debits_posted=self.debits_posted + delta.debits_posted,
            credits_posted=self.credits_posted + delta.credits_posted,
            debits_pending=self.debits_pending + delta.debits_pending,
            credits_pending=self.credits_pending + delta.credits_pending,
        )


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

    def only_raises(self, kind: AccountKind) -> bool:
        """Whether this change can only raise the balance of an account of ``kind``: posted money on its normal side."""
        if self.debits_pending or self.credits_pending:
            return False
        if kind in CREDIT_NORMAL:
            return self.debits_posted == 0
        return self.credits_posted == 0

    def add(self, side: str, amount_vnd: int) -> None:
        if side == "D":
            self.debits_posted += amount_vnd
        else:
            self.credits_posted += amount_vnd


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


def _waiting(side: str) -> Any:
    """What the account's ``BalanceIncrease`` rows on ``side`` add to its row."""
    return (
        # Cast: PostgreSQL sums bigints as numeric, which would reach Python as a Decimal.
        select(cast(func.coalesce(func.sum(_increase.c.amount_vnd), 0), BigInteger))
        .where(_increase.c.account_id == _account.c.id, _increase.c.side == side)
        .scalar_subquery()
    )


# An account's posted totals in full, its row and the increases waiting beside it: what any reader shows.
DEBITS_POSTED = (_account.c.debits_posted + _waiting("D")).label("debits_posted")
CREDITS_POSTED = (_account.c.credits_posted + _waiting("C")).label("credits_posted")

_IDS = _account.c.id.in_(bindparam("ids", expanding=True))
# Built once: the hot path binds values into these instead of building statements per call.
_BALANCES = select(
    *_BALANCE_COLUMNS[:4], DEBITS_POSTED, CREDITS_POSTED, _account.c.debits_pending, _account.c.credits_pending
).where(_IDS)
# FOR NO KEY UPDATE: it still serialises every writer of the row, but not the foreign-key checks of
# postings and increases that name the account (FOR KEY SHARE), which FOR UPDATE would block.
_LOCK_IN_ORDER = select(*_BALANCE_COLUMNS).where(_IDS).order_by(_account.c.id).with_for_update(key_share=True)
_KINDS_OF = select(_account.c.id, _account.c.kind).where(_IDS)
_FOLD = (
    delete(_increase)
    .where(_increase.c.account_id.in_(bindparam("ids", expanding=True)))
    .returning(_increase.c.account_id, _increase.c.side, _increase.c.amount_vnd)
)
_INSERT_INCREASES = insert(_increase)
_WAITING_ACCOUNTS = select(_increase.c.account_id).distinct().limit(bindparam("most"))
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
    """Read balances, the increases waiting beside the rows included, without locking: for display,
    never for a decision that writes."""
    rows = await session.execute(_BALANCES, {"ids": list(set(account_ids))})
    return {row.id: _balance(row) for row in rows}


async def lock_accounts(session: AsyncSession, account_ids: Iterable[int]) -> LockedBalances:
    """Lock the accounts an entry may lower, at once and in primary-key order, and return their balances.

    The one way accounts are locked: ``SELECT … FOR NO KEY UPDATE ORDER BY id`` on PostgreSQL (SQLite
    already serialises writers with ``BEGIN IMMEDIATE``). Taking every lock in one statement, in one
    order, is what keeps two entries over overlapping accounts from deadlocking; so a caller that must
    check a rule of its own first (a spending limit, say) locks the entry's set here, checks, and hands
    the result to ``post_entry`` or ``hold``, which then lock nothing more. Accounts the entry only
    raises need no lock (``_lock_for``).

    The balances returned are whole: the increases waiting beside the locked rows are folded into them
    first, in this transaction (see ``BalanceIncrease``).
    """
    wanted = sorted(set(account_ids))
    if not wanted:
        return LockedBalances()
    rows = await session.execute(_LOCK_IN_ORDER, {"ids": wanted})
    found = {row.id: _balance(row) for row in rows}
    missing = [account for account in wanted if account not in found]
    if missing:
        raise AccountNotFound(Text(f"Không có tài khoản #{missing[0]}", f"No account #{missing[0]}"))
    folded: dict[int, _Delta] = defaultdict(_Delta)
    for row in await session.execute(_FOLD, {"ids": wanted}):
        folded[row.account_id].add(row.side, row.amount_vnd)
    if folded:
        await _apply(session, folded)
    return LockedBalances(
        (account, balance.plus(folded[account]) if account in folded else balance) for account, balance in found.items()
    )


async def fold_increases(session: AsyncSession, *, most_accounts: int = 1000) -> int:
    """Add the increases waiting beside up to ``most_accounts`` accounts to their rows; returns how many accounts.

    The worker runs it now and then, so the rows stay close to the truth and the waiting rows few, even
    for an account that only ever receives. It locks the accounts first, as any writer does, so it
    cannot deadlock with an entry that locks and folds the same accounts.
    """
    waiting = (await session.scalars(_WAITING_ACCOUNTS, {"most": most_accounts})).all()
    await lock_accounts(session, waiting)
    return len(waiting)


# Kinds never change, so a session factory's sessions share those already read (a dict in its ``info``).
_KINDS = "civicpay.ledger.kinds"


def session_info(calendar: BusinessCalendar) -> dict[str, Any]:
    """What a session factory's ``info`` needs for the ledger: the business calendar, a place for kinds."""
    return {**spending.session_info(calendar), _KINDS: {}}


async def _kinds(session: AsyncSession, account_ids: Iterable[int]) -> dict[int, AccountKind]:
    """The kinds of accounts, from those known or else read.

    A kind is only ever a guide here: the database refuses an increase on the wrong side of its account
    whatever Python believed (``BalanceIncrease``), so a stale entry could make a write fail, never
    make it wrong.
    """
    known: dict[int, AccountKind] = session.info.setdefault(_KINDS, {})
    wanted = set(account_ids)
    if unknown := wanted - known.keys():
        rows = await session.execute(_KINDS_OF, {"ids": list(unknown)})
        known.update((row.id, AccountKind(row.kind)) for row in rows)
        if missing := sorted(unknown - known.keys()):
            raise AccountNotFound(Text(f"Không có tài khoản #{missing[0]}", f"No account #{missing[0]}"))
    return {account: known[account] for account in wanted}


def counting(locked: Mapping[int, Balance], account_ids: Iterable[int]) -> dict[int, bool]:
    """Which of an entry's accounts keep spending totals.

    Only a locked account can: totals are kept for wallets, and a wallet is locked whenever it sends.
    """
    return {account: account in locked and locked[account].counts_spending for account in account_ids}


def _check_limits(locked: Mapping[int, Balance], deltas: Mapping[int, _Delta]) -> None:
    for account, delta in deltas.items():
        balance = locked[account]
        if not balance.no_overdraft:
            continue
        if balance.plus(delta).available_vnd < 0:
            raise InsufficientFunds(
                Text(
                    f"Số dư khả dụng là {format_vnd(balance.available_vnd)}, không đủ cho giao dịch.",
                    f"The available balance is {format_vnd(balance.available_vnd)}, not enough for this.",
                ),
                available_vnd=balance.available_vnd,
            )


async def _apply(session: AsyncSession, deltas: Mapping[int, _Delta]) -> None:
    if not deltas:
        return
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


@dataclass(frozen=True, slots=True)
class _Locks:
    """How an entry writes each account: in its locked row, or as an increase beside an unlocked one."""

    locked: Mapping[int, Balance]
    raised: Mapping[int, AccountKind]

    def write(self, deltas: Mapping[int, _Delta]) -> tuple[dict[int, _Delta], list[dict[str, Any]]]:
        """The row updates and the ``BalanceIncrease`` rows that make ``deltas``."""
        in_rows = {account: delta for account, delta in deltas.items() if account not in self.raised}
        increases = [
            {
                "account_id": account,
                "account_kind": kind.value,
                "side": "C" if kind in CREDIT_NORMAL else "D",
                "amount_vnd": deltas[account].credits_posted + deltas[account].debits_posted,
            }
            for account, kind in sorted(self.raised.items())
        ]
        return in_rows, increases


async def _lock_for(session: AsyncSession, deltas: Mapping[int, _Delta], locked: LockedBalances | None) -> _Locks:
    """Lock the accounts whose change could lower a balance (or take ``locked``, the caller's); the rest only rise."""
    kinds = await _kinds(session, deltas)
    rising = {account for account, delta in deltas.items() if delta.only_raises(kinds[account])}
    if locked is None:
        locked = await lock_accounts(session, deltas.keys() - rising)
    elif unlocked := deltas.keys() - rising - locked.keys():
        # Locking the rest now would take locks out of id order after the first set: a deadlock waiting
        # to happen. The caller must lock the entry's every such account in its one call to lock_accounts.
        raise AccountsNotLocked(sorted(unlocked))
    # An account the caller locked anyway is written in its row.
    return _Locks(locked, {account: kinds[account] for account in rising - locked.keys()})


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
    locks = await _lock_for(session, deltas, locked)
    _check_limits(locks.locked, {account: deltas[account] for account in locks.locked.keys() & deltas.keys()})
    return await _write_entry(
        session, transfers, now=now, description=description, hold_id=None, deltas=deltas, locks=locks
    )


async def _write_entry(
    session: AsyncSession,
    transfers: Sequence[TransferSpec],
    *,
    now: datetime,
    description: str,
    hold_id: int | None,
    deltas: Mapping[int, _Delta],
    locks: _Locks,
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
    in_rows, increases = locks.write(deltas)
    await _apply(session, in_rows)
    if increases:
        await session.execute(_INSERT_INCREASES, increases)
    sent = [spending.Sent(spec.debit_account_id, spec.amount_vnd, spec.category.value, now) for spec in transfers]
    await spending.count(session, counting(locks.locked, deltas), [*released, *sent])
    return PostedEntry(entry_id=entry_id, transfer_ids=transfer_ids)
