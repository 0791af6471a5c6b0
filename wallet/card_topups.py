"""Top-up by card through an acquirer that speaks the Stripe API (nạp tiền vào ví bằng thẻ).

The citizen's app tokenises the card with the acquirer's SDK (card numbers never reach us) and sends
us the ``pm_…`` token and an amount. We create a PaymentIntent in VND (unconfirmed: no money moves),
hold the amount as a pending credit to the wallet and write the confirmation as an outbox message,
in one transaction: the PaymentIntent is confirmed (``charge``) only after the commit, so a card is
never charged for a top-up we could lose, and never left unconfirmed by a crash; the answer is
``pending``. The money becomes the wallet's only when the acquirer says the card paid: its signed
``payment_intent.succeeded`` webhook posts the hold; a decline, failure or cancellation voids it. A
webhook can be late or lost, so a re-query (``civicpay card requery`` and a periodic job of the
workers) asks the acquirer about top-ups pending too long, and cancels those never paid. Every path
goes through ``_apply``, which acts only on a pending top-up, under its row lock. A succeeded top-up
can be refunded to its card within a window, from money still in the wallet.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay import outbox
from civicpay.clock import Clock
from civicpay.db import UnitsOfWork
from civicpay.errors import Conflict, DomainError, InvalidField, NotFound, Text, malformed
from civicpay.money import AmountVnd, Category, format_vnd
from civicpay.settings import Settings
from wallet import ledger
from wallet.card_acquirer import CURRENCY, AcquirerError, CardAcquirer, PaymentIntent
from wallet.models import CardTopup, CardTopupStatus
from wallet.service import holder_of_user

logger = logging.getLogger(__name__)

# The outbox message that confirms a committed top-up's PaymentIntent at the acquirer.
CONFIRM = "card.confirm"
# What the acquirer tells us in webhooks that we act on; every other event is acknowledged and ignored.
HANDLED_EVENTS = frozenset({"payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled"})


class CardTopupCreate(msgspec.Struct, forbid_unknown_fields=True):
    amount_vnd: AmountVnd
    payment_method: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^pm_[A-Za-z0-9_]{1,64}$",
            description="The card as the acquirer's SDK tokenised it in the citizen's app",
            examples=["pm_1QxYz"],
        ),
    ]


class CardRefundCreate(msgspec.Struct, forbid_unknown_fields=True):
    amount_vnd: AmountVnd | None = None  # all that is left to refund, when absent


class CardTopupView(msgspec.Struct):
    id: int
    amount_vnd: int
    amount_display: str
    status: CardTopupStatus
    payment_intent_id: str | None
    failure_code: str | None
    refunded_vnd: int
    created_at: datetime
    resolved_at: datetime | None


class AcquirerEventData(msgspec.Struct):
    # The event's subject: a PaymentIntent for the events we handle, read as one (PaymentIntentObject) only then,
    # since the acquirer may send other kinds of events too, about other kinds of objects.
    object: dict[str, Any]


class AcquirerEvent(msgspec.Struct):
    """The part of a Stripe-API event we read; the rest of it is the acquirer's business.

    Typed all the way down before use: a signed event of the wrong shape is a 400 naming the field, which the
    acquirer's dashboard shows, and changes nothing (it was a 500, retried for days).
    """

    id: str
    type: str
    data: AcquirerEventData


class WebhookReceipt(msgspec.Struct):
    event_id: str
    handled: bool
    card_topup_id: int | None = None
    status: CardTopupStatus | None = None


class AcquirerUnavailable(DomainError):
    code = "card_acquirer_unavailable"
    status = 502
    title = Text("Không liên lạc được với đơn vị chấp nhận thẻ", "The card acquirer could not be reached")
    replayable = False  # nothing happened; the same request may be sent again


class CardTopupNotFound(NotFound):
    code = "card_topup_not_found"
    title = Text("Không tìm thấy giao dịch nạp thẻ", "Card top-up not found")


class UnknownPaymentIntent(Conflict):
    """A webhook for a PaymentIntent we have no top-up for (yet): the acquirer retries on a non-2xx."""

    code = "unknown_payment_intent"
    title = Text("Không có giao dịch nạp thẻ cho PaymentIntent này", "No card top-up has this PaymentIntent")


class AcquirerMismatch(Conflict):
    code = "acquirer_mismatch"
    title = Text("Số tiền của đơn vị chấp nhận thẻ khác với giao dịch nạp", "The acquirer's amount differs from ours")


class RefundsDisagree(Conflict):
    code = "card_refunds_disagree"
    title = Text(
        "Số tiền đã hoàn tại đơn vị chấp nhận thẻ khác sổ sách; bộ phận tài chính sẽ xử lý",
        "The acquirer's refunds differ from our books; finance will look into it",
    )
    replayable = False  # once the books agree again, the same request may go through


class RefundNotAllowed(DomainError):
    code = "refund_not_allowed"
    status = 422
    title = Text("Không thể hoàn tiền giao dịch nạp thẻ này", "This card top-up cannot be refunded")


async def card_settlement_account(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """The ledger account of our bank account the acquirer settles the cards it charged into.

    A card top-up is booked there when the acquirer says the card paid; the acquirer's settlement some
    days later is then a line on that account's statement, not a movement between two of our accounts.
    """
    return await ledger.open_bank_account(
        session,
        bank_bin=settings.card_settlement_bank_bin,
        account_number=settings.card_settlement_account_number,
        holder_name=settings.operator_account_name,
        purpose=ledger.BankAccountPurpose.CARD_SETTLEMENT,
        now=now,
    )


def view(topup: CardTopup) -> CardTopupView:
    return CardTopupView(
        id=topup.id,
        amount_vnd=topup.amount_vnd,
        amount_display=format_vnd(topup.amount_vnd),
        status=CardTopupStatus(topup.status),
        payment_intent_id=topup.payment_intent_id,
        failure_code=topup.failure_code,
        refunded_vnd=topup.refunded_vnd,
        created_at=topup.created_at,
        resolved_at=topup.resolved_at,
    )


async def start(
    session: AsyncSession,
    acquirer: CardAcquirer,
    settings: Settings,
    *,
    user_id: int,
    data: CardTopupCreate,
    acquirer_key: str,
    now: datetime,
) -> CardTopupView:
    """A PaymentIntent at the acquirer, the amount held as a pending credit, and its confirmation in the outbox."""
    if data.amount_vnd > settings.max_topup_vnd:
        raise InvalidField(
            Text(
                f"Mỗi lần nạp tối đa {format_vnd(settings.max_topup_vnd)}",
                f"A top-up is at most {format_vnd(settings.max_topup_vnd)}",
            ),
            field="amount_vnd",
        )
    holder = await holder_of_user(session, user_id)
    # The PaymentIntent first, unconfirmed: it moves no money, so one left behind by a rollback is
    # harmless, and no ledger row is locked while the acquirer answers. The key is the caller's own
    # Idempotency-Key, so a retry after a rollback finds the same PaymentIntent at the acquirer.
    try:
        intent = await acquirer.create(
            amount_vnd=data.amount_vnd,
            payment_method=data.payment_method,
            metadata={"civicpay_wallet": str(holder.wallet_id)},
            idempotency_key=acquirer_key,
        )
    except AcquirerError as error:
        if error.refusal:
            refused = Text("Đơn vị chấp nhận thẻ không nhận thẻ này", "The acquirer does not accept this card token")
            raise InvalidField(refused, field="payment_method") from error
        raise AcquirerUnavailable() from error
    settlement = await card_settlement_account(session, settings, now)
    spec = ledger.TransferSpec(settlement, holder.account_id, data.amount_vnd, Category.TOPUP, reference="card")
    # No expiry on the hold: only the acquirer's word (or our cancellation there) may end it.
    hold_id = await ledger.hold(session, spec, now=now, expires_at=None)
    topup = CardTopup(
        wallet_id=holder.wallet_id,
        amount_vnd=data.amount_vnd,
        hold_id=hold_id,
        payment_intent_id=intent.id,
        status=CardTopupStatus.PENDING.value,
        refunded_vnd=0,
        created_at=now,
    )
    session.add(topup)
    await session.flush()
    await outbox.enqueue(session, kind=CONFIRM, payload={"topup_id": topup.id}, key=confirm_key(topup.id), now=now)
    return view(topup)


def confirm_key(topup_id: int) -> str:
    """The outbox key of a top-up's confirmation, also the acquirer's Idempotency-Key for it."""
    return f"civicpay-confirm-{topup_id}"


async def charge(units: UnitsOfWork, acquirer: CardAcquirer, *, topup_id: int, key: str, now: datetime) -> None:
    """Confirm a committed top-up's PaymentIntent: the card is charged only once we can never lose it.

    A decline voids the hold at once. Success stays pending: the acquirer's signed event (or our
    re-query of the PaymentIntent) is the one word that posts a top-up. An acquirer that cannot be
    reached raises, so the outbox tries again; one that will not confirm (a redelivery after the
    confirmation, or a PaymentIntent the re-query cancelled) is asked where the PaymentIntent stands.
    """
    async with units() as unit:
        topup = await unit.session.get(CardTopup, topup_id)
    if topup is None or topup.status != CardTopupStatus.PENDING or topup.payment_intent_id is None:
        return  # settled already (its webhook, the re-query): nothing left to confirm
    intent_id = topup.payment_intent_id
    try:
        intent = await acquirer.confirm(intent_id, idempotency_key=key)
    except AcquirerError as error:
        if not error.refusal:
            raise
        intent = await acquirer.payment_intent(intent_id)  # declined, or past confirming: it says why
    if intent.failed:
        async with units() as unit:
            topup = await _locked(unit.session, CardTopup.id == topup_id)
            if topup is not None:
                await _apply(unit.session, topup, intent, now)


def confirmation_handler(units: UnitsOfWork, acquirer: CardAcquirer, clock: Clock) -> outbox.Handler:
    """Delivers ``CONFIRM`` messages (registered with the outbox dispatcher under that kind)."""

    async def confirm(payload: dict[str, Any], key: str) -> None:
        await charge(units, acquirer, topup_id=int(payload["topup_id"]), key=key, now=clock.now())

    return confirm


def acquirer_key_for(purpose: str, principal: str, key: str) -> str:
    """The acquirer's Idempotency-Key for our caller's: the same request is the same request there too."""
    digest = hashlib.sha256(f"{principal}|{key}".encode()).hexdigest()
    return f"civicpay-{purpose}-{digest[:40]}"


async def _locked(session: AsyncSession, *condition: Any) -> CardTopup | None:
    found: CardTopup | None = await session.scalar(
        select(CardTopup).where(*condition).with_for_update().execution_options(populate_existing=True)
    )
    return found


async def _apply(session: AsyncSession, topup: CardTopup, intent: PaymentIntent, now: datetime) -> bool:
    """Follow the acquirer's word on a locked top-up; True when it changed. Final states never change."""
    if topup.status != CardTopupStatus.PENDING:
        return False
    if intent.status == "succeeded":
        if (intent.amount_vnd, intent.currency) != (topup.amount_vnd, CURRENCY):
            raise AcquirerMismatch(
                Text(
                    f"Đơn vị chấp nhận thẻ báo {intent.amount_vnd} {intent.currency}",
                    f"The acquirer reports {intent.amount_vnd} {intent.currency}",
                )
            )
        await ledger.post_hold(session, topup.hold_id, now=now)
        topup.status = CardTopupStatus.SUCCEEDED.value
    elif intent.failed:
        await ledger.void_hold(session, topup.hold_id, now=now)
        canceled = intent.status == "canceled"
        topup.status = (CardTopupStatus.CANCELED if canceled else CardTopupStatus.FAILED).value
        topup.failure_code = intent.failure_code
    else:
        return False
    topup.resolved_at = now
    await session.flush()
    return True


