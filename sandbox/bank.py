"""The bank, as a small server for development and tests (the bank has no public sandbox).

It answers what ``bank_payouts.BankPayouts`` asks, over a real socket: name inquiries from a list of
accounts, and instructions (payouts to an account, to an agency's State Treasury account, returns of an
incoming transfer by its bank reference), each naming which of our accounts pays, kept one per
``payout_id`` as a bank does (a resend answers as the first did). Control routes under ``/_sandbox``
play the bank's back office: add an account, close one (payouts to it are refused, AC04), go down
(503), confirm or reject an instruction, or take in a transfer to our collection account; the last two sign the bank's
callback or notification and, when civicpay's URL is set, send it there. ``civicpay-sandbox bank serve``
runs it beside ``make run`` with the demo people's accounts; the tests run it in a thread, and either
deliver what it signed themselves or give it a live civicpay to call.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import httpx
import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.params import JSONBody, PathParameter
from lxml import etree

from civicpay.auth.secrets import sign_body, signature_matches
from civicpay.demo import DEMO_BANK_ACCOUNTS
from civicpay.settings import DEFAULT_WALLET_POOL_ACCOUNT
from disbursement import payout_files
from sandbox import bank_notifications
from wallet.bank_payouts import AccountHolder, AccountInquiry, Instruction, Payout, PayoutResult

PAYOUT_RESULT_PATH = "/webhooks/bank/payouts"
STATUS_REPORT_PATH = "/webhooks/bank/payment-status"
# An item of a payout file to an account whose number ends so is rejected with that ISO 20022 reason, so a test
# or a demo chooses who is refused: incorrect account number, closed account, insufficient funds.
REJECT_BY_SUFFIX = {"40001": "AC01", "40004": "AC04", "40404": "AM04"}
_PAIN_001 = {"p": payout_files.PAIN_001}


class AccountOpen(msgspec.Struct):
    bank_bin: str
    account_number: str
    holder_name: str
    closed: bool = False


class Settlement(msgspec.Struct):
    status: Literal["confirmed", "rejected"]
    reason_code: str | None = None


class Incoming(msgspec.Struct):
    """A transfer into one of our accounts; ``content`` is the payer's description (a top-up code, say)."""

    content: str
    amount_vnd: int
    account_number: str = DEFAULT_WALLET_POOL_ACCOUNT  # which of our accounts received it


class SignedCallback(msgspec.Struct):
    """The bank's callback as it was (or would be) sent: the body and its ``X-Signature``."""

    body: str
    signature: str
    delivered_status: int | None


@dataclass
class Bank:
    request_secret: str  # what our requests are signed with (CIVICPAY_BANK_API_SECRET)
    callback_secret: str  # what the bank signs its callbacks with (CIVICPAY_BANK_WEBHOOK_SECRET)
    civicpay_url: str | None  # where its notifications and payout results go; None: only returned, signed
    accounts: dict[tuple[str, str], AccountOpen] = field(default_factory=dict)
    payouts: dict[str, Instruction] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # instruction id → the reason code it was refused with
    down: bool = False
    # Payout files (pain.001) by MsgId, as received, and each item's fate (EndToEndId → ACSC, or a reason code).
    payment_files: dict[str, bytes] = field(default_factory=dict)
    file_outcomes: dict[str, dict[str, str]] = field(default_factory=dict)


