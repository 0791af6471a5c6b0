"""Billers' systems, as one small server for development and tests (billers have no public sandbox).

Five companies under their slugs: an electricity company (``electricity``), a water company
(``water``) and a school (``school``), each with a few customers and their open bills, and two that push
their bills to civicpay instead (``sanitation``, ``public-service``). Each answers
what ``billing.pull`` asks, over a real socket: ``GET /{slug}/customers/{code}/bills`` (the customer's
open bills, as the company would push them; 404 for a customer it does not have). Each receives our
payment notifications at ``POST /{slug}/webhooks``: the signature is checked (``X-Civicpay-Signature:
v1=<hex HMAC-SHA256(secret, "<X-Civicpay-Timestamp>." + body)>``; 2xx when it matches, 401 when not),
a delivery is taken once by its ``X-Civicpay-Delivery`` key (a redelivery is acknowledged again, not
taken twice), and every one is kept for ``GET /{slug}/webhooks`` to show. The back office
(``POST /{slug}/back-office/mode``) makes a company slow (it answers after ``delay_seconds``) or down
(503 to everything), so the timeouts and the circuit breaker can be seen at work;
``GET /{slug}/back-office`` says how many look-ups it was asked.

``civicpay-sandbox billers serve`` runs it beside ``make run``; the tests run it in a thread. Each
company's webhook secret is ``civicpay.demo.biller_webhook_secret`` of civicpay's settings, so the demo
billers civicpay creates and these agree.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, Literal

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.params import JSONBody, PathParameter

from civicpay.demo import biller_webhook_secret
from civicpay.settings import Settings

Mode = Literal["ok", "slow", "down"]
# How often a slow answer looks whether it is still meant to be slow: the back office (or a test
# resetting the company) ends a slow spell at once, and the server can stop without waiting it out.
_SLOW_STEP_SECONDS = 0.05


class Line(msgspec.Struct):
    description: str
    amount_vnd: int
    quantity: str | None = None


class OpenBill(msgspec.Struct):
    """One open bill, in the shape a biller pushes it (``billing.schemas.BillIn``)."""

    bill_id: str
    customer_code: str
    customer_name: str
    period: str
    amount_vnd: int
    due_date: date
    lines: list[Line] = []


class Customer(msgspec.Struct):
    code: str
    name: str


class ModeChange(msgspec.Struct, forbid_unknown_fields=True):
    mode: Mode
    delay_seconds: Annotated[float, msgspec.Meta(ge=0, le=600)] = 5.0


class BackOffice(msgspec.Struct):
    slug: str
    name: str
    mode: Mode
    delay_seconds: float
    lookups: int
    deliveries: int


class Delivery(msgspec.Struct):
    """One webhook as it arrived: what was sent, and what this company made of it."""

    delivery: str | None
    timestamp: str | None
    signature: str | None
    signature_valid: bool
    duplicate: bool
    status_code: int
    body: Any
    received_at: float


@dataclass
class Company:
    slug: str
    name: str
    category: str
    secret: str
    customers: dict[str, Customer]
    bills: list[OpenBill]
    mode: Mode = "ok"
    delay_seconds: float = 5.0
    lookups: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)  # delivery keys acknowledged once already

    def open_bills(self, code: str) -> list[OpenBill]:
        return [bill for bill in self.bills if bill.customer_code == code]


@dataclass
class FakeBillers:
    companies: dict[str, Company]


def signature_of(secret: str, timestamp: str, body: bytes) -> str:
    """``v1=`` and the hex HMAC-SHA256 of ``"<timestamp>." + body``: the scheme civicpay signs with."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


