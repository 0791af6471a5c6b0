"""Top-up codes: the short reference a citizen types into a bank transfer's description.

A code is ``NAP`` + the wallet id in six base-36 characters + one Luhn mod 36 check character, for
example ``NAP00001YA``: ten upper-case ASCII characters, so it survives bank apps and MT940's
16-character reference. Banks add prefixes and suffixes of their own to the description
(``MBVCB.3278907687.NAP TIEN VI NAP00001YA.CT tu 0123…``) and glue words together, so codes are
found by looking at the seven characters after every ``NAP`` and keeping those whose check character
holds. The length is fixed so that each ``NAP`` gives one candidate, not one per possible length,
which keeps the chance of a random word passing the check at 1 in 36 (and a random word decodes to
a wallet id far beyond any that exists). The check character also stops a single mistyped
character from landing money in someone else's wallet.
"""

from __future__ import annotations

import re
import string

PREFIX = "NAP"
ALPHABET = string.digits + string.ascii_uppercase
BODY_WIDTH = 6
LENGTH = len(PREFIX) + BODY_WIDTH + 1
MAX_WALLET_ID = 36**BODY_WIDTH - 1
_CANDIDATE = re.compile(rf"(?={PREFIX}([0-9A-Z]{{{BODY_WIDTH + 1}}}))")


def _check_character(body: str) -> str:
    """Luhn mod N over base 36: catches every single-character error and most adjacent swaps."""
    total, factor = 0, 2
    for character in reversed(body):
        addend = factor * ALPHABET.index(character)
        total += addend // 36 + addend % 36
        factor = 1 if factor == 2 else 2
    return ALPHABET[(36 - total % 36) % 36]


def encode(wallet_id: int) -> str:
    if not 1 <= wallet_id <= MAX_WALLET_ID:
        raise ValueError(f"a top-up code holds wallet ids 1 to {MAX_WALLET_ID}")
    digits = ""
    while wallet_id:
        wallet_id, remainder = divmod(wallet_id, 36)
        digits = ALPHABET[remainder] + digits
    body = digits.rjust(BODY_WIDTH, "0")
    return PREFIX + body + _check_character(body)


def decode(code: str) -> int | None:
    """The wallet id a well-formed code names, or None."""
    if len(code) != LENGTH or not code.startswith(PREFIX):
        return None
    body, check = code[len(PREFIX) : -1], code[-1]
    if any(character not in ALPHABET for character in code[len(PREFIX) :]) or _check_character(body) != check:
        return None
    wallet_id = int(body, 36)
    return wallet_id or None


def find(text: str) -> list[int]:
    """Every wallet id named by a valid code anywhere in free text, each once, in order of appearance."""
    found: list[int] = []
    for match in _CANDIDATE.finditer(text.upper()):
        wallet_id = decode(PREFIX + match.group(1))
        if wallet_id is not None and wallet_id not in found:
            found.append(wallet_id)
    return found
