"""Our own client of the card acquirer, which speaks the Stripe API (PaymentIntents, refunds, webhooks).

Only what card top-ups need, over httpx: form-encoded requests with the secret key, JSON answers,
and the ``Stripe-Signature`` scheme for webhooks (``t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">``,
refused outside a tolerance window). VND is a zero-decimal currency for Stripe, so amounts are đồng.
Tests and ``make run`` point it at localstripe; production at the acquirer's base URL.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import msgspec

from civicpay import tls

CURRENCY = "vnd"


class AcquirerError(Exception):
    """The acquirer answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def refusal(self) -> bool:
        """A definite no about this request; otherwise (unreachable, 5xx, rate limit, key or
        idempotency trouble) the same request may be sent again later."""
        return self.status is not None and 400 <= self.status < 500 and self.status not in {401, 409, 429}


class PaymentError(msgspec.Struct):
    """A PaymentIntent's ``last_payment_error``, of which we read the code (``card_declined``, …)."""

    code: str | None = None


class PaymentIntentObject(msgspec.Struct):
    """A PaymentIntent as the acquirer sends it, in its answers and in its webhooks' ``data.object``: the
    fields we read, each of its type (an amount is an integer, nothing else); the rest is ignored."""

    id: str
    status: str
    amount: int
    currency: str
    client_secret: str | None = None
    last_payment_error: PaymentError | None = None


@dataclass(frozen=True, slots=True)
class PaymentIntent:
    """What we read of a PaymentIntent (Stripe's word for one attempt to take money from a card)."""

    id: str
    status: str  # requires_payment_method | requires_confirmation | requires_action | processing | succeeded | canceled
    amount_vnd: int
    currency: str
    client_secret: str | None
    failure_code: str | None

    @classmethod
    def of(cls, body: object) -> PaymentIntent:
        """Read a PaymentIntent; ``msgspec.ValidationError`` names the field when it is not one."""
        wire = msgspec.convert(body, PaymentIntentObject, strict=True)
        return cls(
            id=wire.id,
            status=wire.status,
            amount_vnd=wire.amount,
            currency=wire.currency.lower(),
            client_secret=wire.client_secret,
            failure_code=wire.last_payment_error.code if wire.last_payment_error else None,
        )

    @property
    def failed(self) -> bool:
        """Final without money: cancelled, or back to needing a card after a decline."""
        return self.status == "canceled" or (self.status == "requires_payment_method" and self.failure_code is not None)


@dataclass(frozen=True, slots=True)
class Refund:
    amount_vnd: int
    key: str | None


class CardAcquirer:
    """One acquirer account: its base URL and secret key. Cheap to build; one httpx client inside."""

    def __init__(self, base_url: str, secret_key: str, *, timeout_seconds: float = 10.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=(secret_key, ""),
            timeout=timeout_seconds,
            trust_env=False,
            verify=tls.client_context(),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self, method: str, path: str, form: dict[str, str] | None = None, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        try:
            answer = await self._http.request(method, path, data=form, headers=headers)
        except httpx.HTTPError as error:
            raise AcquirerError(f"the acquirer could not be reached: {type(error).__name__}") from error
        try:
            body: dict[str, Any] = answer.json()
        except ValueError as error:
            raise AcquirerError(f"the acquirer answered {answer.status_code} without JSON") from error
        if answer.status_code >= 400:
            detail = body.get("error") or {}
            raise AcquirerError(
                str(detail.get("message") or f"the acquirer answered {answer.status_code}"),
                status=answer.status_code,
                code=detail.get("code"),
            )
        return body

    async def _intent(
        self, method: str, path: str, form: dict[str, str] | None = None, *, idempotency_key: str | None = None
    ) -> PaymentIntent:
        body = await self._call(method, path, form, idempotency_key=idempotency_key)
        try:
            return PaymentIntent.of(body)
        except msgspec.ValidationError as error:
            raise AcquirerError(f"the acquirer answered a malformed PaymentIntent: {error}") from error

    async def create(
        self, *, amount_vnd: int, payment_method: str, metadata: dict[str, str], idempotency_key: str
    ) -> PaymentIntent:
        """A PaymentIntent for a card the citizen's app tokenised (``pm_…``), not yet confirmed: no money moves."""
        form = {
            "amount": str(amount_vnd),
            "currency": CURRENCY,
            "payment_method": payment_method,
            **{f"metadata[{name}]": value for name, value in metadata.items()},
        }
        return await self._intent("POST", "/v1/payment_intents", form, idempotency_key=idempotency_key)

    async def confirm(self, intent_id: str, *, idempotency_key: str) -> PaymentIntent:
        """Charge the card: the step that moves money at the acquirer (once per key, however often asked)."""
        path = f"/v1/payment_intents/{intent_id}/confirm"
        return await self._intent("POST", path, idempotency_key=idempotency_key)

    async def payment_intent(self, intent_id: str) -> PaymentIntent:
        return await self._intent("GET", f"/v1/payment_intents/{intent_id}")

    async def cancel(self, intent_id: str) -> PaymentIntent:
        return await self._intent("POST", f"/v1/payment_intents/{intent_id}/cancel")

    async def refund(self, *, intent_id: str, amount_vnd: int, idempotency_key: str) -> str:
        """Give money back to the card; returns the acquirer's refund id. The key is kept on the refund."""
        form = {"payment_intent": intent_id, "amount": str(amount_vnd), "metadata[civicpay_key]": idempotency_key}
        return str((await self._call("POST", "/v1/refunds", form, idempotency_key=idempotency_key))["id"])

    async def refunds(self, intent_id: str) -> list[Refund]:
        """Every refund the acquirer has made of a PaymentIntent, with the key we sent each with."""
        listed = await self._call("GET", f"/v1/refunds?payment_intent={intent_id}&limit=100")
        return [
            Refund(int(item["amount"]), (item.get("metadata") or {}).get("civicpay_key"))
            for item in listed.get("data", [])
            if item.get("status") in {"succeeded", "pending"}
        ]


def webhook_signature_valid(
    secret: str, body: bytes, header: str | None, *, now: datetime, tolerance_seconds: int
) -> bool:
    """Stripe's scheme: any ``v1`` HMAC-SHA256 of ``"<t>.<body>"`` matches, and ``t`` is recent enough."""
    if not header or not header.isascii():  # compare_digest raises on non-ASCII text
        return False
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value.lower())
    if timestamp is None or abs(now.timestamp() - timestamp) > tolerance_seconds:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, signature) for signature in signatures)
