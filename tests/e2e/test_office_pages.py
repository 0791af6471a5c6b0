"""The programme officers' pages in headless Chromium: signed in with the form, a batch's report read, the maker
unable to approve, a second officer approving with a TOTP code, and the progress bar reaching "completed" live
while a worker in the server's process pays the batch, without the page reloading."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import disbursement
from civicpay.auth.models import User
from civicpay.bootstrap import Services
from disbursement import pages
from tests.browser import Page, headless_chromium, require_chromium
from tests.conftest import PASSWORD
from tests.e2e.test_counter_display import live
from tests.programme_office import Office, Officer, csv_bytes, wallet_row
from tests.servers import serving

COMPLETED = "Hoàn tất / Completed"
ANNOUNCED_WITHIN = 1.0
assert ANNOUNCED_WITHIN < pages.RUNNING_REREAD_SECONDS


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Chunks of two: five rows take three transactions, so the bar moves more than once.
    return {"disbursement_chunk_size": 2}


class Served:
    """The app on a real socket, and its event loop, so its own worker job can be run there as a worker would."""

    def __init__(self, app: Litestar) -> None:
        self.app = app
        self.url = ""
        self.loop: asyncio.AbstractEventLoop | None = None

    async def _started(self) -> None:
        self.loop = asyncio.get_running_loop()

    async def pay_disbursements(self) -> disbursement.Executed:
        """The worker's "disbursement" job, on the served app's services, in its event loop (announcing to its
        hub, as a worker in the server's process does)."""
        assert self.loop is not None
        services: Services = self.app.state.services
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(services.pay_disbursements(), self.loop))


@pytest.fixture
def served(app_for_a_thread: Litestar) -> Iterator[Served]:
    server = Served(app_for_a_thread)
    app_for_a_thread.on_startup.append(server._started)
    with serving(app_for_a_thread) as url:
        server.url = url
        yield server


async def phone_of(sessions: async_sessionmaker[AsyncSession], officer: Officer) -> str:
    async with sessions() as session:
        phone = await session.scalar(select(User.phone).where(User.id == officer.user_id))
    assert phone is not None
    return phone


async def sign_in(page: Page, phone: str, code: str) -> None:
    await page.evaluate(
        f"""document.getElementById("phone").value = {phone!r};
        document.getElementById("password").value = {PASSWORD!r};
        document.getElementById("otp").value = {code!r};"""
    )
    await page.click("#sign-in")


async def test_a_second_officer_approves_in_the_browser_and_watches_the_batch_paid(
    served: Served, office: Office, sessions: async_sessionmaker[AsyncSession]
) -> None:
    require_chromium()
    people = [await office.beneficiary(name) for name in ("Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường")]
    people += [await office.beneficiary(name) for name in ("Phạm Thị Dung", "Hoàng Văn Em", "Võ Thị Giang")]
    programme = await office.programme(kind="pension", name="Lương hưu tháng 12")
    await office.fund(programme, 20_000_000)
    rows = [wallet_row(who, 1_500_000 + 100_000 * number) for number, who in enumerate(people[:5])]
    rows.append(wallet_row(people[5], 9_000_000))  # above the programme's most: refused
    rows.append(wallet_row(people[0], full_name="Nguyễn Văn Sai", period="2026-11"))  # not the holder's name
    uploaded = await office.upload(programme, csv_bytes(rows), name="luong-huu-2026-12.csv")
    assert uploaded.status_code == 201, uploaded.text
    batch_id = uploaded.json()["id"]

    async with headless_chromium() as browser:
        # The maker: signed in by the form, reads the report, and is told that someone else approves.
        page = await browser.open(f"{served.url}/office/batches/{batch_id}")
        await page.wait_for_text("Đăng nhập cán bộ / Officer sign-in")
        await sign_in(page, await phone_of(sessions, office.maker), office.code(office.maker))
        await page.wait_for_text("Báo cáo kiểm tra / Validation report")
        as_maker = await page.text()
        maker_can_approve = await page.evaluate("document.getElementById('approve') !== null")

        # The checker: from the list of programmes to the batch, and approves it with a code.
        await page.click("#sign-out")
        await page.wait_for_text("Đăng nhập cán bộ / Officer sign-in")
        await sign_in(page, await phone_of(sessions, office.checker), office.code(office.checker))
        await page.wait_for_text("Lương hưu tháng 12")
        listed = await page.text()
        await page.click(f'a[href="/office/batches/{batch_id}"]')
        await page.wait_for_text("Duyệt và chi trả / Approve and pay")
        await page.evaluate(f"document.getElementById('otp').value = {office.code(office.checker)!r}")
        await page.click("#approve")
        await page.wait_for_text("Tiến độ chi trả / Progress")
        await live(page)
        approved = await page.text()
        await page.evaluate("window.sameDocument = true")

        # A worker in the server's process pays it; the page follows over Server-Sent Events.
        done = await served.pay_disbursements()
        # Within a second: from the worker's announcements, not the stream's re-read after a quiet spell.
        await page.wait_for_text(COMPLETED, timeout=ANNOUNCED_WITHIN)
        await page.wait_for_text("5 / 5", timeout=ANNOUNCED_WITHIN)
        finished = await page.text()
        same_document = await page.evaluate("window.sameDocument === true")
        bar = await page.evaluate("[document.getElementById('bar').value, document.getElementById('bar').max]")

    assert "Bạn là người lập đợt này nên không được tự duyệt" in as_maker
    assert not maker_can_approve
    assert "7: 5 hợp lệ / valid, 2 bị từ chối / refused" in as_maker
    assert "Số tiền nằm ngoài mức cho phép của chương trình / The amount is outside" in as_maker
    assert "Họ tên không khớp với họ tên của chủ ví" in as_maker
    assert "Chờ duyệt / Awaiting approval" in listed
    assert "luong-huu-2026-12.csv" in listed
    assert "0 / 5" in approved
    assert "Đang chi trả / Paying" in approved
    assert (done.paid, done.failed, done.finished) == (5, 0, [batch_id])
    assert same_document  # reached "completed" without a reload
    assert "Đã chi vào ví / Paid to wallet\n5" in finished
    assert bar == [5, 5]
    assert not page.errors
    for number, who in enumerate(people[:5]):
        assert await office.api.balance(who.citizen) == 1_500_000 + 100_000 * number
    assert await office.api.balance(people[5].citizen) == 0
    assert (await office.batch(batch_id))["status"] == "completed"
