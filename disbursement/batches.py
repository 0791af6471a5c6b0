"""Batches (đợt chi trả): an uploaded file validated into a per-row report, then approved by a second officer.

Validation moves no money: it reads the whole file (a file unreadable half-way stores nothing), finds each
row's problems, and stores every row as an item, valid or not, so the report can always be shown again.
Approval reserves the valid rows' total as one hold on the programme's funding account, so nothing else can
spend it; the workers then draw from that hold chunk by chunk (``execution``).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay import audit
from civicpay.auth.approval import checker_approves, refuse_maker
from civicpay.auth.identity import folded_name
from civicpay.errors import Text
from civicpay.money import format_vnd
from civicpay.settings import Settings
from civicpay.table_files import UnreadableFile
from disbursement import batch_files, programmes, unclaimed
from disbursement import schemas as s
from disbursement.batch_files import PROBLEMS, BatchRow
from disbursement.errors import (
    BatchNotFound,
    BatchNotValidated,
    InsufficientFunding,
    NothingToPay,
    UnreadableBatchFile,
)
from disbursement.models import (
    BATCH_REFERENCE,
    Batch,
    BatchStatus,
    Destination,
    Item,
    ItemStatus,
    Payment,
    Programme,
)
from wallet import await_wallets, holders_by_citizen_id, ledger

# Items are written this many at a time: few statements, and a progress bar that moves.
WRITE_CHUNK = 5000
# What the workers are done with: an unclaimed item is, once its money waits in the claims account.
FINAL = (
    ItemStatus.PAID_TO_WALLET,
    ItemStatus.BANK_CONFIRMED,
    ItemStatus.FAILED,
    ItemStatus.HELD_UNCLAIMED,
    ItemStatus.CLAIMED,
    ItemStatus.RETURNED,
)

Step = Callable[[int], None]


def read_file(data: bytes, name: str, max_amount_vnd: int) -> list[BatchRow]:
    """Every row of an upload with the problems it shows on its own; refuses a file that is not the layout."""
    try:
        table = batch_files.open_table(data, name)
        rows = [
            row
            for number, cells in table.rows
            if (row := batch_files.read_row(number, table.columns, cells, max_amount_vnd)) is not None
        ]
    except UnreadableFile as unreadable:
        raise UnreadableBatchFile(unreadable.text, field="file") from None
    if not rows:
        raise UnreadableBatchFile(Text(f"{name}: không có dòng nào", f"{name}: no rows under the header"), field="file")
    return rows


async def validate(
    session: AsyncSession,
    programme: Programme,
    rows: list[BatchRow],
    *,
    file_name: str,
    officer_id: int,
    now: datetime,
    step: Step | None = None,
) -> Batch:
    """Find what needs the database (unknown citizen, name mismatch, duplicate, already paid) and store the batch."""
    wallet_accounts = await _check_against_records(session, programme, rows)
    valid = [row for row in rows if not row.problems]
    by_destination: dict[str, list[int]] = defaultdict(list)
    for row in valid:
        by_destination[row.destination].append(row.amount_vnd or 0)
    batch = Batch(
        programme_id=programme.id,
        file_name=file_name[:200],
        status=BatchStatus.VALIDATED.value,
        made_by=officer_id,
        row_count=len(rows),
        invalid_count=len(rows) - len(valid),
        wallet_count=len(by_destination[Destination.WALLET]),
        wallet_total_vnd=sum(by_destination[Destination.WALLET]),
        bank_count=len(by_destination[Destination.BANK]),
        bank_total_vnd=sum(by_destination[Destination.BANK]),
        unclaimed_count=len(by_destination[Destination.UNCLAIMED]),
        unclaimed_total_vnd=sum(by_destination[Destination.UNCLAIMED]),
        created_at=now,
    )
    session.add(batch)
    await session.flush()
    postgres = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(rows), WRITE_CHUNK):
        chunk = rows[start : start + WRITE_CHUNK]
        items = [_item(batch.id, row, wallet_accounts) for row in chunk]
        if postgres:
            await session.execute(_UNNEST_ITEMS, _columns(items))
        else:
            await session.execute(insert(Item), items)
        if step is not None:
            step(len(chunk))
    return batch


# PostgreSQL: a chunk of items in one statement from arrays, a column each; the ORM's multi-row VALUES costs
# some 1.5 ms an item to build and send, more than the database's work. The same rows, the same constraints.
_UNNEST_ITEMS = text(
    """
