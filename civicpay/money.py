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


_DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
# Each group of three digits, from the right, and what it is read with; past nghìn tỷ the tỷ repeats
# (10^12 is "một nghìn tỷ"), which is how amounts up to MAX_AMOUNT_VND are read.
_GROUP_WORDS = ("", "nghìn", "triệu")
_BILLION = 1_000_000_000


def _group_in_words(group: int, *, leading: bool) -> list[str]:
    """Three digits (1-999). A group after another is read in full: ``5`` is "không trăm linh năm" there."""
    hundreds, tens, units = group // 100, group // 10 % 10, group % 10
    words: list[str] = []
    if hundreds or not leading:
        words += [_DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units and words:
            words += ["linh", _DIGITS[units]]
        elif units:
            words.append(_DIGITS[units])
        return words
    words += ["mười"] if tens == 1 else [_DIGITS[tens], "mươi"]
    if units == 1 and tens > 1:
        words.append("mốt")  # hai mươi mốt, but mười một
    elif units == 4 and tens > 1:
        words.append("tư")  # hai mươi tư, as accounts write it; but mười bốn
    elif units == 5:
        words.append("lăm")  # mười lăm, hai mươi lăm; but linh năm
    elif units:
        words.append(_DIGITS[units])
    return words


def _in_words(amount: int, *, leading: bool) -> list[str]:
    if amount >= _BILLION:
        billions, rest = divmod(amount, _BILLION)
        words = [*_in_words(billions, leading=leading), "tỷ"]
        return words + _in_words(rest, leading=False) if rest else words
    groups = [amount // 1_000_000, amount // 1_000 % 1_000, amount % 1_000]
    words = []
    for group, name in zip(groups, reversed(_GROUP_WORDS), strict=True):
        if group:
            words += _group_in_words(group, leading=leading and not words)
            if name:
                words.append(name)
    return words


def amount_in_words(amount_vnd: int) -> str:
    """The amount written out as a Vietnamese receipt or invoice has it (số tiền bằng chữ).

    ``1_234_567`` → "Một triệu hai trăm ba mươi tư nghìn năm trăm sáu mươi bảy đồng". Groups of three
    digits from the right; a group of zeros is left out, and a group after another is read in full
    ("không trăm linh năm"), so the words cannot be read as a different amount. It is the written
    convention of accounting documents: "linh" (not the spoken southern "lẻ") and "tư" after "mươi".
    """
    if not 0 < amount_vnd <= MAX_AMOUNT_VND:
        raise ValueError(f"an amount in words is from 1 to {MAX_AMOUNT_VND} đồng")
    text = " ".join([*_in_words(amount_vnd, leading=True), "đồng"])
    return text[0].upper() + text[1:]
