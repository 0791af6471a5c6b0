"""Who may call what: every role against every endpoint, and citizens kept out of each other's money."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from httpx import Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.auth.models import Role
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from tests.conftest import PASSWORD, Api, Citizen, create_staff, new_phone, signed_in

ANONYMOUS = "anonymous"
BILLER = "biller_api_key"
ROLES = (ANONYMOUS, "citizen", "clerk", "merchant", "programme_officer", "finance_officer", "admin", BILLER)
STAFF = ("clerk", "merchant", "programme_officer", "finance_officer")
NO_SUCH_ID = 987_654
PROBLEM_JSON = "application/problem+json"


@dataclass
class Cast:
    """One caller per role, plus a citizen's wallet and a transfer for the paths that name them."""

    api: Api
    headers: dict[str, dict[str, str]]
    citizen: Citizen
    other: Citizen
    transfer_id: int

    async def call(
        self, role: str, method: str, path: str, json: dict[str, Any] | None = None, *, idempotent: bool = False
    ) -> Response:
        headers = dict(self.headers[role])
        if idempotent:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        url = path.format(wallet_id=self.citizen.wallet_id, transfer_id=self.transfer_id)
        return await self.api.client.request(method, url, json=json, headers=headers)


@pytest.fixture
async def cast(api: Api, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: FixedClock) -> Cast:
    admin = await signed_in(api, await create_staff(sessions, settings, clock, Role.ADMIN, "Quản Trị Viên"))
    headers = {ANONYMOUS: {}, "admin": admin}
    for role in STAFF:
        phone = new_phone()
        created = await api.client.post("/admin/staff", json=staff_body(role, phone), headers=admin)
        assert created.status_code == 201, created.text
        headers[role] = await signed_in(api, phone)
    issued = await api.client.post("/admin/api-keys", json={"name": "Công ty Điện lực Huế"}, headers=admin)
    assert issued.status_code == 201, issued.text
    headers[BILLER] = {"X-API-Key": issued.json()["api_key"]}

    citizen, other = await api.register(full_name="Nguyễn Thị Hương"), await api.register(full_name="Trần Văn Minh")
    headers["citizen"] = citizen.headers
    await api.fund(citizen, 1_000_000)
    sent = await api.transfer(citizen, other, 100_000)
    assert sent.status_code == 201, sent.text
    return Cast(api, headers, citizen, other, sent.json()["id"])


def staff_body(role: str, phone: str | None = None) -> dict[str, Any]:
    return {"phone": phone or new_phone(), "full_name": "Phạm Văn Cán Bộ", "password": PASSWORD, "role": role}


def password(_: Cast) -> dict[str, Any]:
    return {"password": PASSWORD}


def citizen_body() -> dict[str, Any]:
    return {
        "phone": new_phone(),
        "citizen_id": f"075{uuid.uuid4().int % 10**9:09d}",
        "full_name": "Võ Thị Lan",
        "password": PASSWORD,
    }


def small_transfer(cast: Cast) -> dict[str, Any]:
    return {"to_phone": cast.other.phone, "amount_vnd": 1_000}


def new_clerk(_: Cast) -> dict[str, Any]:
    return staff_body("clerk")


def new_api_key(_: Cast) -> dict[str, Any]:
    return {"name": "Công ty Cấp nước Huế"}


def new_citizen(_: Cast) -> dict[str, Any]:
    return citizen_body()


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    body: Callable[[Cast], dict[str, Any]] | None = None
    idempotent: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


# fmt: off
MATRIX: list[tuple[Endpoint, tuple[int, ...]]] = [
    #                                                        anon citizen clerk merch prog fin  admin biller
    (Endpoint("GET", "/auth/me"),                           (401, 200,    200,  200,  200, 200, 200,  200)),
    (Endpoint("POST", "/auth/totp/enrolment/", password),   (401, 201,    201,  201,  201, 201, 201,  403)),
    (Endpoint("GET", "/wallets/me"),                        (401, 200,    403,  403,  403, 403, 403,  403)),
    (Endpoint("GET", "/wallets/{wallet_id}"),               (401, 200,    403,  403,  403, 403, 403,  403)),
    (Endpoint("GET", "/wallets/{wallet_id}/history"),       (401, 200,    403,  403,  403, 403, 403,  403)),
    (Endpoint("POST", "/transfers", small_transfer, True),  (401, 201,    403,  403,  403, 403, 403,  403)),
    (Endpoint("GET", "/transfers/{transfer_id}"),           (401, 200,    403,  403,  403, 403, 403,  403)),
    (Endpoint("GET", "/ledger/verify"),                     (401, 403,    403,  403,  403, 200, 200,  403)),
    (Endpoint("GET", "/admin/staff"),                       (401, 403,    403,  403,  403, 403, 200,  403)),
    (Endpoint("POST", "/admin/staff", new_clerk),           (401, 403,    403,  403,  403, 403, 201,  403)),
    (Endpoint("POST", "/admin/api-keys", new_api_key),      (401, 403,    403,  403,  403, 403, 201,  403)),
    (Endpoint("POST", "/citizens", new_citizen),            (201, 201,    201,  201,  201, 201, 201,  201)),
]
# fmt: on

PROBLEM_CODES = {401: "unauthenticated", 403: "forbidden"}


