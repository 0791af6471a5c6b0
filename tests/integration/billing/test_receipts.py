"""Receipts of bill payments (biên lai): the printable page and the PDF, what they say, and who may read them."""

from __future__ import annotations

import io
import unicodedata
from html.parser import HTMLParser
from typing import Any

import pytest
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, PdfObject
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.models import PAYMENT_REFERENCE, BillPayment
from civicpay.auth.models import Role
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from tests.billers import BillerDesk, bill
from tests.conftest import Api, Citizen, create_staff, finance_officer, signed_in

# The clock stands at 2026-11-23 03:00 UTC (tests.conftest.START): 10:00 in Huế, seven hours ahead.
PAID_AT_LOCAL = "23/11/2026 10:00:00 (UTC+07:00, Asia/Ho_Chi_Minh)"
# The biller sends the customer's name decomposed (base letter + combining marks), as some systems do;
# the receipt must still show, print and copy it composed.
DECOMPOSED_NAME = unicodedata.normalize("NFD", "Nguyễn Văn An")


def _flat(text: str) -> str:
    """Text with every run of white space one space: a PDF's table cells wrap long names over lines."""
    return " ".join(text.split())


def _dictionary(value: PdfObject) -> DictionaryObject:
    """A PDF dictionary, followed through its indirect reference."""
    resolved = value.get_object()
    assert isinstance(resolved, DictionaryObject)
    return resolved


