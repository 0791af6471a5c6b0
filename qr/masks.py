"""The modules of a QR code, with its mask chosen as qrcode chooses it, at a fraction of the cost.

A QR symbol's data is XORed with one of eight mask patterns so that it has no large blots, long
runs or finder-like patterns a camera could trip over; the encoder tries all eight and keeps the one
with the lowest penalty (ISO/IEC 18004 section 7.8.3: N1 runs, N2 2x2 blocks, N3 finder-like
1:1:3:1:1 patterns, N4 dark/light balance). qrcode does that by building eight full matrices of
Python lists and scoring them module by module, about 90% of the time of a render. Here each trial
matrix is one Python integer (bit ``row * size + col`` set for a dark module), so a mask is a single
XOR and every penalty rule is a handful of whole-matrix shifts, ANDs and popcounts.

The result is meant to be exactly qrcode's, not merely a valid code: the same segments, version and
codewords (qrcode computes those), the same layout of function patterns (qrcode's own ``makeImpl``
lays them out), and the same mask, scored as qrcode's ``util.lost_point`` scores it, including its
reading of the standard: the trial matrices have the format and version information left light,
N3 counts the two 11-module patterns ``10111010000`` and ``00001011101`` inside the symbol only,
and the first of equally good masks wins. ``tests/unit/qr/test_masks.py`` holds it to that, mask by
mask and module by module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from operator import itemgetter
from typing import Final

import qrcode
import qrcode.constants
from qrcode import util

MASKS: Final = range(8)
_RUN: Final = 5  # N1: a run of five or more same-colour modules costs 3, plus 1 a module beyond five
_FINDER_LIKE: Final = (
    (1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0),  # dark-light-dark x3-light-dark, then four light
    (0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1),  # four light, then dark-light-dark x3-light-dark
)
_BITS_TO_CHARS: Final = bytes.maketrans(b"01", b"\x00\x01")


@dataclass(frozen=True, slots=True)
class Symbol:
    """A finished QR symbol without its quiet zone: ``size`` modules square, bit ``row * size + col`` of ``dark``."""

    size: int
    version: int
    mask: int
    dark: int

    def cells(self) -> bytes:
        """One byte a module, row by row, 1 for dark and 0 for light: what image code maps to pixels."""
        count = self.size * self.size
        return format(self.dark, f"0{count}b")[::-1].encode("ascii").translate(_BITS_TO_CHARS)

    def rows(self) -> tuple[tuple[bool, ...], ...]:
        """The modules as rows of booleans (True is dark), the shape qrcode's ``modules`` has."""
        cells = self.cells()
        size = self.size
        return tuple(tuple(map(bool, cells[start : start + size])) for start in range(0, size * size, size))


@dataclass(frozen=True, slots=True)
class _Layout:
    """What is fixed for a version and error-correction level: computed once, then reused for every payload."""

    size: int
    data_cells: int  # modules that carry codeword (or remainder) bits
    place: Callable[[str], Sequence[str]]  # picks, for every module from the last to the first, its bit
    trial: int  # dark function modules as qrcode scores them: format and version information light
    final: tuple[int, ...]  # dark function modules of the finished symbol, by mask
    masks: tuple[int, ...]  # the modules each mask pattern flips, data modules only


@dataclass(frozen=True, slots=True)
class _Board:
    """Bit masks of a ``size`` x ``size`` matrix that keep the penalty rules inside their rows and columns."""

    size: int
    every: int
    pair_across: int  # modules with a right-hand neighbour
    pair_down: int  # modules with a neighbour below
    pattern_across: int  # modules with ten more to their right
    pattern_down: int  # modules with ten more below


def _to_int(cells: Sequence[Sequence[bool | None]], wanted: Callable[[int, int, bool | None], bool]) -> int:
    size = len(cells)
    return sum(
        1 << (row * size + col) for row in range(size) for col in range(size) if wanted(row, col, cells[row][col])
    )


