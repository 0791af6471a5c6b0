"""The fake billers (sandbox/billers.py): look-ups, signed webhooks taken once per delivery, the back office."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner

from civicpay.demo import biller_webhook_secret
from sandbox.billers import demo_billers, signature_of
from sandbox.cli import main
from tests.billers import FAKE_BILLER_SECRET, FakeBillersServer
from tests.conftest import make_settings


def signed(body: bytes, *, secret: str = FAKE_BILLER_SECRET, key: str | None = None) -> dict[str, str]:
    timestamp = "1796612400"
    return {
        "Content-Type": "application/json",
        "X-Civicpay-Delivery": key or str(uuid.uuid4()),
        "X-Civicpay-Timestamp": timestamp,
        "X-Civicpay-Signature": signature_of(secret, timestamp, body),
    }


async def test_a_webhook_is_taken_once_per_delivery_key_and_a_bad_signature_is_refused(
    fake_billers: FakeBillersServer,
) -> None:
    body = b'{"event":"bill.paid","bill_id":"HW-2026-11-10234","amount_vnd":171600}'
    headers = signed(body)
    forged = {**signed(body), "X-Civicpay-Signature": signed(b"{}")["X-Civicpay-Signature"]}
    async with httpx.AsyncClient(base_url=fake_billers.url, trust_env=False) as http:
        first = await http.post("/water/webhooks", content=body, headers=headers)
        again = await http.post("/water/webhooks", content=body, headers=headers)
        bad = await http.post("/water/webhooks", content=body, headers=forged)
        unsigned = await http.post("/water/webhooks", content=body, headers={"Content-Type": "application/json"})
        received = await http.get("/water/webhooks")
        elsewhere = await http.get("/school/webhooks")

    assert (first.status_code, first.json()["duplicate"]) == (200, False)
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    assert bad.status_code == unsigned.status_code == 401
    shown: list[dict[str, Any]] = received.json()
    assert [(line["status_code"], line["signature_valid"], line["duplicate"]) for line in shown] == [
        (200, True, False),
        (200, True, True),
        (401, False, False),
        (401, False, False),
    ]
    assert shown[0]["delivery"] == headers["X-Civicpay-Delivery"]
    assert shown[0]["body"] == {"event": "bill.paid", "bill_id": "HW-2026-11-10234", "amount_vnd": 171600}
    assert elsewhere.json() == []


async def test_a_look_up_answers_a_customers_open_bills_and_the_back_office_takes_a_biller_down(
    fake_billers: FakeBillersServer,
) -> None:
    async with httpx.AsyncClient(base_url=fake_billers.url, trust_env=False) as http:
        found = await http.get("/school/customers/HS-2026-0417/bills")
        unknown = await http.get("/school/customers/HS-0000/bills")
        no_biller = await http.get("/gas/customers/HS-2026-0417/bills")
        down = await http.post("/school/back-office/mode", json={"mode": "down"})
        refused = await http.get("/school/customers/HS-2026-0417/bills")
        hook_refused = await http.post("/school/webhooks", content=b"{}", headers=signed(b"{}"))
        office = await http.get("/school/back-office")

    assert found.status_code == 200
    assert [(bill["bill_id"], bill["customer_name"], bill["amount_vnd"]) for bill in found.json()["bills"]] == [
        ("NTP-HK1-0417-12", "Nguyễn Thị Hương", 300_000),
        ("NTP-HK1-0417-BT", "Nguyễn Thị Hương", 450_000),
    ]
    assert unknown.status_code == no_biller.status_code == 404
    assert down.json()["mode"] == "down"
    assert refused.status_code == hook_refused.status_code == 503
    assert office.json()["lookups"] == 3


def test_the_demo_billers_sign_with_secrets_derived_from_civicpays_settings() -> None:
    settings = make_settings("sqlite+aiosqlite:///unused.db")
    fake = demo_billers(settings)

    secrets = {slug: company.secret for slug, company in fake.companies.items()}
    assert set(secrets) == {"electricity", "water", "school", "sanitation", "public-service"}
    assert secrets == {slug: biller_webhook_secret(settings, slug) for slug in secrets}
    assert len(set(secrets.values())) == len(secrets)
    assert settings.secret_key not in secrets.values()


@pytest.mark.usefixtures("command_shell")
def test_the_billers_sandbox_listens_on_loopback_at_its_port(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda _app, **options: asked.update(options))

    served = CliRunner().invoke(main, ["billers", "serve"])

    assert served.exit_code == 0, served.output
    assert (asked["host"], asked["port"]) == ("127.0.0.1", 8422)
    assert "HUEWACO-10234  Nguyễn Thị Hương" in served.output
