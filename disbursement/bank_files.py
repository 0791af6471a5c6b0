"""Paying bank items by file: pain.001 out per destination bank, pain.002 status reports back.

Sending (``send_pending``, run by the disbursement job once a batch's wallet items are done): per batch and
destination bank, chunk after chunk of ``disbursement_chunk_size`` items, one transaction each claims the
items (``FOR UPDATE SKIP LOCKED``, so workers share a batch), records each beneficiary's ``Payment`` under the
UNIQUE (programme, period, citizen ID) as wallet items do, draws their money from the batch's hold to the
bank-payout clearing account (a liability: money on its way out of our bank account), writes the file row with
its pain.001 document and the outbox message that hands it to the bank, and marks the items sent. Nothing of a
chunk exists without the rest.

The money leaves the books' bank account only on the bank's word, as a withdrawal's does: ACSC moves it from
the clearing account out of our pooled bank account (the one the programmes' budget arrived in and the file's
debtor); RJCT moves it back to the programme's funding, fails the item with the bank's reason and flags the
beneficiary for follow-up, and frees the (programme, period, citizen) so a corrected row can pay them. A
report is applied whole or not at all; an item already final in the way the report says is left as it is, so
the same report twice changes nothing; one that says the opposite is refused. When no bank item of a batch
waits any more, the batch completes and its hold's remainder goes back to the funding.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay import audit, outbox
from civicpay.clock import Clock
from civicpay.db import UnitsOfWork, table_of
from civicpay.errors import Text
from civicpay.settings import Settings
from disbursement import payout_files, programmes
from disbursement.errors import BatchNotFound, PayoutFileNotFound, StatusContradiction, UnreadableStatusReport
from disbursement.models import (
    ITEM_REFERENCE,
    PAYOUT_FILE_REFERENCE,
    Batch,
    BatchStatus,
    Item,
    ItemStatus,
    Payment,
    PayoutFile,
    PayoutFileStatus,
)
from wallet import BankPayouts, ledger, wallet_pool_account

logger = logging.getLogger(__name__)

# The outbox message that hands a committed file to the bank.
SEND = "disbursement.payout_file.send"
CLEARING = "liability:disbursement:bank_payouts"
WAITING = (ItemStatus.PENDING_BANK.value, ItemStatus.SENT_TO_BANK.value)

_item = table_of(Item)

# One statement for the whole chunk (executemany), not one round trip per item.
_MARK_SENT = (
    update(_item)
    .where(_item.c.id == bindparam("item"), _item.c.status == ItemStatus.PENDING_BANK.value)
    .values(status=ItemStatus.SENT_TO_BANK.value, payout_file_id=bindparam("file"), transfer_id=bindparam("transfer"))
)
# PostgreSQL: the same, for the whole file in one statement rather than one execution per item.
_MARK_SENT_UNNEST = text(
    "UPDATE disbursement_item SET status = 'sent_to_bank', payout_file_id = CAST(:file AS bigint),"
    " transfer_id = p.transfer"
    " FROM unnest(CAST(:items AS bigint[]), CAST(:transfers AS bigint[])) AS p(item, transfer)"
    " WHERE disbursement_item.id = p.item AND disbursement_item.status = 'pending_bank'"
)


async def clearing_account(session: AsyncSession, now: datetime) -> int:
    """Money drawn for bank items and sent in files, not yet confirmed or refused by the bank."""
    return await ledger.open_account(
        session,
        code=CLEARING,
        name="Tiền chi trả đang chuyển qua ngân hàng",
        kind=ledger.AccountKind.LIABILITY,
        no_overdraft=True,
        now=now,
    )


async def send_pending(units: UnitsOfWork, settings: Settings, clock: Clock, *, batch_id: int | None = None) -> int:
    """Write a payout file for every chunk of bank items waiting in batches whose wallet items are done."""
    async with units() as unit:
        wanted = (
            select(Item.batch_id, Item.bank_bin)
            .join(Batch, Batch.id == Item.batch_id)
            .where(Batch.status == BatchStatus.AWAITING_BANK.value, Item.status == ItemStatus.PENDING_BANK.value)
            .distinct()
            .order_by(Item.batch_id, Item.bank_bin)
        )
        if batch_id is not None:
            wanted = wanted.where(Item.batch_id == batch_id)
        pairs = [(row.batch_id, row.bank_bin) for row in await unit.session.execute(wanted)]
    written = 0
    for batch, bank_bin in pairs:
        while True:
            async with units() as unit:
                made = await write_file(unit.session, settings, batch, bank_bin, now=clock.now())
            if made is None:
                break
            written += 1
    return written


async def write_file(
    session: AsyncSession, settings: Settings, batch_id: int, bank_bin: str, *, now: datetime
) -> int | None:
    """One chunk of a batch's items to one bank: money, file and outbox message together; the file's id."""
    batch = await session.get(Batch, batch_id)
    if batch is None or batch.status != BatchStatus.AWAITING_BANK or batch.hold_id is None:
        return None
    claimed = (
        await session.execute(
            select(_item)
            .where(
                _item.c.batch_id == batch_id,
                _item.c.bank_bin == bank_bin,
                _item.c.status == ItemStatus.PENDING_BANK.value,
            )
            .order_by(_item.c.id)
            .limit(max(1, settings.disbursement_chunk_size))
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not claimed:
        return None
    programme = await programmes.get(session, batch.programme_id)
    first_time = await programmes.first_payments(session, programme.id, claimed, now=now)
    if failing := [item.id for item in claimed if item.id not in first_time]:
        await session.execute(
            update(_item)
            .where(_item.c.id.in_(failing), _item.c.status == ItemStatus.PENDING_BANK.value)
            .values(status=ItemStatus.FAILED.value, failure="already_paid")
        )
    paying = [item for item in claimed if item.id in first_time]
    if not paying:
        return None if not failing else await write_file(session, settings, batch_id, bank_bin, now=now)
    clearing = await clearing_account(session, now)
    pool = await wallet_pool_account(session, settings, now)
    debtor_bin, debtor_number = await ledger.bank_account_behind(session, pool)
    category = programmes.category_of(programme.kind)
    entries = [
        ledger.EntrySpec(
            transfers=[
                ledger.TransferSpec(
                    debit_account_id=programme.funding_account_id,
                    credit_account_id=clearing,
                    amount_vnd=item.amount_vnd,
                    category=category,
                    reference=ITEM_REFERENCE.encode(item.id),
                    metadata={"batch_id": batch_id, "bank_bin": bank_bin},
                )
            ],
            description=f"disbursement to bank {ITEM_REFERENCE.encode(item.id)}",
        )
        for item in paying
    ]
    posted = await ledger.draw_hold(session, batch.hold_id, entries, now=now)
    reference = PAYOUT_FILE_REFERENCE.random()
    document = payout_files.write_pain001(
        payout_files.PayoutFile(
            message_id=reference,
            created_at=now,
            execution_date=now.astimezone(ZoneInfo(settings.business_timezone)).date(),
            debtor_name=settings.operator_account_name,
            debtor_bank_bin=debtor_bin,
            debtor_account_number=debtor_number,
            creditor_bank_bin=bank_bin,
            transfers=[
                payout_files.CreditTransfer(
                    end_to_end_id=ITEM_REFERENCE.encode(item.id),
                    amount_vnd=item.amount_vnd,
                    account_number=item.account_number,
                    holder_name=item.holder_name,
                    # The reference first: the text is cut to 140 characters, the programme's name may be long.
                    remittance=f"{ITEM_REFERENCE.encode(item.id)} {programme.name} ky {item.period}",
                )
                for item in paying
            ],
        )
    )
    row = PayoutFile(
        batch_id=batch_id,
        reference=reference,
        bank_bin=bank_bin,
        debtor_bank_bin=debtor_bin,
        debtor_account_number=debtor_number,
        item_count=len(paying),
        total_vnd=sum(item.amount_vnd for item in paying),
        status=PayoutFileStatus.QUEUED.value,
        document=document,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            _MARK_SENT_UNNEST,
            {"file": row.id, "items": [item.id for item in paying], "transfers": [e.transfer_ids[0] for e in posted]},
        )
    else:
        await session.execute(
            _MARK_SENT,
            [
                {"item": item.id, "file": row.id, "transfer": entry.transfer_ids[0]}
                for item, entry in zip(paying, posted, strict=True)
            ],
        )
    await outbox.enqueue(session, kind=SEND, payload={"file_id": row.id}, key=f"payout-file:{reference}", now=now)
    return row.id


async def send(units: UnitsOfWork, bank: BankPayouts, *, file_id: int, now: datetime) -> None:
    """Hand a committed file to the bank; raises when the bank cannot take it now (the outbox retries)."""
    async with units() as unit:
        row = await unit.session.get(PayoutFile, file_id)
        if row is None or row.status != PayoutFileStatus.QUEUED:
            return
        document = row.document
    await bank.send_payment_file(document)
    async with units() as unit:
        await unit.session.execute(
            update(PayoutFile)
            .where(PayoutFile.id == file_id, PayoutFile.status == PayoutFileStatus.QUEUED.value)
            .values(status=PayoutFileStatus.SENT.value, sent_at=now)
        )


def handler(units: UnitsOfWork, bank: BankPayouts, clock: Clock) -> outbox.Handler:
    """Delivers ``SEND`` messages (registered with the dispatcher by bootstrap)."""

    async def deliver(payload: dict[str, Any], _key: str) -> None:
        await send(units, bank, file_id=int(payload["file_id"]), now=clock.now())

    return deliver


class StatusReceipt(msgspec.Struct):
    """What a status report changed: items confirmed and failed now, and those it left as they were."""

    report_id: str
    file_reference: str
    confirmed: int
    failed: int
    unchanged: int
    file_status: PayoutFileStatus


def _unreadable(where: str, why: str) -> UnreadableStatusReport:
    return UnreadableStatusReport(Text(f"{where}: {why}", f"{where}: {why}"), field=where)


async def receive_status_report(session: AsyncSession, data: bytes, *, now: datetime) -> StatusReceipt:
    """Apply a bank's pain.002 to the file it answers, whole or not at all."""
    try:
        report = payout_files.read_pain002(data)
    except payout_files.UnreadableStatusReport as unreadable:
        raise _unreadable(unreadable.where, unreadable.why) from None
    row = await session.scalar(
        select(PayoutFile)
        .where(PayoutFile.reference == report.original_message_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise PayoutFileNotFound(field="OrgnlGrpInfAndSts/OrgnlMsgId")
    items = {
        ITEM_REFERENCE.encode(item.id): item
        for item in await session.scalars(
            select(Item)
            .where(Item.payout_file_id == row.id)
            .order_by(Item.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    said: list[tuple[Item, payout_files.TransactionStatus]] = []
    for status in report.transactions:
        item = items.get(status.end_to_end_id)
        if item is None:
            raise _unreadable("OrgnlEndToEndId", f"{status.end_to_end_id[:35]} is not in file {row.reference}")
        said.append((item, status))
    if not report.transactions and report.group_status is not None:
        # The whole file answered at once (refused, say): the group's word stands for every item.
        said = [
            (
                item,
                payout_files.TransactionStatus(
                    ref, report.group_status, report.group_reason_code, report.group_reason_text
                ),
            )
            for ref, item in items.items()
        ]
    confirming, rejecting, unchanged = [], [], 0
    for item, status in said:
        final = (
            ItemStatus.BANK_CONFIRMED
            if status.status in payout_files.CONFIRMED
            else ItemStatus.FAILED
            if status.status in payout_files.REJECTED
            else None
        )
        if final is None or item.status == final:
            unchanged += 1
        elif item.status != ItemStatus.SENT_TO_BANK:
            logger.error(
                "payout file %s: the bank now says %s of %s", row.reference, status.status, status.end_to_end_id
            )
            raise StatusContradiction(field="TxSts", end_to_end_id=status.end_to_end_id, recorded=item.status)
        elif final == ItemStatus.BANK_CONFIRMED:
            confirming.append(item)
        else:
            rejecting.append((item, status))
    if confirming or rejecting:
        await _settle(session, row, confirming, rejecting, now)
        # The bank's word, kept where finance looks for who decided what (no person: the bank's signed report).
        await audit.record(
            session,
            actor_user_id=None,
            action="disbursement.payout_file.status_report",
            subject_type="disbursement_payout_file",
            subject_id=row.id,
            reason=f"pain.002 {report.message_id[:35]} from the bank",
            details={
                "report_id": report.message_id,
                "confirmed": [ITEM_REFERENCE.encode(item.id) for item in confirming],
                "rejected": {ITEM_REFERENCE.encode(item.id): status.reason_code for item, status in rejecting},
            },
            now=now,
        )
    waiting = await session.scalar(
        select(func.count()).where(Item.payout_file_id == row.id, Item.status == ItemStatus.SENT_TO_BANK.value)
    )
    if not waiting and row.status != PayoutFileStatus.COMPLETED:
        row.status, row.completed_at = PayoutFileStatus.COMPLETED.value, now
        row.sent_at = row.sent_at or now  # its report came before our mark of its sending
    await session.flush()
    await finish_after_bank(session, row.batch_id, now=now)
    return StatusReceipt(
        report_id=report.message_id,
        file_reference=row.reference,
        confirmed=len(confirming),
        failed=len(rejecting),
        unchanged=unchanged,
        file_status=PayoutFileStatus(row.status),
    )


async def _settle(
    session: AsyncSession,
    row: PayoutFile,
    confirming: list[Item],
    rejecting: list[tuple[Item, payout_files.TransactionStatus]],
    now: datetime,
) -> None:
    batch = await session.get(Batch, row.batch_id)
    assert batch is not None  # noqa: S101 - a foreign key
    programme = await programmes.get(session, batch.programme_id)
    category = programmes.category_of(programme.kind)
    clearing = await clearing_account(session, now)
    pool = await ledger.bank_account_of(session, row.debtor_bank_bin, row.debtor_account_number)
    assert pool is not None  # noqa: S101 - the file was written from it
    entries = []
    for item in confirming:
        # The bank paid it: the money has left our bank account.
        entries.append(_entry(clearing, pool, item, category, "bank confirmed", row))
    for item, _status in rejecting:
        # The bank refused it: the money is the programme's again.
        entries.append(_entry(clearing, programme.funding_account_id, item, category, "bank rejected", row))
    await ledger.post_entries(session, entries, now=now)
    if confirming:
        await session.execute(
            update(Item)
            .where(Item.id.in_([item.id for item in confirming]))
            .values(status=ItemStatus.BANK_CONFIRMED.value, paid_at=now),
            execution_options={"synchronize_session": False},
        )
    for item, status in rejecting:
        await session.execute(
            update(Item)
            .where(Item.id == item.id)
            .values(
                status=ItemStatus.FAILED.value,
                failure=(status.reason_code or "RJCT")[:40],
                failure_detail=_reason_text(status),
                follow_up=True,
            ),
            execution_options={"synchronize_session": False},
        )
    if rejecting:
        # Not paid after all: a corrected row in a later batch may pay them for this period.
        await session.execute(delete(Payment).where(Payment.item_id.in_([item.id for item, _ in rejecting])))


def _reason_text(status: payout_files.TransactionStatus) -> str:
    known = payout_files.REASONS.get(status.reason_code or "")
    words = status.reason_text or (known[1] if known else "")
    return words[:140]


def _entry(debit: int, credit: int, item: Item, category: Any, words: str, row: PayoutFile) -> ledger.EntrySpec:
    reference = ITEM_REFERENCE.encode(item.id)
    assert item.amount_vnd is not None  # noqa: S101 - only valid items are sent
    return ledger.EntrySpec(
        transfers=[
            ledger.TransferSpec(
                debit_account_id=debit,
                credit_account_id=credit,
                amount_vnd=item.amount_vnd,
                category=category,
                reference=reference,
                metadata={"batch_id": row.batch_id, "payout_file": row.reference},
            )
        ],
        description=f"disbursement {words} {reference}",
    )


async def finish_after_bank(session: AsyncSession, batch_id: int, *, now: datetime) -> bool:
    """Complete a batch waiting for the bank once none of its items waits: the hold's rest goes back."""
    batch = await session.scalar(
        select(Batch).where(Batch.id == batch_id).with_for_update().execution_options(populate_existing=True)
    )
    if batch is None or batch.status != BatchStatus.AWAITING_BANK or batch.hold_id is None:
        return False
    waiting = await session.scalar(
        select(func.count()).where(_item.c.batch_id == batch_id, _item.c.status.in_(WAITING))
    )
    if waiting:
        return False
    batch.released_vnd = await ledger.release_hold(session, batch.hold_id, now=now)
    batch.status, batch.finished_at = BatchStatus.COMPLETED.value, now
    await session.flush()
    return True


class PayoutFileView(msgspec.Struct):
    id: int
    batch_id: int
    reference: str
    bank_bin: str
    debtor_bank_bin: str
    debtor_account_number: str
    item_count: int
    total_vnd: int
    status: PayoutFileStatus
    created_at: datetime
    sent_at: datetime | None
    completed_at: datetime | None


async def files_of(session: AsyncSession, batch_id: int) -> list[PayoutFileView]:
    if await session.get(Batch, batch_id) is None:
        raise BatchNotFound()
    rows = await session.scalars(select(PayoutFile).where(PayoutFile.batch_id == batch_id).order_by(PayoutFile.id))
    return [
        PayoutFileView(
            id=row.id,
            batch_id=row.batch_id,
            reference=row.reference,
            bank_bin=row.bank_bin,
            debtor_bank_bin=row.debtor_bank_bin,
            debtor_account_number=row.debtor_account_number,
            item_count=row.item_count,
            total_vnd=row.total_vnd,
            status=PayoutFileStatus(row.status),
            created_at=row.created_at,
            sent_at=row.sent_at,
            completed_at=row.completed_at,
        )
        for row in rows
    ]


async def document(session: AsyncSession, file_id: int) -> tuple[str, bytes]:
    """A file's reference and its pain.001 exactly as sent."""
    row = await session.get(PayoutFile, file_id)
    if row is None:
        raise PayoutFileNotFound()
    return row.reference, row.document


class FollowUpView(msgspec.Struct):
    item_id: int
    reference: str
    row: int
    citizen_id: str
    full_name: str
    amount_vnd: int
    bank_bin: str
    account_number: str
    status: ItemStatus
    failure: str | None
    failure_detail: str | None
    follow_up: bool


async def follow_ups(session: AsyncSession, batch_id: int) -> list[FollowUpView]:
    """The batch's beneficiaries flagged for follow-up (a bank refused their account), in row order."""
    if await session.get(Batch, batch_id) is None:
        raise BatchNotFound()
    rows = await session.scalars(
        select(Item).where(Item.batch_id == batch_id, Item.follow_up.is_(True)).order_by(Item.row)
    )
    return [
        FollowUpView(
            item_id=item.id,
            reference=ITEM_REFERENCE.encode(item.id),
            row=item.row,
            citizen_id=item.citizen_id,
            full_name=item.full_name,
            amount_vnd=item.amount_vnd or 0,
            bank_bin=item.bank_bin,
            account_number=item.account_number,
            status=ItemStatus(item.status),
            failure=item.failure,
            failure_detail=item.failure_detail,
            follow_up=item.follow_up,
        )
        for item in rows
    ]
