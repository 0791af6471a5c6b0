"""Properties of the identity rules: phone numbers, citizen ids (CCCD), names, masked phones."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from civicpay.auth.identity import is_citizen_id, mask_phone, normalise_name, normalise_phone

CANONICAL = re.compile(r"\+84[35789][0-9]{8}")
# The nine digits after the country code of a Vietnamese mobile number (03x, 05x, 07x, 08x, 09x).
SUBSCRIBER = st.from_regex(r"[35789][0-9]{8}", fullmatch=True)
# How people write the same number: national, international with and without "+", and 00-prefixed.
SPELLINGS = ("0{}", "84{}", "+84{}", "0084{}")
SEPARATORS = st.lists(st.sampled_from([" ", ".", "-", "(", ")", "\t"]), max_size=3).map("".join)


def _sprinkle(text: str, data: st.DataObject) -> str:
    """Put separators between any characters, and whitespace around, as people type numbers."""
    out = data.draw(st.sampled_from(["", " ", "  \t"]))
    for char in text:
        out += char + data.draw(SEPARATORS)
    return out + data.draw(st.sampled_from(["", " ", "\n"]))


@given(subscriber=SUBSCRIBER, spelling=st.sampled_from(SPELLINGS), data=st.data())
def test_every_spelling_of_a_mobile_number_is_the_same_number(
    subscriber: str, spelling: str, data: st.DataObject
) -> None:
    typed = _sprinkle(spelling.format(subscriber), data)
    assert normalise_phone(typed) == "+84" + subscriber


# An independent description of what is accepted: the four spellings, nothing else.
_ACCEPTED = re.compile(r"(?:0|84|\+84|0084)[35789][0-9]{8}")


@given(
    st.builds(
        str.__add__,
        st.sampled_from(["", "+", "0", "00", "84", "+84", "0084", "+840", "840"]),
        st.from_regex(r"[0-9]{0,12}", fullmatch=True),
    )
)
@example("0212345678")  # a Hà Nội landline: not a mobile
@example("840912345678")  # 84 followed by the national form
@example("+840912345678")
@example("091234567")  # one digit short
def test_a_string_of_digits_is_a_mobile_number_only_in_the_accepted_spellings(digits: str) -> None:
    assert (normalise_phone(digits) is not None) == bool(_ACCEPTED.fullmatch(digits))


@given(st.text() | st.text(alphabet=st.characters(codec="ascii")))
def test_normalising_gives_the_canonical_form_or_nothing_and_is_idempotent(raw: str) -> None:
    once = normalise_phone(raw)
    if once is not None:
        assert CANONICAL.fullmatch(once), once
        assert normalise_phone(once) == once


# Some keyboards type Arabic-Indic or fullwidth digits; a number must never have two spellings stored.
@given(first=st.sampled_from("35789"), rest=st.from_regex(r"\d{8}", fullmatch=True).filter(lambda s: not s.isascii()))
@settings(max_examples=20)
def test_a_number_typed_with_non_ascii_digits_is_refused_or_made_ascii(first: str, rest: str) -> None:
    ascii_rest = "".join(str(unicodedata.digit(char)) for char in rest)
    assert normalise_phone(f"0{first}{rest}") in (None, f"+84{first}{ascii_rest}")


@given(province=st.integers(0, 999), serial=st.from_regex(r"[0-9]{9}", fullmatch=True))
@example(province=1, serial="000000000")
@example(province=96, serial="999999999")
@example(province=0, serial="123456789")
@example(province=97, serial="123456789")
def test_a_citizen_id_is_twelve_digits_with_a_province_code_from_001_to_096(province: int, serial: str) -> None:
    assert is_citizen_id(f"{province:03d}{serial}") == (1 <= province <= 96)


@given(st.text(max_size=14))
@example("046200000001\n")
@example(" 046200000001")
@example("04620000001")
@example("0462000000011")
def test_anything_but_twelve_ascii_digits_is_not_a_citizen_id(raw: str) -> None:
    if not (len(raw) == 12 and raw.isascii() and raw.isdigit()):
        assert not is_citizen_id(raw)


@given(st.from_regex(r"0[0-8]\d{10}", fullmatch=True).filter(lambda s: not s.isascii()))
@settings(max_examples=20)
def test_a_citizen_id_with_non_ascii_digits_is_refused(raw: str) -> None:
    assert not is_citizen_id(raw)


VIETNAMESE_LETTERS = "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵ"
WORD = st.text(VIETNAMESE_LETTERS, min_size=1, max_size=8).map(str.capitalize)
NAME = st.lists(WORD, min_size=2, max_size=5).map(" ".join)
UNICODE_FORMS: list[Literal["NFC", "NFD"]] = ["NFC", "NFD"]
WHITESPACE = st.text(" \t\u00a0\u3000", min_size=1, max_size=3)


@given(NAME)
@example("Nguyễn Thị Hương")
@example("Đặng Quốc Việt")
def test_a_vietnamese_name_is_kept_exactly(name: str) -> None:
    assert normalise_name(name) == name


@given(words=st.lists(WORD, min_size=2, max_size=5), data=st.data())
def test_spacing_and_unicode_composition_do_not_change_a_name(words: list[str], data: st.DataObject) -> None:
    typed = data.draw(st.just("") | WHITESPACE)
    for word in words:
        typed += word + data.draw(WHITESPACE)
    form = data.draw(st.sampled_from(UNICODE_FORMS))
    assert normalise_name(unicodedata.normalize(form, typed)) == " ".join(words)


@given(st.text(max_size=120))
def test_a_normalised_name_is_composed_single_spaced_letters_and_stable(raw: str) -> None:
    name = normalise_name(raw)
    if name is None:
        return
    assert normalise_name(name) == name
    assert unicodedata.is_normalized("NFC", name)
    assert name == name.strip()
    assert "  " not in name
    assert len(name.split(" ")) >= 2
    assert len(name) <= 100


@given(st.text(VIETNAMESE_LETTERS, min_size=1, max_size=30))
def test_one_word_is_not_a_full_name(word: str) -> None:
    assert normalise_name(word) is None


@given(name=NAME, junk=st.sampled_from(["0", "9", "_", "-", ".", "@"]))
def test_digits_and_symbols_are_not_part_of_a_name(name: str, junk: str) -> None:
    assert normalise_name(name + junk) is None


@given(name=NAME, number=st.characters(categories=["No", "Nl"]), own_word=st.booleans())
@example(name="Nguyễn Văn", number="\u00b2", own_word=True)
def test_numbers_of_any_script_are_not_part_of_a_name(name: str, number: str, own_word: bool) -> None:
    assert normalise_name(f"{name} {number}" if own_word else name + number) is None


def test_a_name_may_be_a_hundred_characters_but_not_more() -> None:
    hundred = "A" * 49 + " " + "B" * 50
    assert normalise_name(hundred) == hundred
    assert normalise_name(hundred + "B") is None


@given(SUBSCRIBER)
@example("912345678")
def test_a_masked_phone_shows_the_country_code_and_the_last_three_digits_only(subscriber: str) -> None:
    phone = "+84" + subscriber
    masked = mask_phone(phone)
    assert masked == "+84******" + subscriber[-3:]
    assert len(masked) == len(phone)
    assert mask_phone(masked) == masked
