"""Day close from the command line, and an adjustment approved after its day closed: dated to the next open day,
never into the closed one."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.bootstrap import Services
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from reconciliation.generator import BankEntry
from reconciliation.model import Direction
from reconciliation.runs import day_bounds, ledger_balance_at
from tests.conftest import Api
from tests.integration.reconciliation.conftest import ACCOUNT, DAY, Day, WriteStatement, bank_ref, entries_of
from tests.integration.reconciliation.test_cli import civicpay
from tests.integration.reconciliation.test_exceptions import _import, _officer, _post, _sign_in
from wallet import ledger

pytestmark = pytest.mark.usefixtures("command_shell")
Sessions = async_sessionmaker[AsyncSession]


async def test_recon_close_then_a_late_approval_is_dated_to_the_next_open_day(
    capsys: pytest.CaptureFixture[str],
    services: Services,
    api: Api,
    sessions: Sessions,
    settings: Settings,
    clock: FixedClock,
    day: Day,
    write_statement: WriteStatement,
) -> None:
    maker_phone, maker_totp = await _officer(api, sessions, settings, clock, "Hoàng Minh Châu")
    checker_phone, checker_totp = await _officer(api, sessions, settings, clock, "Lê Thị Mai")
    maker = await _sign_in(api, maker_phone, maker_totp, clock)
    checker = await _sign_in(api, checker_phone, checker_totp, clock)
    unknown = BankEntry(77_000, Direction.CREDIT, DAY, bank_ref(77), "CHUYEN KHOAN KHONG RO NOI DUNG")
    await _import(api, maker, write_statement([*entries_of(day.items), unknown]))
    ran = await _post(api, "/finance/reconciliation-runs", maker, {"account": ACCOUNT, "date": DAY.isoformat()})
    assert ran.status_code == 201, ran.text
    [exception] = ran.json()["exceptions"]

    # Not closed while the exception is open.
    code, _, err = await civicpay(capsys, "close", "--account", ACCOUNT, "--date", DAY.isoformat())
    assert code == 2
    assert "still open" in err

    # The proposal explains the drift: the day closes the same evening, before the second officer approves.
    proposed = await _post(api, f"/finance/reconciliation-exceptions/{exception['id']}/adjustments", maker)
    assert proposed.status_code == 201, proposed.text
    code, out, _ = await civicpay(capsys, "close", "--account", ACCOUNT, "--date", DAY.isoformat(), "--json")
    assert code == 0
    closed = json.loads(out)
    assert (closed["closed"], closed["drift_vnd"], closed["explained_vnd"], closed["unexplained_vnd"]) == (
        True,
        77_000,
        77_000,
        0,
    )
    again = await _post(api, "/finance/reconciliation-days/close", maker, {"account": ACCOUNT, "date": DAY.isoformat()})
    assert (again.status_code, again.json()["code"]) == (409, "reconciliation_day_closed")

    approved = await _post(
        api,
        f"/finance/reconciliation-adjustments/{proposed.json()['id']}/approve",
        checker,
        **{"Idempotency-Key": "late", "X-OTP": checker_totp.at(clock.now())},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["date"] == (DAY + timedelta(days=1)).isoformat()
    _, end = day_bounds(services.calendar, DAY)
    async with sessions() as session:
        # The closed day's ledger is as it was closed; the next day holds the adjustment.
        assert await ledger_balance_at(session, day.account_id, end) == day.closing
        assert await ledger_balance_at(session, day.account_id, end + timedelta(days=1)) == day.closing + 77_000
        assert await ledger.check_invariants(session) == []
