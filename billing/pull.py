"""Bills pulled from billers that answer look-ups (hỏi hóa đơn): asked on demand, never at a citizen's expense.

A biller with a ``lookup_url`` is asked for a linked customer's open bills when the citizen opens "my
bills" (and when a code is linked, so the name can be checked). Every biller of one request is asked at
once, under one deadline; each try has its own timeout, a refused connection or a 5xx is tried again
after a short backoff within the deadline, and a biller that keeps failing has its circuit opened
(``billing.breaker``). Whatever is not known by the deadline is served as last stored, and the answer
names those billers stale with the reason. What a biller answers goes through the push's own upsert
(``billing.ingestion``), so a pulled bill is the same row, payable and with the same history, as a
pushed one; it is written in a short unit of work of its own per biller, before the request reads the
list, so no look-up ever holds a database connection or a lock while it waits for a biller. (A look-up
is a read that the answer depends on, so it is made inline; the outbox is for what we ask a party to do.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

import httpx
import msgspec
from sqlalchemy import select

from billing import ingestion
from billing import schemas as s
from billing.breaker import CircuitBreaker
from billing.models import Biller, BillLink
from civicpay import tls
from civicpay.clock import Clock
from civicpay.db import UnitsOfWork
from civicpay.settings import Settings

REASON_LABELS = {
    s.StaleReason.TIMEOUT: "Đơn vị thu chưa phản hồi kịp, hóa đơn có thể chưa cập nhật",
    s.StaleReason.UNAVAILABLE: "Không kết nối được đơn vị thu, hóa đơn có thể chưa cập nhật",
    s.StaleReason.CIRCUIT_OPEN: "Đơn vị thu đang gián đoạn, hóa đơn có thể chưa cập nhật",
}
# Bills one look-up may answer for one customer: far more than a household has open.
_MAX_BILLS = 200


class LookupAnswer(msgspec.Struct):
    """What a biller answers for a customer: the customer's open bills, each as it would push them."""

    bills: Annotated[list[s.BillIn], msgspec.Meta(max_length=_MAX_BILLS)]


@dataclass(frozen=True, slots=True)
class _Ask:
    biller_id: int
    biller_name: str
    lookup_url: str
    customer_code: str


class _Failed(Exception):
    def __init__(self, reason: s.StaleReason, *, retry: bool) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.retry = retry


