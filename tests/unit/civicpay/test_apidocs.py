"""The OpenAPI document, read without a server: every operation named, summarised, tagged; every error
documented as the shared problem+json component; the statuses derived from what each route is."""

from __future__ import annotations

import functools
from typing import Any

import msgspec
import pytest

from civicpay import bootstrap
from civicpay.apidocs import PROBLEM_REF
from civicpay.apidocs import examples as apidoc_examples
from civicpay.app import create_app
from civicpay.errors import PROBLEM_JSON, Problem
from qr import vietqr
from qr.models import COLLECTION
from tests.conftest import make_settings

Operation = dict[str, Any]


@functools.cache
def document() -> dict[str, Any]:
    app = create_app(bootstrap.build(make_settings("sqlite+aiosqlite:///:memory:")))
    built: dict[str, Any] = app.openapi_schema.to_schema()
    return built


def operations() -> dict[str, Operation]:
    found = {}
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                found[f"{method.upper()} {path}"] = operation
    return found


def statuses(operation_id: str) -> dict[str, set[str]]:
    """Each documented status of an operation, with the problem codes its examples name."""
    operation = next(op for op in operations().values() if op["operationId"] == operation_id)
    return {
        status: set(response.get("content", {}).get(PROBLEM_JSON, {}).get("examples", {}))
        for status, response in operation["responses"].items()
    }


def test_every_operation_has_an_id_a_summary_and_a_tag() -> None:
    assert len(operations()) > 50
    ids = [operation.get("operationId") for operation in operations().values()]
    assert all(ids)
    assert len(set(ids)) == len(ids)
    for name, operation in operations().items():
        assert operation.get("summary"), name
        assert not operation["summary"].endswith("Route Decorator"), name  # Litestar's fallback, not ours
        assert "``" not in operation["summary"] + operation.get("description", ""), name  # Markdown, not RST
        assert operation.get("tags"), name


def test_every_error_answer_is_the_problem_component() -> None:
    problem = document()["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "code"}
    for name, operation in operations().items():
        assert "500" in operation["responses"], name
        for status, response in operation["responses"].items():
            if not (status.startswith("4") or status == "500"):
                continue
            assert set(response["content"]) == {PROBLEM_JSON}, (name, status)
            content = response["content"][PROBLEM_JSON]
            assert content["schema"] == {"$ref": PROBLEM_REF}, (name, status)
            assert content["examples"], (name, status)
            for code, example in content["examples"].items():
                problem_example = msgspec.convert(example["value"], Problem)
                assert (problem_example.status, problem_example.code) == (int(status), code), (name, status)
                assert problem_example.type == f"urn:civicpay:problem:{code}"


def test_no_litestar_error_shape_is_left() -> None:
    assert '"status_code"' not in msgspec.json.encode(document()["paths"]).decode()


def test_statuses_follow_from_what_the_route_is() -> None:
    transfer = statuses("createTransfer")
    assert {"validation_failed", "invalid_json", "body_too_deep", "nul_character"} <= transfer["400"]
    assert "unauthenticated" in transfer["401"]  # signed in
    assert {"forbidden", "step_up_required"} <= transfer["403"]  # citizens only; Decision 2345's OTP
    assert "recipient_not_found" in transfer["404"]  # the use case's own
    assert "idempotency_key_reused" in transfer["409"]  # the Idempotency-Key
    assert {"insufficient_funds", "monthly_limit_exceeded"} <= transfer["422"]
    assert "413" in transfer

    login = statuses("login")
    assert "unauthenticated" not in login["401"]  # public, but its own refusals are 401s
    assert {"rate_limited", "locked"} <= login["429"]  # the sign-in rate limit and the lockout

    wallet = statuses("getWallet")
    assert {"not_found", "wallet_not_found"} <= wallet["404"]  # a path parameter
    assert "413" not in wallet  # a GET reads no body
    assert set(statuses("getMyWallet")) == {"200", "401", "403", "404", "500", "503"}  # no parameters: no 400

    assert set(statuses("listBanks")) == {"200", "500"}  # public, nothing to validate, no database
    assert "bad_signature" in statuses("receiveBankNotification")["401"]  # its hook's refusal
    assert "too_many_watchers" in statuses("counterEvents")["429"]  # named on the route
    assert statuses("health")["503"] == set()  # its own Health body, not a problem
    assert statuses("createTransfer")["503"] == {"busy"}  # every pooled connection busy: told to retry


def test_bodies_and_answers_carry_realistic_examples() -> None:
    transfer = next(op for op in operations().values() if op["operationId"] == "createTransfer")
    sent = transfer["requestBody"]["content"]["application/json"]["examples"]["example"]["value"]
    assert sent == {"to_phone": "0987654321", "amount_vnd": 150_000, "memo": "Trả tiền cà phê"}
    answered = transfer["responses"]["201"]["content"]["application/json"]["examples"]["example"]["value"]
    assert answered["amount_display"] == "150.000 ₫"
    assert answered["sender"]["name"] == "Nguyễn Thị Hương"

    for name, operation in operations().items():
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            assert body.get("examples"), f"{name}: its request body has no example"
        for status, response in operation["responses"].items():
            answer = response.get("content", {}).get("application/json")
            if status.startswith("2") and answer is not None and "$ref" in str(answer["schema"]):
                assert answer.get("examples"), f"{name}: its {status} answer has no example"


def test_the_example_vietqr_is_the_one_the_qr_room_makes() -> None:
    reference = COLLECTION.encode(42)
    made = vietqr.encode(
        vietqr.VietQr(
            bin="970436",
            account="0161001234567",
            initiation="dynamic",
            amount_vnd=50_000,
            purpose=reference,
            reference=reference,
            terminal="Q1",
            merchant_name=vietqr.fit_for_qr("Bộ phận Một cửa phường Phú Hội", 25),
            city=vietqr.fit_for_qr("Huế", 15),
        )
    )
    assert made == apidoc_examples.VIETQR_COLLECTION
    assert vietqr.decode(apidoc_examples.VIETQR_MERCHANT).merchant_name == "Ca phe Thuan Hoa"


def test_a_field_without_an_example_is_an_error() -> None:
    class Fresh(msgspec.Struct):
        never_seen_field: int

    with pytest.raises(apidoc_examples.MissingExample, match=r"Fresh\.never_seen_field"):
        apidoc_examples.example_of(Fresh)
