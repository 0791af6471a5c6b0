"""A property-based fuzz of every operation in the OpenAPI schema, against the real app over HTTP.

The app runs in a real uvicorn server on a free port, with two citizens (one funded, one transfer
already made, a TOTP enrolment pending), an admin and a biller's API key in its database. For each
documented operation, schemathesis generates requests from the schema the server publishes: its
coverage phase (boundary values, missing and mistyped parameters) and then hypothesis-driven valid
and invalid requests, a share of them pointed at the data that exists. Whatever is sent:

- the answer is never a 5xx, and every error is problem+json whose ``status`` is the HTTP status;
- the status is one the operation documents, and the body matches what it documents for that status
  (the 4xx and 5xx ones, the shared problem+json component);
- without valid credentials a protected operation answers 401; with the wrong role, never a 2xx;
- a transfer that was made replays the same answer for the same ``Idempotency-Key``;
- money is conserved: the wallets together hold exactly what was funded, the ledger's own report
  says sound, and conftest's ``engine`` fixture checks every ledger invariant after the test.

Methods a path does not have (OPTIONS, PUT, TRACE...) are a separate test per operation.

Broken properties are collected, not raised one at a time, and listed with the exception the
server logged, so one run shows every 5xx an operation has.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from schemathesis import Case, GenerationMode, Response
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay import bootstrap
from civicpay.app import create_app
from civicpay.auth import service as auth_service
from civicpay.auth.models import Role
from civicpay.auth.secrets import password_hasher
from civicpay.money import Category
from tests.conftest import PASSWORD, START, make_settings
from tests.servers import serving
from wallet import ledger
from wallet.bank_topups import wallet_pool_account
from wallet.service import encode_cursor, wallet_account_code

# Generated examples per operation: valid requests, invalid requests, and each access-control run.
POSITIVE_EXAMPLES = 40
NEGATIVE_EXAMPLES = 25
ACCESS_EXAMPLES = 8

FUNDED_VND = 50_000_000
FIRST_TRANSFER_VND = 125_000
SENDER_PHONE, RECIPIENT_PHONE, ADMIN_PHONE = "0912000001", "0987000002", "0901000009"
SENDER_CITIZEN_ID = "046200000001"

# Operations anyone may call; every other one needs a bearer token or an API key.
# The counter's screen is public like the screen itself (the fuzz world has no counters, so its stream never opens).
PUBLIC = frozenset({"health", "listBanks", "login", "registerCitizen", "counterDisplay", "counterEvents"})
# Tags of operations only staff may use, and of those only citizens may use.
STAFF_TAGS = frozenset({"admin", "ledger"})
CITIZEN_TAGS = frozenset({"wallets"})
# Tags of operations only finance officers may use, and of those for programme and finance officers: fuzzed as
# such, so the handlers are reached past the guard.
FINANCE_TAGS = frozenset({"reconciliation"})
OFFICER_TAGS = frozenset({"disbursement"})
OFFICER_PHONE, FINANCE_PHONE = "0901000010", "0901000011"


@dataclass(frozen=True)
class Documented:
    """One operation as the app's OpenAPI document describes it."""

    method: str
    path: str
    tags: frozenset[str]
    body_fields: frozenset[str]


def _documented_operations() -> dict[str, Documented]:
    """Every operation the app documents, by operation id.

    Read from the app itself, so a new endpoint is fuzzed without anyone editing this file.
    """
    document = create_app(bootstrap.build(make_settings("sqlite+aiosqlite:///:memory:"))).openapi_schema.to_schema()
    components = document.get("components", {}).get("schemas", {})
    operations = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not (isinstance(operation, dict) and "operationId" in operation):
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if "$ref" in body:
                body = components[body["$ref"].rsplit("/", 1)[-1]]
            operations[operation["operationId"]] = Documented(
                method=method.upper(),
                path=path,
                tags=frozenset(operation.get("tags", ())),
                body_fields=frozenset(body.get("properties", {})),
            )
    return operations


OPERATIONS = _documented_operations()

# Application bugs the fuzz has found and that are not fixed yet: operation id → (whether it fails
# on this database, what breaks). Each becomes a strict xfail of that operation's test only.
KNOWN_BUGS: dict[str, tuple[bool, str]] = {}
KNOWN_METHOD_BUGS: dict[str, tuple[bool, str]] = {}


