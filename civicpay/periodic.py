"""Periodic jobs shared by any number of workers through one table: each run happens once.

Every job has a row in ``periodic_job`` saying when it is next due. A worker runs a job only after
moving that time on with ``UPDATE … SET next_run_at = :next WHERE name = :name AND next_run_at <=
:now``: the database lets one such update through per due time (the row lock on PostgreSQL, the one
writer on SQLite), so of all the workers looking at once exactly one sees a row count of 1 and runs
it. The jobs themselves also lock what they change, so even a run that overlaps the next one (a run
longer than its interval) does nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, String, update
from sqlalchemy.orm import Mapped, mapped_column

from civicpay.clock import Clock
from civicpay.db import Base, UnitsOfWork, UtcDateTime, insert_ignoring_conflict, table_of

logger = logging.getLogger(__name__)


class PeriodicJobRow(Base):
    __tablename__ = "periodic_job"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)


_jobs = table_of(PeriodicJobRow)


@dataclass(frozen=True)
class Job:
    """A piece of background work, run every ``every_seconds`` by whichever worker claims it first."""

    name: str
    every_seconds: int
    run: Callable[[], Awaitable[object]]


class Schedule:
    """The claim-and-run of a set of jobs; ``tick`` runs every job due now that this worker won."""

    def __init__(self, units: UnitsOfWork, clock: Clock, jobs: Sequence[Job]) -> None:
        # A job with no interval is run only on demand (its command or endpoint).
        self._jobs = [job for job in jobs if job.every_seconds > 0]
        self._units = units
        self._clock = clock
        self._known = False

    async def _register(self) -> None:
        """A row per job, due at once the first time any worker sees it."""
        now = self._clock.now()
        async with self._units() as unit:
            for job in self._jobs:
                await unit.session.execute(
                    insert_ignoring_conflict(unit.session.get_bind().dialect.name, _jobs, ("name",)),
                    {"name": job.name, "next_run_at": now},
                )
        self._known = True

    async def _claim(self, job: Job, now: datetime) -> bool:
        async with self._units() as unit:
            claimed = await unit.session.execute(
                update(PeriodicJobRow)
                .where(PeriodicJobRow.name == job.name, PeriodicJobRow.next_run_at <= now)
                .values(next_run_at=now + timedelta(seconds=job.every_seconds), last_started_at=now)
            )
            # An UPDATE's result is a cursor result, which counts the rows the database let through.
            return cast("CursorResult[Any]", claimed).rowcount == 1

    async def _record(self, job: Job, error: str | None) -> None:
        async with self._units() as unit:
            await unit.session.execute(
                update(PeriodicJobRow).where(PeriodicJobRow.name == job.name).values(last_error=error)
            )

    async def tick(self) -> list[str]:
        """Run each job that is due and that this worker claims; the names of those it ran."""
        if not self._known:
            await self._register()
        ran = []
        for job in self._jobs:
            if not await self._claim(job, self._clock.now()):
                continue
            ran.append(job.name)
            try:
                await job.run()
            except Exception as failure:  # one job failing must not stop the others; it runs again when next due
                logger.exception("%s failed; it runs again in %s s", job.name, job.every_seconds)
                await self._record(job, f"{type(failure).__name__}: {failure}"[:500])
            else:
                await self._record(job, None)
        return ran
