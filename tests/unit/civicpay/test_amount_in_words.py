"""The amount in words on receipts (số tiền bằng chữ): known readings, and properties over every amount.

The known readings are those of Vietnamese accounting guides and invoice software: a group of zeros is
left out, a group after another is read in full ("không trăm linh năm"), "mốt", "tư" and "lăm" after
"mươi", "lăm" after "mười", "linh" for a zero ten. The properties read the words back with a parser
written independently of the function, so every amount from one đồng to the maximum must say exactly
itself, in the vocabulary and word order the conventions allow.
"""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from civicpay.money import MAX_AMOUNT_VND, amount_in_words

_DIGIT_WORDS = {
    "không": 0, "một": 1, "mốt": 1, "hai": 2, "ba": 3, "bốn": 4, "tư": 4,
    "năm": 5, "lăm": 5, "sáu": 6, "bảy": 7, "tám": 8, "chín": 9,
}  # fmt: skip
_VOCABULARY = {*_DIGIT_WORDS, "mười", "mươi", "trăm", "linh", "nghìn", "triệu", "tỷ", "đồng"}


def _read_back(words: str) -> int:
    """The amount the words say, read left to right as a person would: units, then each group's name."""
    tokens = words.lower().split()
    assert tokens[-1] == "đồng"
    billions = above_thousand = group = digit = 0
    for token in tokens[:-1]:
        if token in _DIGIT_WORDS:
            digit = _DIGIT_WORDS[token]
        elif token == "mười":
            group += 10
        elif token == "mươi":
            group, digit = group + digit * 10, 0
        elif token == "trăm":
            group, digit = group + digit * 100, 0
        elif token == "nghìn":
            above_thousand, group, digit = above_thousand + (group + digit) * 1_000, 0, 0
        elif token == "triệu":
            above_thousand, group, digit = above_thousand + (group + digit) * 1_000_000, 0, 0
        elif token == "tỷ":
            billions, above_thousand, group, digit = (above_thousand + group + digit) * 1_000_000_000, 0, 0, 0
        else:
            assert token == "linh", token
    return billions + above_thousand + group + digit


@pytest.mark.parametrize(
    ("amount_vnd", "words"),
    [
        (1, "Một đồng"),
        (10, "Mười đồng"),
        (11, "Mười một đồng"),
        (14, "Mười bốn đồng"),
        (15, "Mười lăm đồng"),
        (21, "Hai mươi mốt đồng"),
        (24, "Hai mươi tư đồng"),
        (25, "Hai mươi lăm đồng"),
        (104, "Một trăm linh bốn đồng"),
        (110, "Một trăm mười đồng"),
        (1_000, "Một nghìn đồng"),
        (1_005, "Một nghìn không trăm linh năm đồng"),
        (1_025, "Một nghìn không trăm hai mươi lăm đồng"),
        (78_905, "Bảy mươi tám nghìn chín trăm linh năm đồng"),
        (105_000, "Một trăm linh năm nghìn đồng"),
        (505_155, "Năm trăm linh năm nghìn một trăm năm mươi lăm đồng"),
        (1_000_000, "Một triệu đồng"),
        (1_000_001, "Một triệu không trăm linh một đồng"),
        (1_001_000, "Một triệu không trăm linh một nghìn đồng"),
        (1_234_567, "Một triệu hai trăm ba mươi tư nghìn năm trăm sáu mươi bảy đồng"),
        (5_025_110, "Năm triệu không trăm hai mươi lăm nghìn một trăm mười đồng"),
        (190_234_500, "Một trăm chín mươi triệu hai trăm ba mươi tư nghìn năm trăm đồng"),
        (1_000_000_001, "Một tỷ không trăm linh một đồng"),
        (1_505_555_005, "Một tỷ năm trăm linh năm triệu năm trăm năm mươi lăm nghìn không trăm linh năm đồng"),
        (2_000_000_000, "Hai tỷ đồng"),
        (1_000_000_000_000, "Một nghìn tỷ đồng"),
    ],
)
def test_known_amounts_read_as_vietnamese_receipts_write_them(amount_vnd: int, words: str) -> None:
    assert amount_in_words(amount_vnd) == words


@given(st.integers(min_value=1, max_value=MAX_AMOUNT_VND))
@example(1)
@example(MAX_AMOUNT_VND)
@example(1_000_000_000_000)
@example(1_000_000_010)
def test_the_words_read_back_as_exactly_the_amount(amount_vnd: int) -> None:
    assert _read_back(amount_in_words(amount_vnd)) == amount_vnd


@given(st.integers(min_value=1, max_value=MAX_AMOUNT_VND))
def test_the_words_follow_the_written_conventions(amount_vnd: int) -> None:
    words = amount_in_words(amount_vnd)
    tokens = words.lower().split()
    assert words == " ".join(words.split())  # single spaces, nothing around
    assert words[0].isupper()
    assert words[1:] == words[1:].lower()
    assert set(tokens) <= _VOCABULARY
    assert tokens[-1] == "đồng"
    assert "đồng" not in tokens[:-1]
    assert tokens[0] not in {"không", "linh", "mươi", "trăm", "nghìn", "triệu", "tỷ", "mốt", "tư", "lăm"}
    for before, word in itertools.pairwise(tokens):
        if word in {"mốt", "tư"}:
            assert before == "mươi", words  # mười một, mười bốn; hai mươi mốt, hai mươi tư
        if word == "lăm":
            assert before in {"mươi", "mười"}, words  # linh năm, never linh lăm
        if word in {"mươi", "trăm"}:
            assert before in _DIGIT_WORDS, words
            assert before not in {"mốt", "tư", "lăm"}, words
        if before == "linh":
            assert word in _DIGIT_WORDS, words
            assert word not in {"không", "mốt", "tư", "lăm"}, words
    assert not re.search(r"\b(không mươi|mươi không|một mươi)\b", words.lower()), words


@given(st.integers(min_value=1, max_value=999_999_999), st.integers(min_value=1, max_value=9_999))
def test_billions_read_as_their_own_number_then_the_rest_in_full(rest: int, billions: int) -> None:
    whole = amount_in_words(billions * 1_000_000_000 + rest)
    head = amount_in_words(billions).removesuffix(" đồng")
    assert whole.startswith(f"{head} tỷ ")
    # The part after tỷ never starts bare: a leading group of it is read with its hundreds.
    assert re.match(r"(không|một|hai|ba|bốn|năm|sáu|bảy|tám|chín) trăm", whole.removeprefix(f"{head} tỷ ")), whole


@pytest.mark.parametrize("amount_vnd", [0, -1, MAX_AMOUNT_VND + 1])
def test_amounts_outside_one_dong_to_the_maximum_have_no_words(amount_vnd: int) -> None:
    with pytest.raises(ValueError, match="1 to"):
        amount_in_words(amount_vnd)
