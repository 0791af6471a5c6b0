"""Fee collections at one-stop counters (thu phí, lệ phí tại bộ phận một cửa), from the clerk's side.

An admin sets up offices (each with the bank account its fees are collected into, and the agency and
Treasury account they belong to), their counters, and the clerks who work there. A clerk creates a
collection for a dossier: it gets a short reference with a check character and a dynamic VietQR to
the office's account carrying that reference in 62.05 and 62.08, which bank apps copy into the
transfer's description. It is open until paid, cancelled, or past its expiry; paying it (from a
wallet, ``qr.payments``, or by any bank app, ``qr.bank_claims``) gives an e-receipt number.

Every change to a collection is announced on its counter's topic, so the counter's screen follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay import audit, banks, events
from civicpay.auth import service as auth
from civicpay.auth.models import Role, User
from civicpay.errors import InvalidField, Text
from civicpay.money import Category, format_vnd
from civicpay.settings import Settings
from qr import schemas as s
from qr import vietqr
from qr.errors import (
    CollectionClosed,
    CollectionNotFound,
    CollectionNotRefundable,
    CounterNotFound,
    NotYourOffice,
    OfficeNotFound,
)
from qr.models import Clerk, CollectionStatus, Counter, FeeCollection, FeeKind, Office, PaidBy
from wallet import ledger, reopen_in_suspense, suspense_account

# The fee categories are exempt from the e-wallet monthly cap (Circular 40/2024).
FEE_CATEGORY = Category.PUBLIC_SERVICE_FEE


def counter_topic(counter_id: int) -> str:
    return f"counter:{counter_id}"


def office_account_code(office_code: str) -> str:
    return f"liability:office:{office_code}:fees"


def office_view(office: Office) -> s.Office:
    return s.Office(
        id=office.id,
        code=office.code,
        name=office.name,
        city=office.city,
        bank_bin=office.bank_bin,
        account_number=office.account_number,
        agency_code=office.agency_code,
        agency_name=office.agency_name,
        treasury_account=office.treasury_account,
    )


def fits_a_qr(value: str, limit: int, *, field: str) -> str:
    """The text as a QR field will carry it; refused, naming the field, when nothing readable would be left."""
    try:
        return vietqr.field_text(vietqr.fit_for_qr(value, limit), field, limit)
    except vietqr.VietQrError as refused:
        latin = Text(
            "Cần chữ cái Latin (có hoặc không dấu) để in được trong mã VietQR",
            "Needs Latin letters (with or without diacritics) to be printed in a VietQR code",
        )
        raise InvalidField(latin, field=field) from refused


async def create_office(session: AsyncSession, data: s.OfficeCreate, *, now: datetime) -> s.Office:
    """An office and the ledger account of the fees it collects and has not yet sent to the Treasury.

    Offices of one agency share its Treasury account, so each sweep of the agency has one destination.
    """
    fits_a_qr(data.name, 25, field="name")
    fits_a_qr(data.city, 15, field="city")
    agency_account = await session.scalar(
        select(Office.treasury_account).where(Office.agency_code == data.agency_code).limit(1)
    )
    if agency_account is not None and agency_account != data.treasury_account:
        other = Text(
            f"Cơ quan này nộp KBNN vào tài khoản {agency_account}",
            f"This agency remits to Treasury account {agency_account}",
        )
        raise InvalidField(other, field="treasury_account")
    if await session.scalar(select(Office.id).where(Office.code == data.code)) is not None:
        raise InvalidField(Text("Mã bộ phận đã tồn tại", "An office with this code exists"), field="code")
    taken = select(Office.id).where(Office.bank_bin == data.bank_bin, Office.account_number == data.account_number)
    if await session.scalar(taken) is not None:
        raise InvalidField(
            Text("Tài khoản này đã là tài khoản thu của bộ phận khác", "Another office collects into this account"),
            field="account_number",
        )
    if banks.by_bin(data.bank_bin) is None:
        unknown = Text("Không có ngân hàng với BIN này", "No bank has this BIN")
        raise InvalidField(unknown, field="bank_bin")
    await ledger.open_bank_account(
        session,
        bank_bin=data.bank_bin,
        account_number=data.account_number,
        holder_name=data.name,
        purpose=ledger.BankAccountPurpose.FEE_COLLECTION,
        now=now,
    )
    account_id = await ledger.open_account(
        session,
        code=office_account_code(data.code),
        name=f"Phí, lệ phí đã thu chờ nộp KBNN: {data.name}",
        kind=ledger.AccountKind.LIABILITY,
        no_overdraft=True,
        now=now,
    )
    fields = {field: getattr(data, field) for field in data.__struct_fields__}
    office = Office(**fields, account_id=account_id, created_at=now)
    session.add(office)
    await session.flush()
    return office_view(office)


async def list_offices(session: AsyncSession) -> list[s.Office]:
    return [office_view(office) for office in await session.scalars(select(Office).order_by(Office.id))]


async def _office(session: AsyncSession, office_id: int) -> Office:
    office = await session.get(Office, office_id)
    if office is None:
        raise OfficeNotFound()
    return office


def counter_view(counter: Counter) -> s.Counter:
    return s.Counter(
        id=counter.id, office_id=counter.office_id, name=counter.name, display_url=f"/counter/{counter.id}"
    )


async def create_counter(session: AsyncSession, office_id: int, data: s.CounterCreate, *, now: datetime) -> s.Counter:
    await _office(session, office_id)
    taken = select(Counter.id).where(Counter.office_id == office_id, Counter.name == data.name)
    if await session.scalar(taken) is not None:
        raise InvalidField(Text("Bộ phận đã có quầy tên này", "The office has a counter of this name"), field="name")
    counter = Counter(office_id=office_id, name=data.name, created_at=now)
    session.add(counter)
    await session.flush()
    return counter_view(counter)


async def list_counters(session: AsyncSession, office_id: int) -> list[s.Counter]:
    await _office(session, office_id)
    counters = await session.scalars(select(Counter).where(Counter.office_id == office_id).order_by(Counter.id))
    return [counter_view(counter) for counter in counters]


async def assign_clerk(session: AsyncSession, office_id: int, data: s.ClerkAssign) -> None:
    """Place a clerk at an office (moving them if they worked elsewhere)."""
    await _office(session, office_id)
    user = await session.scalar(select(User).where(User.phone == auth.phone_or_error(data.phone)))
    if user is None or user.role != Role.CLERK.value:
        missing = Text("Không có cán bộ một cửa với số điện thoại này", "No clerk has this phone number")
        raise InvalidField(missing, field="phone")
    clerk = await session.get(Clerk, user.id)
    if clerk is None:
        session.add(Clerk(user_id=user.id, office_id=office_id))
    else:
        clerk.office_id = office_id
    await session.flush()


@dataclass(frozen=True, slots=True)
class CounterAt:
    counter: Counter
    office: Office


async def counter_at(session: AsyncSession, counter_id: int, *, field: str | None = None) -> CounterAt:
    row = (
        await session.execute(
            select(Counter, Office).join(Office, Office.id == Counter.office_id).where(Counter.id == counter_id)
        )
    ).first()
    if row is None:
        raise CounterNotFound(field=field)
    return CounterAt(row[0], row[1])


def payment_code(collection: FeeCollection, office: Office) -> str:
    """The dynamic VietQR of a collection: the office's account, the amount, the reference where banks look."""
    return vietqr.encode(
        vietqr.VietQr(
            bin=office.bank_bin,
            account=office.account_number,
            initiation="dynamic",
            amount_vnd=collection.amount_vnd,
            purpose=collection.reference,
            reference=collection.reference,
            terminal=f"Q{collection.counter_id}",
            merchant_name=vietqr.fit_for_qr(office.name, 25),
            city=vietqr.fit_for_qr(office.city, 15),
        )
    )