class BillLookup:
    """The pull adapter: its HTTP client and the billers' circuit breakers, built once (``civicpay.bootstrap``).

    Long-lived on purpose: a breaker remembers failures across requests, and the client keeps its
    connections to the billers open between them.
    """

    def __init__(
        self,
        units: UnitsOfWork,
        settings: Settings,
        clock: Clock,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._units = units
        self._settings = settings
        self._clock = clock
        self._breakers: dict[int, CircuitBreaker] = {}
        self._http = httpx.AsyncClient(
            timeout=settings.billing_pull_timeout_seconds,
            trust_env=False,
            verify=tls.client_context(),
            follow_redirects=False,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def breaker(self, biller_id: int) -> CircuitBreaker:
        found = self._breakers.get(biller_id)
        if found is None:
            cooldown = timedelta(seconds=self._settings.billing_pull_breaker_cooldown_seconds)
            found = self._breakers[biller_id] = CircuitBreaker(self._settings.billing_pull_breaker_failures, cooldown)
        return found

    async def refresh_mine(self, user_id: int) -> list[s.StaleBiller]:
        """Bring the bills of the citizen's links at look-up billers up to date; the billers that could not be."""
        async with self._units() as unit:
            rows = await unit.session.execute(
                select(Biller.id, Biller.name, Biller.lookup_url, BillLink.customer_code)
                .join(BillLink, BillLink.biller_id == Biller.id)
                .where(BillLink.user_id == user_id, Biller.lookup_url.is_not(None))
                .order_by(Biller.id, BillLink.customer_code)
            )
            asks = [_Ask(biller_id, name, url, code) for biller_id, name, url, code in rows if url is not None]
        return await self._pull(asks)

    async def refresh_code(self, biller_id: int, customer_code: str) -> None:
        """Before a code is linked: the biller's bills for it, so its name can be checked (a failure is not fatal:
        the link then finds what is stored, or no bill)."""
        async with self._units() as unit:
            biller = await unit.session.get(Biller, biller_id)
            if biller is None or biller.lookup_url is None:
                return
            ask = _Ask(biller.id, biller.name, biller.lookup_url, customer_code)
        await self._pull([ask])

    async def _pull(self, asks: Sequence[_Ask]) -> list[s.StaleBiller]:
        if not asks:
            return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.billing_pull_deadline_seconds
        outcomes = await asyncio.gather(*(self._ask(ask, deadline) for ask in asks))
        fresh: dict[int, list[s.BillIn]] = {}
        stale: dict[int, s.StaleBiller] = {}
        for ask, outcome in zip(asks, outcomes, strict=True):
            if isinstance(outcome, s.StaleReason):
                stale.setdefault(
                    ask.biller_id, s.StaleBiller(ask.biller_id, ask.biller_name, outcome, REASON_LABELS[outcome])
                )
            else:
                # Only the asked customer's bills: a biller's answer never reaches another customer's.
                fresh.setdefault(ask.biller_id, []).extend(
                    bill for bill in outcome if bill.customer_code == ask.customer_code
                )
        for biller_id, bills in fresh.items():
            if bills:
                await self._store(biller_id, bills)
        return list(stale.values())

    async def _store(self, biller_id: int, bills: list[s.BillIn]) -> None:
        """The pulled bills through the push's upsert, in a unit of work of their own (only what changed)."""
        async with self._units() as unit:
            changed = await ingestion.changes(unit.session, biller_id, bills)
            biller = await unit.session.get(Biller, biller_id)
            if changed and biller is not None:
                await ingestion.apply(unit.session, biller, changed, now=self._clock.now())

    async def _ask(self, ask: _Ask, deadline: float) -> list[s.BillIn] | s.StaleReason:
        """One customer's open bills, or why not; the biller's breaker hears the outcome, whatever it is."""
        breaker = self.breaker(ask.biller_id)
        if not breaker.allow(self._clock.now()):
            return s.StaleReason.CIRCUIT_OPEN
        outcome: list[s.BillIn] | s.StaleReason = s.StaleReason.TIMEOUT
        try:
            outcome = await self._tries(ask, deadline)
        except _Failed as failure:
            outcome = failure.reason
        finally:
            # Also when the request is cancelled mid-look-up (the citizen went away): a half-open
            # trial must end either way, or the biller would never be tried again.
            if isinstance(outcome, s.StaleReason):
                breaker.failed(self._clock.now())
            else:
                breaker.succeeded()
        return outcome

    async def _tries(self, ask: _Ask, deadline: float) -> list[s.BillIn]:
        loop = asyncio.get_running_loop()
        url = ask.lookup_url.replace("{customer_code}", quote(ask.customer_code, safe=""))
        backoff = self._settings.billing_pull_backoff_seconds
        tries_left = self._settings.billing_pull_retries
        while True:
            left = min(deadline - loop.time(), self._settings.billing_pull_timeout_seconds)
            if left <= 0:
                raise _Failed(s.StaleReason.TIMEOUT, retry=False)
            try:
                async with asyncio.timeout(left):
                    return await self._once(url)
            except TimeoutError:
                raise _Failed(s.StaleReason.TIMEOUT, retry=False) from None
            except _Failed as failure:
                if not failure.retry or tries_left <= 0 or loop.time() + backoff >= deadline:
                    raise
            tries_left -= 1
            await asyncio.sleep(backoff)
            backoff *= 2

    async def _once(self, url: str) -> list[s.BillIn]:
        try:
            answer = await self._http.get(url)
        except httpx.TimeoutException:
            raise TimeoutError from None
        except httpx.HTTPError:
            # Refused, reset, unresolvable: likely passing (a restart), worth another try.
            raise _Failed(s.StaleReason.UNAVAILABLE, retry=True) from None
        if answer.status_code == 404:
            return []  # the biller has no such customer, or nothing open for it
        if answer.status_code >= 500:
            raise _Failed(s.StaleReason.UNAVAILABLE, retry=True)
        if answer.status_code != 200:
            raise _Failed(s.StaleReason.UNAVAILABLE, retry=False)
        try:
            return msgspec.json.decode(answer.content, type=LookupAnswer).bills
        except msgspec.DecodeError:
            # Its answer is not what a look-up answers: asking again would get the same.
            raise _Failed(s.StaleReason.UNAVAILABLE, retry=False) from None
