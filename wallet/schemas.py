"""The wallet's API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from civicpay.money import AmountVnd, Category
from wallet.models import KycTier


class CitizenCreate(msgspec.Struct, forbid_unknown_fields=True):
    phone: Annotated[str, msgspec.Meta(min_length=1, max_length=32, examples=["0912345678"])]
    citizen_id: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^[0-9]{12}$",
            min_length=12,
            max_length=12,
            description="Căn cước công dân, 12 digits",
            examples=["001203004567"],
        ),
    ]
    full_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["Nguyễn Thị Hương"])]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class Citizen(msgspec.Struct):
    user_id: int
    wallet_id: int
    phone: str
    full_name: str
    kyc_tier: KycTier


class Limits(msgspec.Struct):
    monthly_cap_vnd: int
    month_used_vnd: int
    month_remaining_vnd: int
    day_total_vnd: int
    stepup_single_vnd: int
    stepup_daily_vnd: int


class Wallet(msgspec.Struct):
    id: int
    owner_name: str
    phone: str
    kyc_tier: KycTier
    balance_vnd: int
    available_vnd: int
    balance_display: str
    topup_code: Annotated[str, msgspec.Meta(description="Put this in a bank transfer's description to top up")]
    limits: Limits


Memo = Annotated[str, msgspec.Meta(max_length=140, description="Nội dung chuyển khoản")]


class TransferCreate(msgspec.Struct, forbid_unknown_fields=True):
    to_phone: Annotated[str, msgspec.Meta(min_length=1, max_length=32, examples=["0987654321"])]
    amount_vnd: AmountVnd
    memo: Memo = ""


class Party(msgspec.Struct):
    name: str
    phone: str | None


class Transfer(msgspec.Struct):
    id: int
    amount_vnd: int
    amount_display: str
    category: Category
    memo: str
    sender: Party
    recipient: Party
    created_at: datetime


class HistoryItem(msgspec.Struct):
    transfer_id: int
    at: datetime
    direction: Literal["in", "out"]
    amount_vnd: int
    amount_display: str
    category: Category
    counterparty: Party
    memo: str


class HistoryPage(msgspec.Struct):
    items: list[HistoryItem]
    next_cursor: str | None
