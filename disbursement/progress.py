"""A batch's progress as its live page shows it, and the announcement that it changed.

The workers announce, inside each chunk's transaction, only *that* a batch moved (``civicpay.events``: it reaches
the pages once the chunk commits, from whichever process paid it). A page's stream then reads the counts itself,
once for however many announcements queued up meanwhile: a chunk costs the worker one NOTIFY and no count, and a
stream that fell behind still shows the truth rather than a sum of deltas it may have partly lost.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay import events
from disbursement.models import Batch, BatchStatus, Item, ItemStatus

# The approved items' states, in the order the page shows them; "done" is the final ones.
STATES = (ItemStatus.QUEUED, ItemStatus.PENDING_BANK, ItemStatus.PAID_TO_WALLET, ItemStatus.FAILED)
FINAL = (ItemStatus.PAID_TO_WALLET, ItemStatus.FAILED)


def topic(batch_id: int) -> str:
    return f"disbursement.batch.{batch_id}"


async def announce(session: AsyncSession, batch_id: int) -> None:
    """Tell the batch's pages, once this transaction commits, that its items or status changed."""
    await events.announce(session, topic(batch_id), {"batch_id": batch_id})


async def read(session: AsyncSession, batch: Batch) -> dict[str, Any]:
    """What the page's progress bar shows: done of total, by state, and the batch's status."""
    counts: dict[str, int] = dict(
        (
            await session.execute(
                select(Item.status, func.count()).where(Item.batch_id == batch.id).group_by(Item.status)
            )
        ).all()
    )
    approved = batch.status != BatchStatus.VALIDATED
    by_state = {state.value: counts.get(state.value, 0) if approved else 0 for state in STATES}
    return {
        "batch_id": batch.id,
        "status": batch.status,
        "done": sum(by_state[state.value] for state in FINAL),
        "total": batch.row_count - batch.invalid_count,
        "by_state": by_state,
    }
