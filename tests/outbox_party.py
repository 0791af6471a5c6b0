"""An outside party for outbox tests (a small HTTP server on a loopback socket), and a process that dies mid-delivery.

Run as ``python -m tests.outbox_party DATABASE_URL KEY NOW``, this module plays an app process: it
commits a message, claims it for delivery, says so on stdout, and then waits to be killed before its
handler reaches the party.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from datetime import datetime
from typing import Any

import httpx
from litestar import Litestar, Request, Response, post

from civicpay import outbox
from civicpay.clock import FixedClock
from civicpay.db import UnitsOfWork, create_engine, create_session_factory
from civicpay.settings import Settings

KIND = "party.ping"


class Party:
    """Records every request it is sent, by idempotency key; fails the first ``failures`` of them with 503."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.failures = 0

    def app(self) -> Litestar:
        @post("/deliveries", status_code=200)
        async def receive(request: Request[Any, Any, Any]) -> Response[str]:
            self.received.append(request.headers["idempotency-key"])
            if self.failures > 0:
                self.failures -= 1
                return Response("try again later", status_code=503)
            return Response("done")

        return Litestar([receive])

    @property
    def acted(self) -> Counter[str]:
        return Counter(self.received)


def handler(url: str) -> outbox.Handler:
    """Delivers ``KIND`` messages to the party, with the message's key as the idempotency key."""

    async def send(payload: dict[str, Any], key: str) -> None:
        async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
            answer = await http.post("/deliveries", json=payload, headers={"Idempotency-Key": key})
        answer.raise_for_status()

    return send


async def _commit_claim_and_hang(database_url: str, key: str, now: datetime) -> None:
    settings = Settings(
        env="test",
        database_url=database_url,
        secret_key="unused",
        bank_webhook_secret="unused",
        bank_api_secret="unused",
        card_secret_key="unused",
        card_webhook_secret="unused",
    )
    sessions = create_session_factory(create_engine(settings))
    async with sessions.begin() as session:
        await outbox.enqueue(session, kind=KIND, payload={"hello": "party"}, key=key, now=now)
    claimed = asyncio.Event()

    async def hang(_payload: dict[str, Any], _key: str) -> None:
        claimed.set()
        await asyncio.Event().wait()  # killed here, before anything reaches the party

    dispatcher = outbox.Dispatcher(UnitsOfWork(sessions), {KIND: hang}, FixedClock(now))
    delivering = asyncio.create_task(dispatcher.drain())
    await claimed.wait()
    sys.stdout.write("claimed\n")
    sys.stdout.flush()
    await delivering


if __name__ == "__main__":
    asyncio.run(_commit_claim_and_hang(sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])))
