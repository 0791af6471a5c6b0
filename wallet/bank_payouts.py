"""Our client of the bank's payout API: who holds an account (name inquiry), and "pay this out".

The bank (or its aggregator) has no public sandbox, so this speaks a small JSON API of its kind, each
request signed with HMAC-SHA256 of the body in ``X-Signature`` (``CIVICPAY_BANK_API_SECRET``). An
instruction is sent with our own id (its reference); the bank keeps one instruction per id, so sending
it again after a crash pays nothing twice. It answers later, on ``POST /webhooks/bank/payouts``, signed
like its notifications. Every instruction names which of our accounts pays (BIN + number), so each
leaves one bank account and its statement line can be set beside that account's ledger balance. Three
kinds, told apart by ``kind``: a payout to an account at a NAPAS bank, a payout to an agency's account
at the State Treasury (KBNN), and the return of an incoming transfer, named by the bank's own reference
for it (its notification carries no payer account: the bank pays it back to whoever sent it).
"""

from __future__ import annotations

from typing import Literal

import httpx
import msgspec

from civicpay import tls
from civicpay.auth.secrets import sign_body


class BankUnavailable(Exception):
    """The bank could not be reached or failed; the request may be sent again."""


class PayoutRefused(Exception):
    """The bank refused the payout outright, with its reason code (ISO 20022 style, e.g. AC04)."""

    def __init__(self, reason_code: str) -> None:
        super().__init__(reason_code)
        self.reason_code = reason_code


class AccountInquiry(msgspec.Struct):
    bank_bin: str
    account_number: str


class AccountHolder(msgspec.Struct):
    holder_name: str


class _Instruction(msgspec.Struct, tag_field="kind", kw_only=True):
    payout_id: str  # our reference (RUT…, QTDV…, KBNN…, HOAN…), the bank's idempotency key
    from_bank_bin: str  # which of our accounts pays
    from_account_number: str
    amount_vnd: int
    description: str


class Payout(_Instruction, tag="account"):
    """To an account at a NAPAS bank (a withdrawal, a merchant's settlement)."""

    bank_bin: str
    account_number: str
    holder_name: str


class TreasuryPayout(_Instruction, tag="treasury"):
    """To an agency's account at the State Treasury (KBNN): collected fees, Circular 74/2022."""

    treasury_account: str
    agency_code: str


class TransferReturn(_Instruction, tag="return"):
    """Back to whoever sent an incoming transfer, named by the bank's own reference for it."""

    original_reference: str


Instruction = Payout | TreasuryPayout | TransferReturn


class PayoutResult(msgspec.Struct, forbid_unknown_fields=True):
    """The bank's word on a payout, as its callback carries it."""

    payout_id: str
    status: Literal["confirmed", "rejected"]
    reason_code: str | None = None
    bank_reference: str | None = None


class BankPayouts:
    def __init__(self, base_url: str, secret: str, *, timeout_seconds: float = 10.0) -> None:
        self._secret = secret
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_seconds, trust_env=False, verify=tls.client_context()
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(
        self, path: str, payload: msgspec.Struct | bytes, content_type: str = "application/json"
    ) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
        headers = {"Content-Type": content_type, "X-Signature": sign_body(self._secret, body)}
        try:
            answer = await self._http.post(path, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise BankUnavailable(type(error).__name__) from error
        if answer.status_code >= 500:
            raise BankUnavailable(f"the bank answered {answer.status_code}")
        return answer

    async def account_holder(self, bank_bin: str, account_number: str) -> str | None:
        """The name the bank has for an account, or None when there is no such account."""
        answer = await self._post("/accounts/inquiry", AccountInquiry(bank_bin, account_number))
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise BankUnavailable(f"the bank answered {answer.status_code} to a name inquiry")
        return msgspec.json.decode(answer.content, type=AccountHolder).holder_name

    async def send_payment_file(self, document: bytes) -> None:
        """Hand the bank an ISO 20022 pain.001 file (signed like every request); it answers each item later in
        pain.002 status reports. The bank keeps one file per MsgId, so a resend after a crash pays nothing twice."""
        answer = await self._post("/payment-files", document, "application/xml")
        if not answer.is_success:
            raise BankUnavailable(f"the bank answered {answer.status_code} to a payment file")

    async def send(self, payout: Instruction) -> None:
        """Hand an instruction to the bank; accepted (2xx) means it will call back with the outcome."""
        answer = await self._post("/payouts", payout)
        if answer.status_code == 422:
            try:
                reason = str(answer.json().get("reason_code") or "RJCT")
            except ValueError:
                reason = "RJCT"  # ISO 20022's plain "rejected"
            raise PayoutRefused(reason)
        if not answer.is_success:
            raise BankUnavailable(f"the bank answered {answer.status_code} to an instruction")
