"""Withdrawal to the citizen's own bank account (rút tiền về tài khoản ngân hàng).

A citizen first links an account: the bank is chosen by BIN from the NAPAS directory, and the bank's
own name for the account, asked by name inquiry, must be the citizen's name once both are folded
(no diacritics, one case). A withdrawal then holds the amount (the wallet's available balance drops at
once), under the same monthly cap and step-up OTP as a transfer, and its payout is written to the
outbox in the same transaction (``bank_instructions``, the path every instruction to the bank takes).
After the commit the outbox sends it to the bank with our ``payout_id``, which the bank keeps one
payout per: a payout the bank could not take is sent again later, by any process, without ever paying
twice. The bank's signed callback posts the hold (confirmed) or voids it (rejected): the money is either
gone to the bank account or back in the wallet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay import banks
from civicpay.auth.identity import folded_name
from civicpay.clock import BusinessCalendar
from civicpay.db import MAX_ID, insert_ignoring_conflict, table_of
from civicpay.errors import DomainError, InvalidField, NotFound, Text
from civicpay.money import AmountVnd, Category, format_vnd
from civicpay.reference_codes import ReferenceScheme
from civicpay.settings import Settings
from wallet import bank_instructions, ledger
from wallet.bank_payouts import BankPayouts, BankUnavailable, Payout
from wallet.bank_topups import wallet_pool_account
from wallet.models import InstructionStatus, LinkedBankAccount, Withdrawal
from wallet.service import Holder, check_spending, holder_of_user, step_up_if_needed

_links = table_of(LinkedBankAccount)
# The outbox message that hands a committed payout to the bank.
SEND = "payout.send"

# What the bank knows a payout by, and prints in a statement's 16-character reference: a prefix per kind,
# a random number (unguessable, and no count of our payouts to read off it) and a check character.
# "RUT" (rút tiền): a citizen's withdrawal, 16 characters.
WITHDRAWAL_PAYOUT = ReferenceScheme("RUT", 12)
# "QTDV" (quyết toán đơn vị chấp nhận): a merchant's settlement, 16 characters.
SETTLEMENT_PAYOUT = ReferenceScheme("QTDV", 11)


class BankAccountCreate(msgspec.Struct, forbid_unknown_fields=True):
    bank_bin: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6}$", description="NAPAS BIN (GET /banks)")]
    account_number: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6,19}$", min_length=6, max_length=19)]


class BankAccountView(msgspec.Struct):
    id: int
    bank_bin: str
    bank_name: str
    account_number: str
    holder_name: str


class WithdrawalCreate(msgspec.Struct, forbid_unknown_fields=True):
    bank_account_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
    amount_vnd: AmountVnd


class WithdrawalView(msgspec.Struct):
    id: int
    amount_vnd: int
    amount_display: str
    status: InstructionStatus
    bank_account_id: int
    payout_id: str
    reason_code: str | None
    created_at: datetime
    resolved_at: datetime | None


class BankAccountNotFound(NotFound):
    code = "bank_account_not_found"
    title = Text("Không tìm thấy tài khoản ngân hàng đã liên kết", "Linked bank account not found")


class WithdrawalNotFound(NotFound):
    code = "withdrawal_not_found"
    title = Text("Không tìm thấy lệnh rút tiền", "Withdrawal not found")


class HolderNameMismatch(DomainError):
    code = "holder_name_mismatch"
    status = 422
    title = Text(
        "Tên chủ tài khoản ngân hàng không trùng với tên chủ ví", "The bank account holder is not the wallet holder"
    )


class BankUnreachable(DomainError):
    code = "bank_unavailable"
    status = 502
    title = Text("Không liên lạc được với ngân hàng", "The bank could not be reached")
    replayable = False  # nothing happened; the same request may be sent again


def _account_view(link: LinkedBankAccount) -> BankAccountView:
    bank = banks.by_bin(link.bank_bin)
    return BankAccountView(
        id=link.id,
        bank_bin=link.bank_bin,
        bank_name=bank.short_name if bank else link.bank_bin,
        account_number=link.account_number,
        holder_name=link.holder_name,
    )


def view(withdrawal: Withdrawal) -> WithdrawalView:
    return WithdrawalView(
        id=withdrawal.id,
        amount_vnd=withdrawal.amount_vnd,
        amount_display=format_vnd(withdrawal.amount_vnd),
        status=InstructionStatus(withdrawal.status),
        bank_account_id=withdrawal.bank_account_id,
        payout_id=withdrawal.payout_id,
        reason_code=withdrawal.reason_code,
        created_at=withdrawal.created_at,
        resolved_at=withdrawal.resolved_at,
    )


async def bank_account_name(bank: BankPayouts, bank_bin: str, account_number: str) -> str:
    """The bank's own name for the account (name inquiry), refusing banks and accounts that cannot receive."""
    directory_entry = banks.by_bin(bank_bin)
    if directory_entry is None or not directory_entry.can_receive:
        unknown = Text("Ngân hàng này không nhận chuyển khoản NAPAS", "This bank does not receive NAPAS transfers")
        raise InvalidField(unknown, field="bank_bin")
    try:
        bank_name = await bank.account_holder(bank_bin, account_number)
    except BankUnavailable as error:
        raise BankUnreachable() from error
    if bank_name is None:
        missing = Text("Ngân hàng không có tài khoản này", "The bank has no such account")
        raise InvalidField(missing, field="account_number")
    return bank_name