@pytest.mark.parametrize(("endpoint", "expected"), MATRIX, ids=[str(endpoint) for endpoint, _ in MATRIX])
async def test_each_role_gets_the_expected_answer(cast: Cast, endpoint: Endpoint, expected: tuple[int, ...]) -> None:
    got: dict[str, tuple[int, str | None]] = {}
    for role in ROLES:
        body = endpoint.body(cast) if endpoint.body else None
        answer = await cast.call(role, endpoint.method, endpoint.path, body, idempotent=endpoint.idempotent)
        refused = answer.headers["content-type"].startswith(PROBLEM_JSON)
        got[role] = (answer.status_code, answer.json()["code"] if refused else None)

    want = {role: (status, PROBLEM_CODES.get(status)) for role, status in zip(ROLES, expected, strict=True)}
    assert got == want


async def test_refused_callers_move_no_money(cast: Cast) -> None:
    before = await cast.api.balance(cast.citizen), await cast.api.balance(cast.other)

    for role in ROLES:
        if role != "citizen":
            refused = await cast.call(
                role, "POST", "/transfers", {"to_phone": cast.other.phone, "amount_vnd": 50_000}, idempotent=True
            )
            assert refused.status_code in {401, 403}

    assert (await cast.api.balance(cast.citizen), await cast.api.balance(cast.other)) == before == (900_000, 100_000)


async def test_only_an_admin_creates_staff_or_api_keys(cast: Cast) -> None:
    attempted = {role: new_phone() for role in ROLES if role != "admin"}
    for role, phone in attempted.items():
        assert (await cast.call(role, "POST", "/admin/staff", staff_body("admin", phone))).status_code in {401, 403}
        assert (await cast.call(role, "POST", "/admin/api-keys", {"name": "Kẻ gian"})).status_code in {401, 403}

    staff = await cast.call("admin", "GET", "/admin/staff")

    assert staff.status_code == 200
    listed = {person["phone"] for person in staff.json()}
    assert not listed & {f"+84{phone[1:]}" for phone in attempted.values()}
    assert sorted(person["role"] for person in staff.json()) == sorted(["admin", *STAFF])


async def test_an_admin_cannot_create_citizens_or_billers_as_staff(cast: Cast) -> None:
    for role in ("citizen", "biller"):
        refused = await cast.call("admin", "POST", "/admin/staff", staff_body(role))
        assert refused.status_code == 422
        assert refused.json()["code"] == "validation_failed"
        assert [error["field"] for error in refused.json()["errors"]] == ["role"]


@pytest.mark.parametrize(
    "api_key",
    ["nonsense", "cpk_0000000000000000_secret", "cpk__", "Bearer cpk_x_y"],
    ids=["not-a-key", "unknown-key-id", "empty-parts", "wrong-shape"],
)
async def test_an_unknown_api_key_is_unauthenticated(cast: Cast, api_key: str) -> None:
    answer = await cast.api.client.get("/auth/me", headers={"X-API-Key": api_key})

    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthenticated"


async def test_a_real_api_key_with_the_wrong_secret_is_unauthenticated(cast: Cast) -> None:
    real = cast.headers[BILLER]["X-API-Key"]
    tampered = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")

    answer = await cast.api.client.get("/auth/me", headers={"X-API-Key": tampered})

    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthenticated"
    assert (await cast.api.client.get("/auth/me", headers={"X-API-Key": real})).json()["role"] == "biller"


# --- citizens cannot see each other's wallets or transfers ---------------------------------------


@pytest.mark.parametrize(
    ("path", "owner_sees", "expected"),
    [
        pytest.param("/wallets/{wallet_id}", lambda body: body["balance_vnd"], 300_000, id="wallet"),
        pytest.param("/wallets/{wallet_id}/history", lambda body: body["items"][0]["memo"], "Tiền nhà", id="history"),
        pytest.param("/transfers/{transfer_id}", lambda body: body["memo"], "Tiền nhà", id="transfer"),
    ],
)
async def test_another_citizens_money_answers_like_nothing_exists(
    api: Api, path: str, owner_sees: Callable[[dict[str, Any]], object], expected: object
) -> None:
    a, b, c = await api.register(), await api.register(), await api.register()
    await api.fund(b, 500_000)
    sent = await api.transfer(b, c, 200_000, memo="Tiền nhà")
    assert sent.status_code == 201, sent.text
    owned = path.format(wallet_id=b.wallet_id, transfer_id=sent.json()["id"])
    missing = path.format(wallet_id=NO_SUCH_ID, transfer_id=NO_SUCH_ID)

    as_owner = await api.client.get(owned, headers=b.headers)
    snooped = await api.client.get(owned, headers=a.headers)
    nothing = await api.client.get(missing, headers=a.headers)

    assert as_owner.status_code == 200, as_owner.text
    assert owner_sees(as_owner.json()) == expected
    assert snooped.status_code == nothing.status_code == 404
    assert snooped.headers["content-type"].startswith(PROBLEM_JSON)
    assert snooped.json() == nothing.json()
    assert snooped.json()["code"] in {"wallet_not_found", "transfer_not_found"}
    assert "Tiền nhà" not in snooped.text


async def test_each_caller_is_told_its_own_role(cast: Cast) -> None:
    roles = {}
    for role in ROLES[1:]:
        answer = await cast.call(role, "GET", "/auth/me")
        assert answer.status_code == 200, answer.text
        roles[role] = answer.json()["role"]

    assert roles == {role: "biller" if role == BILLER else role for role in ROLES[1:]}