def current_status(collection: FeeCollection, now: datetime) -> CollectionStatus:
    """An open collection past its expiry is expired, whether or not a transaction has yet said so."""
    status = CollectionStatus(collection.status)
    if status == CollectionStatus.OPEN and now >= collection.expires_at:
        return CollectionStatus.EXPIRED
    return status


def _dossier(collection: FeeCollection) -> dict[str, Any]:
    """What a collection and its receipt both say of the fee and the dossier it is for."""
    return {
        "reference": collection.reference,
        "procedure_code": collection.procedure_code,
        "procedure_name": collection.procedure_name,
        "dossier_number": collection.dossier_number,
        "payer_name": collection.payer_name,
        "kind": FeeKind(collection.kind),
        "amount_vnd": collection.amount_vnd,
        "amount_display": format_vnd(collection.amount_vnd),
    }


def collection_view(collection: FeeCollection, office: Office, now: datetime) -> s.Collection:
    return s.Collection(
        id=collection.id,
        office_id=collection.office_id,
        counter_id=collection.counter_id,
        status=current_status(collection, now),
        payee=office.name,
        vietqr=payment_code(collection, office),
        created_at=collection.created_at,
        expires_at=collection.expires_at,
        paid_at=collection.paid_at,
        paid_by=PaidBy(collection.paid_by) if collection.paid_by else None,
        receipt_number=collection.receipt_number,
        **_dossier(collection),
    )