async def _link(
    session: AsyncSession, wallet_id: int, bank_bin: str, account_number: str, bank_name: str, now: datetime
) -> LinkedBankAccount:
    """Link the account to the wallet; linking the same one again returns it."""
    await session.execute(
        insert_ignoring_conflict(session.get_bind().dialect.name, _links, ("wallet_id", "bank_bin", "account_number")),
        {
            "wallet_id": wallet_id,
            "bank_bin": bank_bin,
            "account_number": account_number,
            "holder_name": folded_name(bank_name),
            "created_at": now,
        },
    )
    link = await session.scalar(
        select(LinkedBankAccount).where(
            LinkedBankAccount.wallet_id == wallet_id,
            LinkedBankAccount.bank_bin == bank_bin,
            LinkedBankAccount.account_number == account_number,
        )
    )
    assert link is not None  # noqa: S101 - inserted or already there, in this transaction
    return link


async def link_account(
    session: AsyncSession, bank: BankPayouts, *, user_id: int, data: BankAccountCreate, now: datetime
) -> BankAccountView:
    """Link an account of the citizen's own: the bank's holder name must be the citizen's."""
    holder = await holder_of_user(session, user_id)
    bank_name = await bank_account_name(bank, data.bank_bin, data.account_number)
    if folded_name(bank_name) != folded_name(holder.full_name):
        raise HolderNameMismatch(field="account_number")
    return _account_view(await _link(session, holder.wallet_id, data.bank_bin, data.account_number, bank_name, now))


async def link_settlement_account(
    session: AsyncSession, *, wallet_id: int, bank_bin: str, account_number: str, bank_name: str, now: datetime
) -> int:
    """A business's settlement account, as ``bank_account_name`` found it (under whatever name it trades)."""
    return (await _link(session, wallet_id, bank_bin, account_number, bank_name, now)).id


async def linked_accounts(session: AsyncSession, *, user_id: int) -> list[BankAccountView]:
    holder = await holder_of_user(session, user_id)
    links = await session.scalars(
        select(LinkedBankAccount).where(LinkedBankAccount.wallet_id == holder.wallet_id).order_by(LinkedBankAccount.id)
    )
    return [_account_view(link) for link in links]


async def _own_link(session: AsyncSession, holder: Holder, link_id: int) -> LinkedBankAccount:
    link = await session.get(LinkedBankAccount, link_id)
    if link is None or link.wallet_id != holder.wallet_id:
        raise BankAccountNotFound(field="bank_account_id")
    return link


async def withdraw(
    session: AsyncSession,
    settings: Settings,
    calendar: BusinessCalendar,
    *,
    user_id: int,
    data: WithdrawalCreate,
    otp: str | None,
    now: datetime,
) -> WithdrawalView:
    """Hold the amount and queue the payout; the outbox sends it once this transaction has committed."""
    holder = await holder_of_user(session, user_id)
    link = await _own_link(session, holder, data.bank_account_id)
    pool = await wallet_pool_account(session, settings, now)
    check = await check_spending(
        session,
        settings,
        calendar,
        payer=holder,
        also_lock=[pool],
        amount_vnd=data.amount_vnd,
        category=Category.WITHDRAWAL,
        now=now,
    )
    payout_id = WITHDRAWAL_PAYOUT.random()
    spec = ledger.TransferSpec(holder.account_id, pool, data.amount_vnd, Category.WITHDRAWAL, reference=payout_id)
    made = await _hold_and_queue(session, holder.wallet_id, link.id, payout_id, spec, check.locked, now)
    await step_up_if_needed(session, settings, check, user_id=user_id, amount_vnd=data.amount_vnd, otp=otp, now=now)
    return made


