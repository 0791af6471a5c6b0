"""Text as banks mangle it: diacritics, case, spaces and dashes, the things a search must look through.

``fold`` is the same folding as ``qr.vietqr.fold_for_qr`` (đ by hand, other marks by decomposition),
written again here because importing ``qr.vietqr`` runs ``qr/__init__``, which loads the QR room's
routes and tables: the statement parsers and the matcher must stay pure and light to import.
"""

from __future__ import annotations

import re
import unicodedata

_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")


def fold(text: str) -> str:
    """``Nộp phí Đăng ký`` → ``Nop phi Dang ky``: what a bank that strips diacritics would print."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(character for character in decomposed if not unicodedata.combining(character))


def key(text: str) -> str:
    """Folded, lower case, single-spaced: how column headers and preamble labels are compared."""
    return " ".join(fold(text).lower().replace(":", " ").split())


def compact(text: str) -> str:
    """Folded, upper case, with everything but letters and digits removed: ``nap-0000 1ya.`` → ``NAP00001YA``.

    A reference with a space or a dash put inside by a bank, or glued to the next word, becomes a
    plain substring of this, so one search finds it however it was printed.
    """
    if text.isascii() and text.isalnum():
        return text.upper()  # a reference as we wrote it: nothing to fold or remove (a million times a run)
    return _NOT_ALNUM.sub("", fold(text).upper())