def _place_nothing(*_ignored: object) -> None:
    """Stands in for ``QRCode.map_data`` while ``_skeleton`` runs: the data modules stay None."""


def _mask_cells(skeleton: Sequence[Sequence[bool | None]], flips: Callable[[int, int], bool]) -> int:
    """The data modules a mask pattern flips, by qrcode's own mask function, so the patterns are its patterns."""
    return _to_int(skeleton, lambda row, col, value: value is None and bool(flips(row, col)))


def _skeleton(version: int, error_correction: int, mask: int, *, trial: bool) -> list[list[bool | None]]:
    """qrcode's own layout of a symbol before any data is placed: function patterns set, data modules None.

    ``makeImpl`` is run with its data placement stubbed out, so finder, timing and alignment
    patterns, format and version information and the dark module are exactly where, and as dark as,
    qrcode puts them, for a trial matrix (``trial``) or the finished symbol.
    """
    code = qrcode.QRCode(version=version, error_correction=error_correction, mask_pattern=mask)
    code.data_cache = b""  # not None, so makeImpl does not encode data of its own
    code.map_data = _place_nothing
    code.makeImpl(trial, mask)
    modules: list[list[bool | None]] = code.modules
    return modules


def _placement(skeleton: Sequence[Sequence[bool | None]]) -> list[int]:
    """The free modules in the order codeword bits fill them: two-column zigzag from the bottom right (7.7.3)."""
    size = len(skeleton)
    order: list[int] = []
    step, row = -1, size - 1
    for right in range(size - 1, 0, -2):
        col = right - 1 if right <= 6 else right  # the vertical timing pattern (column 6) is skipped
        while 0 <= row < size:
            order.extend(row * size + c for c in (col, col - 1) if skeleton[row][c] is None)
            row += step
        row -= step
        step = -step
    return order


@cache
def _layout(version: int, error_correction: int) -> _Layout:
    trial = _skeleton(version, error_correction, 0, trial=True)
    size = len(trial)
    order = _placement(trial)
    rank = {cell: index for index, cell in enumerate(order)}
    # Bit strings are read most significant first, so the picker walks from the last module to the
    # first: int(..., 2) then has bit k set exactly when module k is dark. Index len(order) is a "0".
    place = itemgetter(*(rank.get(cell, len(order)) for cell in range(size * size - 1, -1, -1)))
    finals = tuple(
        _to_int(_skeleton(version, error_correction, mask, trial=False), lambda _r, _c, value: value is True)
        for mask in MASKS
    )
    masks = tuple(_mask_cells(trial, util.mask_func(mask)) for mask in MASKS)
    return _Layout(
        size=size,
        data_cells=len(order),
        place=place,
        trial=_to_int(trial, lambda _r, _c, value: value is True),
        final=finals,
        masks=masks,
    )


@cache
def _board(size: int) -> _Board:
    def where(rule: Callable[[int, int], bool]) -> int:
        return sum(1 << (row * size + col) for row in range(size) for col in range(size) if rule(row, col))

    span = len(_FINDER_LIKE[0]) - 1
    return _Board(
        size=size,
        every=(1 << size * size) - 1,
        pair_across=where(lambda _row, col: col < size - 1),
        pair_down=where(lambda row, _col: row < size - 1),
        pattern_across=where(lambda _row, col: col < size - span),
        pattern_down=where(lambda row, _col: row < size - span),
    )


def _runs(equal: int, step: int) -> int:
    """N1 for one direction, given where a module equals its next one (``step`` bits on).

    A run of ``n`` >= 5 is ``n - 4`` windows of five equal modules, and exactly one of those windows
    has no window just before it, so the rule's ``n - 2`` is windows + 2 x run starts.
    """
    windows = equal
    for offset in range(1, _RUN - 1):
        windows &= equal >> (offset * step)
    starts = windows & ~(windows << step)
    return windows.bit_count() + 2 * starts.bit_count()


