"""The circuit breaker of a biller's look-ups: opens after failures in a row, one trial after the cool-down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from billing.breaker import CircuitBreaker, CircuitState

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
COOLDOWN = timedelta(seconds=30)


def state_of(breaker: CircuitBreaker) -> CircuitState:
    """Read afresh each time (mypy would otherwise keep the state it narrowed to before a call changed it)."""
    return breaker.state


def test_it_opens_after_failures_in_a_row_and_a_success_between_starts_the_count_again() -> None:
    breaker = CircuitBreaker(3, COOLDOWN)
    for _ in range(2):
        assert breaker.allow(T0)
        breaker.failed(T0)
    assert breaker.allow(T0)
    breaker.succeeded()
    for _ in range(2):
        assert breaker.allow(T0)
        breaker.failed(T0)

    assert state_of(breaker) == CircuitState.CLOSED
    assert breaker.allow(T0)
    breaker.failed(T0)
    assert state_of(breaker) == CircuitState.OPEN
    assert not breaker.allow(T0 + COOLDOWN - timedelta(microseconds=1))


def test_after_the_cool_down_one_trial_goes_through_and_its_success_closes_the_circuit() -> None:
    breaker = CircuitBreaker(1, COOLDOWN)
    breaker.failed(T0)
    later = T0 + COOLDOWN

    assert breaker.allow(later)
    assert state_of(breaker) == CircuitState.HALF_OPEN
    assert not breaker.allow(later), "a second caller waits for the trial's outcome"
    breaker.succeeded()
    assert state_of(breaker) == CircuitState.CLOSED
    assert breaker.allow(later)
    assert breaker.allow(later)


def test_a_failed_trial_opens_the_circuit_for_another_cool_down() -> None:
    breaker = CircuitBreaker(3, COOLDOWN)
    for _ in range(3):
        breaker.failed(T0)
    trial_at = T0 + COOLDOWN + timedelta(seconds=5)

    assert breaker.allow(trial_at)
    breaker.failed(trial_at)
    assert state_of(breaker) == CircuitState.OPEN
    assert not breaker.allow(trial_at + COOLDOWN - timedelta(seconds=1))
    assert breaker.allow(trial_at + COOLDOWN)


@given(st.lists(st.booleans(), max_size=40), st.integers(min_value=1, max_value=5))
def test_closed_it_lets_every_call_through_and_it_opens_exactly_at_the_nth_failure_in_a_row(
    outcomes: list[bool], failures: int
) -> None:
    breaker = CircuitBreaker(failures, COOLDOWN)
    in_a_row = 0
    for succeeded in outcomes:
        if in_a_row >= failures:
            assert not breaker.allow(T0)
            break
        assert breaker.allow(T0)
        if succeeded:
            breaker.succeeded()
            in_a_row = 0
        else:
            breaker.failed(T0)
            in_a_row += 1
        assert (state_of(breaker) == CircuitState.OPEN) == (in_a_row >= failures)
