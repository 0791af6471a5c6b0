"""Returning a suspense item to whoever sent it (hoàn trả), as an instruction to the bank.

The bank's notification names no payer account, so the return names the incoming transfer by the
bank's own reference for it, and the bank pays it back to whoever sent it. The money is held from
suspense toward the bank account it arrived in, and the return goes to the bank through the outbox
under its ``HOAN…`` reference (``bank_instructions``). The bank's callback confirms it (the hold is
posted: the money leaves that bank account, the item is returned) or rejects it (the hold is voided:
the item is open in suspense again, with the bank's reason, for another decision).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from civicpay import audit
from civicpay.money import Category
from wallet import bank_instructions, ledger
from wallet.bank_payouts import PayoutResult, TransferReturn
from wallet.bank_topups import SUSPENSE_RETURN, Resolution, lock_open_item, suspense_account
from wallet.models import BankNotification, InstructionStatus, NotificationOutcome, SuspenseReturn

# The outbox message that hands a committed return to the bank.
SEND = "suspense.return"


async def give_back(
    session: AsyncSession, *, item_id: int, officer_user_id: int, reason: str, now: datetime
) -> Resolution:
    """Hold the item's money and queue its return; the outbox sends it once this transaction has committed."""
    item = await lock_open_item(session, item_id)
    arrival = await session.get(ledger.Transfer, item.transfer_id)
    assert arrival is not None  # noqa: S101 - an item in suspense was booked, and a foreign key names it
    # UNIQUE: a clash, about one in 10^17, fails the request and a retry draws again.
    reference = SUSPENSE_RETURN.random()
    spec = ledger.TransferSpec(
        debit_account_id=await suspense_account(session, now),
        # The bank account the money arrived in, which it leaves.
        credit_account_id=arrival.debit_account_id,
        amount_vnd=item.amount_vnd,
        category=Category.RETURN,
        reference=reference,
        metadata={"memo": reason, "bank_notification": item.id},
    )
    hold_id = await ledger.hold(session, spec, now=now, expires_at=None)
    returned = SuspenseReturn(
        notification_id=item.id,
        reference=reference,
        amount_vnd=item.amount_vnd,
        hold_id=hold_id,
        status=InstructionStatus.QUEUED.value,
        created_at=now,
    )
    session.add(returned)
    item.outcome = NotificationOutcome.RETURNING.value
    item.return_reference = reference
    await session.flush()
    await bank_instructions.queue(session, RETURN, returned, now=now)
    await audit.record(
        session,
        actor_user_id=officer_user_id,
        action="suspense.return",
        subject_type="bank_notification",
        subject_id=item.id,
        reason=reason,
        details={"amount_vnd": item.amount_vnd, "return_reference": reference, "hold_id": hold_id},
        now=now,
    )
    return Resolution(item.id, NotificationOutcome.RETURNING, None, None, reference)


async def _instruction(session: AsyncSession, returned: SuspenseReturn) -> TransferReturn:
    item = await session.get(BankNotification, returned.notification_id)
    assert item is not None  # noqa: S101 - a foreign key
    return TransferReturn(
        payout_id=returned.reference,
        # The account the notification says the money reached: it leaves from there.
        from_bank_bin=item.bank,
        from_account_number=item.account_number,
        amount_vnd=returned.amount_vnd,
        description=f"CIVICPAY HOAN TRA {returned.reference}",
        original_reference=item.bank_reference,
    )


async def _settled(session: AsyncSession, returned: SuspenseReturn, result: PayoutResult, _now: datetime) -> None:
    item = await session.get(BankNotification, returned.notification_id, with_for_update=True)
    assert item is not None  # noqa: S101 - a foreign key
    if result.status == "confirmed":
        item.outcome = NotificationOutcome.RETURNED.value
    else:
        # Open again: the reference names a return that never happened, so no statement line carries it.
        item.outcome = NotificationOutcome.SUSPENSE.value
        item.suspense_reason = "return_rejected"
        item.return_reference = None


RETURN = bank_instructions.InstructionKind(
    message=SEND,
    model=SuspenseReturn,
    id_field="return_id",
    named=lambda reference: SuspenseReturn.reference == reference,
    instruction=_instruction,
    settled=_settled,
)
