"""Top-up by bank transfer: incoming-transfer notifications, and the suspense account behind them.

A citizen transfers money from any bank app to our collection account with their top-up code in the
description. The bank (or its aggregator) notifies us, retrying until we answer 2xx. Each
notification is handled once, decided by the UNIQUE bank id, and its money is always booked: to the
wallet its code names, or to suspense when it cannot be placed. Finance officers then assign
suspense items to a wallet or return them (``suspense_returns``), each decision audited and booked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay import audit, banks
from civicpay.auth import service as auth
from civicpay.auth.models import User
from civicpay.db import insert_ignoring_conflict, table_of
from civicpay.errors import Conflict, NotFound, Text
from civicpay.money import AmountVnd, Category, format_vnd
from civicpay.reference_codes import ReferenceScheme
from civicpay.settings import Settings
from wallet import ledger, topup_code
from wallet.models import BankNotification, InstructionStatus, NotificationOutcome, SuspenseReturn, Wallet

SUSPENSE = "liability:suspense"
# "HOAN" (hoàn trả) + a random number in eleven base-36 characters + a check character: sixteen
# characters, the reference a suspense return carries to the bank and back on its statement.
SUSPENSE_RETURN = ReferenceScheme("HOAN", 11)

# Why a top-up went to suspense; other rooms that claim notifications (fee collections) add their own.
# ``unknown_account``: the bank says the money reached an account of ours we have no record of.
TopupSuspenseReason = Literal["no_code", "unknown_code", "ambiguous_code", "over_limit", "unknown_account"]


Id64 = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


class NotificationIn(msgspec.Struct, forbid_unknown_fields=True):
    """An incoming-transfer notification as the bank's aggregator sends it (fields as in DOMAIN.md)."""

    id: Id64
    bank: Short
    transaction_at: Annotated[datetime, msgspec.Meta(tz=True)]
    account_number: Short
    transfer_type: Literal["in", "out"]
    amount_vnd: AmountVnd
    content: Annotated[str, msgspec.Meta(max_length=500)]
    reference_code: Id64
    running_balance_vnd: int | None = None


class Receipt(msgspec.Struct):
    notification_id: int
    outcome: NotificationOutcome
    duplicate: bool
    suspense_reason: str | None = None


class SuspenseItemNotFound(NotFound):
    code = "suspense_item_not_found"
    title = Text("Không tìm thấy khoản chờ xử lý", "Suspense item not found")


class SuspenseItemResolved(Conflict):
    code = "suspense_item_resolved"
    title = Text("Khoản chờ xử lý đã được xử lý", "The suspense item has already been resolved")


