"""msgspec Structs at the billing room's edge: what admins, billers' systems and citizens send and see."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

import msgspec

from billing.models import BillerCategory, BillStatus, PaymentPolicy, PaymentSource
from civicpay.db import MAX_ID
from civicpay.money import AmountVnd
from civicpay.outbox import OutboxStatus
from wallet import InstructionStatus

Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
Bin = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6}$", description="NAPAS BIN (GET /banks)")]
AccountNumber = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6,19}$")]
CustomerCode = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}$",
        description="The biller's customer code: electricity customer code, water contract, student id, dossier",
    ),
]
MAX_BILLS_PER_PUSH = 10_000
LookupUrl = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^https?://[^\s]*\{customer_code\}[^\s]*$",
        max_length=300,
        description="Where the biller's system answers a customer's open bills: `{customer_code}` is filled in",
        examples=["https://billing.example.vn/customers/{customer_code}/bills"],
    ),
]


class BillerCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    category: BillerCategory
    bank_bin: Bin
    account_number: AccountNumber
    webhook_url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s]{1,290}$", max_length=300)]
    webhook_secret: Annotated[str, msgspec.Meta(min_length=16, max_length=128)]
    payment_policy: PaymentPolicy = PaymentPolicy.REFUSE
    lookup_url: LookupUrl | None = None


class Biller(msgspec.Struct):
    id: int
    name: str
    category: BillerCategory
    bank_bin: str
    account_number: str
    account_holder: Annotated[str, msgspec.Meta(description="The bank's name for the settlement account")]
    webhook_url: str
    payment_policy: PaymentPolicy
    api_key_id: int
    lookup_url: str | None


class BillerListed(msgspec.Struct):
    """A biller as a citizen's app lists it, to link a customer code at it."""

    id: int
    name: str
    category: BillerCategory
    category_label: Annotated[str, msgspec.Meta(examples=["Tiền điện"])]
    code_label: Annotated[str, msgspec.Meta(description="What the biller's customer code is called on its bills")]


class BillerCreated(Biller):
    api_key: Annotated[str, msgspec.Meta(description="Shown once; the biller's system sends it as X-API-Key.")]


class BillLine(msgspec.Struct, forbid_unknown_fields=True):
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    amount_vnd: int
    quantity: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class BillIn(msgspec.Struct, forbid_unknown_fields=True):
    bill_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="The biller's own id for the bill")]
    customer_code: CustomerCode
    customer_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    period: Annotated[str, msgspec.Meta(min_length=1, max_length=20, examples=["2026-11"])]
    amount_vnd: AmountVnd
    due_date: date
    lines: Annotated[list[BillLine], msgspec.Meta(max_length=100)] = []
    status: Literal["open", "cancelled"] = "open"


class BillPush(msgspec.Struct, forbid_unknown_fields=True):
    bills: Annotated[list[BillIn], msgspec.Meta(min_length=1, max_length=MAX_BILLS_PER_PUSH)]


Outcome = Literal["created", "unchanged", "amended", "cancelled"]


class BillAccepted(msgspec.Struct):
    bill_id: str
    id: int
    version: int
    outcome: Outcome


class BillRefused(msgspec.Struct):
    bill_id: str
    code: str
    detail: Annotated[
        str, msgspec.Meta(description="Why, in the language `Accept-Language` asks for (Vietnamese first)")
    ]


class PushResult(msgspec.Struct):
    accepted: list[BillAccepted]
    refused: list[BillRefused]


class LinkCreate(msgspec.Struct, forbid_unknown_fields=True):
    biller_id: Id
    customer_code: CustomerCode


class AutopayCreate(msgspec.Struct, forbid_unknown_fields=True):
    # At most this much is paid automatically on the link in a business month.
    monthly_ceiling_vnd: AmountVnd


class Autopay(msgspec.Struct):
    monthly_ceiling_vnd: int
    monthly_ceiling_display: str
    active_from: Annotated[
        date, msgspec.Meta(description="Bills due from this day on are paid on their due date; older ones by hand")
    ]


class Link(msgspec.Struct):
    id: int
    biller_id: int
    biller_name: str
    customer_code: str
    customer_name: str
    autopay: Annotated[Autopay | None, msgspec.Meta(description="Auto-pay, when on (`PUT .../autopay`)")] = None


class Bill(msgspec.Struct):
    id: int
    biller_id: int
    biller_bill_id: str
    customer_code: str
    customer_name: str
    period: str
    amount_vnd: Annotated[int, msgspec.Meta(description="Still due")]
    amount_display: str
    due_date: date
    overdue: bool
    status: BillStatus
    status_label: str