def state_message(collection: FeeCollection, now: datetime) -> dict[str, Any]:
    """What the counter's screen is told of its collection."""
    return {
        "collection_id": collection.id,
        "status": current_status(collection, now).value,
        "receipt_number": collection.receipt_number,
    }


async def announce(session: AsyncSession, collection: FeeCollection, now: datetime) -> None:
    """Tell the counter's screen what became of its collection, once this transaction commits."""
    await events.announce(session, counter_topic(collection.counter_id), state_message(collection, now))


async def _office_of_clerk(session: AsyncSession, clerk_user_id: int) -> int | None:
    """The office a clerk is placed at; None for a clerk placed nowhere yet."""
    office_id: int | None = await session.scalar(select(Clerk.office_id).where(Clerk.user_id == clerk_user_id))
    return office_id


async def _clerk_office(session: AsyncSession, clerk_user_id: int) -> int:
    office_id = await _office_of_clerk(session, clerk_user_id)
    if office_id is None:
        raise NotYourOffice()
    return office_id


async def create_collection(
    session: AsyncSession, settings: Settings, *, clerk_user_id: int, data: s.CollectionCreate, now: datetime
) -> s.Collection:
    """A collection at one of the clerk's counters, open for ``collection_ttl_seconds``."""
    place = await counter_at(session, data.counter_id, field="counter_id")
    if place.office.id != await _clerk_office(session, clerk_user_id):
        raise NotYourOffice(field="counter_id")
    collection = FeeCollection(
        office_id=place.office.id,
        counter_id=place.counter.id,
        clerk_user_id=clerk_user_id,
        procedure_code=data.procedure_code,
        procedure_name=data.procedure_name,
        dossier_number=data.dossier_number,
        payer_name=data.payer_name,
        kind=data.kind.value,
        amount_vnd=data.amount_vnd,
        status=CollectionStatus.OPEN.value,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.collection_ttl_seconds),
    )
    session.add(collection)
    await session.flush()
    await announce(session, collection, now)
    return collection_view(collection, place.office, now)


