"""Work each app process repeats in the background (re-asking the card acquirer, resending payouts).

Every job here is safe to run in several processes at once: it locks what it changes and skips or
re-checks what another process holds, so running it twice does nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """A piece of periodic work: what it is called in the logs, how often it runs, and the run itself."""

    name: str
    interval_seconds: float
    run: Callable[[], Awaitable[object]]


async def every(seconds: float, job: Callable[[], Awaitable[object]], *, name: str) -> None:
    """Run ``job`` every ``seconds`` until cancelled; a failure is logged and the next run tries again."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:
            logger.exception("%s failed; trying again in %s s", name, seconds)
