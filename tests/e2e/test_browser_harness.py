"""The headless-Chromium harness (tests/browser.py) against a page served on a real socket.

The page's script changes its text after a click and a fetch to a second route; another link navigates
to a slow page. Without Chromium these tests skip on a developer's machine and fail under CI (``$CI``).
"""

from __future__ import annotations

import asyncio

import pytest
from litestar import Litestar, MediaType, get

from tests.browser import JavaScriptError, headless_chromium, require_chromium
from tests.servers import serving

HOME = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Ví</title></head>
<body>
  <p id="status">Đang chờ</p>
  <button id="balance" type="button">Xem số dư</button>
  <a id="receipt" href="/receipt">Biên lai</a>
  <script>
    document.getElementById("balance").addEventListener("click", async () => {
      const answer = await fetch("/balance");
      document.getElementById("status").textContent = await answer.text();
    });
  </script>
</body></html>"""
RECEIPT_SECONDS = 0.3


@get("/", media_type=MediaType.HTML)
async def home() -> str:
    return HOME


@get("/balance", media_type=MediaType.TEXT)
async def balance() -> str:
    return "Số dư: 5.000.000 ₫"


@get("/receipt", media_type=MediaType.HTML)
async def receipt() -> str:
    # A slow server, so that the test's wait starts in the old document and has to follow the navigation.
    await asyncio.sleep(RECEIPT_SECONDS)
    return "<!doctype html><html><body><h1>Biên lai đã gửi</h1></body></html>"


async def test_text_appears_after_a_click_and_a_fetch() -> None:
    require_chromium()
    with serving(Litestar([home, balance, receipt])) as url:
        async with headless_chromium() as browser:
            page = await browser.open(url)
            assert await page.text() == "Đang chờ\n\nXem số dư Biên lai"
            assert await page.evaluate("1 + 1") == 2
            assert await page.evaluate("Promise.resolve({a: [1, 'b']})", await_promise=True) == {"a": [1, "b"]}

            await page.click("#balance")
            await page.wait_for_text("Số dư: 5.000.000 ₫")
            assert "Đang chờ" not in await page.text()


async def test_a_wait_follows_a_navigation() -> None:
    require_chromium()
    with serving(Litestar([home, balance, receipt])) as url:
        async with headless_chromium() as browser:
            page = await browser.open(url)
            await page.click("#receipt")
            await page.wait_for_text("Biên lai đã gửi")
            assert page.url == f"{url}/receipt"


async def test_a_wait_that_times_out_says_what_the_page_shows() -> None:
    require_chromium()
    with serving(Litestar([home, balance, receipt])) as url:
        async with headless_chromium() as browser:
            page = await browser.open(url)
            with pytest.raises(AssertionError, match=r"(?s)'Đã thanh toán' did not appear .* within 0.5 s.*Đang chờ"):
                await page.wait_for_text("Đã thanh toán", timeout=0.5)

            with pytest.raises(JavaScriptError, match="TypeError"):
                await page.evaluate("undefined.amount")
            with pytest.raises(JavaScriptError, match="nothing matches #pay"):
                await page.click("#pay")
