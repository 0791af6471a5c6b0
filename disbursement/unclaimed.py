"""Unclaimed payments (tiền chờ nhận): a beneficiary with neither a wallet nor a bank account.

A batch row with the destination ``unclaimed`` whose citizen has no wallet when the batch is validated is paid
like a wallet row, but into the programme's claims account (``execution``): its item is ``held_unclaimed`` and
its money is no longer in the batch's hold nor in the funding. From there it goes one way, once:

- **claimed**: a wallet opens with the item's citizen ID (and a name matching the row's, diacritics and case
  aside, as a wallet row's must at validation: a mistyped ID must not pay a stranger) within
  ``disbursement_unclaimed_days`` of the hold: claims account → that wallet, under the programme's name;
- **returned**: nobody claimed it in that time: claims account → the programme's funding, and the citizen's
  payment for the period is forgotten, so a later batch may name them again.

The wallet room does not know this room. Approving a batch with unclaimed rows asks it to await their citizen
IDs (``wallet.await_wallets``); a sign-up with an awaited ID writes a ``wallet.opened`` outbox message in the
transaction that opens the wallet (``wallet.WALLET_OPENED``; other sign-ups write none), delivered after the
commit, at least once, by whichever process's dispatcher (``wallet_opened_handler``). Delivered twice, it pays
nothing twice: an item is paid only from ``held_unclaimed``, under its row lock, in the transaction that moves
the money. A wallet opened while its batch is still being paid can see its message delivered before the item is
held (the chunk holding it has not committed), and one opened as the batch is approved may miss being awaited:
the unclaimed job (``settle``, every ``disbursement_unclaimed_interval_seconds``) therefore also looks for held
items whose citizen has a wallet, before it returns those past their days.

Every pass locks the items it takes first (``FOR UPDATE SKIP LOCKED``: a claim and a return, or two workers,
never take one item both; what another has locked is left for it), then the accounts through the ledger, in
the order every ledger entry keeps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth.identity import folded_name
from civicpay.auth.models import Role, User
from civicpay.clock import Clock
from civicpay.db import UnitsOfWork, table_of
from civicpay.settings import Settings
from disbursement import programmes
from disbursement.models import ITEM_REFERENCE, Batch, Item, ItemStatus, Payment, Programme
from wallet import holders_by_citizen_id, ledger

_item = table_of(Item)
_payment = table_of(Payment)

# Only a held item moves on, whatever a caller read: the lock already ensures it, and this would keep it so.
MARK_HELD = (
    update(_item)
    .where(_item.c.id == bindparam("item"), _item.c.status == ItemStatus.QUEUED.value)
    .values(status=ItemStatus.HELD_UNCLAIMED.value, held_transfer_id=bindparam("transfer"), held_at=bindparam("at"))
)
_MARK_CLAIMED = (
    update(_item)
    .where(_item.c.id == bindparam("item"), _item.c.status == ItemStatus.HELD_UNCLAIMED.value)
    .values(
        status=ItemStatus.CLAIMED.value,
        wallet_account_id=bindparam("wallet"),
        transfer_id=bindparam("transfer"),
        paid_at=bindparam("at"),
    )
)
_MARK_RETURNED = (
    update(_item)
    .where(_item.c.id == bindparam("item"), _item.c.status == ItemStatus.HELD_UNCLAIMED.value)
    .values(status=ItemStatus.RETURNED.value, transfer_id=bindparam("transfer"), returned_at=bindparam("at"))
)


async def open_claims_account(session: AsyncSession, programme: Programme, *, now: datetime) -> int:
    """The programme's claims account, opened the first time a batch with an unclaimed row is approved.

    Its name is the programme's: a claimed payment's line in the beneficiary's wallet history names the account
    it came from, and should read as one from the programme. The programme's row is locked first, so of two
    approvals at once one opens it and the other finds it.
    """
    if programme.claims_account_id is not None:
        return programme.claims_account_id
    locked = await session.scalar(
        select(Programme)
        .where(Programme.id == programme.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert locked is not None  # noqa: S101 - the caller read it in this transaction
    if locked.claims_account_id is None:
        locked.claims_account_id = await ledger.open_account(
            session,
            code=f"liability:programme:{locked.id}:unclaimed",
            name=locked.name,
            kind=ledger.AccountKind.LIABILITY,
            no_overdraft=True,
            now=now,
        )
        await session.flush()
    return locked.claims_account_id


def memo(programme_name: str, period: str) -> str:
    """What the beneficiary's wallet history says of the payment, wherever it came from."""
    return f"{programme_name} kỳ {period}"[:140]