async def wallet_pool_account(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """The ledger account of our pooled bank account, which holds the money behind every wallet
    (tài khoản đảm bảo thanh toán ví): top-ups by transfer reach it, withdrawals and settlements leave it."""
    return await ledger.open_bank_account(
        session,
        bank_bin=settings.wallet_pool_bank_bin,
        account_number=settings.wallet_pool_account_number,
        holder_name=settings.operator_account_name,
        purpose=ledger.BankAccountPurpose.WALLET_POOL,
        now=now,
    )


async def suspense_account(session: AsyncSession, now: datetime) -> int:
    """Money we hold for someone not yet known (or to be sent back): a finance officer places it."""
    return await ledger.open_account(
        session,
        code=SUSPENSE,
        name="Tiền chờ xử lý (chưa xác định người nhận)",
        kind=ledger.AccountKind.LIABILITY,
        no_overdraft=True,
        now=now,
    )


async def reopen_in_suspense(session: AsyncSession, notification_id: int, *, reason: str) -> None:
    """A placed transfer whose money must go back to its payer (a refunded fee, say), after its caller has
    booked that money to suspense: finance officers see it again and return it to the paying account."""
    table = table_of(BankNotification)
    await session.execute(
        update(table)
        .where(table.c.id == notification_id)
        .values(outcome=NotificationOutcome.SUSPENSE.value, suspense_reason=reason)
    )


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an incoming transfer's money goes: an account of ours, or suspense (``account_id`` None).

    ``booked`` runs once the money is booked, with the notification's row id and the ledger transfer,
    so whoever claimed the money can record that it arrived (a fee collection turning paid, say).
    """

    outcome: NotificationOutcome
    account_id: int | None = None
    category: Category = Category.TOPUP
    reason: str | None = None
    wallet_id: int | None = None
    memo: str = "Nạp tiền qua chuyển khoản ngân hàng"
    booked: Callable[[int, int], Awaitable[None]] | None = None


# Another room's say on a notification before top-up codes are looked for: None when it is not theirs.
Claimant = Callable[[AsyncSession, NotificationIn, datetime], Awaitable[Placement | None]]


async def _place_topup(session: AsyncSession, settings: Settings, note: NotificationIn) -> Placement:
    """The wallet a notification's money belongs to, or why it goes to suspense."""
    named = topup_code.find(note.content)
    wallets = (await session.scalars(select(Wallet).where(Wallet.id.in_(named)))).all() if named else []
    reason: TopupSuspenseReason | None = None
    if not named:
        reason = "no_code"
    elif not wallets:
        reason = "unknown_code"
    elif len(wallets) > 1:
        reason = "ambiguous_code"
    elif note.amount_vnd > settings.max_topup_vnd:
        reason = "over_limit"
    if reason is not None:
        return Placement(NotificationOutcome.SUSPENSE, reason=reason)
    return Placement(NotificationOutcome.CREDITED, wallets[0].account_id, wallet_id=wallets[0].id)


async def _place(
    session: AsyncSession,
    settings: Settings,
    note: NotificationIn,
    claimants: Sequence[Claimant],
    now: datetime,
    *,
    known_account: bool,
) -> Placement:
    if note.transfer_type == "out":
        return Placement(NotificationOutcome.OUTGOING)
    if not known_account:
        # Neither a wallet nor a fee may be credited with money we cannot show on one of our statements.
        return Placement(NotificationOutcome.SUSPENSE, reason="unknown_account")
    for claimant in claimants:
        if (placement := await claimant(session, note, now)) is not None:
            return placement
    return await _place_topup(session, settings, note)


async def receive(
    session: AsyncSession,
    settings: Settings,
    note: NotificationIn,
    *,
    now: datetime,
    claimants: Sequence[Claimant] = (),
) -> Receipt:
    """Book one notification, once: a retry of a handled id returns what the first decided.

    The money is booked into the ledger account of the bank account the notification says received it
    (``bank`` is its BIN); an account we have no record of books it to the unregistered account, and
    the money to suspense.
    """
    await wallet_pool_account(session, settings, now)  # so a top-up's first arrival finds it registered
    receiving = await ledger.bank_account_of(session, note.bank, note.account_number)
    placement = await _place(session, settings, note, claimants, now, known_account=receiving is not None)
    outcome = placement.outcome
    table = table_of(BankNotification)
    claimed = await session.execute(
        insert_ignoring_conflict(session.get_bind().dialect.name, table, ("bank_notification_id",), table.c.id),
        {
            "bank_notification_id": note.id,
            "bank": note.bank,
            "account_number": note.account_number,
            "direction": note.transfer_type,
            "amount_vnd": note.amount_vnd,
            "content": note.content,
            "bank_reference": note.reference_code,
            "running_balance_vnd": note.running_balance_vnd,
            "transaction_at": note.transaction_at,
            "received_at": now,
            "outcome": outcome.value,
            "suspense_reason": placement.reason,
            "wallet_id": placement.wallet_id,
        },
    )
    row_id = claimed.scalar()
    if row_id is None:
        first = (
            await session.execute(
                select(BankNotification.id, BankNotification.outcome, BankNotification.suspense_reason).where(
                    BankNotification.bank_notification_id == note.id
                )
            )
        ).one()
        return Receipt(
            first.id, NotificationOutcome(first.outcome), duplicate=True, suspense_reason=first.suspense_reason
        )
    if outcome != NotificationOutcome.OUTGOING:
        suspense = await suspense_account(session, now)
        spec = ledger.TransferSpec(
            debit_account_id=receiving or await ledger.unregistered_account(session, now),
            credit_account_id=placement.account_id or suspense,
            amount_vnd=note.amount_vnd,
            category=placement.category,
            reference=note.reference_code[:64],
            metadata={"memo": placement.memo, "bank_notification": row_id},
        )
        posted = await ledger.post_entry(session, [spec], now=now, description="bank transfer in")
        transfer_id = posted.transfer_ids[0]
        await session.execute(update(table).where(table.c.id == row_id).values(transfer_id=transfer_id))
        if placement.booked is not None:
            await placement.booked(row_id, transfer_id)
    return Receipt(row_id, outcome, duplicate=False, suspense_reason=placement.reason)


class BankAccountHeld(msgspec.Struct):
    """A bank account we hold and its balance in our ledger, to set beside the bank's statement."""

    bank_bin: str
    bank_name: str  # from the NAPAS directory, by BIN
    account_number: str
    holder_name: str
    purpose: ledger.BankAccountPurpose
    balance_vnd: int
    balance_display: str
    available_vnd: int  # less payouts held to leave it that the bank has not yet confirmed


class BankAccountsHeld(msgspec.Struct):
    as_of: datetime
    accounts: list[BankAccountHeld]
    # Money the bank says reached accounts of ours we have no record of (its items wait in suspense).
    unregistered_vnd: int


async def bank_accounts_held(session: AsyncSession, *, now: datetime) -> BankAccountsHeld:
    """Every bank account we hold with its ledger balance, all read in one statement: one instant."""
    accounts, unregistered = [], 0
    for held in await ledger.bank_account_balances(session):
        if held.purpose is None:
            unregistered = held.balance_vnd
            continue
        bank = banks.by_bin(held.bank_bin)
        accounts.append(
            BankAccountHeld(
                bank_bin=held.bank_bin,
                bank_name=bank.short_name if bank else held.bank_bin,
                account_number=held.account_number,
                holder_name=held.holder_name,
                purpose=held.purpose,
                balance_vnd=held.balance_vnd,
                balance_display=format_vnd(held.balance_vnd),
                available_vnd=held.available_vnd,
            )
        )
    return BankAccountsHeld(as_of=now, accounts=accounts, unregistered_vnd=unregistered)


class SuspenseItem(msgspec.Struct):
    id: int
    amount_vnd: int
    amount_display: str
    bank: str
    content: str
    bank_reference: str
    transaction_at: datetime
    reason: str
    # The bank's reason code when its last return was rejected (``reason`` is then ``return_rejected``).
    return_rejected_code: str | None = None


async def open_suspense(session: AsyncSession) -> list[SuspenseItem]:
    rows = (
        await session.scalars(
            select(BankNotification)
            .where(BankNotification.outcome == NotificationOutcome.SUSPENSE.value)
            .order_by(BankNotification.id)
        )
    ).all()
    rejections = select(SuspenseReturn.notification_id, SuspenseReturn.reason_code).where(
        SuspenseReturn.notification_id.in_([row.id for row in rows]),
        SuspenseReturn.status == InstructionStatus.REJECTED.value,
    )
    # Oldest first, so each item keeps its latest rejection.
    rejected: dict[int, str | None] = dict((await session.execute(rejections.order_by(SuspenseReturn.id))).all())
    return [
        SuspenseItem(
            id=row.id,
            amount_vnd=row.amount_vnd,
            amount_display=format_vnd(row.amount_vnd),
            bank=row.bank,
            content=row.content,
            bank_reference=row.bank_reference,
            transaction_at=row.transaction_at,
            reason=row.suspense_reason or "",
            return_rejected_code=rejected.get(row.id),
        )
        for row in rows
    ]


_EVER_IN_SUSPENSE = frozenset(
    {
        NotificationOutcome.SUSPENSE,
        NotificationOutcome.ASSIGNED,
        NotificationOutcome.RETURNING,
        NotificationOutcome.RETURNED,
    }
)


async def lock_open_item(session: AsyncSession, item_id: int) -> BankNotification:
    """Lock, re-check, transition: a second decision on one item finds it resolved and changes nothing."""
    item = await session.scalar(
        select(BankNotification)
        .where(BankNotification.id == item_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if item is None or item.outcome not in _EVER_IN_SUSPENSE:
        raise SuspenseItemNotFound()
    if item.outcome != NotificationOutcome.SUSPENSE:
        raise SuspenseItemResolved(Text(f"Đã {item.outcome}", f"Already {item.outcome}"), outcome=item.outcome)
    return item


class Resolution(msgspec.Struct):
    id: int
    outcome: NotificationOutcome
    # The booking to the wallet; None for a return, whose money moves when the bank confirms it.
    transfer_id: int | None
    wallet_id: int | None
    # A return's reference to the bank (and on its statement); None for an assignment.
    return_reference: str | None = None


async def assign(
    session: AsyncSession, *, item_id: int, officer_user_id: int, to_phone: str, reason: str, now: datetime
) -> Resolution:
    """Book a suspense item to the wallet of ``to_phone`` (a return is ``suspense_returns.give_back``)."""
    item = await lock_open_item(session, item_id)
    phone = auth.phone_or_error(to_phone, field="to_phone")
    wallet = await session.scalar(select(Wallet).join(User, User.id == Wallet.user_id).where(User.phone == phone))
    if wallet is None:
        raise NotFound(Text("Số điện thoại này chưa có ví", "No wallet has this phone number"), field="to_phone")
    spec = ledger.TransferSpec(
        debit_account_id=await suspense_account(session, now),
        credit_account_id=wallet.account_id,
        amount_vnd=item.amount_vnd,
        category=Category.TOPUP,
        reference=item.bank_reference[:64],
        metadata={"memo": reason, "bank_notification": item.id},
    )
    posted = await ledger.post_entry(session, [spec], now=now, description="suspense resolution")
    item.outcome = NotificationOutcome.ASSIGNED.value
    item.wallet_id = wallet.id
    await audit.record(
        session,
        actor_user_id=officer_user_id,
        action="suspense.assign",
        subject_type="bank_notification",
        subject_id=item.id,
        reason=reason,
        details={"amount_vnd": item.amount_vnd, "wallet_id": item.wallet_id, "transfer_id": posted.transfer_ids[0]},
        now=now,
    )
    await session.flush()
    return Resolution(item.id, NotificationOutcome.ASSIGNED, posted.transfer_ids[0], item.wallet_id)
