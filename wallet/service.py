"""Wallet use cases: open a wallet at sign-up, show it, send money to another citizen, list history."""

from __future__ import annotations

import base64
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from argon2 import PasswordHasher
from sqlalchemy import CursorResult, and_, bindparam, case, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from civicpay import outbox
from civicpay.auth import service as auth
from civicpay.auth.identity import mask_phone
from civicpay.auth.models import Role, User
from civicpay.clock import BusinessCalendar
from civicpay.db import MAX_ID, insert_ignoring_conflict, table_of
from civicpay.errors import InvalidField, Text, may_raise
from civicpay.money import Category, format_vnd
from civicpay.settings import Settings
from wallet import ledger, topup_code
from wallet import schemas as s
from wallet.errors import MonthlyLimitExceeded, RecipientNotFound, StepUpRequired, TransferNotFound, WalletNotFound
from wallet.limits import LimitPolicy, Spending
from wallet.models import AwaitedCitizen, KycTier, Wallet

# Written to the outbox as a citizen's wallet opens, for whichever room holds money for that citizen ID (welfare
# nobody could be paid yet): the wallet knows no such room; the shell gives the kind its handler.
WALLET_OPENED = "wallet.opened"
_awaited = table_of(AwaitedCitizen)


def wallet_account_code(user_id: int) -> str:
    return f"wallet:{user_id}"


async def register_citizen(
    session: AsyncSession, hasher: PasswordHasher, data: s.CitizenCreate, *, now: datetime
) -> s.Citizen:
    """Sign a citizen up and open their wallet in the same transaction."""
    user = await auth.create_user(
        session,
        hasher,
        auth.NewUser(data.phone, data.full_name, data.password, Role.CITIZEN, data.citizen_id),
        now=now,
    )
    await session.flush()
    wallet = await open_wallet(session, user, now=now)
    return s.Citizen(
        user_id=user.id, wallet_id=wallet.id, phone=user.phone, full_name=user.full_name, kyc_tier=KycTier.BASIC
    )


async def await_wallets(session: AsyncSession, citizen_ids: Collection[str], *, now: datetime) -> None:
    """Be told (``WALLET_OPENED``) when a wallet opens with any of these citizen IDs: a room holding money for
    someone without a wallet asks this, so the wallet need not know the room, nor write a message for every
    sign-up. Asking twice is asking once."""
    if citizen_ids:
        await session.execute(
            insert_ignoring_conflict(session.get_bind().dialect.name, _awaited, ("citizen_id",)),
            [{"citizen_id": citizen_id, "created_at": now} for citizen_id in sorted(set(citizen_ids))],
        )


async def sign_up(session: AsyncSession, hasher: PasswordHasher, data: s.CitizenCreate, *, now: datetime) -> s.Citizen:
    """A citizen signing up (``POST /citizens``): registered, their wallet opened, and, if a room awaits their
    citizen ID (``await_wallets``), ``wallet.opened`` written.

    The message is written with the wallet, in its transaction, so it exists exactly when the wallet does. The
    answer waits for its delivery (money held for this citizen ID is in the wallet the first time they look),
    bounded by the outbox's prompt time, after which the workers deliver it.
    """
    citizen = await register_citizen(session, hasher, data, now=now)
    served = await session.execute(delete(_awaited).where(_awaited.c.citizen_id == data.citizen_id))
    if not cast("CursorResult[Any]", served).rowcount:
        return citizen
    await outbox.enqueue(
        session,
        kind=WALLET_OPENED,
        payload={"citizen_id": data.citizen_id, "user_id": citizen.user_id, "wallet_id": citizen.wallet_id},
        key=f"{WALLET_OPENED}:{citizen.wallet_id}",
        now=now,
    )
    return citizen


async def open_wallet(session: AsyncSession, user: User, *, now: datetime) -> Wallet:
    """The user's wallet and its ledger account (a merchant's takes in what wallets pay by scan)."""
    account = await ledger.open_account(
        session,
        code=wallet_account_code(user.id),
        name=f"Ví {user.full_name}",
        kind=ledger.AccountKind.LIABILITY,
        no_overdraft=True,
        now=now,
        counts_spending=True,
    )
    wallet = Wallet(user_id=user.id, account_id=account, kyc_tier=KycTier.BASIC.value, created_at=now)
    session.add(wallet)
    await session.flush()
    return wallet