async def _hold_and_queue(
    session: AsyncSession,
    wallet_id: int,
    link_id: int,
    payout_id: str,
    spec: ledger.TransferSpec,
    locked: ledger.LockedBalances,
    now: datetime,
) -> WithdrawalView:
    # No expiry: only the bank's word may end this hold, or the money could be paid out and given back.
    hold_id = await ledger.hold(session, spec, now=now, expires_at=None, locked=locked)
    withdrawal = Withdrawal(
        wallet_id=wallet_id,
        bank_account_id=link_id,
        amount_vnd=spec.amount_vnd,
        hold_id=hold_id,
        # UNIQUE: a clash, about one in 10^17, fails this request and a retry draws again.
        payout_id=payout_id,
        status=InstructionStatus.QUEUED.value,
        created_at=now,
    )
    session.add(withdrawal)
    await session.flush()
    await bank_instructions.queue(session, PAYOUT, withdrawal, now=now)
    return view(withdrawal)


async def pay_out_balance(
    session: AsyncSession,
    settings: Settings,
    *,
    wallet_id: int,
    account_id: int,
    link_id: int,
    once_since: datetime,
    now: datetime,
) -> WithdrawalView | None:
    """Hold all the account has and queue it to the linked bank account: a business's settlement.

    At most one payout since ``once_since`` (the business day's start, say), decided under the
    account's lock, so app processes settling at once pay out once. No monthly cap or step-up: this
    is not a citizen spending, and no one is at hand to type a code. None when nothing is paid out.
    """
    pool = await wallet_pool_account(session, settings, now)
    locked = await ledger.lock_accounts(session, [account_id, pool])
    available = locked[account_id].available_vnd
    already = select(Withdrawal.id).where(Withdrawal.wallet_id == wallet_id, Withdrawal.created_at >= once_since)
    if available <= 0 or await session.scalar(already.limit(1)) is not None:
        return None
    payout_id = SETTLEMENT_PAYOUT.random()
    spec = ledger.TransferSpec(account_id, pool, available, Category.WITHDRAWAL, reference=payout_id)
    return await _hold_and_queue(session, wallet_id, link_id, payout_id, spec, locked, now)


async def get(session: AsyncSession, *, user_id: int, withdrawal_id: int) -> WithdrawalView:
    holder = await holder_of_user(session, user_id)
    withdrawal = await session.get(Withdrawal, withdrawal_id)
    if withdrawal is None or withdrawal.wallet_id != holder.wallet_id:
        raise WithdrawalNotFound()
    return view(withdrawal)


def _words_for(payout_id: str) -> str:
    """What the payee's statement says it was: a merchant's settlement of its takings, or a withdrawal."""
    return "THANH TOAN" if SETTLEMENT_PAYOUT.decode(payout_id) is not None else "RUT TIEN"


async def _payout(session: AsyncSession, withdrawal: Withdrawal) -> Payout:
    """Sent under the id the bank knows it by (``sent_as``), from the pooled account every wallet's money is in."""
    link = await session.get(LinkedBankAccount, withdrawal.bank_account_id)
    assert link is not None  # noqa: S101 - a foreign key
    from_bank_bin, from_account_number = await bank_instructions.paying_account(session, withdrawal.hold_id)
    return Payout(
        payout_id=withdrawal.sent_as,
        from_bank_bin=from_bank_bin,
        from_account_number=from_account_number,
        bank_bin=link.bank_bin,
        account_number=link.account_number,
        holder_name=link.holder_name,
        amount_vnd=withdrawal.amount_vnd,
        description=f"CIVICPAY {_words_for(withdrawal.payout_id)} {withdrawal.sent_as}",
    )


PAYOUT = bank_instructions.InstructionKind(
    message=SEND,
    model=Withdrawal,
    id_field="withdrawal_id",
    # A payout made before revision 0007 may be known to the bank by its old 18-character id.
    named=lambda reference: or_(Withdrawal.payout_id == reference, Withdrawal.legacy_payout_id == reference),
    instruction=_payout,
)
