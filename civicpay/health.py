"""Whether the service can work: its database answers and is at the revision this code expects.

``GET /health`` answers it for load balancers and monitoring; the front page shows the same.
"""

from __future__ import annotations

import msgspec
from litestar.datastructures import State

from civicpay.db import current_revision


class Health(msgspec.Struct):
    status: str  # ok, migration_needed or unavailable
    database: str  # ok or unreachable
    revision: str | None
    expected_revision: str | None


async def read_health(state: State) -> tuple[Health, int]:
    """The health and the HTTP status that says it (200 only when ``ok``)."""
    expected: str | None = state.get("expected_revision")
    try:
        revision = await current_revision(state.engine)  # also proves the database answers
    except Exception:
        return Health("unavailable", "unreachable", None, expected), 503
    status = "ok" if revision == expected else "migration_needed"
    return Health(status, "ok", revision, expected), 200 if status == "ok" else 503