def create_billers_app(billers: FakeBillers, *, wall_clock: Callable[[], float] = time.time) -> Litestar:
    async def as_configured(company: Company) -> Response[Any] | None:
        """Down answers 503; slow waits (while it stays slow) before answering."""
        if company.mode == "down":
            return Response({"error": "maintenance"}, status_code=503)
        waited = 0.0
        while company.mode == "slow" and waited < company.delay_seconds:
            await asyncio.sleep(_SLOW_STEP_SECONDS)
            waited += _SLOW_STEP_SECONDS
        return None

    def company_of(slug: str) -> Company | None:
        return billers.companies.get(slug)

    @get("/{slug:str}/customers/{code:str}/bills")
    async def lookup(slug: Annotated[str, PathParameter()], code: Annotated[str, PathParameter()]) -> Response[Any]:
        company = company_of(slug)
        if company is None:
            return Response({"error": "no such biller"}, status_code=404)
        company.lookups += 1
        if (answer := await as_configured(company)) is not None:
            return answer
        if code not in company.customers:
            return Response({"error": "no such customer"}, status_code=404)
        return Response({"bills": company.open_bills(code)})

    @post("/{slug:str}/webhooks", status_code=200)
    async def webhook(slug: Annotated[str, PathParameter()], request: Request[Any, Any, Any]) -> Response[Any]:
        company = company_of(slug)
        if company is None:
            return Response({"error": "no such biller"}, status_code=404)
        if (answer := await as_configured(company)) is not None:
            return answer
        body = await request.body()
        key = request.headers.get("x-civicpay-delivery")
        timestamp = request.headers.get("x-civicpay-timestamp")
        signature = request.headers.get("x-civicpay-signature")
        valid = (
            key is not None
            and timestamp is not None
            and signature is not None
            and hmac.compare_digest(signature, signature_of(company.secret, timestamp, body))
        )
        duplicate = valid and key in company.taken
        status_code = 200 if valid else 401
        try:
            shown: Any = msgspec.json.decode(body)
        except msgspec.DecodeError:
            shown = body.decode(errors="replace")
        company.deliveries.append(
            Delivery(key, timestamp, signature, valid, duplicate, status_code, shown, wall_clock())
        )
        if not valid:
            return Response({"error": "bad signature"}, status_code=401)
        company.taken.add(key or "")
        return Response({"received": key, "duplicate": duplicate}, status_code=200)

    @get("/{slug:str}/webhooks")
    async def deliveries(slug: Annotated[str, PathParameter()]) -> Response[Any]:
        company = company_of(slug)
        if company is None:
            return Response({"error": "no such biller"}, status_code=404)
        return Response(company.deliveries)

    def back_office_of(company: Company) -> BackOffice:
        return BackOffice(
            company.slug, company.name, company.mode, company.delay_seconds, company.lookups, len(company.deliveries)
        )

    @get("/{slug:str}/back-office")
    async def back_office(slug: Annotated[str, PathParameter()]) -> Response[Any]:
        company = company_of(slug)
        if company is None:
            return Response({"error": "no such biller"}, status_code=404)
        return Response(back_office_of(company))

    @post("/{slug:str}/back-office/mode", status_code=200)
    async def change_mode(slug: Annotated[str, PathParameter()], data: JSONBody[ModeChange]) -> Response[Any]:
        company = company_of(slug)
        if company is None:
            return Response({"error": "no such biller"}, status_code=404)
        company.mode = data.mode
        company.delay_seconds = data.delay_seconds
        return Response(back_office_of(company))

    @post("/{slug:str}/back-office/bills", status_code=201)
    async def add_bill(slug: Annotated[str, PathParameter()], data: JSONBody[OpenBill]) -> Response[Any]:
        """A new bill for a customer (one it has, or a new one under the bill's customer name)."""
        company = company_of(slug)
        if company is None:
            return Response({"error": "no such biller"}, status_code=404)
        company.customers.setdefault(data.customer_code, Customer(data.customer_code, data.customer_name))
        company.bills = [bill for bill in company.bills if bill.bill_id != data.bill_id] + [data]
        return Response(data, status_code=201)

    return Litestar(
        [lookup, webhook, deliveries, back_office, change_mode, add_bill],
        debug=False,
    )