@dataclass(frozen=True, slots=True)
class Holder:
    wallet_id: int
    account_id: int
    user_id: int
    full_name: str
    phone: str
    kyc_tier: str


_HOLDER = select(Wallet.id, Wallet.account_id, Wallet.user_id, User.full_name, User.phone, Wallet.kyc_tier).join(
    User, User.id == Wallet.user_id
)


# The sender (by user) and the recipient (a citizen, by phone) in one round trip.
_PARTIES = _HOLDER.where(
    or_(Wallet.user_id == bindparam("sender"), and_(User.phone == bindparam("phone"), User.role == Role.CITIZEN.value))
)


def _holder(row: Any) -> Holder:
    return Holder(row[0], row[1], row[2], row[3], row[4], row[5])


async def holder_of_user(session: AsyncSession, user_id: int) -> Holder:
    row = (await session.execute(_HOLDER.where(Wallet.user_id == user_id))).first()
    if row is None:
        raise WalletNotFound()
    return _holder(row)


async def holders_by_citizen_id(session: AsyncSession, citizen_ids: Iterable[str]) -> dict[str, Holder]:
    """The wallets of citizens named by their citizen IDs (CCCD), a thousand at a time: a welfare batch names
    hundreds of thousands. An ID with no citizen's wallet is simply absent."""
    wanted, found = sorted(set(citizen_ids)), {}
    for start in range(0, len(wanted), 1000):
        rows = await session.execute(
            _HOLDER.add_columns(User.citizen_id).where(
                User.citizen_id.in_(wanted[start : start + 1000]), User.role == Role.CITIZEN.value
            )
        )
        found.update({row[6]: _holder(row) for row in rows})
    return found


async def holder_of_user_phone(session: AsyncSession, phone: str) -> Holder:
    row = (await session.execute(_HOLDER.where(User.phone == auth.phone_or_error(phone)))).first()
    if row is None:
        raise WalletNotFound()
    return _holder(row)


async def holder_of_wallet(session: AsyncSession, wallet_id: int, *, viewer_user_id: int) -> Holder:
    """Another citizen's wallet answers exactly as a wallet that does not exist."""
    row = (await session.execute(_HOLDER.where(Wallet.id == wallet_id))).first()
    if row is None or row[2] != viewer_user_id:
        raise WalletNotFound()
    return _holder(row)


async def spending(session: AsyncSession, account_id: int, calendar: BusinessCalendar, now: datetime) -> Spending:
    """What the wallet sent this business month (cap-counted only) and day (everything): the ledger's running totals."""
    month_capped, day_total = await ledger.sent_so_far(session, account_id, calendar, now)
    return Spending(month_capped_vnd=month_capped, day_total_vnd=day_total)


async def wallet_view(
    session: AsyncSession, holder: Holder, settings: Settings, calendar: BusinessCalendar, now: datetime
) -> s.Wallet:
    policy = LimitPolicy.from_settings(settings)
    balance = (await ledger.balances(session, [holder.account_id]))[holder.account_id]
    spent = await spending(session, holder.account_id, calendar, now)
    return s.Wallet(
        id=holder.wallet_id,
        owner_name=holder.full_name,
        phone=holder.phone,
        kyc_tier=KycTier(holder.kyc_tier),
        balance_vnd=balance.posted_vnd,
        available_vnd=balance.available_vnd,
        balance_display=format_vnd(balance.posted_vnd),
        topup_code=topup_code.encode(holder.wallet_id),
        limits=s.Limits(
            monthly_cap_vnd=policy.monthly_cap_vnd,
            month_used_vnd=spent.month_capped_vnd,
            month_remaining_vnd=policy.month_remaining_vnd(spent),
            day_total_vnd=spent.day_total_vnd,
            stepup_single_vnd=policy.stepup_single_vnd,
            stepup_daily_vnd=policy.stepup_daily_vnd,
        ),
    )


@dataclass(frozen=True, slots=True)
class SpendCheck:
    """A wallet about to spend: the accounts it takes from locked, what it has spent, and the rules that apply."""

    locked: ledger.LockedBalances
    spent: Spending
    policy: LimitPolicy


