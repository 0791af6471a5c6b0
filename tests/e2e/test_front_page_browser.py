"""The front page in headless Chromium: it renders, and its links lead to the screens, the docs and /health."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.auth.models import Role
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from tests.browser import OFFLINE, headless_chromium, require_chromium
from tests.conftest import PASSWORD, create_staff
from tests.desk import OFFICE
from tests.servers import serving


@pytest.fixture
def served(app_for_a_thread: Litestar) -> Iterator[str]:
    with serving(app_for_a_thread) as url:
        yield url


# A page's load, bounded: in CI's full suite on PostgreSQL the front page once took over 10 s (the harness's
# default) to load again after one of its links, on a loaded machine; alone it loads in well under a second.
LOADED_MACHINE_SECONDS = 30.0


async def test_the_front_page_renders_and_its_links_work(
    served: str, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: FixedClock
) -> None:
    require_chromium()
    admin_phone = await create_staff(sessions, settings, clock, Role.ADMIN, "Phạm Quốc Bảo")
    async with httpx.AsyncClient(base_url=served) as http:
        token = (await http.post("/auth/login", json={"phone": admin_phone, "password": PASSWORD})).json()
        admin = {"Authorization": f"Bearer {token['access_token']}"}
        office = (await http.post("/offices", json=OFFICE, headers=admin)).json()
        counter = (await http.post(f"/offices/{office['id']}/counters", json={"name": "Quầy 1"}, headers=admin)).json()

    async with headless_chromium(flags=OFFLINE) as browser:
        page = await browser.open(served, timeout=LOADED_MACHINE_SECONDS)
        front = await page.text()
        title = await page.evaluate("document.title")

        await page.click(f'a[href="/counter/{counter["id"]}"]')
        await page.wait_for_text("Mời quý khách chờ / Please wait")
        on_screen = page.url
        # The screen keeps its event stream open; the next links are followed from a tab of their own, as a
        # clerk's screen stays up while someone else uses the front page.
        screen = page
        page = await browser.open(served, timeout=LOADED_MACHINE_SECONDS)
        await page.click("#health-link")
        await page.wait_for_text('"expected_revision"')
        on_health = page.url

        await page.goto(served, timeout=LOADED_MACHINE_SECONDS)
        await page.click("#docs")
        # Swagger UI builds the whole document in the page: under a loaded machine's full suite, over 10 s.
        await page.wait_for_text("Send money to another citizen's wallet by phone number", timeout=45)
        on_docs = page.url

    assert title.startswith("civicpay")
    assert "Trạng thái / Status" in front
    assert "Hoạt động bình thường / OK" in front
    assert f"Quầy 1 · {OFFICE['name']}" in front
    assert on_screen == f"{served}/counter/{counter['id']}"
    assert on_health == f"{served}/health"
    assert on_docs == f"{served}/schema"
    assert not screen.errors
    assert not page.errors
