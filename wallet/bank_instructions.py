"""Instructions to the bank that move money we hold: held, queued, sent, and settled by the bank's word.

Withdrawals and merchants' settlements, suspense returns and remittances to the State Treasury follow
one path, written here once. The use case holds the money (available drops at once; only the bank's
word may end the hold, so it never expires) and writes the instruction to the outbox in the same
transaction (``queue``). After the commit the outbox sends it (``send``) under its reference, which the
bank keeps one instruction per, so a redelivery acts once. The bank's signed callback, or its outright
refusal, settles it (``settle``): confirmed posts the hold, rejected voids it, and a final status never
changes; a callback contradicting an earlier one is refused. Each kind says how its rows are found,
what is sent for one, and what its outcome does besides (``InstructionKind``); rooms above the wallet
register kinds of their own (the Treasury sweep), so the one callback route finds any instruction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import msgspec
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay import outbox
from civicpay.clock import Clock
from civicpay.db import UnitsOfWork
from civicpay.errors import Conflict, NotFound, Text
from wallet import ledger
from wallet.bank_payouts import BankPayouts, Instruction, PayoutRefused, PayoutResult
from wallet.models import InstructionStatus

logger = logging.getLogger(__name__)

_PENDING = frozenset({InstructionStatus.QUEUED, InstructionStatus.SENT})
_SAID = {InstructionStatus.CONFIRMED: "confirmed", InstructionStatus.REJECTED: "rejected"}


class InstructionRow(Protocol):
    """The columns every kind's table has (``wallet.models.Withdrawal`` is the model)."""

    id: int
    hold_id: Any  # int; None only on rows booked before instructions were held (never pending)
    status: str
    reason_code: str | None
    bank_reference: str | None
    resolved_at: datetime | None

    @property
    def sent_as(self) -> str: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class InstructionKind:
    """One kind of instruction: its outbox message, its table, and what is particular to it.

    ``named`` is the condition finding a row by the reference the bank knows it by; ``instruction`` what
    is sent for a row (read in a unit of work of its own); ``settled`` what the bank's final word does
    besides posting or voiding the hold, in the same transaction (fees unswept again, say), and
    ``touches`` the ledger accounts that moves besides the hold's, so all are locked in one call first.
    """

    message: str  # the outbox kind, under which bootstrap registers ``handler``
    model: type[Any]
    id_field: str  # the row's id in the outbox payload
    named: Callable[[str], ColumnElement[bool]]
    instruction: Callable[[AsyncSession, Any], Awaitable[Instruction]]
    settled: Callable[[AsyncSession, Any, PayoutResult, datetime], Awaitable[None]] | None = None
    touches: Callable[[AsyncSession, Any], Awaitable[Sequence[int]]] | None = None


class PayoutReceipt(msgspec.Struct):
    payout_id: str
    status: InstructionStatus
    changed: bool


class InstructionNotFound(NotFound):
    code = "payout_not_found"
    title = Text("Không tìm thấy lệnh chuyển tiền", "No instruction to the bank has this id")


class PayoutContradiction(Conflict):
    code = "payout_contradiction"
    title = Text(
        "Ngân hàng báo kết quả trái với kết quả đã báo trước đó", "The bank reports the opposite of what it reported"
    )


def delivery_key(reference: str) -> str:
    """The outbox key of an instruction's sending: the bank's own idempotency is the reference itself,
    and references of different kinds never coincide (each kind has its own prefix)."""
    return f"payout:{reference}"


async def queue(session: AsyncSession, kind: InstructionKind, row: InstructionRow, *, now: datetime) -> None:
    """Write the sending of a flushed row (its money already held) to the outbox, in the caller's transaction."""
    payload = {kind.id_field: row.id}
    await outbox.enqueue(session, kind=kind.message, payload=payload, key=delivery_key(row.sent_as), now=now)


async def paying_account(session: AsyncSession, hold_id: int) -> tuple[str, str]:
    """BIN and number of the bank account an instruction's money leaves: the one its hold credits."""
    held = await session.get(ledger.Hold, hold_id)
    assert held is not None  # noqa: S101 - a foreign key
    return await ledger.bank_account_behind(session, held.credit_account_id)


