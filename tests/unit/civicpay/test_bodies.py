"""The nesting depth of a JSON body, counted without recursion and without being fooled by strings."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from civicpay.bodies import MAX_BODY_NESTING, nesting_depth, too_deep

SCALARS = st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from('[]{}"\\ab\n'))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\x'), inner, max_size=3),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


@given(JSON)
def test_the_depth_is_the_nesting_of_arrays_and_objects_whatever_the_strings_hold(value: Any) -> None:
    assert nesting_depth(msgspec.json.encode(value)) == depth(value)


def test_a_thousand_deep_is_too_deep_and_the_limit_is_not() -> None:
    assert too_deep(b"[" * 1000 + b"]" * 1000)
    assert not too_deep(b"[" * MAX_BODY_NESTING + b"]" * MAX_BODY_NESTING)
    assert too_deep(b"{" + b'"a":[' * MAX_BODY_NESTING + b"]" * MAX_BODY_NESTING + b"}")


def test_no_body_makes_the_count_slow() -> None:
    """Escaped quotes that never close, many brackets, big: the scan stays linear (no regex backtracking)."""
    bodies = [b'"' + b'\\"' * 500_000 + b"\\", b"[" * 1_000_000, b'["x",' * 200_000 + b"1" + b"]" * 200_000]
    for body in bodies:
        started = time.perf_counter()
        nesting_depth(body)
        assert time.perf_counter() - started < 2.0
