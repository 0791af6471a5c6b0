"""A bill payment's receipt in headless Chromium, as the citizen's browser shows it: Vietnamese intact.

The receipt is read with the citizen's bearer token (the API has no cookie sign-in), which the tab sends
with its requests as an app's web view would (``Page.set_headers``). The server's clock stands at
2026-11-23 03:00 UTC (tests.conftest.START): the receipt says 10:00 in Huế.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import pytest
from litestar import Litestar

from tests.billers import BillerDesk, bill
from tests.browser import OFFLINE, headless_chromium, require_chromium
from tests.conftest import Api
from tests.servers import serving

ELECTRICITY = "Điện lực Thừa Thiên Huế"
# The biller sends its customer's name decomposed (NFD), as some systems do; the reader sees it composed.
CUSTOMER = "Nguyễn Thị Hương"


@pytest.fixture
def served(app_for_a_thread: Litestar) -> Iterator[str]:
    with serving(app_for_a_thread) as url:
        yield url


async def test_the_citizen_reads_the_receipt_in_a_browser_and_another_citizen_gets_404(
    served: str, biller_desk: BillerDesk, api: Api
) -> None:
    require_chromium()
    evn = await biller_desk.biller(ELECTRICITY, "electricity")
    pushed = await biller_desk.push(
        evn,
        bill("E1", code="PC03AA0000001", amount_vnd=1_234_567, customer_name=unicodedata.normalize("NFD", CUSTOMER)),
    )
    citizen = await api.register(full_name=CUSTOMER)  # a link needs the bill's name to be the citizen's
    stranger = await api.register(full_name="Lê Thị Cúc")
    assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    await api.fund(citizen, 2_000_000)
    paid = await biller_desk.pay(citizen, pushed.json()["accepted"][0]["id"])
    assert paid.status_code == 201, paid.text
    receipt_url = f"{served}/bill-payments/{paid.json()['id']}/receipt"

    async with headless_chromium(flags=OFFLINE) as browser:
        page = await browser.open(receipt_url, headers=citizen.headers)
        shown = await page.text()
        charset = await page.evaluate("document.characterSet")
        total = await page.evaluate("document.getElementById('total').textContent")
        title = await page.evaluate("document.title")
        asked_for = list(page.requests)

        await page.set_headers(stranger.headers)
        await page.goto(receipt_url)
        refused = await page.text()

    assert charset == "UTF-8"
    assert title.startswith("BIÊN LAI THANH TOÁN HÓA ĐƠN · TTHD")
    assert total == "1.234.567 ₫"
    for words in (
        "BIÊN LAI THANH TOÁN HÓA ĐƠN",
        ELECTRICITY,
        "Tiền điện",
        f"Người nộp tiền / Payer\n{CUSTOMER}",
        f"PC03AA0000001\n{CUSTOMER}",  # the biller's customer, as the reader sees it (composed)
        "23/11/2026 10:00:00 (UTC+07:00, Asia/Ho_Chi_Minh)",
        "Một triệu hai trăm ba mươi tư nghìn năm trăm sáu mươi bảy đồng",
    ):
        assert words in shown, f"{words!r} not in {shown!r}"
    assert unicodedata.is_normalized("NFC", shown)
    assert asked_for[0] == receipt_url
    assert all(url.startswith(served) for url in asked_for)  # nothing from elsewhere: it shows offline
    assert not page.errors
    # The stranger's browser is told only what an unknown payment would tell it.
    assert "bill_payment_not_found" in refused
    assert "Nguyễn" not in refused
    assert ELECTRICITY not in refused
