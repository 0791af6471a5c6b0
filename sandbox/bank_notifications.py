"""The bank's notification sender: an incoming transfer, signed and sent to our webhook.

It speaks to our webhook exactly as an aggregator does: a JSON notification, signed with HMAC-SHA256
in ``X-Signature``, with the description dressed the way Vietnamese bank apps dress it.
"""

from __future__ import annotations

import secrets
from datetime import datetime

import httpx
import msgspec

from civicpay.auth.secrets import sign_body
from civicpay.settings import DEFAULT_WALLET_POOL_ACCOUNT
from wallet.bank_topups import NotificationIn

WEBHOOK_PATH = "/webhooks/bank/notifications"


def notification(
    *,
    code: str,
    amount_vnd: int,
    at: datetime,
    notification_id: str | None = None,
    payer: str = "NGUYEN VAN A",
    account_number: str = DEFAULT_WALLET_POOL_ACCOUNT,
) -> NotificationIn:
    """An incoming transfer into ``account_number`` whose description carries ``code`` among the bank's words."""
    reference = f"FT{secrets.randbelow(10**10):010d}"
    return NotificationIn(
        id=notification_id or f"ntf_{secrets.token_hex(8)}",
        bank="970436",
        transaction_at=at,
        account_number=account_number,
        transfer_type="in",
        amount_vnd=amount_vnd,
        content=f"MBVCB.{reference[2:]}.NAP TIEN VI {code}.CT tu 0123456789 {payer}",
        reference_code=reference,
    )


def signed(note: NotificationIn, secret: str) -> tuple[bytes, dict[str, str]]:
    body = msgspec.json.encode(note)
    return body, {"Content-Type": "application/json", "X-Signature": sign_body(secret, body)}


def send(base_url: str, note: NotificationIn, secret: str, *, language: str | None = None) -> httpx.Response:
    """Post the notification, signed; ``language``: the one civicpay should word a refusal in."""
    body, headers = signed(note, secret)
    if language is not None:
        headers = {**headers, "Accept-Language": language}
    return httpx.post(base_url.rstrip("/") + WEBHOOK_PATH, content=body, headers=headers, timeout=10)
