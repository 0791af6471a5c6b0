"""Paying a scanned VietQR from the wallet (quét mã thanh toán bằng ví).

The app sends the payload it scanned. If it names an office's collection account, the reference in it
finds the fee collection; if it names a merchant's account, the merchant. Either is paid in one
ledger entry, under the wallet's limits (a fee is an exempt category; a merchant payment counts
towards the monthly cap). Any other well-formed code is refused as not payable from the wallet yet,
with the scheme named; a malformed one is refused with the reader's reason and position.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.clock import BusinessCalendar
from civicpay.errors import InvalidField, Text
from civicpay.money import Category, format_vnd
from civicpay.settings import Settings
from qr import schemas as s
from qr import vietqr
from qr.collections import FEE_CATEGORY, expire_if_due, locked_collection, mark_paid
from qr.errors import (
    AmountMismatch,
    CollectionAlreadyPaid,
    CollectionClosed,
    CollectionNotFound,
    QrInvalid,
    QrNotPayable,
)
from qr.models import COLLECTION, CollectionStatus, Merchant, Office, PaidBy
from wallet import Holder, check_spending, holder_of_user, ledger, step_up_if_needed


def read_payload(payload: str) -> vietqr.VietQr:
    try:
        return vietqr.decode(payload.strip())
    except vietqr.VietQrError as error:
        if error.code == vietqr.ErrorCode.NOT_NAPAS:
            # VNPAY-QR, a card scheme's code: well-formed, just not a transfer the wallet can make yet.
            detail = Text(f"Mã QR khác chuẩn VietQR: {error.message}", f"Not a VietQR code: {error.message}")
            raise QrNotPayable(detail, field="payload") from error
        detail = Text(f"Không đọc được mã QR: {error.message}", f"The QR code cannot be read: {error.message}")
        raise QrInvalid(detail, field="payload", reason=error.code.value, position=error.position) from error


async def pay_by_scan(
    session: AsyncSession,
    settings: Settings,
    calendar: BusinessCalendar,
    *,
    user_id: int,
    data: s.ScanPayment,
    otp: str | None,
    now: datetime,
) -> s.ScanPaid:
    code = read_payload(data.payload)
    payer = await holder_of_user(session, user_id)
    if code.service == "account":
        office = await session.scalar(
            select(Office).where(Office.bank_bin == code.bin, Office.account_number == code.account)
        )
        if office is not None:
            return await _pay_collection(session, settings, calendar, payer, office, code, data, otp, now)
        merchant = await session.scalar(
            select(Merchant).where(Merchant.bank_bin == code.bin, Merchant.account_number == code.account)
        )
        if merchant is not None:
            return await _pay_merchant(session, settings, calendar, payer, merchant, code, data, otp, now)
    raise QrNotPayable(field="payload", bank_bin=code.bin)


def _amount(code: vietqr.VietQr, data: s.ScanPayment) -> int:
    """The code's amount when it has one (the request may repeat it), else the amount the payer typed."""
    if code.amount_vnd is not None:
        if data.amount_vnd is not None and data.amount_vnd != code.amount_vnd:
            raise AmountMismatch(field="amount_vnd", qr_amount_vnd=code.amount_vnd)
        return code.amount_vnd
    if data.amount_vnd is None:
        needed = Text("Mã QR tĩnh: hãy nhập số tiền", "A static QR code: enter the amount")
        raise InvalidField(needed, field="amount_vnd")
    return data.amount_vnd


async def _spend(
    session: AsyncSession,
    settings: Settings,
    calendar: BusinessCalendar,
    payer: Holder,
    *,
    to_account: int,
    amount_vnd: int,
    category: Category,
    memo: str,
    reference: str | None,
    otp: str | None,
    now: datetime,
) -> int:
    """Move the money under the wallet's rules and return the ledger transfer."""
    check = await check_spending(
        session,
        settings,
        calendar,
        payer=payer,
        amount_vnd=amount_vnd,
        category=category,
        now=now,
    )
    spec = ledger.TransferSpec(payer.account_id, to_account, amount_vnd, category, reference, {"memo": memo})
    posted = await ledger.post_entry(session, [spec], now=now, description="pay by scan", locked=check.locked)
    await step_up_if_needed(session, settings, check, user_id=payer.user_id, amount_vnd=amount_vnd, otp=otp, now=now)
    return posted.transfer_ids[0]


async def _pay_collection(
    session: AsyncSession,
    settings: Settings,
    calendar: BusinessCalendar,
    payer: Holder,
    office: Office,
    code: vietqr.VietQr,
    data: s.ScanPayment,
    otp: str | None,
    now: datetime,
) -> s.ScanPaid:
    numbers = COLLECTION.find(code.reference or code.purpose or "")
    if len(numbers) != 1:
        raise CollectionNotFound(field="payload")
    collection = await locked_collection(session, numbers[0], field="payload")
    if collection.office_id != office.id:
        raise CollectionNotFound(field="payload")
    expire_if_due(collection, now)
    if collection.status == CollectionStatus.PAID:
        paid = collection.receipt_number
        raise CollectionAlreadyPaid(field="payload", collection_status=collection.status, receipt_number=paid)
    if collection.status != CollectionStatus.OPEN:
        raise CollectionClosed(field="payload", collection_status=collection.status)
    if _amount(code, data) != collection.amount_vnd:
        raise AmountMismatch(field="payload", collection_amount_vnd=collection.amount_vnd)
    transfer_id = await _spend(
        session,
        settings,
        calendar,
        payer,
        to_account=office.account_id,
        amount_vnd=collection.amount_vnd,
        category=FEE_CATEGORY,
        memo=f"{collection.procedure_name} ({collection.reference})",
        reference=collection.reference,
        otp=otp,
        now=now,
    )
    # Last, after every check: what is announced must be what commits.
    await mark_paid(
        session, collection, office, by=PaidBy.WALLET, transfer_id=transfer_id, now=now, wallet_id=payer.wallet_id
    )
    return s.ScanPaid(
        transfer_id=transfer_id,
        payee=office.name,
        amount_vnd=collection.amount_vnd,
        amount_display=format_vnd(collection.amount_vnd),
        paid_at=now,
        collection_id=collection.id,
        receipt_number=collection.receipt_number,
    )


async def _pay_merchant(
    session: AsyncSession,
    settings: Settings,
    calendar: BusinessCalendar,
    payer: Holder,
    merchant: Merchant,
    code: vietqr.VietQr,
    data: s.ScanPayment,
    otp: str | None,
    now: datetime,
) -> s.ScanPaid:
    if merchant.wallet_id == payer.wallet_id:
        raise InvalidField(Text("Không thể tự thanh toán cho mình", "You cannot pay yourself"), field="payload")
    amount = _amount(code, data)
    merchant_account = (await holder_of_user(session, merchant.user_id)).account_id
    transfer_id = await _spend(
        session,
        settings,
        calendar,
        payer,
        to_account=merchant_account,
        amount_vnd=amount,
        category=Category.MERCHANT_PAYMENT,
        memo=f"Thanh toán tại {merchant.name}",
        reference=code.bill or code.reference,
        otp=otp,
        now=now,
    )
    return s.ScanPaid(
        transfer_id=transfer_id,
        payee=merchant.name,
        amount_vnd=amount,
        amount_display=format_vnd(amount),
        paid_at=now,
        merchant_id=merchant.id,
    )