@may_raise(MonthlyLimitExceeded)  # LimitPolicy.check_monthly_cap
async def check_spending(
    session: AsyncSession,
    settings: Settings,
    calendar: BusinessCalendar,
    *,
    payer: Holder,
    amount_vnd: int,
    category: Category,
    now: datetime,
    also_lock: Collection[int] = (),
) -> SpendCheck:
    """Lock first, so the totals cannot be raced by a second spend from this wallet; then the monthly cap.

    ``also_lock``: the entry's other accounts whose balance it may lower (the bank account a withdrawal
    reserves against), locked here with the payer's in one call and one order, so that the entry posted
    with the result locks nothing more. Accounts it only pays into (the recipient of a transfer, the
    billers of a multi-bill payment) are not locked at all: see ``ledger.BalanceIncrease``.
    """
    locked = await ledger.lock_accounts(session, [payer.account_id, *also_lock])
    policy = LimitPolicy.from_settings(settings)
    spent = await spending(session, payer.account_id, calendar, now)
    policy.check_monthly_cap(spent, amount_vnd, category)
    return SpendCheck(locked, spent, policy)


@may_raise(StepUpRequired)  # LimitPolicy.step_up_reason's
async def step_up_if_needed(
    session: AsyncSession,
    settings: Settings,
    check: SpendCheck,
    *,
    user_id: int,
    amount_vnd: int,
    otp: str | None,
    now: datetime,
) -> None:
    """Decision 2345's OTP, asked after the money is moved or held, in the same transaction.

    A step-up refusal rolls everything back, and a code is spent only on a spend that goes through (a
    refused one must not use it up, nor leave it usable again after a rollback).
    """
    if (needs_otp := check.policy.step_up_reason(check.spent, amount_vnd)) is not None:
        if otp is None:
            raise needs_otp
        await auth.verify_step_up(session, settings, user_id, otp, now=now)


async def transfer_to_phone(
    session: AsyncSession,
    settings: Settings,
    calendar: BusinessCalendar,
    *,
    sender_user_id: int,
    data: s.TransferCreate,
    otp: str | None,
    now: datetime,
) -> s.Transfer:
    """Send money to the citizen who holds a phone number (chuyển tiền ví sang ví)."""
    to_phone = auth.phone_or_error(data.to_phone, field="to_phone")
    parties = [_holder(row) for row in await session.execute(_PARTIES, {"sender": sender_user_id, "phone": to_phone})]
    sender = next((party for party in parties if party.user_id == sender_user_id), None)
    recipient = next((party for party in parties if party.phone == to_phone), None)
    if sender is None:
        raise WalletNotFound()
    if recipient is None:
        raise RecipientNotFound(field="to_phone")
    if recipient.wallet_id == sender.wallet_id:
        raise InvalidField(
            Text("Không thể chuyển cho chính mình", "You cannot send money to yourself"), field="to_phone"
        )

    check = await check_spending(
        session,
        settings,
        calendar,
        payer=sender,
        amount_vnd=data.amount_vnd,
        category=Category.P2P,
        now=now,
    )
    spec = ledger.TransferSpec(
        debit_account_id=sender.account_id,
        credit_account_id=recipient.account_id,
        amount_vnd=data.amount_vnd,
        category=Category.P2P,
        metadata={"memo": data.memo},
    )
    posted = await ledger.post_entry(session, [spec], now=now, description="p2p", locked=check.locked)
    await step_up_if_needed(
        session, settings, check, user_id=sender.user_id, amount_vnd=data.amount_vnd, otp=otp, now=now
    )
    return p2p_answer(
        posted.transfer_ids[0],
        data,
        sender=(sender.full_name, sender.phone),
        recipient=(recipient.full_name, recipient.phone),
        now=now,
    )


def p2p_answer(
    transfer_id: int, data: s.TransferCreate, *, sender: tuple[str, str], recipient: tuple[str, str], now: datetime
) -> s.Transfer:
    """What the sender is told of a transfer just made, by either path; (name, phone) for each party."""
    return s.Transfer(
        id=transfer_id,
        amount_vnd=data.amount_vnd,
        amount_display=format_vnd(data.amount_vnd),
        category=Category.P2P,
        memo=data.memo,
        sender=s.Party(sender[0], mask_phone(sender[1])),
        recipient=s.Party(recipient[0], mask_phone(recipient[1])),
        created_at=now,
    )