async def receive_webhook(session: AsyncSession, event: AcquirerEvent, *, now: datetime) -> WebhookReceipt:
    """Apply one signed event; a repeat finds the top-up final and changes nothing."""
    if event.type not in HANDLED_EVENTS:
        return WebhookReceipt(event_id=event.id, handled=False)
    try:
        intent = PaymentIntent.of(event.data.object)
    except msgspec.ValidationError as error:
        raise malformed(error, under="data.object") from None
    topup = await _locked(session, CardTopup.payment_intent_id == intent.id)
    if topup is None:
        if intent.status != "succeeded":
            return WebhookReceipt(event_id=event.id, handled=False)  # no money moved: nothing of ours to do
        # Paid, and we have no top-up for it: the acquirer retries (it may be our own commit still on
        # its way); if it never appears, finance must see it.
        logger.error("card PaymentIntent %s succeeded with no card top-up of ours", intent.id)
        raise UnknownPaymentIntent()
    await _apply(session, topup, intent, now)
    return WebhookReceipt(event_id=event.id, handled=True, card_topup_id=topup.id, status=CardTopupStatus(topup.status))


async def get(session: AsyncSession, *, user_id: int, topup_id: int) -> CardTopupView:
    holder = await holder_of_user(session, user_id)
    topup = await session.get(CardTopup, topup_id)
    if topup is None or topup.wallet_id != holder.wallet_id:
        raise CardTopupNotFound()
    return view(topup)


