"""The API documentation works with no network but the service's own: Swagger UI comes from the app.

Chromium runs with every name unresolvable and every other address behind a dead proxy (``OFFLINE``), so
a page that still fetched its scripts from a CDN would stay blank; the test needs the operations listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from litestar import Litestar

from tests.browser import OFFLINE, headless_chromium, require_chromium
from tests.servers import serving

# What Swagger UI has drawn once the document is read: one block per operation, named by its id.
DRAWN_OPERATIONS = """(() => {
  const blocks = [...document.querySelectorAll(".opblock")];
  return {count: blocks.length, ids: blocks.map((block) => block.id)};
})()"""
# Resolves once Swagger UI has drawn at least one operation (it renders after fetching nothing more).
DRAWN = """new Promise((resolve) => {
  const drawn = () => document.querySelector(".opblock") !== null;
  if (drawn()) { resolve(true); return; }
  const observer = new MutationObserver(() => { if (drawn()) { observer.disconnect(); resolve(true); } });
  observer.observe(document, {subtree: true, childList: true});
})"""


@pytest.fixture
def served(app_for_a_thread: Litestar) -> Iterator[str]:
    with serving(app_for_a_thread) as url:
        yield url


def _operation_ids(document: dict[str, object]) -> set[str]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return {
        operation["operationId"]
        for item in paths.values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


@pytest.mark.parametrize("page_path", ["/schema", "/schema/swagger"])
async def test_the_docs_list_every_operation_with_the_network_closed(served: str, page_path: str) -> None:
    require_chromium()
    async with httpx.AsyncClient(base_url=served) as http:
        operation_ids = _operation_ids((await http.get("/schema/openapi.json")).json())

    async with headless_chromium(flags=OFFLINE) as browser:
        page = await browser.open(f"{served}{page_path}")
        await page.evaluate(DRAWN, await_promise=True)
        drawn = await page.evaluate(DRAWN_OPERATIONS)
        asked = {urlsplit(url).netloc for url in page.requests if not url.startswith("data:")}
        # The closed network is really closed: the same page cannot reach a CDN.
        cdn = await page.evaluate(
            "fetch('https://cdn.jsdelivr.net/npm/swagger-ui-dist/package.json').then(() => 'reached', () => 'refused')",
            await_promise=True,
        )

    assert cdn == "refused"
    assert drawn["count"] == len(operation_ids)
    # Swagger UI names each block "operations-<tag>-<operationId>".
    assert {block_id.rsplit("-", 1)[-1] for block_id in drawn["ids"]} == operation_ids
    assert asked == {urlsplit(served).netloc}, page.requests
    assert not page.errors


async def test_the_swagger_ui_files_are_served_by_the_app(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as http:
        page = await http.get("/schema/swagger")
        script = await http.get("/static/swagger-ui/swagger-ui-bundle.js")
        style = await http.get("/static/swagger-ui/swagger-ui.css")
        missing = await http.get("/static/swagger-ui/no-such-file.js")

    assert page.status_code == 200
    assert "https://" not in page.text.split("<body", 1)[0]  # nothing in <head> from elsewhere
    assert 'src="/static/swagger-ui/swagger-ui-bundle.js"' in page.text
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "SwaggerUIBundle" in script.text
    assert set(script.headers["cache-control"].split(", ")) == {"public", "max-age=86400"}
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")
    assert missing.status_code == 404
