"""Thin HTTP controllers for card top-ups and the acquirer's webhook (the use cases are in card_topups.py)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from civicpay.auth.guards import Principal, requires
from civicpay.auth.models import Role
from civicpay.clock import Clock
from civicpay.errors import refuse_nul_characters
from civicpay.idempotency import IdempotencyKey, Once, idempotent
from civicpay.settings import Settings
from wallet import card_topups
from wallet.card_acquirer import CardAcquirer, webhook_signature_valid
from wallet.routes import BadSignature, RowId


class CardTopupController(Controller):
    path = "/topups/card"
    tags = ["card top-ups"]
    guards = [requires(Role.CITIZEN)]

    @post("/", operation_id="startCardTopup", **idempotent(201, card_topups.CardTopupView, "Pending until paid"))
    async def start(
        self,
        data: JSONBody[card_topups.CardTopupCreate],
        once: NamedDependency[Once],
        idempotency_key: IdempotencyKey,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        acquirer: NamedDependency[CardAcquirer],
    ) -> Response[bytes]:
        """Charge a card the app tokenised (``pm_…``); the money is the wallet's once the acquirer confirms.

        Answers ``pending``: the acquirer's webhook (or our re-query) posts it within seconds; follow it
        with ``GET /topups/card/{id}``. A declined card turns it ``failed`` (``failure_code``) at once: the
        card is charged through the outbox right after the commit, before this answer leaves.
        """
        return await once(
            data,
            lambda: card_topups.start(
                session,
                acquirer,
                settings,
                user_id=principal.user_id,
                data=data,
                acquirer_key=card_topups.acquirer_key_for("topup", principal.idempotency_scope, idempotency_key),
                now=once.now,
            ),
        )

    @get("/{topup_id:int}", operation_id="getCardTopup")
    async def one(
        self, topup_id: RowId, principal: NamedDependency[Principal], session: NamedDependency[AsyncSession]
    ) -> card_topups.CardTopupView:
        """A card top-up of the caller's: pending, succeeded, failed or canceled, and what was refunded."""
        return await card_topups.get(session, user_id=principal.user_id, topup_id=topup_id)

    @post(
        "/{topup_id:int}/refund",
        operation_id="refundCardTopup",
        **idempotent(200, card_topups.CardTopupView, "Refunded to the card"),
    )
    async def refund(
        self,
        topup_id: RowId,
        data: JSONBody[card_topups.CardRefundCreate],
        once: NamedDependency[Once],
        idempotency_key: IdempotencyKey,
        principal: NamedDependency[Principal],
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        acquirer: NamedDependency[CardAcquirer],
    ) -> Response[bytes]:
        """Send money from the wallet back to the card of a top-up (all that is left, or ``amount_vnd``)."""
        return await once(
            data,
            lambda: card_topups.refund(
                session,
                acquirer,
                settings,
                user_id=principal.user_id,
                topup_id=topup_id,
                data=data,
                acquirer_key=card_topups.acquirer_key_for("refund", principal.idempotency_scope, idempotency_key),
                now=once.now,
            ),
        )


async def acquirer_signature_required(request: Request[Any, Any, Any]) -> None:
    """The acquirer's ``Stripe-Signature`` over the raw body, checked before the body is parsed."""
    state = request.app.state
    settings: Settings = state.settings
    clock: Clock = state.clock
    signed = webhook_signature_valid(
        settings.card_webhook_secret,
        await request.body(),
        request.headers.get("stripe-signature"),
        now=clock.now(),
        tolerance_seconds=settings.card_webhook_tolerance_seconds,
    )
    if not signed:
        raise BadSignature(field="header.Stripe-Signature")
    await refuse_nul_characters(request)  # this hook stands in for the app-wide one on this route


class CardWebhookController(Controller):
    path = "/webhooks/card"
    tags = ["card top-ups"]

    @post(
        "/",
        operation_id="receiveCardEvent",
        exclude_from_auth=True,
        before_request=acquirer_signature_required,
        status_code=200,
    )
    async def receive(
        self,
        data: JSONBody[card_topups.AcquirerEvent],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
    ) -> card_topups.WebhookReceipt:
        """An acquirer event (Stripe API), signed in ``Stripe-Signature``; answered 2xx once applied.

        A repeat changes nothing. An event for a PaymentIntent we do not know yet answers 409, so the
        acquirer sends it again later.
        """
        return await card_topups.receive_webhook(session, data, now=clock.now())
