"""Properties of money display, the amount type and the categories the monthly cap exempts."""

from __future__ import annotations

import re

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from civicpay.money import CAP_EXEMPT, MAX_AMOUNT_VND, AmountVnd, Category, format_vnd

# Dot-grouped thousands, no leading zeros, a space and the đồng sign: "1.234.567 ₫".
DISPLAY = re.compile(r"-?(?:0|[1-9][0-9]{0,2}(?:\.[0-9]{3})*) ₫")


def _parse_display(shown: str) -> int:
    return int(shown.removesuffix(" ₫").replace(".", ""))


@pytest.mark.parametrize(
    ("amount_vnd", "shown"),
    [
        (0, "0 ₫"),
        (999, "999 ₫"),
        (1_000, "1.000 ₫"),
        (150_000, "150.000 ₫"),
        (1_234_567, "1.234.567 ₫"),
        (100_000_000, "100.000.000 ₫"),
        (-1_500, "-1.500 ₫"),
        (MAX_AMOUNT_VND, "9.999.999.999.999 ₫"),
    ],
)
def test_amounts_display_as_on_receipts(amount_vnd: int, shown: str) -> None:
    assert format_vnd(amount_vnd) == shown


@given(st.integers())
@example(10**30)
def test_the_display_form_is_dot_grouped_and_reads_back_as_the_same_amount(amount_vnd: int) -> None:
    shown = format_vnd(amount_vnd)
    assert DISPLAY.fullmatch(shown), shown
    assert _parse_display(shown) == amount_vnd


@given(st.integers(min_value=0), st.integers(min_value=0))
def test_display_order_follows_amount_order(a: int, b: int) -> None:
    # Longer display (more groups) means a larger amount; same length compares digit by digit.
    shown_a, shown_b = format_vnd(a).removesuffix(" ₫"), format_vnd(b).removesuffix(" ₫")
    assert (a < b) == ((len(shown_a), shown_a) < (len(shown_b), shown_b))


class _Payment(msgspec.Struct):
    amount_vnd: AmountVnd


@given(st.integers())
@example(0)
@example(1)
@example(MAX_AMOUNT_VND)
@example(MAX_AMOUNT_VND + 1)
def test_an_amount_is_a_whole_number_of_dong_from_one_to_the_vietqr_maximum(amount_vnd: int) -> None:
    body = msgspec.json.encode({"amount_vnd": amount_vnd})
    try:
        accepted = msgspec.json.decode(body, type=_Payment).amount_vnd == amount_vnd
    except msgspec.ValidationError:
        accepted = False
    assert accepted == (1 <= amount_vnd <= MAX_AMOUNT_VND)


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()) | st.booleans())
def test_fractions_and_booleans_are_not_amounts(value: float) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode({"amount_vnd": value}), type=_Payment)


def test_the_maximum_fits_the_thirteen_digits_of_a_vietqr_amount() -> None:
    assert len(str(MAX_AMOUNT_VND)) == 13
    assert re.fullmatch(r"[1-9][0-9]{0,12}", str(MAX_AMOUNT_VND))


def test_the_cap_exempts_exactly_the_categories_circular_40_lists() -> None:
    # DOMAIN.md: public-service fees, electricity, water, telecoms, tuition, hospital fees, social
    # and health insurance, loan repayments; sanitation is a public-service charge of the province.
    assert {category.value for category in CAP_EXEMPT} == {
        "public_service_fee",
        "electricity",
        "water",
        "sanitation",
        "telecom",
        "tuition",
        "hospital",
        "insurance",
        "loan_repayment",
    }


@pytest.mark.parametrize("category", [Category.P2P, Category.MERCHANT_PAYMENT, Category.WITHDRAWAL])
def test_transfers_and_shop_payments_count_towards_the_cap(category: Category) -> None:
    assert category not in CAP_EXEMPT


def test_every_exempt_category_is_a_category() -> None:
    assert all(isinstance(category, Category) for category in CAP_EXEMPT)
    assert isinstance(CAP_EXEMPT, frozenset)