def _party_columns(account_column: Any) -> tuple[Any, Any]:
    """Name and phone of whoever holds an account: a citizen for wallets, the account's name otherwise."""
    account, wallet, user = aliased(ledger.Account), aliased(Wallet), aliased(User)

    def holder_of(column: Any) -> Any:
        return (
            select(column)
            .select_from(account)
            .outerjoin(wallet, wallet.account_id == account.id)
            .outerjoin(user, user.id == wallet.user_id)
            .where(account.id == account_column)
            .scalar_subquery()
        )

    return holder_of(func.coalesce(user.full_name, account.name)), holder_of(user.phone)


async def get_transfer(session: AsyncSession, transfer_id: int, *, viewer_user_id: int) -> s.Transfer:
    """A transfer is visible to the two wallets it touched and to no one else."""
    viewer = await holder_of_user(session, viewer_user_id)
    t = ledger.Transfer
    sender_name, sender_phone = _party_columns(t.debit_account_id)
    recipient_name, recipient_phone = _party_columns(t.credit_account_id)
    row = (
        await session.execute(
            select(t, sender_name, sender_phone, recipient_name, recipient_phone).where(
                t.id == transfer_id,
                (t.debit_account_id == viewer.account_id) | (t.credit_account_id == viewer.account_id),
            )
        )
    ).first()
    if row is None:
        raise TransferNotFound()
    found: ledger.Transfer = row[0]
    return s.Transfer(
        id=found.id,
        amount_vnd=found.amount_vnd,
        amount_display=format_vnd(found.amount_vnd),
        category=Category(found.category),
        memo=str(found.metadata_.get("memo", "")),
        sender=s.Party(row[1], row[2] and mask_phone(row[2])),
        recipient=s.Party(row[3], row[4] and mask_phone(row[4])),
        created_at=found.created_at,
    )


def encode_cursor(posting_id: int) -> str:
    return base64.urlsafe_b64encode(f"p{posting_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith("p") and raw[1:].isdigit() and int(raw[1:]) <= MAX_ID:
            return int(raw[1:])
    except ValueError:
        pass
    raise InvalidField(Text("Con trỏ phân trang không hợp lệ", "The pagination cursor is not valid"), field="cursor")


def _instant(value: datetime, field: str) -> datetime:
    """A query bound as a UTC instant; a time without its offset is ambiguous, so it is refused."""
    try:
        if value.tzinfo is not None:
            return value.astimezone(UTC)
    except OverflowError:
        pass
    raise InvalidField(
        Text(
            "Cần thời điểm có múi giờ, ví dụ 2026-11-23T00:00:00+07:00",
            "Give an instant with its offset, for example 2026-11-23T00:00:00+07:00",
        ),
        field=field,
    )


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    direction: Literal["in", "out"] | None = None
    category: Category | None = None
    since: datetime | None = None
    until: datetime | None = None


async def history(
    session: AsyncSession, holder: Holder, *, cursor: str | None, limit: int, where: HistoryFilter
) -> s.HistoryPage:
    """Newest first; the cursor is the last posting seen, so pages stay stable as money arrives."""
    p, t = ledger.Posting, ledger.Transfer
    other = case((p.side == "D", t.credit_account_id), else_=t.debit_account_id)
    name, phone = _party_columns(other)
    conditions = [p.account_id == holder.account_id]
    if cursor is not None:
        conditions.append(p.id < decode_cursor(cursor))
    if where.direction is not None:
        conditions.append(p.side == ("D" if where.direction == "out" else "C"))
    if where.category is not None:
        conditions.append(p.category == where.category.value)
    if where.since is not None:
        conditions.append(p.created_at >= _instant(where.since, "since"))
    if where.until is not None:
        conditions.append(p.created_at < _instant(where.until, "until"))
    rows = (
        await session.execute(
            select(p.id, p.side, p.amount_vnd, p.category, p.created_at, t.id, t.metadata_, name, phone)
            .join(t, t.id == p.transfer_id)
            .where(and_(*conditions))
            .order_by(p.id.desc())
            .limit(limit + 1)
        )
    ).all()
    items = [
        s.HistoryItem(
            transfer_id=row[5],
            at=row[4],
            direction="out" if row[1] == "D" else "in",
            amount_vnd=row[2],
            amount_display=format_vnd(row[2]),
            category=Category(row[3]),
            counterparty=s.Party(row[7], row[8] and mask_phone(row[8])),
            memo=str((row[6] or {}).get("memo", "")),
        )
        for row in rows[:limit]
    ]
    return s.HistoryPage(items=items, next_cursor=encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None)
