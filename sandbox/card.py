"""The card acquirer's sandbox: localstripe (PyPI), a fake but stateful Stripe-API server, run locally.

``make run`` starts it through ``civicpay-sandbox card serve`` so card top-ups work on a fresh clone, and
the tests start it the same way on a free port. Only development and tests use it; localstripe is a dev
dependency. Its own ``localstripe`` command listens on every interface (IPv4 and IPv6) with no option to
narrow it, so we serve its application ourselves, on loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from sandbox import LOOPBACK

READY_SECONDS = 30
# localstripe's own wait before it sends a webhook.
WEBHOOK_DELAY_SECONDS = 1.0
# The acquirer's published test cards that the sandbox knows.
TEST_CARDS = {
    "4242424242424242": "paid",
    "4000000000000341": "declined when charged",
    "4000002500003155": "needs the cardholder to authenticate (3-D Secure): stays pending",
}


@contextmanager
def running(port: int, *, webhook_delay_seconds: float = WEBHOOK_DELAY_SECONDS) -> Iterator[subprocess.Popen[str]]:
    """localstripe on ``LOOPBACK:port``, from nothing, until the block ends; entered once it listens.

    It sends each webhook ``webhook_delay_seconds`` after its event, as an acquirer is never instant.
    """
    process = subprocess.Popen(  # noqa: S603 - our own interpreter running this module
        [sys.executable, "-m", __name__, "--port", str(port), "--webhook-delay", str(webhook_delay_seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None  # noqa: S101 - asked for with stdout=PIPE
        said: list[str] = []
        # aiohttp prints "======== Running on http://127.0.0.1:PORT ========" once the socket listens.
        for line in process.stdout:
            if "Running on" in line:
                break
            said.append(line)
        else:
            raise RuntimeError(
                f"localstripe exited with {process.wait(READY_SECONDS)} before listening: {''.join(said[-5:])}"
            )
        # Keep reading its log, or a full pipe would stall it.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield process
    finally:
        process.terminate()
        process.wait(READY_SECONDS)
        if process.stdout is not None:
            process.stdout.close()


def register_webhook(sandbox: str, *, url: str, secret: str) -> None:
    """Have the sandbox send its events to ``url``, signed with ``secret`` (our card_webhook_secret)."""
    answer = httpx.post(f"{sandbox}/_config/webhooks/civicpay", data={"url": url, "secret": secret}, trust_env=False)
    answer.raise_for_status()


def tokenise(sandbox: str, secret_key: str, number: str) -> str:
    """What the citizen's app does with the acquirer's SDK: a card number in, a ``pm_…`` token out."""
    answer = httpx.post(
        f"{sandbox}/v1/payment_methods",
        auth=(secret_key, ""),
        data={
            "type": "card",
            "card[number]": number,
            "card[exp_month]": "12",
            "card[exp_year]": "2031",
            "card[cvc]": "123",
        },
        trust_env=False,
    )
    answer.raise_for_status()
    token: str = answer.json()["id"]
    return token


class _WebhookPause:
    """What localstripe's webhook module sees as ``asyncio``: the same, but its fixed one-second wait before
    each webhook is ``seconds`` instead (its only call of ``sleep``)."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, _delay: float) -> None:
        await asyncio.sleep(self._seconds)


def _serve_localstripe(port: int, webhook_delay_seconds: float) -> None:
    """localstripe's application on loopback, from scratch (its own start() would also load /tmp's pickle)."""
    from aiohttp import web  # noqa: PLC0415 - dev dependencies, needed only in this process
    from localstripe import server, webhooks  # noqa: PLC0415

    if webhook_delay_seconds != WEBHOOK_DELAY_SECONDS:
        webhooks.asyncio = _WebhookPause(webhook_delay_seconds)
    web.run_app(server.app, host=LOOPBACK, port=port)


if __name__ == "__main__":
    # The process running() starts: one argument, so argparse rather than the sandbox's click CLI.
    arguments = argparse.ArgumentParser(description="localstripe on 127.0.0.1")
    arguments.add_argument("--port", type=int, required=True, help="the port to listen on")
    arguments.add_argument("--webhook-delay", type=float, default=WEBHOOK_DELAY_SECONDS, help="seconds to a webhook")
    parsed = arguments.parse_args()
    _serve_localstripe(parsed.port, parsed.webhook_delay)
