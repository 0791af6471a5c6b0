"""`civicpay worker`: the outbox dispatcher and every periodic job, safe in any number of processes.

A worker delivers outbox messages (``civicpay.outbox``) and runs the periodic jobs (card re-query,
hold expiry, merchant settlement, Treasury sweep, bill auto-pay and reminders), each claimed through
the ``periodic_job`` table (``civicpay.periodic``) so that however many workers run, on however many machines, each run
happens once. Start as many as wanted beside the app processes. On the embedded SQLite database an
app process runs one in process unless told not to (``CIVICPAY_WORKER_IN_PROCESS``), so a bare
``civicpay serve`` needs nothing else; ``make run`` starts a worker beside the server, as production does.

Why not a job library. The candidates were weighed against what this service must keep: one
database as the only moving part, the embedded SQLite default beside PostgreSQL on asyncpg, and the
message written in the same transaction (the same SQLAlchemy session) as the money it concerns.
- procrastinate has the right shape (SKIP LOCKED, periodic tasks deferred once per time through a
  unique lock) but is PostgreSQL-only, on its own psycopg connections and pool beside ours, with its
  own schema applied outside Alembic; a job deferred on its connection is not in our transaction.
- saq and pgqueuer also keep PostgreSQL queues (saq's first home is Redis; arq has only Redis, which
  we do not run); none of them runs on SQLite, so `make run` and the tests' default would lose it.
- APScheduler 4 shares schedules between processes through SQLAlchemy stores, SQLite included, but
  its own README calls the 4.0 series a pre-release not to be used in production; APScheduler 3
  has no coordination between processes at all.
What is needed is small — a lease on an outbox row, one conditional UPDATE per periodic job — and
both work on either database inside our own sessions, so they are written here, in a few hundred
lines, and tested for the races that matter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable

from civicpay.clock import Clock
from civicpay.db import UnitsOfWork
from civicpay.outbox import Dispatcher
from civicpay.periodic import Job, Schedule
from civicpay.settings import Settings

logger = logging.getLogger(__name__)


class Worker:
    """Runs the dispatcher's loop and ticks the schedule until ``stop``; what is under way finishes first."""

    def __init__(
        self,
        settings: Settings,
        units: UnitsOfWork,
        outbox: Dispatcher,
        jobs: list[Job],
        clock: Clock,
    ) -> None:
        self.schedule = Schedule(units, clock, jobs)
        self._outbox = outbox
        self._settings = settings
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        self._outbox.stop()

    async def run(self) -> None:
        delivering = asyncio.create_task(self._outbox.run(self._settings.outbox_poll_seconds))
        try:
            while not self._stopping.is_set():
                try:
                    await self.schedule.tick()
                except Exception:  # the database may be restarting: the next tick tries again
                    logger.exception("worker: looking for due jobs failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._settings.worker_tick_seconds)
        finally:
            self._outbox.stop()
            await delivering


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[None]:
    """A worker in the background of the block (the app's own, on SQLite); stopped gracefully after it."""
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        worker.stop()
        await task


async def run_until_signalled(worker: Worker, *, ready: Callable[[], None]) -> None:
    """Run until SIGTERM or SIGINT, then let the job or delivery under way finish and leave.

    ``ready`` is called once the signals are ours, so whoever waits for it may send them.
    """
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.stop)
    ready()
    try:
        await worker.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