async def requery(
    units: UnitsOfWork, acquirer: CardAcquirer, settings: Settings, *, now: datetime
) -> list[CardTopupView]:
    """Ask the acquirer about every top-up pending too long; cancel those never paid. Returns the changed."""
    asked_before = now - timedelta(seconds=settings.card_requery_after_seconds)
    abandoned_before = now - timedelta(seconds=settings.card_abandon_after_seconds)
    async with units() as unit:
        due = (
            await unit.session.scalars(
                select(CardTopup.id)
                .where(CardTopup.status == CardTopupStatus.PENDING.value, CardTopup.created_at <= asked_before)
                .order_by(CardTopup.id)
            )
        ).all()
    changed = []
    for topup_id in due:
        # One transaction each: one top-up the acquirer cannot answer for must not hold back the rest.
        async with units() as unit:
            session = unit.session
            topup = await _locked(session, CardTopup.id == topup_id, CardTopup.status == CardTopupStatus.PENDING.value)
            if topup is None or topup.payment_intent_id is None:
                continue
            try:
                intent = await acquirer.payment_intent(topup.payment_intent_id)
                if (
                    intent.status not in {"succeeded", "canceled", "processing"}
                    and topup.created_at <= abandoned_before
                ):
                    intent = await acquirer.cancel(intent.id)
            except AcquirerError:
                continue  # asked again on the next run
            try:
                async with session.begin_nested():
                    applied = await _apply(session, topup, intent, now)
            except Exception:
                # One top-up that cannot be settled (the acquirer's amount differs, say) must not hold
                # back the ones after it; it stays pending and in the log until someone looks.
                logger.exception("card top-up %s could not be settled", topup.id)
                continue
            if applied:
                changed.append(view(topup))
    return changed


