"""References with a check character: what carries money through bank text and back on its statement.

Every reference we send to a bank or put in a VietQR is one of these schemes: top-up codes, collection
references, payout ids of withdrawals and of merchant settlements, Treasury remittances, suspense returns,
billers' settlements.
"""

from __future__ import annotations

import itertools
import re

from hypothesis import given
from hypothesis import strategies as st

from billing.settlements import SETTLEMENT as BILLER_SETTLEMENT
from civicpay.reference_codes import ALPHABET, ReferenceScheme
from qr.models import COLLECTION
from qr.treasury import REMITTANCE
from wallet.bank_topups import SUSPENSE_RETURN
from wallet.topup_code import TOPUP
from wallet.withdrawals import SETTLEMENT_PAYOUT, WITHDRAWAL_PAYOUT

BANK_FACING = [TOPUP, COLLECTION, WITHDRAWAL_PAYOUT, SETTLEMENT_PAYOUT, REMITTANCE, SUSPENSE_RETURN, BILLER_SETTLEMENT]
SCHEMES = st.sampled_from(BANK_FACING)


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


@given(SCHEMES)
def test_a_random_reference_fits_a_statement_and_passes_its_check(scheme: ReferenceScheme) -> None:
    code = scheme.random()
    assert len(code) <= 16
    assert re.fullmatch(r"[A-Z0-9]+", code)
    assert scheme.decode(code) is not None
    assert scheme.find(f"CT DEN:{code} NOP TIEN") == [scheme.decode(code)]


def test_every_kind_has_a_prefix_of_its_own() -> None:
    prefixes = [scheme.prefix for scheme in BANK_FACING]
    assert all(not b.startswith(a) for a, b in itertools.permutations(prefixes, 2))


@given(st.sampled_from(list(itertools.permutations(BANK_FACING, 2))), st.data())
def test_no_kind_reads_another_kinds_reference(
    pair: tuple[ReferenceScheme, ReferenceScheme], data: st.DataObject
) -> None:
    mine, other = pair
    code = other.encode(data.draw(st.integers(1, other.max_number)))
    assert mine.decode(code) is None


def test_the_two_kinds_of_reference_do_not_read_each_other() -> None:
    fee, topup = COLLECTION.encode(42), TOPUP.encode(42)
    assert (COLLECTION.find(topup), TOPUP.find(fee)) == ([], [])
    assert COLLECTION.find(f"MBVCB.123.{fee}.CT tu 0123 NGUYEN VAN A") == [42]
