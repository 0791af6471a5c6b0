"""The finance officers' console in headless Chromium: sign in (the officers' one form), reconcile a day, carry its
exception, close it, sign out.

The statement is imported over the API (as a bank file would be); everything after is what a person does in the
browser: forms posted by clicks, pages rendered on the server, the sign-in kept in an HttpOnly cookie.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.auth.models import Role
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from tests.browser import OFFLINE, Page, headless_chromium, require_chromium
from tests.conftest import PASSWORD, create_staff
from tests.integration.reconciliation.conftest import (  # noqa: F401 - fixtures used by name
    ACCOUNT,
    DAY,
    Day,
    WriteStatement,
    day,
    entries_of,
    write_statement,
)
from wallet import ledger

Sessions = async_sessionmaker[AsyncSession]
# A page's load on a loaded CI machine can take a while (see test_front_page_browser.py).
LOADED_MACHINE_SECONDS = 30.0


@pytest.fixture
def served(app_for_a_thread: Litestar) -> Iterator[str]:
    from tests.servers import serving  # noqa: PLC0415 - as the other browser tests, only where a server is wanted

    with serving(app_for_a_thread) as url:
        yield url


async def _fill(page: Page, values: dict[str, str]) -> None:
    await page.evaluate(
        f"""(() => {{
  for (const [selector, value] of Object.entries({json.dumps(values)})) {{
    document.querySelector(selector).value = value;
  }}
}})()"""
    )


async def test_an_officer_signs_in_carries_the_exception_and_closes_the_day(
    served: str,
    sessions: Sessions,
    settings: Settings,
    clock: FixedClock,
    day: Day,  # noqa: F811 - the fixture imported above
    write_statement: WriteStatement,  # noqa: F811
) -> None:
    require_chromium()
    phone = await create_staff(sessions, settings, clock, Role.FINANCE_OFFICER, "Hoàng Minh Châu")
    late = day.by_amount(200_000)
    entries = [entry for entry, item in zip(entries_of(day.items), day.items, strict=True) if item is not late]
    statement = await asyncio.to_thread(write_statement(entries).read_bytes)
    async with httpx.AsyncClient(base_url=served, timeout=10) as http:
        token = (await http.post("/auth/login", json={"phone": phone, "password": PASSWORD})).json()["access_token"]
        imported = await http.post(
            "/finance/statements",
            params={"account": ACCOUNT},
            content=statement,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
        )
        assert imported.status_code == 201, imported.text

    async with headless_chromium(flags=OFFLINE) as browser:
        page = await browser.open(f"{served}/finance/console", timeout=LOADED_MACHINE_SECONDS)
        await page.wait_for_text("Đăng nhập cán bộ / Officer sign-in")  # not signed in: sent to the one form
        await _fill(page, {"#phone": phone, "#password": "wrong-password"})
        await page.click("#sign-in")
        await page.wait_for_text("Wrong phone number or password")
        await _fill(page, {"#phone": phone, "#password": PASSWORD})
        await page.click("#sign-in")
        await page.wait_for_text("Đối soát một ngày")  # back where the form's "next" said: the console
        cookie_visible_to_scripts = await page.evaluate("document.cookie")

        await _fill(page, {"#run-date": DAY.isoformat()})
        await page.click("#run-button")
        await page.wait_for_text("Hàng đợi chênh lệch")
        before = await page.text()

        await page.click(".carry")
        await page.wait_for_text("Chuyển ngày sau / Carried")
        carried = await page.text()

        await page.click("#close-button")
        await page.wait_for_text("Đã khóa sổ / Closed")
        closed = await page.text()

        await page.click("#sign-out")
        await page.wait_for_text("Đăng nhập cán bộ / Officer sign-in")

    assert cookie_visible_to_scripts == ""  # HttpOnly: the token is not for scripts
    assert "Có chênh lệch / Exceptions" in before
    assert late.reference is not None
    assert late.reference in before
    assert "-200.000 ₫" in before  # the drift: the bank has not booked it yet
    assert "Chưa xử lý / Open" in before
    assert "timing_difference" in carried
    assert "Khóa sổ ngày / Close the day" not in closed  # a closed day offers no action
    async with sessions() as session:
        assert await ledger.check_invariants(session) == []