async def locked_collection(session: AsyncSession, collection_id: int, *, field: str | None = None) -> FeeCollection:
    """Lock, re-check, transition: every change to a collection starts here."""
    collection = await session.scalar(
        select(FeeCollection)
        .where(FeeCollection.id == collection_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if collection is None:
        raise CollectionNotFound(field=field)
    return collection


def expire_if_due(collection: FeeCollection, now: datetime) -> None:
    """Record the expiry of a locked collection that is open only in name."""
    if current_status(collection, now) == CollectionStatus.EXPIRED:
        collection.status = CollectionStatus.EXPIRED.value
        collection.closed_at = collection.expires_at


async def _clerks_collection(
    session: AsyncSession, *, user_id: int, role: Role, collection_id: int, lock: bool
) -> tuple[FeeCollection, Office]:
    """A collection of the caller's office (finance officers see every office's).

    Another office's collection answers 404 exactly as one that does not exist, also to a clerk placed at
    no office: a 403 there would tell which ids exist.
    """
    found = await locked_collection(session, collection_id) if lock else await session.get(FeeCollection, collection_id)
    if found is None or (role == Role.CLERK and found.office_id != await _office_of_clerk(session, user_id)):
        raise CollectionNotFound()
    return found, await _office(session, found.office_id)


async def get_collection(
    session: AsyncSession, *, user_id: int, role: Role, collection_id: int, now: datetime
) -> s.Collection:
    collection, office = await _clerks_collection(
        session, user_id=user_id, role=role, collection_id=collection_id, lock=False
    )
    return collection_view(collection, office, now)


async def cancel_collection(
    session: AsyncSession, *, clerk_user_id: int, collection_id: int, now: datetime
) -> s.Collection:
    """Withdraw an open collection; a payment arriving later goes to suspense, never to the office."""
    collection, office = await _clerks_collection(
        session, user_id=clerk_user_id, role=Role.CLERK, collection_id=collection_id, lock=True
    )
    expire_if_due(collection, now)
    if collection.status != CollectionStatus.OPEN:
        raise CollectionClosed(collection_status=collection.status)
    collection.status = CollectionStatus.CANCELLED.value
    collection.closed_at = now
    await session.flush()
    await announce(session, collection, now)
    return collection_view(collection, office, now)


def receipt_number(collection: FeeCollection, office: Office, paid_at: datetime) -> str:
    """Unique because the collection id is; readable: office, year, number (số biên lai)."""
    return f"{office.code}-{paid_at:%Y}-{collection.id:07d}"


async def mark_paid(
    session: AsyncSession,
    collection: FeeCollection,
    office: Office,
    *,
    by: PaidBy,
    transfer_id: int,
    now: datetime,
    wallet_id: int | None = None,
    notification_id: int | None = None,
) -> None:
    """Record the payment of a locked, open collection whose money is booked, and tell its counter."""
    collection.status = CollectionStatus.PAID.value
    collection.paid_at = now
    collection.paid_by = by.value
    collection.transfer_id = transfer_id
    collection.payer_wallet_id = wallet_id
    collection.bank_notification_id = notification_id
    collection.receipt_number = receipt_number(collection, office, now)
    await session.flush()
    await announce(session, collection, now)


async def receipt(session: AsyncSession, *, user_id: int, role: Role, collection_id: int) -> s.Receipt:
    collection, office = await _clerks_collection(
        session, user_id=user_id, role=role, collection_id=collection_id, lock=False
    )
    if collection.receipt_number is None or collection.paid_at is None or collection.paid_by is None:
        raise CollectionNotFound(Text("Khoản thu chưa được thanh toán", "The fee collection is not paid"))
    return s.Receipt(
        receipt_number=collection.receipt_number,
        agency_name=office.agency_name,
        office_name=office.name,
        paid_at=collection.paid_at,
        paid_by=PaidBy(collection.paid_by),
        **_dossier(collection),
    )


async def refund_collection(
    session: AsyncSession, *, officer_user_id: int, collection_id: int, reason: str, now: datetime
) -> s.Collection:
    """Give a paid fee back (a finance officer's decision, audited), before it is swept to the Treasury.

    Paid from a wallet, it goes back to that wallet. Paid by a bank transfer, it goes to suspense as a
    transfer to return, since only the bank knows the paying account: the finance officers' suspense
    list shows it, and returning it from there books it out to the bank. After the sweep the agency
    refunds from the budget, outside this system.
    """
    collection, office = await _clerks_collection(
        session, user_id=officer_user_id, role=Role.FINANCE_OFFICER, collection_id=collection_id, lock=True
    )
    if collection.status != CollectionStatus.PAID or collection.swept_by_id is not None:
        raise CollectionNotRefundable(collection_status=collection.status, swept=collection.swept_by_id is not None)
    if collection.bank_notification_id is not None:
        back_to = await suspense_account(session, now)
        await reopen_in_suspense(session, collection.bank_notification_id, reason="fee_refund")
    else:
        payment = await session.get(ledger.Transfer, collection.transfer_id)
        assert payment is not None  # noqa: S101 - a paid collection names its transfer
        back_to = payment.debit_account_id  # the wallet it came from
    spec = ledger.TransferSpec(
        debit_account_id=office.account_id,
        credit_account_id=back_to,
        amount_vnd=collection.amount_vnd,
        category=Category.RETURN,
        reference=collection.reference,
        metadata={"memo": f"Hoàn phí {collection.reference}: {reason}", "collection": collection.id},
    )
    posted = await ledger.post_entry(session, [spec], now=now, description="fee refund")
    await audit.record(
        session,
        actor_user_id=officer_user_id,
        action="collection.refund",
        subject_type="fee_collection",
        subject_id=collection.id,
        reason=reason,
        details={"amount_vnd": collection.amount_vnd, "transfer_id": posted.transfer_ids[0]},
        now=now,
    )
    collection.status = CollectionStatus.REFUNDED.value
    collection.closed_at = now
    await session.flush()
    await announce(session, collection, now)
    return collection_view(collection, office, now)
