"""A circuit breaker per biller (cầu dao): stop asking a biller that keeps failing, try it again after a rest.

Closed, every look-up goes through and failures in a row are counted; at ``failures`` the circuit opens
and no look-up is made for ``cooldown`` (the caller says the biller is stale at once instead of waiting
for a timeout every time). After the cool-down it is half-open: exactly one look-up is let through as a
trial, and its outcome closes the circuit again or reopens it for another cool-down. Time is the
instant the caller passes (the app's injectable clock), so tests move it rather than sleep.

Pure and in memory, one per biller per process: each app process learns on its own that a biller is
down, which costs at most ``failures`` look-ups each, and shares no state that could itself fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    failures: int
    cooldown: timedelta
    state: CircuitState = CircuitState.CLOSED
    failed_in_a_row: int = 0
    opened_at: datetime | None = None
    # The half-open trial is out: nobody else is let through until its outcome is known.
    trial_out: bool = False

    def allow(self, now: datetime) -> bool:
        """Whether to ask the biller now; a True in the half-open state is the one trial (report its outcome)."""
        if self.state == CircuitState.CLOSED:
            return True
        if self.state == CircuitState.OPEN:
            assert self.opened_at is not None  # noqa: S101 - set whenever the circuit opens
            if now < self.opened_at + self.cooldown:
                return False
            self.state = CircuitState.HALF_OPEN
            self.trial_out = False
        if self.trial_out:
            return False
        self.trial_out = True
        return True

    def succeeded(self) -> None:
        self.state = CircuitState.CLOSED
        self.failed_in_a_row = 0
        self.opened_at = None
        self.trial_out = False

    def failed(self, now: datetime) -> None:
        self.failed_in_a_row += 1
        if self.state == CircuitState.HALF_OPEN or self.failed_in_a_row >= self.failures:
            self.state = CircuitState.OPEN
            self.opened_at = now
            self.trial_out = False