async def refund(
    session: AsyncSession,
    acquirer: CardAcquirer,
    settings: Settings,
    *,
    user_id: int,
    topup_id: int,
    data: CardRefundCreate,
    acquirer_key: str,
    now: datetime,
) -> CardTopupView:
    """Send money from the wallet back to the card it came from: all that is left, or a part."""
    holder = await holder_of_user(session, user_id)
    topup = await _locked(session, CardTopup.id == topup_id, CardTopup.wallet_id == holder.wallet_id)
    if topup is None:
        raise CardTopupNotFound()
    if topup.status != CardTopupStatus.SUCCEEDED or topup.payment_intent_id is None:
        raise RefundNotAllowed(Text("Chỉ hoàn được giao dịch nạp đã thành công", "Only a top-up that went through"))
    if now - topup.created_at > timedelta(days=settings.card_refund_days):
        raise RefundNotAllowed(
            Text(
                f"Chỉ hoàn được trong {settings.card_refund_days} ngày sau khi nạp",
                f"Refunds are possible for {settings.card_refund_days} days after the top-up",
            )
        )
    left = topup.amount_vnd - topup.refunded_vnd
    amount = left if data.amount_vnd is None else data.amount_vnd
    if not 0 < amount <= left:
        raise RefundNotAllowed(
            Text(f"Còn hoàn được {format_vnd(left)}", f"{format_vnd(left)} is left to refund"),
            field="amount_vnd",
            refundable_vnd=left,
        )
    # A refund whose answer was lost (a timeout after the acquirer made it) is gone from our books,
    # not from the acquirer's. Compare first: the same request again finds its own refund there and
    # books it; anything else the books disagree on stops here rather than refund the card twice.
    try:
        made = await acquirer.refunds(topup.payment_intent_id)
    except AcquirerError as error:
        raise AcquirerUnavailable() from error
    ours = sum(refund.amount_vnd for refund in made if refund.key == acquirer_key)
    others = sum(refund.amount_vnd for refund in made) - ours
    if others != topup.refunded_vnd or ours not in {0, amount}:
        logger.error("card top-up %s: acquirer refunds %s, our books %s", topup.id, made, topup.refunded_vnd)
        raise RefundsDisagree(recorded_vnd=topup.refunded_vnd)
    settlement = await card_settlement_account(session, settings, now)
    spec = ledger.TransferSpec(
        holder.account_id, settlement, amount, Category.RETURN, reference=f"card_refund:{topup.id}"
    )
    await ledger.post_entry(session, [spec], now=now, description="card refund")  # refuses an overdraft
    topup.refunded_vnd += amount
    await session.flush()
    if ours == 0:
        # Last, so an acquirer refusal rolls the entry back with the savepoint. The key is the caller's
        # own, so a retry of this refund after a rollback (a timeout, a crash) is the same refund there.
        await _refund_at(acquirer, topup.payment_intent_id, amount, acquirer_key)
    return view(topup)


async def _refund_at(acquirer: CardAcquirer, intent_id: str, amount_vnd: int, key: str) -> None:
    try:
        await acquirer.refund(intent_id=intent_id, amount_vnd=amount_vnd, idempotency_key=key)
    except AcquirerError as error:
        if error.refusal:
            raise RefundNotAllowed(Text(str(error), str(error))) from error
        raise AcquirerUnavailable() from error