@dataclass(frozen=True, slots=True)
class _Source:
    """An item's programme as the entries need it."""

    name: str
    kind: str
    funding_account_id: int
    claims_account_id: int


async def _sources(session: AsyncSession, batch_ids: Collection[int]) -> dict[int, _Source]:
    """Each batch's programme, by batch id."""
    rows = await session.execute(
        select(Batch.id, Programme.name, Programme.kind, Programme.funding_account_id, Programme.claims_account_id)
        .join(Programme, Programme.id == Batch.programme_id)
        .where(Batch.id.in_(sorted(batch_ids)))
    )
    found = {}
    for batch_id, name, kind, funding, claims in rows:
        assert claims is not None  # noqa: S101 - opened when a batch holding any is approved
        found[batch_id] = _Source(name, kind, funding, claims)
    return found


_Held = Row[Any, Any, Any, Any, Any, Any]  # what _HELD_COLUMNS read
_HELD_COLUMNS = (
    _item.c.id,
    _item.c.batch_id,
    _item.c.citizen_id,
    _item.c.full_name,
    _item.c.amount_vnd,
    _item.c.period,
)


async def held_for_claims(
    session: AsyncSession,
    settings: Settings,
    *,
    citizen_ids: Collection[str] | None,
    after_id: int,
    now: datetime,
    lock: bool = True,
) -> Sequence[_Held]:
    """Held items still within their days whose citizen (these, or any) has signed up, by id after ``after_id``;
    locked until the transaction ends, skipping those another has locked. ``lock=False`` only shows, in a test,
    the race the lock prevents. As many as a chunk of the batches' execution (``disbursement_chunk_size``)."""
    cutoff = now - timedelta(days=settings.disbursement_unclaimed_days)
    query = (
        select(*_HELD_COLUMNS)
        .where(_item.c.status == ItemStatus.HELD_UNCLAIMED.value, _item.c.held_at > cutoff, _item.c.id > after_id)
        .order_by(_item.c.id)
        .limit(max(1, settings.disbursement_chunk_size))
    )
    if citizen_ids is not None:
        query = query.where(_item.c.citizen_id.in_(sorted(citizen_ids)))
    else:
        # Only what a citizen's account names: the partial index gives the held items, the user's unique index
        # each one's citizen.
        query = query.where(_item.c.citizen_id.in_(select(User.citizen_id).where(User.role == Role.CITIZEN.value)))
    return (await session.execute(query.with_for_update(skip_locked=True) if lock else query)).all()


async def claim_chunk(
    session: AsyncSession,
    settings: Settings,
    *,
    citizen_ids: Collection[str] | None,
    after_id: int,
    now: datetime,
) -> tuple[int, int | None]:
    """Pay one chunk of held items to their citizens' wallets; (paid, the last item id looked at, or None when
    there was none). An item whose wallet's holder has another name is left held (and returned in time)."""
    held = await held_for_claims(session, settings, citizen_ids=citizen_ids, after_id=after_id, now=now)
    if not held:
        return 0, None
    holders = await holders_by_citizen_id(session, {item.citizen_id for item in held})
    paying = [
        (item, holder)
        for item in held
        if (holder := holders.get(item.citizen_id)) is not None
        and folded_name(holder.full_name) == folded_name(item.full_name)
    ]
    if paying:
        sources = await _sources(session, {item.batch_id for item, _ in paying})
        entries = []
        for item, holder in paying:
            source = sources[item.batch_id]
            reference = ITEM_REFERENCE.encode(item.id)
            spec = ledger.TransferSpec(
                debit_account_id=source.claims_account_id,
                credit_account_id=holder.account_id,
                amount_vnd=item.amount_vnd,
                category=programmes.category_of(source.kind),
                reference=reference,
                metadata={"memo": memo(source.name, item.period), "batch_id": item.batch_id},
            )
            entries.append(ledger.EntrySpec(transfers=[spec], description=f"unclaimed payment claimed {reference}"))
        posted = await ledger.post_entries(session, entries, now=now)
        await session.execute(
            _MARK_CLAIMED,
            [
                {"item": item.id, "wallet": holder.account_id, "transfer": entry.transfer_ids[0], "at": now}
                for (item, holder), entry in zip(paying, posted, strict=True)
            ],
        )
    return len(paying), held[-1].id