INSERT INTO disbursement_item (batch_id, row, citizen_id, full_name, amount_vnd, period, destination, bank_bin,
                               account_number, holder_name, status, problems, wallet_account_id)
SELECT batch_id, row, citizen_id, full_name, amount_vnd, period, destination, bank_bin, account_number, holder_name,
       status, CAST(problems AS json), wallet_account_id
FROM unnest(CAST(:batch_id AS bigint[]), CAST(:row AS integer[]), CAST(:citizen_id AS text[]),
            CAST(:full_name AS text[]), CAST(:amount_vnd AS bigint[]), CAST(:period AS text[]),
            CAST(:destination AS text[]), CAST(:bank_bin AS text[]), CAST(:account_number AS text[]),
            CAST(:holder_name AS text[]), CAST(:status AS text[]), CAST(:problems AS text[]),
            CAST(:wallet_account_id AS bigint[]))
    AS i(batch_id, row, citizen_id, full_name, amount_vnd, period, destination, bank_bin, account_number,
         holder_name, status, problems, wallet_account_id)
"""
)
_ITEM_COLUMNS = (
    "batch_id", "row", "citizen_id", "full_name", "amount_vnd", "period", "destination", "bank_bin",
    "account_number", "holder_name", "status", "problems", "wallet_account_id",
)  # fmt: skip


def _columns(items: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {
        name: [json.dumps(item[name]) if name == "problems" else item[name] for item in items] for name in _ITEM_COLUMNS
    }


async def _check_against_records(
    session: AsyncSession, programme: Programme, rows: Sequence[BatchRow]
) -> dict[str, int]:
    """Add the problems only our records show; returns each known citizen's wallet account, by citizen ID."""
    keys = Counter((row.citizen_id, row.period) for row in rows)
    for row in rows:
        if keys[(row.citizen_id, row.period)] > 1 and row.citizen_id:
            # Every occurrence, not only the later ones: which of them is right is the officer's to say.
            row.refuse("duplicate_in_batch", "citizen_id")
    citizen_ids = {row.citizen_id for row in rows if len(row.citizen_id) == 12}
    to_wallets = (Destination.WALLET, Destination.UNCLAIMED)
    holders = await holders_by_citizen_id(
        session, {row.citizen_id for row in rows if row.destination in to_wallets} & citizen_ids
    )
    for row in rows:
        if row.destination not in to_wallets or row.citizen_id not in citizen_ids:
            continue
        holder = holders.get(row.citizen_id)
        if holder is None:
            if row.destination == Destination.WALLET:
                row.refuse("citizen_unknown", "citizen_id")
            continue
        # An unclaimed row whose citizen has a wallet already is a wallet row: nothing need wait for them.
        row.destination = Destination.WALLET.value
        if row.full_name and folded_name(holder.full_name) != folded_name(row.full_name):
            row.refuse("name_mismatch", "full_name")
    paid = await _paid_already(session, programme.id, citizen_ids)
    for row in rows:
        if (row.citizen_id, row.period) in paid:
            row.refuse("already_paid", "citizen_id")
    return {citizen_id: holder.account_id for citizen_id, holder in holders.items()}


