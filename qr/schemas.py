"""msgspec Structs at the QR room's edge: what clerks, citizens, merchants and officers send and see."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from civicpay.db import MAX_ID
from civicpay.money import AmountVnd
from qr.models import CollectionStatus, FeeKind, PaidBy
from wallet import InstructionStatus

Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Bin = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6}$", description="NAPAS BIN (GET /banks)")]
AccountNumber = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6,19}$")]
Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,15}$", description="Upper-case short code")]


class OfficeCreate(msgspec.Struct, forbid_unknown_fields=True):
    code: Code
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    city: Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
    bank_bin: Bin
    account_number: AccountNumber
    agency_code: Code
    agency_name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    treasury_account: Annotated[str, msgspec.Meta(pattern=r"^[0-9.]{4,32}$", description="KBNN account")]


class Office(msgspec.Struct):
    id: int
    code: str
    name: str
    city: str
    bank_bin: str
    account_number: str
    agency_code: str
    agency_name: str
    treasury_account: str


class CounterCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=60)]


class Counter(msgspec.Struct):
    id: int
    office_id: int
    name: str
    display_url: str


class ClerkAssign(msgspec.Struct, forbid_unknown_fields=True):
    phone: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


class CollectionCreate(msgspec.Struct, forbid_unknown_fields=True):
    counter_id: Id
    procedure_code: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    procedure_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    dossier_number: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    payer_name: Name
    amount_vnd: AmountVnd
    kind: FeeKind = FeeKind.FEE


class Collection(msgspec.Struct):
    id: int
    reference: str
    office_id: int
    counter_id: int
    procedure_code: str
    procedure_name: str
    dossier_number: str
    payer_name: str
    kind: FeeKind
    amount_vnd: int
    amount_display: str
    status: CollectionStatus
    payee: str
    vietqr: str
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    paid_by: PaidBy | None
    receipt_number: str | None


class RefundCreate(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=500)]


class Receipt(msgspec.Struct):
    """The e-receipt (biên lai điện tử) of a paid fee."""

    receipt_number: str
    reference: str
    agency_name: str
    office_name: str
    procedure_code: str
    procedure_name: str
    dossier_number: str
    payer_name: str
    kind: FeeKind
    amount_vnd: int
    amount_display: str
    paid_at: datetime
    paid_by: PaidBy


class ScanPayment(msgspec.Struct, forbid_unknown_fields=True):
    """A scanned payload to pay from the wallet; ``amount_vnd`` is needed for a static code only."""

    payload: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    amount_vnd: AmountVnd | None = None


class ScanPaid(msgspec.Struct):
    transfer_id: int
    payee: str
    amount_vnd: int
    amount_display: str
    paid_at: datetime
    collection_id: int | None = None
    receipt_number: str | None = None
    merchant_id: int | None = None


class MerchantCreate(msgspec.Struct, forbid_unknown_fields=True):
    """An acceptance point and its owner's sign-in; its static code names its own bank account."""

    phone: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    owner_name: Name
    password: Annotated[str, msgspec.Meta(min_length=10, max_length=128)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100, description="Shop name on the code")]
    city: Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
    mcc: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}$", description="ISO 18245 merchant category code")]
    bank_bin: Bin
    account_number: AccountNumber


class Merchant(msgspec.Struct):
    id: int
    name: str
    city: str
    mcc: str
    bank_bin: str
    account_number: str
    vietqr: str
    balance_vnd: int
    available_vnd: int


class SettlementLine(msgspec.Struct):
    merchant_id: int
    amount_vnd: int
    payout_id: str
    withdrawal_id: int


class RemittanceLine(msgspec.Struct):
    id: int
    reference: str  # what the bank carries and prints in its statement (at most 16 characters)
    agency_code: str
    treasury_account: str
    # The bank account of ours it leaves (None for remittances booked before revision 0009).
    from_bank_bin: str | None
    from_account_number: str | None
    amount_vnd: int
    amount_display: str
    collections: int
    # queued, sent, confirmed (the money reached the Treasury) or rejected (its fees wait for the next sweep).
    status: InstructionStatus
    reason_code: str | None  # the bank's, when it rejected the remittance
    created_at: datetime
    resolved_at: datetime | None


class Overdue(msgspec.Struct):
    """A paid fee not yet on its way to the Treasury more than 24 hours after payment."""

    collection_id: int
    reference: str
    agency_code: str
    amount_vnd: int
    paid_at: datetime
    hours_waiting: int


class SweepReport(msgspec.Struct):
    """What a sweep queued to the bank, and the 24-hour report as it stood: fees past the deadline and not yet
    confirmed at the Treasury (late, to be explained), whether this sweep sends them or one already had."""

    remittances: list[RemittanceLine]
    overdue: list[Overdue]
