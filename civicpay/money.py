"""Money is an integer number of đồng (VND has no minor unit), and every movement has a category.

The category decides whether a movement counts towards the e-wallet monthly cap of Circular
40/2024/TT-NHNN, so it is chosen where the movement is made, never guessed later.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import msgspec

# VietQR's amount field holds at most 13 digits; nothing in the product is larger.
MAX_AMOUNT_VND = 9_999_999_999_999

AmountVnd = Annotated[
    int,
    msgspec.Meta(gt=0, le=MAX_AMOUNT_VND, description="Amount in đồng (VND has no minor unit)", examples=[150000]),
]


class Category(StrEnum):
    """What a movement of money is for."""

    P2P = "p2p"
    TOPUP = "topup"
    WITHDRAWAL = "withdrawal"
    MERCHANT_PAYMENT = "merchant_payment"
    PUBLIC_SERVICE_FEE = "public_service_fee"
    ELECTRICITY = "electricity"
    WATER = "water"
    SANITATION = "sanitation"
    TELECOM = "telecom"
    TUITION = "tuition"
    HOSPITAL = "hospital"
    INSURANCE = "insurance"
    LOAN_REPAYMENT = "loan_repayment"
    WELFARE = "welfare"
    PENSION = "pension"
    # Money sent back to whoever paid it (a bank transfer nobody could be found for, say).
    RETURN = "return"
    # Between two accounts of our own, no one else's money moving (a balance split by migration 0007, say).
    INTERNAL = "internal"


# Circular 40/2024 exempts these from the monthly cap. Sanitation is a public-service charge
# collected by the province, so it is exempt with the public-service fees.
CAP_EXEMPT: frozenset[Category] = frozenset(
    {
        Category.PUBLIC_SERVICE_FEE,
        Category.ELECTRICITY,
        Category.WATER,
        Category.SANITATION,
        Category.TELECOM,
        Category.TUITION,
        Category.HOSPITAL,
        Category.INSURANCE,
        Category.LOAN_REPAYMENT,
    }
)


def format_vnd(amount_vnd: int) -> str:
    """Display form used on screens and receipts: ``1.234.567 ₫``."""
    sign = "-" if amount_vnd < 0 else ""
    return f"{sign}{abs(amount_vnd):,} ₫".replace(",", ".")