class DueDateGroup(msgspec.Struct):
    due_date: date
    overdue: bool
    label: str
    total_vnd: int
    total_display: str
    bills: list[Bill]


class BillerGroup(msgspec.Struct):
    biller_id: int
    biller_name: str
    category: BillerCategory
    category_label: str
    total_vnd: int
    total_display: str
    due_dates: list[DueDateGroup]


class StaleReason(StrEnum):
    """Why a biller's bills were not brought up to date for this answer."""

    TIMEOUT = "timeout"  # it did not answer in time
    UNAVAILABLE = "unavailable"  # unreachable, or it answered with an error or nonsense
    CIRCUIT_OPEN = "circuit_open"  # it failed repeatedly just before, so it was not asked


class StaleBiller(msgspec.Struct):
    """A linked biller that answers look-ups but could not be asked this time: its bills are as last stored."""

    biller_id: int
    biller_name: str
    reason: StaleReason
    reason_label: str


class MyBills(msgspec.Struct):
    total_vnd: int
    total_display: str
    overdue_vnd: int
    bill_count: int
    billers: list[BillerGroup]
    stale_billers: Annotated[
        list[StaleBiller],
        msgspec.Meta(description="Billers whose bills may be out of date: they could not be asked this time"),
    ] = []


class BillLineOut(msgspec.Struct):
    description: str
    amount_vnd: int
    quantity: str | None = None


class BillPaymentLine(msgspec.Struct):
    payment_id: int
    amount_vnd: int
    paid_at: datetime
    source: Annotated[PaymentSource, msgspec.Meta(description="wallet, or bank: a transfer naming the reference")]


class BillDetail(Bill):
    version: int
    lines: list[BillLineOut]
    payments: list[BillPaymentLine]
    reference: Annotated[
        str,
        msgspec.Meta(description="16 characters with a check character: put it in a bank transfer's description"),
    ]
    vietqr: Annotated[
        str | None,
        msgspec.Meta(
            description="Dynamic VietQR for the amount still due, payable from any bank app (image: "
            "`GET /bills/{id}/qr`); null once the bill is paid or cancelled"
        ),
    ]


class BillAmount(msgspec.Struct, forbid_unknown_fields=True):
    id: Id
    amount_vnd: Annotated[
        AmountVnd,
        msgspec.Meta(description="At most what is still due; less only where the biller allows part payment"),
    ]


class BillPaymentCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Either ``bill_ids`` (each paid in full) or ``bills`` (each with the amount to pay), not both."""

    bill_ids: Annotated[list[Id], msgspec.Meta(max_length=50, description="Bills to pay in full")] = []
    bills: Annotated[
        list[BillAmount], msgspec.Meta(max_length=50, description="Bills with the amount to pay on each")
    ] = []


class PaidBill(msgspec.Struct):
    bill_id: int
    biller_id: int
    amount_vnd: int
    transfer_id: int


class BillPaid(msgspec.Struct):
    id: int
    amount_vnd: int
    amount_display: str
    paid_at: datetime
    bills: list[PaidBill]


class Settlement(msgspec.Struct):
    """A business day's payout of a biller's takings, with the bank's outcome."""

    id: int
    biller_id: int
    business_day: Annotated[date, msgspec.Meta(description="The business day (Asia/Ho_Chi_Minh) it settles")]
    cutoff_at: Annotated[datetime, msgspec.Meta(description="Bill payments made before this instant are in it")]
    reference: Annotated[str, msgspec.Meta(description="16 characters; on the payout's bank statement line")]
    amount_vnd: int
    amount_display: str
    bill_count: int
    bank_bin: str
    account_number: str
    account_holder: str
    status: InstructionStatus
    reason_code: str | None
    created_at: datetime
    resolved_at: datetime | None


class WebhookTry(msgspec.Struct):
    """One HTTP try of a notification: the biller's status code, or why there was none."""

    attempted_at: datetime
    http_status: int | None
    error: str | None


class WebhookDelivery(msgspec.Struct):
    """A signed notification to the biller (``X-Civicpay-Delivery`` is the same on every try)."""

    id: int
    payment_id: int
    event: str
    status: Annotated[OutboxStatus, msgspec.Meta(description="pending, delivered or given_up")]
    attempts: Annotated[int, msgspec.Meta(description="Tries since it was written or last redelivered")]
    last_error: str | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    tries: list[WebhookTry]
