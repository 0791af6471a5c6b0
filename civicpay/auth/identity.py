"""Pure rules for Vietnamese identity data: phone numbers, citizen ids (CCCD), names."""

from __future__ import annotations

import re
import unicodedata

_MOBILE = re.compile(r"\+84[35789][0-9]{8}")
_SEPARATORS = re.compile(r"[\s.\-()]")
# Province codes in the first three digits of a CCCD run 001-096.
# [0-9], not \d: \d also matches Arabic-Indic and other Unicode digits.
_CITIZEN_ID = re.compile(r"0(?!00)(?:[0-8][0-9]|9[0-6])[0-9]{9}")
_NAME = re.compile(r"[^\W\d_]+(?: [^\W\d_]+)+")


def normalise_phone(raw: str) -> str | None:
    """``0912 345 678``, ``84912345678`` and ``+84912345678`` all become ``+84912345678``.

    Returns None for anything that is not a Vietnamese mobile number.
    """
    digits = _SEPARATORS.sub("", raw.strip())
    if digits.startswith("0084"):
        digits = "+84" + digits[4:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "+" + digits
    elif digits.startswith("0") and len(digits) == 10:
        digits = "+84" + digits[1:]
    return digits if _MOBILE.fullmatch(digits) else None


def is_citizen_id(raw: str) -> bool:
    """A 12-digit căn cước công dân number whose province code exists."""
    return bool(_CITIZEN_ID.fullmatch(raw))


def normalise_name(raw: str) -> str | None:
    """Composed Unicode (NFC) with single spaces; at least two words of letters, diacritics kept."""
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    # The pattern's [^\W\d_] still admits numerals that are not decimal digits (², ½, Ⅻ): letters only.
    letters_only = all(character.isalpha() for character in name.replace(" ", ""))
    return name if letters_only and _NAME.fullmatch(name) and len(name) <= 100 else None


def folded_name(name: str) -> str:
    """A name as banks keep it: ``Nguyễn Thị Đào`` → ``NGUYEN THI DAO`` (no diacritics, upper case).

    Vietnamese đ/Đ is a letter of its own, not d with a mark, so it is folded by hand.
    """
    decomposed = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(character for character in decomposed if not unicodedata.combining(character))
    return " ".join(bare.upper().split())


def mask_phone(phone: str) -> str:
    """``+84912345678`` → ``+84******678``: enough for the payer to recognise the payee."""
    return phone[:3] + "*" * (len(phone) - 6) + phone[-3:]