class _PageText(HTMLParser):
    """The words a browser shows of a page (the text of its body), without the markup."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[str] = []
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: ARG002 (HTMLParser's)
        self._in_body = self._in_body or tag == "body"

    def handle_data(self, data: str) -> None:
        if self._in_body:
            self.shown.append(data)


def _page_text(page: str) -> str:
    parser = _PageText()
    parser.feed(page)
    return _flat(" ".join(parser.shown))


async def _two_bills_paid(
    biller_desk: BillerDesk, api: Api, *, period: str = "2026-11"
) -> tuple[Citizen, dict[str, Any], dict[str, Any]]:
    evn = await biller_desk.biller("Điện lực Thừa Thiên Huế", "electricity")
    water = await biller_desk.biller("Công ty Cổ phần Cấp nước Thừa Thiên Huế", "water")
    pushed = await biller_desk.push(evn, bill("E1", code="PC03AA0000001", amount_vnd=1_234_567, period=period))
    tapped = await biller_desk.push(
        water, bill("W1", code="HUE-0001", amount_vnd=85_000, period="Tháng 11/2026", customer_name=DECOMPOSED_NAME)
    )
    citizen = await api.register(full_name="Nguyễn Văn An")
    assert (await biller_desk.link(citizen, evn, "PC03AA0000001")).status_code == 201
    assert (await biller_desk.link(citizen, water, "HUE-0001")).status_code == 201
    await api.fund(citizen, 2_000_000)
    paid = await biller_desk.pay(citizen, pushed.json()["accepted"][0]["id"], tapped.json()["accepted"][0]["id"])
    assert paid.status_code == 201, paid.text
    return citizen, paid.json(), {"evn": evn, "water": water}


async def _entry_id(sessions: async_sessionmaker[AsyncSession], payment_id: int) -> int:
    async with sessions() as session:
        return (await session.get_one(BillPayment, payment_id)).entry_id


def _expected(citizen: Citizen, payment_id: int, entry_id: int) -> list[str]:
    """What both forms of the receipt must say, word for word, diacritics included."""
    return [
        "BIÊN LAI THANH TOÁN HÓA ĐƠN",
        PAYMENT_REFERENCE.encode(payment_id),
        "Nguyễn Văn An",
        "+84" + "*" * 6 + citizen.phone[-3:],
        "Điện lực Thừa Thiên Huế",
        "Công ty Cổ phần Cấp nước Thừa Thiên Huế",
        "Tiền điện",
        "Tiền nước",
        "PC03AA0000001",
        "HUE-0001",
        "NGUYEN VAN AN",  # the power company's name for its customer, as it sent it
        "2026-11",
        "Tháng 11/2026",
        "1.234.567 ₫",
        "85.000 ₫",
        "1.319.567 ₫",
        "Một triệu ba trăm mười chín nghìn năm trăm sáu mươi bảy đồng",
        PAID_AT_LOCAL,
        f"Bút toán sổ cái / Ledger entry: {entry_id}",
        f"Mã giao dịch / Payment id: {payment_id}",
        "Người nộp tiền / Payer: Nguyễn Văn An",
    ]


async def test_the_payer_reads_the_receipt_as_a_page_with_every_field_in_vietnamese(
    biller_desk: BillerDesk, api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    citizen, paid, _ = await _two_bills_paid(biller_desk, api)
    page = await api.client.get(f"/bill-payments/{paid['id']}/receipt", headers=citizen.headers)

    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "private, no-store"
    text = _page_text(page.text)
    for field in _expected(citizen, paid["id"], await _entry_id(sessions, paid["id"])):
        # A label and its value are a <dt> and a <dd> on the page: no colon between them.
        assert field.replace(": ", " ") in text, f"{field!r} not in {text!r}"
    assert DECOMPOSED_NAME not in page.text  # names as people type them (NFC), whatever the biller sent:
    assert text.count("Nguyễn Văn An") == 2  # the payer's, and the water company's for its customer code


async def test_the_pdf_receipt_says_the_same_and_its_text_comes_out_with_diacritics_intact(
    biller_desk: BillerDesk, api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    citizen, paid, _ = await _two_bills_paid(biller_desk, api)
    pdf = await api.client.get(f"/bill-payments/{paid['id']}/receipt.pdf", headers=citizen.headers)

    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["cache-control"] == "private, no-store"
    assert (
        pdf.headers["content-disposition"] == f'inline; filename="bien-lai-{PAYMENT_REFERENCE.encode(paid["id"])}.pdf"'
    )
    assert pdf.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf.content))
    assert len(reader.pages) == 1
    text = _flat("\n".join(page.extract_text() for page in reader.pages))
    for field in _expected(citizen, paid["id"], await _entry_id(sessions, paid["id"])):
        assert field in text, f"{field!r} not in {text!r}"
    assert unicodedata.is_normalized("NFC", text)
    # Every font on the page is the DejaVu shipped with the package, embedded (a subset), so no viewer substitutes.
    fonts = list(map(_dictionary, _dictionary(_dictionary(reader.pages[0]["/Resources"])["/Font"]).values()))
    assert sorted(str(font["/BaseFont"]).split("+")[-1] for font in fonts) == ["DejaVuSansBold", "DejaVuSansBook"]
    for font in fonts:
        descendants = font["/DescendantFonts"].get_object()
        assert isinstance(descendants, ArrayObject)
        assert "/FontFile2" in _dictionary(_dictionary(descendants[0])["/FontDescriptor"])


async def test_another_citizen_gets_the_404_of_an_unknown_payment_and_only_admins_and_finance_read_it(
    biller_desk: BillerDesk,
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FixedClock,
) -> None:
    citizen, paid, billers = await _two_bills_paid(biller_desk, api)
    stranger = await api.register(full_name="Lê Thị Cúc")
    officer = await finance_officer(api, sessions, settings, clock)
    clerk = await signed_in(api, await create_staff(sessions, settings, clock, Role.CLERK, "Võ Thị Thu"))
    answers = {}
    for suffix in ("receipt", "receipt.pdf"):
        mine = f"/bill-payments/{paid['id']}/{suffix}"
        answers[suffix] = {
            "stranger": await api.client.get(mine, headers=stranger.headers),
            "unknown": await api.client.get(f"/bill-payments/{paid['id'] + 1000}/{suffix}", headers=citizen.headers),
            "officer": await api.client.get(mine, headers=officer),
            "admin": await api.client.get(mine, headers=biller_desk.admin),
            "clerk": await api.client.get(mine, headers=clerk),
            "biller": await api.client.get(mine, headers={"X-API-Key": billers["evn"]["api_key"]}),
            "nobody": await api.client.get(mine),
        }

    for suffix, answer in answers.items():
        stranger_body, unknown_body = answer["stranger"].json(), answer["unknown"].json()
        assert answer["stranger"].status_code == answer["unknown"].status_code == 404, suffix
        assert stranger_body["code"] == unknown_body["code"] == "bill_payment_not_found"
        assert {k: v for k, v in stranger_body.items() if k != "instance"} == {
            k: v for k, v in unknown_body.items() if k != "instance"
        }
        assert "Nguyễn" not in answer["stranger"].text
        assert answer["officer"].status_code == 200, answer["officer"].text
        assert answer["admin"].status_code == 200, answer["admin"].text
        assert answer["clerk"].status_code == 403
        assert answer["biller"].status_code == 403
        assert answer["nobody"].status_code == 401
    assert PAYMENT_REFERENCE.encode(paid["id"]) in answers["receipt"]["officer"].text


async def test_what_a_biller_sends_is_shown_as_text_never_as_markup(biller_desk: BillerDesk, api: Api) -> None:
    citizen, paid, _ = await _two_bills_paid(biller_desk, api, period="<b>11</b>&<i>")
    page = await api.client.get(f"/bill-payments/{paid['id']}/receipt", headers=citizen.headers)

    assert page.status_code == 200, page.text
    assert "&lt;b&gt;11&lt;/b&gt;&amp;&lt;i&gt;" in page.text
    assert "<b>" not in page.text
    assert "<b>11</b>&<i>" in _page_text(page.text)


@pytest.mark.parametrize("path", ["/bill-payments/0/receipt", "/bill-payments/abc/receipt.pdf"])
async def test_a_malformed_payment_id_is_refused_before_anything_is_read(
    biller_desk: BillerDesk, api: Api, path: str
) -> None:
    citizen = await api.register()
    answer = await api.client.get(path, headers=citizen.headers)
    assert answer.status_code in {400, 404}
    assert answer.headers["content-type"].startswith("application/problem+json")
