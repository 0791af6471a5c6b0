"""Short payment references that people and banks carry in free text: a prefix, a number, a check character.

A reference is ``PREFIX`` + a number in a fixed count of base-36 characters + one Luhn mod 36 check
character, for example the top-up code ``NAP00001YA``: upper-case ASCII letters and digits only, so it
survives bank apps and MT940's 16-character reference. Banks add words of their own before and after
(``MBVCB.3278907687.NAP TIEN VI NAP00001YA.CT tu 0123…``) and glue words together, so references are
found by looking at the fixed count of characters after every prefix and keeping those whose check
character holds. The length is fixed so that each prefix gives one candidate, not one per possible
length, which keeps the chance of a random word passing the check at 1 in 36. The check character
also stops a single mistyped character from sending money to the wrong place.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field

ALPHABET = string.digits + string.ascii_uppercase


def check_character(body: str) -> str:
    """Luhn mod N over base 36: catches every single-character error and most adjacent swaps."""
    total, factor = 0, 2
    for character in reversed(body):
        addend = factor * ALPHABET.index(character)
        total += addend // 36 + addend % 36
        factor = 1 if factor == 2 else 2
    return ALPHABET[(36 - total % 36) % 36]


@dataclass(frozen=True)
class ReferenceScheme:
    """One kind of reference: its prefix and how many base-36 characters carry the number."""

    prefix: str
    body_width: int
    _candidate: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = re.compile(rf"(?={self.prefix}([0-9A-Z]{{{self.body_width + 1}}}))")
        object.__setattr__(self, "_candidate", pattern)

    @property
    def length(self) -> int:
        return len(self.prefix) + self.body_width + 1

    @property
    def max_number(self) -> int:
        return int(36**self.body_width) - 1

    def encode(self, number: int) -> str:
        if not 1 <= number <= self.max_number:
            raise ValueError(f"a {self.prefix} reference holds numbers 1 to {self.max_number}")
        digits = ""
        while number:
            number, remainder = divmod(number, 36)
            digits = ALPHABET[remainder] + digits
        body = digits.rjust(self.body_width, "0")
        return self.prefix + body + check_character(body)

    def random(self) -> str:
        """A reference to a random number: for what the bank must not be able to guess or count (payouts)."""
        return self.encode(secrets.randbelow(self.max_number) + 1)

    def decode(self, code: str) -> int | None:
        """The number a well-formed reference carries, or None."""
        if len(code) != self.length or not code.startswith(self.prefix):
            return None
        body, check = code[len(self.prefix) : -1], code[-1]
        if any(character not in ALPHABET for character in code[len(self.prefix) :]) or check_character(body) != check:
            return None
        number = int(body, 36)
        return number or None

    def find(self, text: str) -> list[int]:
        """Every number named by a valid reference anywhere in free text, each once, in order of appearance."""
        found: list[int] = []
        for match in self._candidate.finditer(text.upper()):
            number = self.decode(self.prefix + match.group(1))
            if number is not None and number not in found:
                found.append(number)
        return found