async def _locked(session: AsyncSession, kind: InstructionKind, condition: ColumnElement[bool]) -> Any:
    return await session.scalar(
        select(kind.model).where(condition).with_for_update().execution_options(populate_existing=True)
    )


async def settle(
    session: AsyncSession, kind: InstructionKind, row: InstructionRow, result: PayoutResult, now: datetime
) -> bool:
    """The bank's word on a locked row; True when it changed. Final states never change."""
    if row.status not in _PENDING:
        return False
    if kind.touches is not None:
        # Locked before the hold row, which only this instruction's outcome ever locks (it never expires).
        held = await session.get(ledger.Hold, row.hold_id)
        assert held is not None  # noqa: S101 - a foreign key
        moved = [held.debit_account_id, held.credit_account_id, *await kind.touches(session, row)]
        await ledger.lock_accounts(session, moved)
    if result.status == "confirmed":
        await ledger.post_hold(session, row.hold_id, now=now)
        row.status = InstructionStatus.CONFIRMED.value
        row.bank_reference = result.bank_reference
    else:
        await ledger.void_hold(session, row.hold_id, now=now)
        row.status = InstructionStatus.REJECTED.value
        row.reason_code = result.reason_code
    row.resolved_at = now
    if kind.settled is not None:
        await kind.settled(session, row, result, now)
    await session.flush()
    return True


async def receive_result(
    session: AsyncSession, kinds: Sequence[InstructionKind], result: PayoutResult, *, now: datetime
) -> PayoutReceipt:
    """The bank's callback, for whichever kind of instruction its id names; a repeat changes nothing."""
    for kind in kinds:
        row = await _locked(session, kind, kind.named(result.payout_id))
        if row is not None:
            break
    else:
        raise InstructionNotFound(field="payout_id")
    said_before = _SAID.get(InstructionStatus(row.status))
    if said_before is not None and said_before != result.status:
        # The bank contradicts itself (paid what it had refused, say): money may be out twice.
        logger.error("payout %s: the bank now says %s, after %s", result.payout_id, result.status, said_before)
        raise PayoutContradiction(field="status", recorded=said_before)
    changed = await settle(session, kind, row, result, now)
    return PayoutReceipt(payout_id=result.payout_id, status=InstructionStatus(row.status), changed=changed)


async def send(units: UnitsOfWork, bank: BankPayouts, kind: InstructionKind, *, row_id: int, now: datetime) -> None:
    """Hand a committed instruction to the bank; raises when the bank cannot take it now (the outbox retries).

    Sent under the id the bank keeps one instruction per, so a redelivery acts once. An instruction
    the bank refuses outright gives the money back at once; this stands on the bank's contract that a
    resent id is answered as it was first (accepted stays accepted), so a redelivery is never refused
    for an instruction the bank has taken.
    """
    async with units() as unit:
        row = await unit.session.get(kind.model, row_id)
        if row is None or row.status != InstructionStatus.QUEUED:
            return  # sent already, or the bank has answered
        instruction = await kind.instruction(unit.session, row)
    outcome: PayoutResult | None = None
    try:
        await bank.send(instruction)
    except PayoutRefused as refused:
        outcome = PayoutResult(payout_id=instruction.payout_id, status="rejected", reason_code=refused.reason_code)
    async with units() as unit:
        locked = await _locked(unit.session, kind, kind.model.id == row_id)
        assert locked is not None  # noqa: S101 - read above; instructions are never deleted
        if outcome is not None:
            await settle(unit.session, kind, locked, outcome, now)
        elif locked.status == InstructionStatus.QUEUED:  # the bank's callback may have come first
            locked.status = InstructionStatus.SENT.value


def handler(units: UnitsOfWork, bank: BankPayouts, clock: Clock, kind: InstructionKind) -> outbox.Handler:
    """Delivers the kind's outbox messages (registered with the dispatcher under ``kind.message``)."""

    async def deliver(payload: dict[str, Any], _key: str) -> None:
        await send(units, bank, kind, row_id=int(payload[kind.id_field]), now=clock.now())

    return deliver