async def held_past_their_days(
    session: AsyncSession, settings: Settings, *, now: datetime, lock: bool = True
) -> Sequence[_Held]:
    """Held items nobody claimed in time, a chunk, locked (skipping those another has); ``lock=False`` as above."""
    cutoff = now - timedelta(days=settings.disbursement_unclaimed_days)
    query = (
        select(*_HELD_COLUMNS)
        .where(_item.c.status == ItemStatus.HELD_UNCLAIMED.value, _item.c.held_at <= cutoff)
        .order_by(_item.c.id)
        .limit(max(1, settings.disbursement_chunk_size))
    )
    return (await session.execute(query.with_for_update(skip_locked=True) if lock else query)).all()


async def return_chunk(session: AsyncSession, settings: Settings, *, now: datetime) -> int:
    """Give one chunk of expired held items back to their programmes' funding; how many."""
    expired = await held_past_their_days(session, settings, now=now)
    if not expired:
        return 0
    sources = await _sources(session, {item.batch_id for item in expired})
    entries = []
    for item in expired:
        source = sources[item.batch_id]
        reference = ITEM_REFERENCE.encode(item.id)
        spec = ledger.TransferSpec(
            debit_account_id=source.claims_account_id,
            credit_account_id=source.funding_account_id,
            amount_vnd=item.amount_vnd,
            category=programmes.category_of(source.kind),
            reference=reference,
            metadata={
                "memo": f"Hoàn về nguồn vốn: không ai nhận sau {settings.disbursement_unclaimed_days} ngày"[:140],
                "batch_id": item.batch_id,
            },
        )
        entries.append(ledger.EntrySpec(transfers=[spec], description=f"unclaimed payment returned {reference}"))
    posted = await ledger.post_entries(session, entries, now=now)
    await session.execute(
        _MARK_RETURNED,
        [
            {"item": item.id, "transfer": entry.transfer_ids[0], "at": now}
            for item, entry in zip(expired, posted, strict=True)
        ],
    )
    # Never paid after all: a later batch may name them for the period again.
    await session.execute(delete(_payment).where(_payment.c.item_id.in_([item.id for item in expired])))
    return len(expired)


@dataclass
class Settled:
    """What one pass did: items paid to wallets opened since, and items returned to their funding."""

    claimed: int = 0
    returned: int = 0


async def claim(
    units: UnitsOfWork, settings: Settings, clock: Clock, *, citizen_ids: Collection[str] | None = None
) -> int:
    """Pay every held item of these citizens (or of any citizen with a wallet) to their wallet; how many."""
    paid, after = 0, 0
    while True:
        async with units() as unit:
            done, last = await claim_chunk(
                unit.session, settings, citizen_ids=citizen_ids, after_id=after, now=clock.now()
            )
        if last is None:
            return paid
        paid, after = paid + done, last


async def settle(units: UnitsOfWork, settings: Settings, clock: Clock) -> Settled:
    """The unclaimed job: pay held items whose citizens have wallets now, then return those past their days."""
    settled = Settled(claimed=await claim(units, settings, clock))
    while True:
        async with units() as unit:
            returned = await return_chunk(unit.session, settings, now=clock.now())
        if not returned:
            return settled
        settled.returned += returned


def wallet_opened_handler(
    units: UnitsOfWork, settings: Settings, clock: Clock
) -> Callable[[dict[str, Any], str], Awaitable[None]]:
    """The outbox handler of ``wallet.opened``: whatever is held for the new wallet's citizen is paid to it."""

    async def deliver(payload: dict[str, Any], _key: str) -> None:
        citizen_id = payload.get("citizen_id")
        if isinstance(citizen_id, str) and citizen_id:
            await claim(units, settings, clock, citizen_ids=[citizen_id])

    return deliver
