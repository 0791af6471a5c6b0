"""How every request body is read: nesting past a sane depth is a 400 in one log line, and money is an integer.

Both are decided where the body is decoded, once for every route (``civicpay.bodies``), so no route can forget.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.auth.secrets import sign_body
from civicpay.bodies import MAX_BODY_NESTING
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from sandbox import bank_notifications
from tests.conftest import Api, Citizen
from tests.desk import Desk
from wallet.models import BankNotification

PROBLEM_JSON = "application/problem+json"
DEEP = b"[" * 1000 + b"]" * 1000


class _Kept(logging.Handler):
    """Every record, whichever logger wrote it (Litestar's logging config replaces the root handlers)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not any(kept is record for kept in self.records):  # a record reaches the root after its own logger
            self.records.append(record)


@pytest.fixture
def logged() -> Iterator[list[logging.LogRecord]]:
    kept = _Kept()
    loggers = [logging.getLogger(name) for name in ("", "civicpay", "litestar", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(kept)
    try:
        yield kept.records
    finally:
        for logger in loggers:
            logger.removeHandler(kept)


def problem(answer: Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, body
    return body


def signed_notification(settings: Settings, body: bytes) -> tuple[bytes, dict[str, str]]:
    """A body signed as the bank signs its notifications, whatever it holds."""
    return body, {"Content-Type": "application/json", "X-Signature": sign_body(settings.bank_webhook_secret, body)}


# --- nesting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/citizens", "/auth/login", "/transfers", bank_notifications.WEBHOOK_PATH])
async def test_a_body_nested_1000_deep_is_a_400_in_both_languages_and_one_log_line(
    api: Api, settings: Settings, clock: FixedClock, logged: list[logging.LogRecord], path: str
) -> None:
    citizen = await api.register()
    headers = {"Content-Type": "application/json"}
    if path == "/transfers":
        headers |= {**citizen.headers, "Idempotency-Key": str(uuid.uuid4())}
    if path == bank_notifications.WEBHOOK_PATH:
        headers = signed_notification(settings, DEEP)[1]
    logged.clear()

    in_vietnamese = await api.client.post(path, content=DEEP, headers=headers)
    in_english = await api.client.post(path, content=DEEP, headers={**headers, "Accept-Language": "en"})

    vi = problem(in_vietnamese, 400, "body_too_deep")
    en = problem(in_english, 400, "body_too_deep")
    assert vi["title"] == "Nội dung yêu cầu lồng nhau quá sâu"
    assert en["title"] == "The request body is nested too deeply"
    assert en["detail"] == f"Arrays and objects may nest at most {MAX_BODY_NESTING} deep."
    assert en["errors"] == [{"field": "body", "message": en["detail"]}]
    ours = [record for record in logged if record.name.startswith(("civicpay", "litestar", "uvicorn"))]
    told = [record for record in ours if "nested" in record.getMessage()]
    assert len(told) == 2  # one line per request
    assert all(record.exc_info is None and "\n" not in record.getMessage() for record in ours)
    assert not [record for record in ours if record.levelno >= logging.ERROR]


async def test_nesting_is_counted_in_arrays_and_objects_but_not_inside_strings(api: Api) -> None:
    inside_a_string = {"phone": "[" * 16 + "{" * 16, "password": '"[' * 60}
    just_enough: Any = "x"
    for _ in range(MAX_BODY_NESTING - 1):
        just_enough = [just_enough]
    one_too_many = {"phone": [just_enough]}

    strings = await api.client.post("/auth/login", json=inside_a_string)
    allowed = await api.client.post("/auth/login", json={"phone": just_enough, "password": "x"})
    refused = await api.client.post("/auth/login", json=one_too_many)

    problem(strings, 401, "invalid_credentials")
    assert problem(allowed, 400, "validation_failed")["errors"][0]["field"] == "phone"
    problem(refused, 400, "body_too_deep")


async def test_a_malformed_body_is_still_named_malformed(api: Api) -> None:
    unterminated = b'{"phone": "\\"\\"\\"' + b"[" * 100
    problem(await api.client.post("/auth/login", content=unterminated), 400, "invalid_json")
    problem(await api.client.post("/auth/login", content=b'{"phone": '), 400, "invalid_json")


# --- money is an integer -----------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["1000", 1000.0, 1e21, True, "1.000", None, [1000]])
async def test_a_transfer_amount_must_be_a_json_integer_and_nothing_moves(
    api: Api, amount: object, sessions: async_sessionmaker[AsyncSession]
) -> None:
    huong, minh = await api.register(), await api.register()
    await api.fund(huong, 100_000)
    headers = {**huong.headers, "Idempotency-Key": str(uuid.uuid4()), "Accept-Language": "en"}

    refused = await api.client.post(
        "/transfers", json={"to_phone": minh.phone, "amount_vnd": amount, "memo": ""}, headers=headers
    )

    body = problem(refused, 400, "validation_failed")
    assert [error["field"] for error in body["errors"]] == ["amount_vnd"]
    assert body["errors"][0]["message"].startswith("Expected `int`")
    assert (await api.balance(huong), await api.balance(minh)) == (100_000, 0)


def _money_routes(desk: Desk, citizen: Citizen) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """Every route that takes an amount of money in its body, with a body that is right but for the amount."""
    paying = {**citizen.headers, "Idempotency-Key": str(uuid.uuid4())}
    collection = {
        "counter_id": desk.counter["id"],
        "procedure_code": "1.001612",
        "procedure_name": "Chứng thực bản sao từ bản chính",
        "dossier_number": "000.00.12.H57-261129-0001",
        "payer_name": "Nguyễn Thị Hương",
    }
    return [
        ("/transfers", {"to_phone": "0987654321"}, paying),
        ("/topups/card", {"payment_method": "pm_card_visa"}, paying),
        ("/topups/card/1/refund", {}, paying),
        ("/withdrawals", {"bank_account_id": 1}, paying),
        ("/qr/payments", {"payload": "000201"}, paying),
        ("/collections", collection, desk.clerk),
    ]


@pytest.mark.parametrize("amount", ["50000", 50000.0])
async def test_every_route_that_takes_money_takes_only_an_integer(
    desk: Desk,
    api: Api,
    settings: Settings,
    clock: FixedClock,
    sessions: async_sessionmaker[AsyncSession],
    amount: object,
) -> None:
    citizen = await api.register()
    await api.fund(citizen, 100_000)

    for path, body, headers in _money_routes(desk, citizen):
        refused = await api.client.post(path, json={**body, "amount_vnd": amount}, headers=headers)
        fields = [error["field"] for error in problem(refused, 400, "validation_failed")["errors"]]
        assert fields == ["amount_vnd"], path
    note = msgspec.to_builtins(bank_notifications.notification(code="NAP999999X", amount_vnd=70_000, at=clock.now()))
    content, headers = signed_notification(settings, msgspec.json.encode({**note, "amount_vnd": amount}))
    refused = await api.client.post(bank_notifications.WEBHOOK_PATH, content=content, headers=headers)
    assert problem(refused, 400, "validation_failed")["errors"][0]["field"] == "amount_vnd"

    assert await api.balance(citizen) == 100_000
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(BankNotification)) == 0