def _bill(bill_id: str, customer: Customer, period: str, due: date, lines: list[Line]) -> OpenBill:
    return OpenBill(bill_id, customer.code, customer.name, period, sum(line.amount_vnd for line in lines), due, lines)


# The demo citizens (civicpay.demo.DEMO_PEOPLE) are customers of each, under their own names, so they
# can link their codes; a neighbour of theirs shows that a code names one household.
HUONG, MINH, LAN = "Nguyễn Thị Hương", "Trần Văn Minh", "Lê Thị Lan"


def demo_companies(secret_of: Callable[[str], str]) -> dict[str, Company]:
    """The companies with their customers and open bills; ``secret_of(slug)`` is each one's webhook secret."""
    power = [Customer("PQ0400123456", HUONG), Customer("PQ0400234567", MINH), Customer("PQ0400345678", "Phan Văn Đức")]
    water = [Customer("HUEWACO-10234", HUONG), Customer("HUEWACO-10567", LAN)]
    pupils = [Customer("HS-2026-0417", HUONG), Customer("HS-2026-0523", MINH)]
    november, december = date(2026, 12, 15), date(2027, 1, 15)

    return {
        "electricity": Company(
            "electricity",
            "Điện lực Thừa Thiên Huế",
            "electricity",
            secret_of("electricity"),
            {customer.code: customer for customer in power},
            [
                _bill(
                    "EVN-2026-11-0001",
                    power[0],
                    "2026-11",
                    november,
                    [Line("Điện sinh hoạt bậc 1-3", 412_350, "186 kWh")],
                ),
                _bill(
                    "EVN-2026-11-0002",
                    power[1],
                    "2026-11",
                    november,
                    [Line("Điện sinh hoạt bậc 1-4", 689_200, "270 kWh")],
                ),
                _bill(
                    "EVN-2026-11-0003",
                    power[2],
                    "2026-11",
                    november,
                    [Line("Điện sinh hoạt bậc 1-2", 198_400, "98 kWh")],
                ),
            ],
        ),
        "water": Company(
            "water",
            "Công ty Cổ phần Cấp nước Thừa Thiên Huế",
            "water",
            secret_of("water"),
            {customer.code: customer for customer in water},
            [
                _bill(
                    "HW-2026-11-10234",
                    water[0],
                    "2026-11",
                    november,
                    [Line("Nước sạch sinh hoạt", 156_000, "13 m³"), Line("Phí bảo vệ môi trường", 15_600)],
                ),
                _bill("HW-2026-11-10567", water[1], "2026-11", november, [Line("Nước sạch sinh hoạt", 96_000, "8 m³")]),
            ],
        ),
        "school": Company(
            "school",
            "Trường THCS Nguyễn Tri Phương",
            "tuition",
            secret_of("school"),
            {customer.code: customer for customer in pupils},
            [
                _bill("NTP-HK1-0417-12", pupils[0], "2026-12", december, [Line("Học phí tháng 12", 300_000)]),
                _bill("NTP-HK1-0417-BT", pupils[0], "2026-12", december, [Line("Bán trú tháng 12", 450_000)]),
                _bill("NTP-HK1-0523-12", pupils[1], "2026-12", december, [Line("Học phí tháng 12", 300_000)]),
            ],
        ),
        # These two push their bills to civicpay (the demo seeds them) and answer no look-ups: here they only
        # take civicpay's payment notifications.
        "sanitation": Company(
            "sanitation", "Công ty Môi trường và Công trình đô thị Huế", "sanitation", secret_of("sanitation"), {}, []
        ),
        "public-service": Company(
            "public-service",
            "Trung tâm Phục vụ hành chính công tỉnh",
            "public_service_fee",
            secret_of("public-service"),
            {},
            [],
        ),
    }


def demo_billers(settings: Settings) -> FakeBillers:
    """The demo's companies, signing as civicpay's demo billers expect (``biller_webhook_secret``)."""
    return FakeBillers(demo_companies(lambda slug: biller_webhook_secret(settings, slug)))