def _params(bugs: dict[str, tuple[bool, str]]) -> list[Any]:
    params = []
    for operation_id in sorted(OPERATIONS):
        marks = []
        if operation_id in bugs:
            fails_here, reason = bugs[operation_id]
            marks.append(pytest.mark.xfail(fails_here, reason=f"BUG: {reason}", strict=True))
        params.append(pytest.param(operation_id, marks=marks, id=operation_id))
    return params


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The fuzz sends hundreds of sign-in and OTP requests a minute from one address.
    return {"auth_rate_per_minute": 1_000_000}


@pytest.fixture
def live_server(app_for_a_thread: Litestar) -> Iterator[str]:
    """The app in a real uvicorn server on a free port, in a thread; yields its base URL."""
    with serving(app_for_a_thread) as url:
        yield url


@dataclass(frozen=True)
class Person:
    phone: str
    user_id: int
    wallet_id: int
    headers: dict[str, str]


@dataclass(frozen=True)
class World:
    """The live server and who and what is in its database."""

    base_url: str
    sender: Person
    recipient: Person
    admin: dict[str, str]
    biller: dict[str, str]
    transfer_id: int
    officer: dict[str, str]
    finance: dict[str, str]
    programme_id: int
    funding_id: int
    batch_id: int


async def _register(client: httpx.AsyncClient, phone: str, citizen_id: str, full_name: str) -> Person:
    created = await client.post(
        "/citizens", json={"phone": phone, "citizen_id": citizen_id, "full_name": full_name, "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    login = await client.post("/auth/login", json={"phone": phone, "password": PASSWORD})
    assert login.status_code == 200, login.text
    body = created.json()
    return Person(
        phone=body["phone"],
        user_id=body["user_id"],
        wallet_id=body["wallet_id"],
        headers={"Authorization": f"Bearer {login.json()['access_token']}"},
    )


@pytest.fixture
async def world(live_server: str, sessions: async_sessionmaker[AsyncSession]) -> World:
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as client:
        sender = await _register(client, SENDER_PHONE, SENDER_CITIZEN_ID, "Nguyễn Thị Hương")
        recipient = await _register(client, RECIPIENT_PHONE, "046200000002", "Trần Văn Minh")

        # No endpoint creates an admin or moves money into the system: do both in the database.
        async with sessions.begin() as session:
            await auth_service.create_user(
                session,
                password_hasher(make_settings("unused")),
                auth_service.NewUser(ADMIN_PHONE, "Lê Quản Trị", PASSWORD, Role.ADMIN),
                now=START,
            )
            for phone, name, role in (
                (OFFICER_PHONE, "Phan Thị Lan", Role.PROGRAMME_OFFICER),
                (FINANCE_PHONE, "Hoàng Minh Châu", Role.FINANCE_OFFICER),
            ):
                await auth_service.create_user(
                    session,
                    password_hasher(make_settings("unused")),
                    auth_service.NewUser(phone, name, PASSWORD, role),
                    now=START,
                )
            bank = await wallet_pool_account(session, make_settings("unused"), START)
            wallet = await ledger.account_id(session, wallet_account_code(sender.user_id))
            spec = ledger.TransferSpec(bank, wallet, FUNDED_VND, Category.TOPUP, reference="FUZZ")
            await ledger.post_entry(session, [spec], now=START, description="fuzz funding")

        login = await client.post("/auth/login", json={"phone": ADMIN_PHONE, "password": PASSWORD})
        assert login.status_code == 200, login.text
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        issued = await client.post("/admin/api-keys", json={"name": "Điện lực Huế"}, headers=admin)
        assert issued.status_code == 201, issued.text
        sent = await client.post(
            "/transfers",
            json={"to_phone": recipient.phone, "amount_vnd": FIRST_TRANSFER_VND, "memo": "tiền điện"},
            headers={**sender.headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert sent.status_code == 201, sent.text
        officer, finance = [await _signed_in(client, phone) for phone in (OFFICER_PHONE, FINANCE_PHONE)]
        programme = await client.post(
            "/programmes",
            json={"name": "Trợ cấp xã hội", "kind": "welfare", "max_amount_vnd": 5_000_000},
            headers=officer,
        )
        assert programme.status_code == 201, programme.text
        programme_id = programme.json()["id"]
        funding = await client.post(
            f"/programmes/{programme_id}/fundings",
            json={"amount_vnd": 10_000_000, "bank_reference": "FT26341000123"},
            headers=finance,
        )
        assert funding.status_code == 201, funding.text
        rows = "citizen_id,full_name,amount_vnd,period,destination\n"
        rows += f"{SENDER_CITIZEN_ID},Nguyễn Thị Hương,1000,2026-12,wallet\n"
        batch = await client.post(
            f"/programmes/{programme_id}/batches", files={"file": ("b.csv", rows.encode(), "text/csv")}, headers=officer
        )
        assert batch.status_code == 201, batch.text
        # A pending TOTP enrolment, so confirming codes and the QR get past "not started".
        enrolment = await client.post("/auth/totp/enrolment", json={"password": PASSWORD}, headers=sender.headers)
        assert enrolment.status_code == 201, enrolment.text
    return World(
        base_url=live_server,
        sender=sender,
        recipient=recipient,
        admin=admin,
        biller={"X-API-Key": issued.json()["api_key"]},
        transfer_id=sent.json()["id"],
        officer=officer,
        finance=finance,
        programme_id=programme_id,
        funding_id=funding.json()["id"],
        batch_id=batch.json()["id"],
    )


async def _signed_in(client: httpx.AsyncClient, phone: str) -> dict[str, str]:
    login = await client.post("/auth/login", json={"phone": phone, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _natural_principals(world: World, documented: Documented) -> list[dict[str, str]]:
    """Who the operation is for, so generated requests get past authentication to the handler."""
    if FINANCE_TAGS & documented.tags:
        return [world.finance]
    if STAFF_TAGS & documented.tags:
        return [world.admin]
    if CITIZEN_TAGS & documented.tags:
        return [world.sender.headers]
    if OFFICER_TAGS & documented.tags:
        return [world.officer, world.finance]
    return [world.sender.headers, world.admin, world.biller]


def _wrong_principals(world: World, operation_id: str, documented: Documented) -> list[dict[str, str]]:
    """Callers who must never get a 2xx from the operation."""
    if operation_id in PUBLIC:
        return []
    if FINANCE_TAGS & documented.tags:
        return [world.sender.headers, world.admin, world.biller]
    if STAFF_TAGS & documented.tags:
        return [world.sender.headers, world.biller]
    if CITIZEN_TAGS & documented.tags:
        return [world.admin, world.biller]
    if OFFICER_TAGS & documented.tags:
        return [world.sender.headers, world.biller]
    return []


# Integer ids at the edges of what the databases store (BIGINT, SQLite INTEGER), and past them.
INT64_EDGES = st.sampled_from([0, -1, 2**31, 2**63 - 1, 2**63, -(2**63) - 1, 10**30])
# A mobile number as the regex `0[35789]\d{8}` describes it: \d is any Unicode decimal digit, so
# most of these are spelled with Arabic-Indic, fullwidth or other digits, as some keyboards type them.
MOBILE = st.from_regex(r"0[35789]\d{8}", fullmatch=True)
CANONICAL_PHONE = re.compile(r"\+84[35789][0-9]{8}")
MASKED_PHONE = re.compile(r"\+84\*{6}[0-9]{3}")
CITIZEN_ID = st.from_regex(r"0[0-8][0-9]{10}", fullmatch=True)
VALID_NAME = st.sampled_from(["Phạm Thị Lan", "Hồ Văn Bảy", "Đặng Quốc Việt"])
# Any ISO 8601 instant the server's parser accepts: naive or with an offset, from year 1 to 9999.
OFFSETS = st.sampled_from(
    [UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-12)), timezone(timedelta(hours=14))]
)
INSTANT = st.datetimes(timezones=st.none() | OFFSETS).map(datetime.isoformat)
# Classic string edge cases: a trailing newline (which a regex's `$` admits), NUL, padding.
STRING_MUTATIONS = st.sampled_from(["", "", "", "\n", "\x00", " "])


def _with_real_data(case: Case[Any], world: World, documented: Documented, data: st.DataObject) -> None:
    """Point a generated request at data that exists, so handlers get past their not-found checks.

    A third of the cases keep what was generated, a third replace every known field, and a third
    replace each by a coin flip, so mixes (a real phone with a random password, a real wallet with
    random filters) are fuzzed too. "Existing" also drops body fields the schema does not name: the
    document does not say that request bodies forbid unknown fields (the server does), so
    schemathesis adds some to most valid bodies, and those never get past validation.
    """
    sender, recipient = world.sender, world.recipient
    choices: dict[str, st.SearchStrategy[Any]] = {
        # Mostly the caller's own wallet, so filters and cursors reach the query.
        "wallet_id": st.sampled_from([sender.wallet_id] * 3 + [recipient.wallet_id]) | INT64_EDGES,
        "transfer_id": st.just(world.transfer_id) | INT64_EDGES,
        "to_phone": st.sampled_from([recipient.phone, sender.phone, ADMIN_PHONE]) | MOBILE,
        "amount_vnd": st.integers(1, 3 * FUNDED_VND),
        "phone": st.sampled_from([sender.phone, ADMIN_PHONE]) | MOBILE | MOBILE,
        "password": st.just(PASSWORD),
        "citizen_id": st.just(SENDER_CITIZEN_ID) | CITIZEN_ID,
        "full_name": VALID_NAME,
        # The history cursor is a posting id in URL-safe base64; any id, however large, must be safe.
        "cursor": (st.integers(min_value=0) | INT64_EDGES.filter(lambda n: n >= 0)).map(encode_cursor),
        "since": INSTANT,
        "until": INSTANT,
    }
    how = data.draw(st.sampled_from(["generated", "mixed", "existing"]), label="data")
    if how == "generated":
        return
    if how == "existing" and isinstance(case.body, dict) and documented.body_fields:
        for unknown in case.body.keys() - documented.body_fields:
            del case.body[unknown]
    containers: list[dict[str, Any]] = [
        container for container in (case.path_parameters, case.query, case.body) if isinstance(container, dict)
    ]
    for container in containers:
        for name, strategy in choices.items():
            if name in container and (how == "existing" or data.draw(st.booleans(), label=f"replace {name}")):
                container[name] = data.draw(strategy, label=name)
    if how == "mixed" and isinstance(case.body, dict):
        for name, value in list(case.body.items()):
            if isinstance(value, str):
                case.body[name] = value + data.draw(STRING_MUTATIONS, label=f"mutate {name}")


def _existing_ids(case: Case[Any], world: World) -> None:
    """Well-formed ids in the path become ids that exist; mistyped ones ("0.5", "true") stay."""
    existing = {
        "wallet_id": world.sender.wallet_id,
        "transfer_id": world.transfer_id,
        "programme_id": world.programme_id,
        "funding_id": world.funding_id,
        "batch_id": world.batch_id,
    }
    for name, value in (case.path_parameters or {}).items():
        if name in existing and str(value).lstrip("-").isdigit():
            case.path_parameters[name] = existing[name]


def _phones_in(body: Any) -> Iterator[Any]:
    if isinstance(body, dict):
        for key, value in body.items():
            if key == "phone":
                yield value
            else:
                yield from _phones_in(value)
    elif isinstance(body, list):
        for item in body:
            yield from _phones_in(item)


def _header(response: Response, name: str) -> str:
    return ", ".join(response.headers.get(name.lower(), []))


def _describe(case: Case[Any], response: Response, server_log: list[str]) -> str:
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in ("authorization", "x-api-key")}
    body = case.body if isinstance(case.body, (dict, list, str, bytes, int, float)) else None
    return (
        f"{response.request.method} {response.request.path_url} headers={headers} body={body!r:.300}"
        f" → {response.status_code} {response.content[:160]!r} server: {server_log or '-'}"
    )


class _ServerErrors(logging.Handler):
    """Keeps what the app logs for a 500 (``internal_error_handler``), to explain each failure."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        cause = ""
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            cause = f": {type(error).__module__}.{type(error).__qualname__}: {str(error)[:300]}"
        self.messages.append(record.getMessage() + cause)

    def take(self) -> list[str]:
        taken, self.messages = self.messages, []
        return taken


class Fuzz:
    """Sends cases and records every broken property instead of stopping at the first."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        self.server_errors = _ServerErrors()
        self.failures: list[str] = []
        self.statuses: dict[int, int] = {}
        # Whether each answer's status must be one the operation documents (not for methods it lacks).
        self.documented_statuses_only = True

    def __enter__(self) -> Fuzz:
        logging.getLogger("civicpay").addHandler(self.server_errors)
        return self

    def __exit__(self, *_: object) -> None:
        logging.getLogger("civicpay").removeHandler(self.server_errors)
        self.http.close()

    def send(self, case: Case[Any], principal: dict[str, str] | None) -> Response:
        """Send ``case`` as ``principal`` (None keeps the generated, forged credentials)."""
        if principal is not None:
            for name in ("Authorization", "X-API-Key"):
                case.headers.pop(name, None)
            case.headers.update(principal)
        response = case.call(base_url=self.base_url, session=self.http, timeout=30)
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        server_log = self.server_errors.take()
        if response.status_code >= 500:
            self.failures.append("5xx: " + _describe(case, response, server_log))
        elif response.status_code >= 400:
            self._check_problem(case, response, server_log)
        if self.documented_statuses_only:
            self._check_status_documented(case, response)
        return response

    def _check_status_documented(self, case: Case[Any], response: Response) -> None:
        """The operation documents the status, and an error's body is the problem+json it documents."""
        checks = [status_code_conformance]
        if response.status_code >= 400 and response.request.method != "HEAD":
            checks.append(response_schema_conformance)
        try:
            case.validate_response(response, checks=checks)
        except FailureGroup as group:
            titles = sorted({failure.title for failure in group.exceptions})
            self.failures.append(f"not as documented {titles}: {_describe(case, response, [])}")

    def _check_problem(self, case: Case[Any], response: Response, server_log: list[str]) -> None:
        if response.request.method == "HEAD":
            return
        try:
            body = response.json()
        except ValueError:
            body = None
        if (
            not _header(response, "content-type").startswith("application/problem+json")
            or not isinstance(body, dict)
            or body.get("status") != response.status_code
            or not isinstance(body.get("code"), str)
        ):
            self.failures.append("not problem+json: " + _describe(case, response, server_log))

    def check_documented(self, case: Case[Any], response: Response) -> None:
        """A 2xx body has the shape the operation's response schema promises."""
        try:
            case.validate_response(response, checks=[response_schema_conformance])
        except FailureGroup as group:
            titles = sorted({failure.title for failure in group.exceptions})
            self.failures.append(f"undocumented 2xx body {titles}: {_describe(case, response, [])}")

    def check_phones(self, case: Case[Any], response: Response) -> None:
        """Every phone number in an answer is the one canonical spelling, or its masked form."""
        try:
            body = response.json()
        except ValueError:
            return
        for phone in _phones_in(body):
            if phone is not None and not (CANONICAL_PHONE.fullmatch(phone) or MASKED_PHONE.fullmatch(phone)):
                self.failures.append(f"phone {phone!r} is not +84 and 9 ASCII digits: {_describe(case, response, [])}")

    def check_replay(self, case: Case[Any], principal: dict[str, str], first: Response) -> None:
        """A made transfer, sent again with its key, replays the first answer and moves nothing."""
        again = self.send(case, principal)
        replayed = _header(again, "Idempotent-Replayed") == "true"
        if (again.status_code, again.content) != (first.status_code, first.content) or not replayed:
            self.failures.append(
                f"replay differs: {first.status_code} {first.content[:160]!r}"
                f" then {again.status_code} {again.content[:160]!r} (replayed header: {replayed})"
            )

    def report(self, documented: Documented, elapsed: float) -> str:
        unique = list(dict.fromkeys(self.failures))
        return (
            f"{len(unique)} broken properties on {documented.method} {documented.path}"
            f" ({elapsed:.1f}s, statuses {dict(sorted(self.statuses.items()))}):\n" + "\n".join(unique[:25])
        )


def _fuzz_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


def _coverage_cases(operation: Any) -> Iterator[Case[Any]]:
    """Schemathesis's coverage phase: a fixed set of boundary, missing and mistyped values."""
    schema = operation.schema
    yield from schema.iter_coverage_cases(
        operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=schema.config.generation_for(operation=operation),
    )


def _fuzz(fuzz: Fuzz, world: World, operation: Any, operation_id: str, documented: Documented) -> None:
    natural = _natural_principals(world, documented)
    wrong = _wrong_principals(world, operation_id, documented)

    for case in _coverage_cases(operation):
        if case.method.upper() == documented.method:
            _existing_ids(case, world)
            fuzz.send(case, natural[0])

    for mode, examples in ((GenerationMode.POSITIVE, POSITIVE_EXAMPLES), (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)):

        @_fuzz_settings(examples)
        @given(case=operation.as_strategy(generation_mode=mode), who=st.sampled_from(natural), data=st.data())
        def as_intended(case: Case[Any], who: dict[str, str], data: st.DataObject) -> None:
            _with_real_data(case, world, documented, data)
            response = fuzz.send(case, who)
            if 200 <= response.status_code < 300:
                fuzz.check_documented(case, response)
                fuzz.check_phones(case, response)
            if operation_id == "createTransfer" and response.status_code == 201:
                fuzz.check_replay(case, who, response)

        as_intended()

    @_fuzz_settings(ACCESS_EXAMPLES)
    @given(case=operation.as_strategy())
    def anonymous(case: Case[Any]) -> None:
        # The generated Authorization and X-API-Key headers (if any) are forged: none is valid.
        response = fuzz.send(case, None)
        if operation_id not in PUBLIC and response.status_code != 401:
            fuzz.failures.append(
                f"not 401 without valid credentials: {case.method} {case.path} → {response.status_code}"
            )

    anonymous()

    if wrong:

        @_fuzz_settings(ACCESS_EXAMPLES)
        @given(case=operation.as_strategy(), who=st.sampled_from(wrong), data=st.data())
        def wrong_role(case: Case[Any], who: dict[str, str], data: st.DataObject) -> None:
            _with_real_data(case, world, documented, data)
            response = fuzz.send(case, who)
            if response.status_code < 400:
                fuzz.failures.append(f"wrong role let in: {case.method} {case.path} → {response.status_code}")

        wrong_role()


async def _wallets_total(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        accounts = await session.scalars(select(ledger.Account.id).where(ledger.Account.code.like("wallet:%")))
        found = await ledger.balances(session, accounts.all())
    return sum(balance.posted_vnd for balance in found.values())


@pytest.mark.parametrize("operation_id", _params(KNOWN_BUGS))
async def test_fuzz_operation(operation_id: str, world: World, sessions: async_sessionmaker[AsyncSession]) -> None:
    documented = OPERATIONS[operation_id]
    schema = schemathesis.openapi.from_url(f"{world.base_url}/schema/openapi.json")
    operation = schema.find_operation_by_id(operation_id)
    started = time.monotonic()
    with Fuzz(world.base_url) as fuzz:
        _fuzz(fuzz, world, operation, operation_id, documented)
    elapsed = time.monotonic() - started

    async with httpx.AsyncClient(base_url=world.base_url, timeout=30) as client:
        verdict = await client.get("/ledger/verify", headers=world.admin)
    assert verdict.status_code == 200, verdict.text
    assert verdict.json() == {"sound": True, "breaches": []}
    # Over the API money only moves between wallets: none appears, none disappears.
    assert await _wallets_total(sessions) == FUNDED_VND
    assert not fuzz.failures, fuzz.report(documented, elapsed)


@pytest.mark.parametrize("operation_id", _params(KNOWN_METHOD_BUGS))
def test_methods_a_path_does_not_have(operation_id: str, live_server: str) -> None:
    """OPTIONS, PUT, TRACE... on a documented path: 405 or an automatic answer, never a 5xx."""
    documented = OPERATIONS[operation_id]
    schema = schemathesis.openapi.from_url(f"{live_server}/schema/openapi.json")
    operation = schema.find_operation_by_id(operation_id)
    started = time.monotonic()
    with Fuzz(live_server) as fuzz:
        fuzz.documented_statuses_only = False  # a method the path lacks has no documented answers
        cases = [case for case in _coverage_cases(operation) if case.method.upper() != documented.method]
        for case in cases:
            fuzz.send(case, None)
    assert cases, "the coverage phase sent no other method"
    assert not fuzz.failures, fuzz.report(documented, time.monotonic() - started)


def test_the_fuzz_covers_the_routes_that_move_money() -> None:
    # The parametrisation comes from the app's own schema; make sure it found the routes.
    assert {"createTransfer", "getWalletHistory", "createStaff", "verifyLedger", "registerCitizen"} <= OPERATIONS.keys()
