"""The front page (``/``): plain HTML, Vietnamese first, with the service's health, version and links."""

from __future__ import annotations

import importlib.metadata
import re
from html.parser import HTMLParser

from httpx import AsyncClient

from civicpay.db import head_revision
from tests.desk import Desk


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [value for name, value in attrs if name == "href" and value]


def links(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    return parser.hrefs


async def test_the_front_page_says_what_the_health_route_says(client: AsyncClient) -> None:
    page = await client.get("/")
    health = (await client.get("/health")).json()

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="vi">' in page.text
    assert health["status"] == "ok"
    assert "Hoạt động bình thường / OK" in page.text
    newest = head_revision()
    assert newest is not None
    assert newest in page.text
    assert importlib.metadata.version("civicpay") in page.text
    assert "Chưa có quầy nào" in page.text  # no office set up yet
    assert {"/schema", "/schema/openapi.json", "/health"} <= set(links(page.text))
    assert "<script" not in page.text


async def test_the_front_page_links_every_counter_screen(client: AsyncClient, desk: Desk) -> None:
    page = await client.get("/")
    counter = desk.counter["id"]

    assert f"/counter/{counter}" in links(page.text)
    assert re.search(rf'href="/counter/{counter}">Quầy 1 · {re.escape(desk.office["name"])}</a>', page.text)


async def test_the_front_page_needs_no_sign_in_and_every_link_answers(client: AsyncClient, desk: Desk) -> None:
    page = await client.get("/")
    for href in links(page.text):
        answer = await client.get(href)
        assert answer.status_code == 200, (href, answer.status_code)
