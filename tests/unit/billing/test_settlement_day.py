"""Which business day a settlement run belongs to, and its cut-off: the day whose cut-off passed last."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from billing.settlements import settlement_day
from civicpay.clock import BusinessCalendar
from tests.conftest import make_settings

CALENDAR = BusinessCalendar(ZoneInfo("Asia/Ho_Chi_Minh"))


@pytest.mark.parametrize(
    ("cutoff_hour", "now", "day", "cutoff"),
    [
        # Midnight (the default): a run any time on the 24th pays what was paid before the 24th began.
        (0, datetime(2026, 11, 23, 17, 0, tzinfo=UTC), date(2026, 11, 24), datetime(2026, 11, 23, 17, 0, tzinfo=UTC)),
        (0, datetime(2026, 11, 24, 16, 59, tzinfo=UTC), date(2026, 11, 24), datetime(2026, 11, 23, 17, 0, tzinfo=UTC)),
        # 16:00 in Huế (09:00 UTC): before it, a run still belongs to the day before; from it, to today.
        (16, datetime(2026, 11, 24, 8, 59, tzinfo=UTC), date(2026, 11, 23), datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),
        (16, datetime(2026, 11, 24, 9, 0, tzinfo=UTC), date(2026, 11, 24), datetime(2026, 11, 24, 9, 0, tzinfo=UTC)),
        # Just after midnight in Huế, still the 23rd in UTC.
        (16, datetime(2026, 11, 23, 17, 30, tzinfo=UTC), date(2026, 11, 23), datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),
    ],
)
def test_a_run_settles_the_day_whose_cut_off_passed_last(
    cutoff_hour: int, now: datetime, day: date, cutoff: datetime
) -> None:
    settings = make_settings("sqlite+aiosqlite:///:memory:", biller_settlement_cutoff_hour=cutoff_hour)

    assert settlement_day(CALENDAR, settings, now) == (day, cutoff)