async def _paid_already(session: AsyncSession, programme_id: int, citizen_ids: set[str]) -> set[tuple[str, str]]:
    wanted, found = sorted(citizen_ids), set[tuple[str, str]]()
    for start in range(0, len(wanted), 1000):
        rows = await session.execute(
            select(Payment.citizen_id, Payment.period).where(
                Payment.programme_id == programme_id, Payment.citizen_id.in_(wanted[start : start + 1000])
            )
        )
        found.update((row.citizen_id, row.period) for row in rows)
    return found


def _item(batch_id: int, row: BatchRow, wallet_accounts: dict[str, int]) -> dict[str, Any]:
    valid = not row.problems
    return {
        "batch_id": batch_id,
        "row": row.row,
        "citizen_id": row.citizen_id,
        "full_name": row.full_name,
        "amount_vnd": row.amount_vnd,
        "period": row.period,
        "destination": row.destination,
        "bank_bin": row.bank_bin,
        "account_number": row.account_number,
        "holder_name": row.holder_name,
        "status": (ItemStatus.VALID if valid else ItemStatus.INVALID).value,
        "problems": [list(problem) for problem in row.problems],
        "wallet_account_id": wallet_accounts.get(row.citizen_id) if valid else None,
        "transfer_id": None,
        "failure": None,
        "paid_at": None,
    }


def total_of(batch: Batch) -> int:
    """The valid rows' total: what approval holds."""
    return batch.wallet_total_vnd + batch.bank_total_vnd + batch.unclaimed_total_vnd


async def get(session: AsyncSession, batch_id: int) -> Batch:
    found = await session.get(Batch, batch_id)
    if found is None:
        raise BatchNotFound()
    return found


async def view(session: AsyncSession, batch: Batch) -> s.Batch:
    """The batch as an officer sees it: totals by destination, progress by item state, the invalid rows."""
    by_status = select(Item.status, func.count()).where(Item.batch_id == batch.id).group_by(Item.status)
    counts: dict[str, int] = dict((await session.execute(by_status)).all())
    by_state: dict[ItemStatus, int] = {
        status: counts.get(status.value, 0) for status in ItemStatus if status != ItemStatus.INVALID
    }
    approved = batch.status != BatchStatus.VALIDATED
    invalid = (
        await session.execute(
            select(Item.row, Item.citizen_id, Item.problems)
            .where(Item.batch_id == batch.id, Item.status == ItemStatus.INVALID.value)
            .order_by(Item.row)
            .limit(s.REPORT_ROWS)
        )
    ).all()
    return s.Batch(
        id=batch.id,
        programme_id=batch.programme_id,
        file_name=batch.file_name,
        status=BatchStatus(batch.status),
        made_by=batch.made_by,
        approved_by=batch.approved_by,
        rows=batch.row_count,
        valid=batch.row_count - batch.invalid_count,
        invalid=batch.invalid_count,
        total_vnd=total_of(batch),
        by_destination=[
            s.DestinationTotal(Destination.WALLET, batch.wallet_count, batch.wallet_total_vnd),
            s.DestinationTotal(Destination.BANK, batch.bank_count, batch.bank_total_vnd),
            s.DestinationTotal(Destination.UNCLAIMED, batch.unclaimed_count, batch.unclaimed_total_vnd),
        ],
        progress=s.Progress(
            done=sum(by_state[status] for status in FINAL) if approved else 0,
            total=batch.row_count - batch.invalid_count,
            by_state=by_state,
        ),
        released_vnd=batch.released_vnd,
        follow_up=await session.scalar(select(func.count()).where(Item.batch_id == batch.id, Item.follow_up.is_(True)))
        or 0,
        created_at=batch.created_at,
        approved_at=batch.approved_at,
        finished_at=batch.finished_at,
        report=[_row_report(row.row, row.citizen_id, row.problems) for row in invalid],
        report_truncated=batch.invalid_count > len(invalid),
    )


def _row_report(row: int, citizen_id: str, problems: list[Any]) -> s.RowReport:
    return s.RowReport(
        row=row,
        citizen_id=citizen_id,
        problems=[
            s.RowProblem(code=code, field=field, message_vi=PROBLEMS[code].vi, message_en=PROBLEMS[code].en)
            for code, field in problems
        ],
    )


