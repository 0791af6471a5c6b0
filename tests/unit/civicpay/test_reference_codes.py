"""References with a check character: what carries a payment to its wallet or fee collection through bank text."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from civicpay.reference_codes import ALPHABET, ReferenceScheme
from qr.models import COLLECTION
from wallet.topup_code import TOPUP

SCHEMES = st.sampled_from([TOPUP, COLLECTION])


@given(SCHEMES.flatmap(lambda scheme: st.tuples(st.just(scheme), st.integers(1, scheme.max_number))))
def test_every_number_comes_back_from_its_reference(case: tuple[ReferenceScheme, int]) -> None:
    scheme, number = case
    code = scheme.encode(number)
    assert len(code) == scheme.length <= 16
    assert re.fullmatch(r"[A-Z0-9]+", code)  # survives bank apps and MT940 references
    assert scheme.decode(code) == number


@given(
    SCHEMES.flatmap(lambda scheme: st.tuples(st.just(scheme), st.integers(1, scheme.max_number))),
    st.data(),
)
def test_one_mistyped_character_is_never_read_as_a_valid_reference(
    case: tuple[ReferenceScheme, int], data: st.DataObject
) -> None:
    scheme, number = case
    code = scheme.encode(number)
    position = data.draw(st.integers(len(scheme.prefix), len(code) - 1))
    typo = data.draw(st.sampled_from(ALPHABET).filter(lambda character: character != code[position]))
    assert scheme.decode(code[:position] + typo + code[position + 1 :]) is None


@given(st.integers(1, COLLECTION.max_number), st.text(max_size=40), st.text(max_size=40))
def test_a_reference_is_found_inside_whatever_words_the_bank_adds(number: int, before: str, after: str) -> None:
    text = f"{before} {COLLECTION.encode(number).lower()} {after}"
    assert number in COLLECTION.find(text)


def test_the_two_kinds_of_reference_do_not_read_each_other() -> None:
    fee, topup = COLLECTION.encode(42), TOPUP.encode(42)
    assert (COLLECTION.find(topup), TOPUP.find(fee)) == ([], [])
    assert COLLECTION.find(f"MBVCB.123.{fee}.CT tu 0123 NGUYEN VAN A") == [42]
