"""The front page (``/``): what the service is, whether it is healthy, and where to go from here.

Plain HTML from a Jinja template (``civicpay/web/home.html``), Vietnamese first with English, no script.
It reads the same health as ``GET /health`` and lists the counters' public screens.
"""

from __future__ import annotations

import logging

from litestar import MediaType, get
from litestar.datastructures import State
from litestar.response import Template

import qr
from civicpay.db import UnitsOfWork
from civicpay.health import read_health

log = logging.getLogger(__name__)

_STATUS_WORDS = {
    "ok": "Hoạt động bình thường / OK",
    "migration_needed": "Cần cập nhật cơ sở dữ liệu / Database migration needed",
    "unavailable": "Không kết nối được cơ sở dữ liệu / Database unavailable",
}


@get("/", exclude_from_auth=True, include_in_schema=False, media_type=MediaType.HTML)
async def front_page(state: State) -> Template:
    """The front page: status, version, links to the API docs, the counters' screens and the health check."""
    health, _ = await read_health(state)
    screens: list[qr.CounterScreen] | None = None
    if health.database == "ok":
        units: UnitsOfWork = state.units
        try:
            async with units() as unit:
                screens = await qr.counter_screens(unit.session)
        except Exception:  # the page still says what it can; the log says why the list is missing
            log.exception("front page: the counters could not be read")
    return Template(
        template_name="home.html",
        context={
            "health": health,
            "status_words": _STATUS_WORDS.get(health.status, health.status),
            "version": state.version,
            "screens": screens,
        },
    )