async def approve(
    session: AsyncSession, settings: Settings, batch_id: int, *, officer_id: int, otp: str | None, now: datetime
) -> Batch:
    """A second officer approves with TOTP: the valid total is held on the programme's funding, items queued.

    Locked, re-checked, transitioned; the maker is refused before their code is looked at (and used up).
    """
    batch = await session.scalar(
        select(Batch).where(Batch.id == batch_id).with_for_update().execution_options(populate_existing=True)
    )
    if batch is None:
        raise BatchNotFound()
    if batch.status != BatchStatus.VALIDATED:
        raise BatchNotValidated(batch_status=batch.status)
    refuse_maker(maker_id=batch.made_by, checker_id=officer_id)
    total = total_of(batch)
    if total == 0:
        raise NothingToPay()
    await checker_approves(session, settings, maker_id=batch.made_by, checker_id=officer_id, otp=otp, now=now)
    programme = await programmes.get(session, batch.programme_id)
    locked = await ledger.lock_accounts(session, [programme.funding_account_id, programme.reserve_account_id])
    available = locked[programme.funding_account_id].available_vnd
    if available < total:
        raise InsufficientFunding(
            Text(
                f"Cần {format_vnd(total)}, nguồn vốn còn {format_vnd(available)}",
                f"The batch needs {format_vnd(total)}; the funding has {format_vnd(available)} available",
            ),
            needed_vnd=total,
            available_vnd=available,
        )
    reference = BATCH_REFERENCE.encode(batch.id)
    spec = ledger.TransferSpec(
        debit_account_id=programme.funding_account_id,
        credit_account_id=programme.reserve_account_id,
        amount_vnd=total,
        category=programmes.category_of(programme.kind),
        reference=reference,
        metadata={"batch_id": batch.id},
    )
    hold_id = await ledger.hold(session, spec, now=now, expires_at=None, locked=locked)
    if batch.unclaimed_count:
        await unclaimed.open_claims_account(session, programme, now=now)
        # The wallet room tells us (wallet.opened) when one of them signs up.
        awaited = select(Item.citizen_id).where(
            Item.batch_id == batch.id,
            Item.status == ItemStatus.VALID.value,
            Item.destination == Destination.UNCLAIMED.value,
        )
        await await_wallets(session, set(await session.scalars(awaited)), now=now)
    # Together: the CHECK ties an approved batch to its hold, and the next statement flushes the row.
    batch.status, batch.hold_id = BatchStatus.APPROVED.value, hold_id
    batch.approved_by, batch.approved_at = officer_id, now
    for destination, status in (
        (Destination.WALLET, ItemStatus.QUEUED),
        (Destination.BANK, ItemStatus.PENDING_BANK),
        # The workers hold these in the claims account as they pay the wallets.
        (Destination.UNCLAIMED, ItemStatus.QUEUED),
    ):
        await session.execute(
            update(Item)
            .where(
                Item.batch_id == batch.id,
                Item.status == ItemStatus.VALID.value,
                Item.destination == destination.value,
            )
            .values(status=status.value),
            execution_options={"synchronize_session": False},
        )
    await audit.record(
        session,
        actor_user_id=officer_id,
        action="disbursement.batch.approve",
        subject_type="disbursement_batch",
        subject_id=batch.id,
        reason="maker-checker approval with TOTP",
        details={"total_vnd": total, "made_by": batch.made_by, "hold_id": batch.hold_id},
        now=now,
    )
    await session.flush()
    return batch


async def list_for(session: AsyncSession, programme_id: int) -> list[Batch]:
    await programmes.get(session, programme_id)
    return list(
        (await session.scalars(select(Batch).where(Batch.programme_id == programme_id).order_by(Batch.id))).all()
    )