def create_bank_app(bank: Bank) -> Litestar:
    def refused(request_body: bytes, request: Request[Any, Any, Any]) -> Response[Any] | None:
        if bank.down:
            return Response({"error": "maintenance"}, status_code=503)
        if not signature_matches(bank.request_secret, request_body, request.headers.get("x-signature")):
            return Response({"error": "bad signature"}, status_code=401)
        return None

    @post("/accounts/inquiry", status_code=200)
    async def inquiry(request: Request[Any, Any, Any]) -> Response[Any]:
        body = await request.body()
        if (problem := refused(body, request)) is not None:
            return problem
        asked = msgspec.json.decode(body, type=AccountInquiry)
        account = bank.accounts.get((asked.bank_bin, asked.account_number))
        if account is None:
            return Response({"error": "no such account"}, status_code=404)
        return Response(AccountHolder(account.holder_name))

    @post("/payouts", status_code=202)
    async def payout(request: Request[Any, Any, Any]) -> Response[Any]:
        body = await request.body()
        if (problem := refused(body, request)) is not None:
            return problem
        sent = msgspec.json.decode(body, type=Instruction)
        # A resend: the first answer stands, whatever changed since.
        if sent.payout_id in bank.payouts:
            return Response({"accepted": sent.payout_id}, status_code=202)
        if sent.payout_id in bank.refused:
            return Response({"reason_code": bank.refused[sent.payout_id]}, status_code=422)
        if isinstance(sent, Payout):  # the Treasury's accounts and a return's payer are not the sandbox's to know
            account = bank.accounts.get((sent.bank_bin, sent.account_number))
            if account is None or account.closed:
                bank.refused[sent.payout_id] = "AC04"  # ISO 20022: closed account number
                return Response({"reason_code": "AC04"}, status_code=422)
        bank.payouts[sent.payout_id] = sent
        return Response({"accepted": sent.payout_id}, status_code=202)

    @post("/_sandbox/accounts", status_code=201)
    async def open_account(data: JSONBody[AccountOpen]) -> AccountOpen:
        bank.accounts[(data.bank_bin, data.account_number)] = data
        return data

    @post("/_sandbox/outage/{down:str}", status_code=200)
    async def outage(down: Annotated[str, PathParameter()]) -> dict[str, bool]:
        bank.down = down == "on"
        return {"down": bank.down}

    @get("/_sandbox/payouts")
    async def payouts() -> list[Instruction]:
        return list(bank.payouts.values())

    async def call_civicpay(path: str, body: bytes, content_type: str = "application/json") -> SignedCallback:
        """Sign as the bank signs (X-Signature); send to civicpay when its URL is known."""
        signature = sign_body(bank.callback_secret, body)
        delivered = None
        if bank.civicpay_url:
            headers = {"Content-Type": content_type, "X-Signature": signature}
            async with httpx.AsyncClient(trust_env=False) as http:
                delivered = (await http.post(bank.civicpay_url + path, content=body, headers=headers)).status_code
        return SignedCallback(body.decode(), signature, delivered)

    @post("/_sandbox/payouts/{payout_id:str}/settle", status_code=200)
    async def settle(payout_id: Annotated[str, PathParameter()], data: JSONBody[Settlement]) -> Response[Any]:
        if payout_id not in bank.payouts:
            return Response({"error": "no such instruction"}, status_code=404)
        reference = f"FT{secrets.token_hex(5).upper()}"
        result = PayoutResult(payout_id, data.status, data.reason_code, bank_reference=reference)
        return Response(await call_civicpay(PAYOUT_RESULT_PATH, msgspec.json.encode(result)))

    @post("/_sandbox/incoming", status_code=200)
    async def incoming(data: JSONBody[Incoming]) -> SignedCallback:
        """Someone transfers money to our collection account: the bank notifies civicpay."""
        note = bank_notifications.notification(
            code=data.content, amount_vnd=data.amount_vnd, at=datetime.now(UTC), account_number=data.account_number
        )
        return await call_civicpay(bank_notifications.WEBHOOK_PATH, msgspec.json.encode(note))

    return Litestar(
        [inquiry, payout, open_account, outage, payouts, settle, incoming, *_file_routes(bank, refused, call_civicpay)],
        debug=False,
    )


Refusal = Callable[[bytes, Request[Any, Any, Any]], Response[Any] | None]
CallCivicpay = Callable[[str, bytes, str], Awaitable[SignedCallback]]


def _file_routes(bank: Bank, refused: Refusal, call_civicpay: CallCivicpay) -> list[Any]:
    """Payout files (pain.001) in, status reports (pain.002) out."""

    @post("/payment-files", status_code=202)
    async def payment_file(request: Request[Any, Any, Any]) -> Response[Any]:
        """A pain.001 file: each item's fate decided now (by account), reported when the back office says."""
        body = await request.body()
        if (problem := refused(body, request)) is not None:
            return problem
        try:
            root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError:
            return Response({"error": "not XML"}, status_code=400)
        message_id = root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId", namespaces=_PAIN_001)
        if not message_id:
            return Response({"error": "not a pain.001 file"}, status_code=400)
        if message_id not in bank.payment_files:  # a resend: the first stands
            bank.payment_files[message_id] = body
            bank.file_outcomes[message_id] = {
                node.findtext("p:PmtId/p:EndToEndId", namespaces=_PAIN_001) or "": _fate(
                    node.findtext("p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId", namespaces=_PAIN_001) or "",
                    node.findtext("p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=_PAIN_001) or "",
                )
                for node in root.iterfind("p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf", namespaces=_PAIN_001)
            }
        return Response({"accepted": message_id, "items": len(bank.file_outcomes[message_id])}, status_code=202)

    def _fate(bank_bin: str, account_number: str) -> str:
        account = bank.accounts.get((bank_bin, account_number))
        if account is not None and account.closed:
            return "AC04"
        return next((code for end, code in REJECT_BY_SUFFIX.items() if account_number.endswith(end)), "ACSC")

    @get("/_sandbox/payment-files")
    async def payment_files() -> dict[str, dict[str, str]]:
        """Each file received, by MsgId, with its items' fates."""
        return bank.file_outcomes

    @post("/_sandbox/payment-files/{message_id:str}/report", status_code=200)
    async def status_report(message_id: Annotated[str, PathParameter()]) -> Response[Any]:
        """The back office answers a file: a signed pain.002 of every item's status, sent when civicpay's URL is set."""
        if message_id not in bank.file_outcomes:
            return Response({"error": "no such file"}, status_code=404)
        statuses = [
            payout_files.TransactionStatus(
                reference,
                "ACSC" if fate == "ACSC" else "RJCT",
                None if fate == "ACSC" else fate,
                None if fate == "ACSC" else payout_files.REASONS.get(fate, ("", ""))[1] or None,
            )
            for reference, fate in bank.file_outcomes[message_id].items()
        ]
        report = payout_files.write_pain002(
            f"STS{secrets.token_hex(6).upper()}", datetime.now(UTC), message_id, statuses
        )
        return Response(await call_civicpay(STATUS_REPORT_PATH, report, "application/xml"))

    return [payment_file, payment_files, status_report]


def demo_bank(request_secret: str, callback_secret: str, civicpay_url: str | None) -> Bank:
    accounts = {key: AccountOpen(*key, holder_name=name) for key, name in DEMO_BANK_ACCOUNTS.items()}
    return Bank(request_secret, callback_secret, civicpay_url, accounts=accounts)
