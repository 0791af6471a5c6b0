"""The card acquirer for tests: localstripe as a real server process, and an inbox for its webhooks.

Our client code talks to it over a socket, as it talks to the real acquirer. Its webhooks go to a
small HTTP inbox in the test's event loop; the test hands them to the app when it chooses (now,
twice, late, forged), which is how a test plays a slow or repeating acquirer.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from aiohttp import web

from sandbox import card

SECRET_KEY = "sk_test_civicpay"
WEBHOOK_SECRET = "whsec_test_civicpay"
# Test cards the sandbox knows (the acquirer's published test numbers).
CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000341"  # accepted as a card, declined when charged
CARD_3DS = "4000002500003155"  # needs the cardholder to authenticate: stays pending until cancelled
# How long a test waits for a webhook at most (the tests' sandbox sends each at once, not a second later).
WEBHOOK_SECONDS = 15


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_sandbox() -> Iterator[str]:
    """localstripe on a free port, sending its webhooks without its usual second's wait; yields its base URL.

    The tests hand each webhook to the app themselves, when they choose: the wait only made each one slower.
    """
    port = free_port()
    with card.running(port, webhook_delay_seconds=0):
        yield f"http://127.0.0.1:{port}"


def tokenise(sandbox: str, number: str) -> str:
    return card.tokenise(sandbox, SECRET_KEY, number)


@dataclass(frozen=True)
class Delivery:
    body: bytes
    signature: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Stripe-Signature": self.signature, "Content-Type": "application/json"}


class WebhookInbox:
    """Receives the sandbox's webhooks; ``next(type)`` waits for the next one of that event type."""

    def __init__(self) -> None:
        self._received: asyncio.Queue[tuple[str, Delivery]] = asyncio.Queue()
        self._runner: web.AppRunner | None = None

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        event_type = str((await request.json())["type"])
        await self._received.put((event_type, Delivery(body, request.headers["Stripe-Signature"])))
        return web.Response(text="ok")

    async def start(self, sandbox: str) -> None:
        app = web.Application()
        app.router.add_post("/", self._receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        async with httpx.AsyncClient(base_url=sandbox) as http:
            (await http.delete("/_config/data")).raise_for_status()  # every test starts with an empty acquirer
        card.register_webhook(sandbox, url=f"http://127.0.0.1:{port}/", secret=WEBHOOK_SECRET)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def next(self, event_type: str) -> Delivery:
        """The next webhook of ``event_type``; others are skipped (the sandbox sends a few kinds)."""
        async with asyncio.timeout(WEBHOOK_SECONDS):
            while True:
                received_type, delivery = await self._received.get()
                if received_type == event_type:
                    return delivery