def _finder_like(dark: int, light: int, step: int, inside: int) -> int:
    """N3 for one direction: how many places either 11-module pattern starts (``inside`` keeps it in line)."""
    darks = [dark >> (offset * step) for offset in range(len(_FINDER_LIKE[0]))]
    lights = [light >> (offset * step) for offset in range(len(_FINDER_LIKE[0]))]
    found = 0
    for pattern in _FINDER_LIKE:
        match = inside
        for offset, is_dark in enumerate(pattern):
            match &= darks[offset] if is_dark else lights[offset]
        found += match.bit_count()
    return found


def penalty(dark: int, size: int) -> int:
    """qrcode's ``util.lost_point`` of a ``size`` x ``size`` matrix given as an integer (bit ``row * size + col``)."""
    board = _board(size)
    light = dark ^ board.every
    equal_across = (dark ^ (dark >> 1) ^ board.every) & board.pair_across
    equal_down = (dark ^ (dark >> size) ^ board.every) & board.pair_down
    n1 = _runs(equal_across, 1) + _runs(equal_down, size)
    n2 = 3 * (equal_across & (equal_across >> size) & equal_down).bit_count()
    n3 = 40 * (_finder_like(dark, light, 1, board.pattern_across) + _finder_like(dark, light, size, board.pattern_down))
    # N4 exactly as qrcode computes it (float and all), so a tie on the rounding edge breaks the same way.
    percent = float(dark.bit_count()) / (size**2)
    n4 = int(abs(percent * 100 - 50) / 5) * 10
    return n1 + n2 + n3 + n4


def codewords(data: str, error_correction: int) -> tuple[int, list[int]]:
    """qrcode's version and final codeword sequence (data and error correction, interleaved) for ``data``."""
    code = qrcode.QRCode(error_correction=error_correction)
    code.add_data(data)
    # make(fit=True) runs best_fit twice, from version 1 and then from its answer, which it always
    # confirms (same mode sizes, same bit count); once is the same version at half the cost.
    version = int(code.best_fit())
    return version, list(util.create_data(version, error_correction, code.data_list))


def data_modules(version: int, error_correction: int, words: Sequence[int]) -> int:
    """The codeword bits in their modules, before masking (remainder modules light)."""
    layout = _layout(version, error_correction)
    bits = format(int.from_bytes(bytes(words), "big"), f"0{8 * len(words)}b")[: layout.data_cells]
    return int("".join(layout.place(bits.ljust(layout.data_cells + 1, "0"))), 2)


def mask_penalties(version: int, error_correction: int, data: int) -> list[int]:
    """The penalty of each of the eight masks, as qrcode's ``best_mask_pattern`` scores its trial matrices."""
    layout = _layout(version, error_correction)
    return [penalty(layout.trial | (data ^ flips), layout.size) for flips in layout.masks]


def best_mask(version: int, error_correction: int, data: int) -> int:
    """The mask qrcode would choose: the lowest penalty, the first of equals."""
    scores = mask_penalties(version, error_correction, data)
    return scores.index(min(scores))


def finished(version: int, error_correction: int, data: int, mask: int) -> int:
    """The symbol's modules with ``mask`` applied: function patterns, format and version information, masked data."""
    layout = _layout(version, error_correction)
    return layout.final[mask] | (data ^ layout.masks[mask])


def symbol(data: str, error_correction: int = qrcode.constants.ERROR_CORRECT_M) -> Symbol:
    """The finished symbol for ``data``: module for module what ``qrcode.QRCode.make(fit=True)`` builds."""
    version, words = codewords(data, error_correction)
    placed = data_modules(version, error_correction, words)
    mask = best_mask(version, error_correction, placed)
    return Symbol(
        size=_layout(version, error_correction).size,
        version=version,
        mask=mask,
        dark=finished(version, error_correction, placed, mask),
    )
