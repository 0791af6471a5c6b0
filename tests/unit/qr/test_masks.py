"""``qr.masks`` against qrcode itself: the same penalties, the same mask, the same modules.

The fast path is only worth having if nothing a scanner sees changes, so every check here is an
equality with what qrcode's own slow path computes: ``util.lost_point`` of each trial matrix,
``QRCode.best_mask_pattern()``, and the finished ``modules`` of ``QRCode.make(fit=True)``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import pytest
import qrcode
import qrcode.constants
from qrcode import util

from qr.masks import MASKS, best_mask, codewords, data_modules, finished, mask_penalties, penalty, symbol
from tests.unit.qr.payloads import vietqr_payloads

M = qrcode.constants.ERROR_CORRECT_M
LEVELS = (
    qrcode.constants.ERROR_CORRECT_L,
    qrcode.constants.ERROR_CORRECT_M,
    qrcode.constants.ERROR_CORRECT_Q,
    qrcode.constants.ERROR_CORRECT_H,
)


def mixed_strings(count: int, seed: int) -> Iterator[str]:
    """Runs of digits, upper-case alphanumerics and other text, so numeric, alphanumeric and byte
    segments all occur, at lengths from a version-1 code up to a version-10 one."""
    rng = random.Random(seed)
    alphabets = ("0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 $%*+-./:", "abcdefghijklmnopqrstuvwxyzđươ!?@")
    for _ in range(count):
        length = rng.randint(1, 250)
        text = ""
        while len(text) < length:
            text += "".join(rng.choices(rng.choice(alphabets), k=rng.randint(1, 40)))
        yield text[:length]


def reference(data: str, error_correction: int = M) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=error_correction, border=0)
    code.add_data(data)
    code.make(fit=True)
    return code


def reference_penalties(code: qrcode.QRCode) -> list[int]:
    scores = []
    for mask in MASKS:
        code.makeImpl(True, mask)
        scores.append(int(util.lost_point(code.modules)))
    return scores


def to_int(modules: list[list[bool]]) -> int:
    size = len(modules)
    return sum(1 << (row * size + col) for row in range(size) for col in range(size) if modules[row][col])


@pytest.mark.parametrize("kind", ["vietqr", "mixed"])
def test_the_mask_and_every_module_are_qrcodes_own(kind: str) -> None:
    """300 VietQR payloads and 100 mixed strings: each trial's penalty, the chosen mask and the
    finished modules equal qrcode's."""
    payloads = vietqr_payloads(300, seed=18004) if kind == "vietqr" else mixed_strings(100, seed=7)
    versions = set()
    for payload in payloads:
        code = reference(payload)
        expected_mask = code.best_mask_pattern()
        expected_scores = reference_penalties(code)
        version, words = codewords(payload, M)
        placed = data_modules(version, M, words)
        assert version == code.version, payload
        assert mask_penalties(version, M, placed) == expected_scores, payload
        assert best_mask(version, M, placed) == expected_mask, payload
        code.makeImpl(False, expected_mask)
        built = symbol(payload, M)
        assert (built.version, built.mask) == (code.version, expected_mask), payload
        assert built.rows() == tuple(tuple(row) for row in code.modules), payload
        versions.add(version)
    assert len(versions) >= 3, f"{kind} payloads cover too few versions to mean much: {sorted(versions)}"


@pytest.mark.parametrize(
    ("error_correction", "versions"),
    [(M, range(1, 41)), *((level, (1, 2, 7, 14, 40)) for level in LEVELS if level != M)],
    ids=["M, every version", "L", "Q", "H"],
)
def test_layout_and_format_information_match_qrcode_for_every_version_and_mask(
    error_correction: int, versions: Sequence[int]
) -> None:
    """Random codewords placed in every version at level M (1-40, so version information and every
    alignment grid occur), and in a few at the other levels, finished with two masks each: the
    same modules as qrcode's ``makeImpl``."""
    rng = random.Random(error_correction)
    for version in versions:
        blocks = qrcode.base.rs_blocks(version, error_correction)
        words = [rng.randrange(256) for _ in range(sum(block.total_count for block in blocks))]
        code = qrcode.QRCode(version=version, error_correction=error_correction)
        code.data_cache = words
        placed = data_modules(version, error_correction, words)
        for mask in (rng.choice(MASKS), 7 - version % 8):
            code.makeImpl(False, mask)
            assert finished(version, error_correction, placed, mask) == to_int(code.modules), (version, mask)


@pytest.mark.parametrize("size", [21, 25, 45, 57, 101])
def test_penalty_is_lost_point_on_random_matrices_of_any_density(size: int) -> None:
    rng = random.Random(size)
    for density in (0.02, 0.3, 0.5, 0.7, 0.98):
        modules = [[rng.random() < density for _ in range(size)] for _ in range(size)]
        assert penalty(to_int(modules), size) == util.lost_point(modules), density


def test_penalty_counts_runs_blocks_and_finder_like_patterns_at_the_edges() -> None:
    """Hand-made cases where an off-by-one in a shift would show: runs ending at the last column
    or row, patterns starting at column 0 or ending at the last one, a whole dark row."""
    size = 21
    modules = [[(row + col) % 2 == 0 for col in range(size)] for row in range(size)]
    modules[0] = [True] * size  # a full-width run
    modules[5][size - 11 :] = [bool(int(bit)) for bit in "10111010000"]
    modules[9][:11] = [bool(int(bit)) for bit in "00001011101"]
    for row in range(size - 6, size):
        modules[row][size - 1] = False  # a run down the last column
    for row, col in ((10, 10), (10, 11), (11, 10), (11, 11)):
        modules[row][col] = True
    assert penalty(to_int(modules), size) == util.lost_point(modules)
