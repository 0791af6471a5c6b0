"""Time, injected, so tests can move it and business days follow Vietnam's calendar."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that stands still until told to move; for tests and demos."""

    current: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """Turns instants into the business day and month of the configured zone (Asia/Ho_Chi_Minh)."""

    zone: ZoneInfo

    def business_day(self, instant: datetime) -> date:
        """The date of ``instant`` in the zone: what a due date is compared with."""
        return instant.astimezone(self.zone).date()

    def day_start(self, instant: datetime) -> datetime:
        local = instant.astimezone(self.zone)
        return self._start_of(local.date())

    def month_start(self, instant: datetime) -> datetime:
        local = instant.astimezone(self.zone)
        return self._start_of(local.date().replace(day=1))

    def next_day_start(self, instant: datetime) -> datetime:
        """Where the business day of ``instant`` ends: the next midnight in the zone."""
        local = instant.astimezone(self.zone)
        return self._start_of(local.date() + timedelta(days=1))

    def next_month_start(self, instant: datetime) -> datetime:
        """Where the business month of ``instant`` ends: midnight of the next month's first day."""
        first = instant.astimezone(self.zone).date().replace(day=1)
        return self._start_of((first + timedelta(days=31)).replace(day=1))

    def _start_of(self, day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=self.zone).astimezone(UTC)
