"""Sign-up, sign-in and TOTP through the HTTP API: what a citizen sees when they get it right or wrong."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
import pyotp
import pytest
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay.auth.models import User
from civicpay.auth.throttle import MAX_SLOW_DOWN_SECONDS
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from tests.conftest import PASSWORD, TOTP_STEP, Api, Citizen, enrol, new_phone, wrong_code

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PROBLEM_JSON = "application/problem+json"


# --- helpers -------------------------------------------------------------------------------------


async def login(api: Api, phone: str, password: str = PASSWORD, otp: str | None = None) -> Response:
    body: dict[str, Any] = {"phone": phone, "password": password}
    if otp is not None:
        body["otp"] = otp
    return await api.client.post("/auth/login", json=body)


# Long enough for the slow-down after any number of failures in a row (civicpay.auth.throttle).
PAUSE = timedelta(seconds=MAX_SLOW_DOWN_SECONDS)


def problem(response: Response, status: int, code: str) -> dict[str, Any]:
    """The problem+json body of a refusal, after checking its status and stable code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


def fields_named(body: dict[str, Any]) -> list[str]:
    return [error["field"] for error in body.get("errors", [])]


async def start_enrolment(api: Api, citizen: Citizen) -> tuple[pyotp.TOTP, dict[str, Any]]:
    started = await api.client.post("/auth/totp/enrolment/", json={"password": PASSWORD}, headers=citizen.headers)
    assert started.status_code == 201, started.text
    body: dict[str, Any] = started.json()
    secret = parse_qs(urlparse(body["provisioning_uri"]).query)["secret"][0]
    return pyotp.TOTP(secret), body


async def me(api: Api, headers: dict[str, str]) -> dict[str, Any]:
    answer = await api.client.get("/auth/me", headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def bearer(response: Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# --- TOTP enrolment and sign-in with a code ------------------------------------------------------


async def test_totp_enrolment_gives_a_provisioning_uri_and_a_real_png(api: Api) -> None:
    citizen = await api.register()

    totp, started = await start_enrolment(api, citizen)

    uri = urlparse(started["provisioning_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert parse_qs(uri.query)["issuer"] == ["civicpay"]
    assert len(totp.secret) >= 16
    assert base64.b64decode(started["qr_png_base64"]).startswith(PNG_SIGNATURE)
    # Until a code confirms the seed, nothing changes for the citizen: no OTP at sign-in.
    assert (await me(api, citizen.headers))["totp_enabled"] is False
    assert (await login(api, citizen.phone)).status_code == 200


async def test_the_seed_is_never_served_again_after_enrolment_started(api: Api) -> None:
    """A stolen access token cannot read the pending seed: there is no endpoint that shows it."""
    citizen = await api.register()
    await start_enrolment(api, citizen)

    for path in ("/auth/totp/enrolment/qr.png", "/auth/totp/enrolment"):
        assert (await api.client.get(path, headers=citizen.headers)).status_code in {404, 405}


async def test_confirming_with_a_wrong_code_fails_and_the_right_code_enables_totp(api: Api, clock: FixedClock) -> None:
    citizen = await api.register()
    totp, _ = await start_enrolment(api, citizen)

    wrong = await api.client.post(
        "/auth/totp/enrolment/confirm", json={"code": wrong_code(totp, clock)}, headers=citizen.headers
    )

    assert fields_named(problem(wrong, 401, "otp_invalid")) == ["code"]
    assert (await me(api, citizen.headers))["totp_enabled"] is False
    assert (await login(api, citizen.phone)).status_code == 200

    right = await api.client.post(
        "/auth/totp/enrolment/confirm", json={"code": totp.at(clock.now())}, headers=citizen.headers
    )

    assert right.status_code == 200, right.text
    assert right.json() == {"totp_enabled": True}
    assert (await me(api, citizen.headers))["totp_enabled"] is True
    again = await api.client.post("/auth/totp/enrolment/", json={"password": PASSWORD}, headers=citizen.headers)
    problem(again, 409, "totp_already_enrolled")


async def test_once_totp_is_on_sign_in_needs_a_fresh_code_each_time(api: Api, clock: FixedClock) -> None:
    citizen = await api.register()
    totp = await enrol(api, citizen, clock)

    without = await login(api, citizen.phone)
    assert fields_named(problem(without, 401, "otp_required")) == ["otp"]
    # The code that confirmed enrolment was for the previous step: it cannot sign in.
    stale = await login(api, citizen.phone, otp=totp.at(clock.now() - TOTP_STEP))
    problem(stale, 401, "otp_replayed")

    code = totp.at(clock.now())
    signed_in = await login(api, citizen.phone, otp=code)
    assert (await me(api, bearer(signed_in)))["totp_enabled"] is True

    replayed = await login(api, citizen.phone, otp=code)
    assert fields_named(problem(replayed, 401, "otp_replayed")) == ["otp"]

    clock.advance(TOTP_STEP)
    assert (await login(api, citizen.phone, otp=totp.at(clock.now()))).status_code == 200


async def test_a_right_code_does_not_rescue_a_wrong_password(api: Api, clock: FixedClock) -> None:
    citizen = await api.register()
    totp = await enrol(api, citizen, clock)

    answer = await login(api, citizen.phone, password="not-the-password", otp=totp.at(clock.now()))

    problem(answer, 401, "invalid_credentials")
    # The code was not used up by the failed attempt.
    assert (await login(api, citizen.phone, otp=totp.at(clock.now()))).status_code == 200


# --- lockout -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "failure_code"),
    [("password", "invalid_credentials"), ("otp", "otp_invalid")],
)
async def test_repeated_failures_lock_the_account_until_the_lockout_ends(
    api: Api, clock: FixedClock, settings: Settings, factor: str, failure_code: str
) -> None:
    citizen = await api.register()
    totp = await enrol(api, citizen, clock) if factor == "otp" else None

    def attempt(*, right: bool) -> dict[str, Any]:
        if totp is None:
            return {"password": PASSWORD if right else "wrong-password-123"}
        return {"password": PASSWORD, "otp": totp.at(clock.now()) if right else wrong_code(totp, clock)}

    max_failures = settings.login_max_failures if factor == "password" else settings.otp_max_failures
    for _ in range(max_failures):
        clock.advance(PAUSE)  # each wrong password makes the next try wait a little longer first
        problem(await login(api, citizen.phone, **attempt(right=False)), 401, failure_code)

    refused = await login(api, citizen.phone, **attempt(right=True))
    locked = problem(refused, 429, "locked")
    assert locked["retry_after_seconds"] == settings.lockout_seconds
    assert refused.headers["retry-after"] == str(settings.lockout_seconds)

    clock.advance(timedelta(seconds=settings.lockout_seconds - 1))
    problem(await login(api, citizen.phone, **attempt(right=True)), 429, "locked")

    clock.advance(timedelta(seconds=1))
    assert (await login(api, citizen.phone, **attempt(right=True))).status_code == 200
    # The count started again: one more mistake is just a mistake, not a new lock.
    clock.advance(TOTP_STEP)
    problem(await login(api, citizen.phone, **attempt(right=False)), 401, failure_code)
    assert (await login(api, citizen.phone, **attempt(right=True))).status_code == 200


async def test_a_success_resets_the_failure_count(api: Api, settings: Settings, clock: FixedClock) -> None:
    citizen = await api.register()

    for _ in range(settings.login_max_failures - 1):
        clock.advance(PAUSE)
        problem(await login(api, citizen.phone, password="wrong-password-123"), 401, "invalid_credentials")
    clock.advance(PAUSE)
    assert (await login(api, citizen.phone)).status_code == 200
    problem(await login(api, citizen.phone, password="wrong-password-123"), 401, "invalid_credentials")

    assert (await login(api, citizen.phone)).status_code == 200


# --- rate limit ----------------------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"auth_rate_per_minute": 3}])
async def test_sign_in_is_rate_limited_per_address(api: Api) -> None:
    for _ in range(3):
        problem(await login(api, new_phone(), password="guessing-123"), 401, "invalid_credentials")

    limited = await api.client.post(
        "/auth/login", json={"phone": new_phone(), "password": PASSWORD}, headers={"Accept-Language": "en"}
    )

    body = problem(limited, 429, "rate_limited")
    assert body["title"] == "Too many requests, try again later"
    assert limited.headers["RateLimit-Limit"] == "3"
    # Sign-up shares the limit: it would otherwise be a free way to test which phones are registered.
    problem(await api.client.post("/citizens", json=registration()), 429, "rate_limited")


# --- no account enumeration ----------------------------------------------------------------------


async def test_unknown_phone_and_wrong_password_get_the_same_answer(api: Api) -> None:
    citizen = await api.register()

    wrong_password = await login(api, citizen.phone, password="wrong-password-123")
    unknown_phone = await login(api, new_phone(), password="wrong-password-123")
    not_a_phone = await login(api, "not-a-phone", password="wrong-password-123")

    body = problem(wrong_password, 401, "invalid_credentials")
    assert unknown_phone.status_code == not_a_phone.status_code == 401
    assert unknown_phone.json() == not_a_phone.json() == body
    assert unknown_phone.headers["content-type"] == wrong_password.headers["content-type"]


async def test_an_unknown_phone_locks_like_a_registered_one(api: Api, settings: Settings, clock: FixedClock) -> None:
    citizen = await api.register()
    unknown = new_phone()

    answers: dict[str, Response] = {}
    for phone in (citizen.phone, unknown):
        for _ in range(settings.login_max_failures):
            clock.advance(PAUSE)
            await login(api, phone, password="wrong-password-123")
        answers[phone] = await login(api, phone, password="wrong-password-123")

    assert problem(answers[citizen.phone], 429, "locked") == problem(answers[unknown], 429, "locked")


async def test_writing_the_number_another_way_does_not_dodge_the_lockout(
    api: Api, settings: Settings, clock: FixedClock
) -> None:
    citizen = await api.register()
    local = citizen.phone
    spellings = [local, "+84" + local[1:], "84" + local[1:], f"{local[:4]} {local[4:7]} {local[7:]}"]

    for attempt in range(settings.login_max_failures):
        clock.advance(PAUSE)
        wrong = await login(api, spellings[attempt % len(spellings)], password="wrong-password-123")
        problem(wrong, 401, "invalid_credentials")

    problem(await login(api, local), 429, "locked")


# --- access tokens -------------------------------------------------------------------------------


def forged_token(kind: str, citizen: Citizen, settings: Settings, clock: FixedClock) -> str:
    now = int(clock.now().timestamp())
    claims = {"sub": str(citizen.user_id), "role": "admin", "iat": now, "exp": now + 3600, "iss": "civicpay"}
    if kind == "other_key":
        return jwt.encode(claims, "an-attackers-own-secret-key-long-enough-for-hs256", algorithm="HS256")
    if kind == "alg_none":
        return jwt.encode(claims, None, algorithm="none")
    if kind == "other_issuer":
        return jwt.encode({**claims, "iss": "someone-else"}, settings.secret_key, algorithm="HS256")
    if kind == "expired":
        return jwt.encode({**claims, "exp": now - 1}, settings.secret_key, algorithm="HS256")
    if kind == "no_expiry":
        return jwt.encode({k: v for k, v in claims.items() if k != "exp"}, settings.secret_key, algorithm="HS256")
    return "not.a.jwt"


@pytest.mark.parametrize("kind", ["other_key", "alg_none", "other_issuer", "expired", "no_expiry", "garbage"])
async def test_a_forged_or_expired_token_is_refused(api: Api, settings: Settings, clock: FixedClock, kind: str) -> None:
    citizen = await api.register()
    headers = {"Authorization": f"Bearer {forged_token(kind, citizen, settings, clock)}"}

    for path in ("/auth/me", "/admin/staff", "/wallets/me"):
        problem(await api.client.get(path, headers=headers), 401, "unauthenticated")


async def test_a_real_token_stops_working_when_it_expires(api: Api, settings: Settings, clock: FixedClock) -> None:
    citizen = await api.register()

    clock.advance(timedelta(seconds=settings.access_token_ttl_seconds - 1))
    assert (await me(api, citizen.headers))["id"] == citizen.user_id

    clock.advance(timedelta(seconds=1))
    problem(await api.client.get("/wallets/me", headers=citizen.headers), 401, "unauthenticated")
    assert (await login(api, citizen.phone)).status_code == 200


async def test_a_token_is_judged_by_the_apps_clock_not_the_machines(api: Api, clock: FixedClock) -> None:
    citizen = await api.register()
    # Far enough ahead that no machine running this suite has reached it; the same happens in
    # production for a few seconds whenever the server that issued a token runs ahead of the one checking it.
    clock.advance(timedelta(days=3650))

    fresh = bearer(await login(api, citizen.phone))

    assert (await me(api, fresh))["id"] == citizen.user_id


# --- registration errors -------------------------------------------------------------------------


def registration(**overrides: str) -> dict[str, str]:
    body = {
        "phone": new_phone(),
        "citizen_id": f"079{uuid.uuid4().int % 10**9:09d}",
        "full_name": "Nguyễn Văn An",
        "password": PASSWORD,
    }
    return {**body, **overrides}


async def user_count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(User)) or 0


@pytest.mark.parametrize(
    ("overrides", "status", "code", "field"),
    [
        pytest.param({"phone": "12345"}, 422, "validation_failed", "phone", id="phone-too-short"),
        pytest.param({"phone": "0234 3822 123"}, 422, "validation_failed", "phone", id="phone-landline"),
        pytest.param({"citizen_id": "04609900001"}, 400, "validation_failed", "citizen_id", id="cccd-11-digits"),
        pytest.param({"citizen_id": "04609900001X"}, 400, "validation_failed", "citizen_id", id="cccd-letter"),
        pytest.param({"citizen_id": "097099000001"}, 422, "validation_failed", "citizen_id", id="cccd-province-097"),
        pytest.param({"citizen_id": "000099000001"}, 422, "validation_failed", "citizen_id", id="cccd-province-000"),
        pytest.param({"full_name": "Hương"}, 422, "validation_failed", "full_name", id="one-word-name"),
        pytest.param({"full_name": "Nguyễn Văn 4"}, 422, "validation_failed", "full_name", id="digit-in-name"),
        pytest.param({"password": "short"}, 422, "validation_failed", "password", id="short-password"),
    ],
)
async def test_a_refused_registration_names_the_field_and_creates_nothing(
    api: Api,
    sessions: async_sessionmaker[AsyncSession],
    overrides: dict[str, str],
    status: int,
    code: str,
    field: str,
) -> None:
    body = registration(**overrides)

    refused = await api.client.post("/citizens", json=body)

    assert fields_named(problem(refused, status, code)) == [field]
    assert refused.headers["content-language"] == "vi"
    assert await user_count(sessions) == 0
    problem(await login(api, body["phone"], password=body["password"]), 401, "invalid_credentials")


async def test_registration_errors_speak_english_when_asked(api: Api) -> None:
    refused = await api.client.post(
        "/citizens", json=registration(full_name="Hương"), headers={"Accept-Language": "en"}
    )

    body = problem(refused, 422, "validation_failed")
    assert body["errors"] == [{"field": "full_name", "message": "The full name needs two or more words of letters"}]
    assert refused.headers["content-language"] == "en"


@pytest.mark.parametrize("taken", ["phone", "citizen_id"])
async def test_registering_a_taken_phone_or_citizen_id_conflicts_and_changes_nothing(
    api: Api, sessions: async_sessionmaker[AsyncSession], taken: str
) -> None:
    first = registration()
    assert (await api.client.post("/citizens", json=first)).status_code == 201
    second = registration(full_name="Trần Thị Bình", password="another-password-456", **{taken: first[taken]})

    for _ in range(2):
        conflict = await api.client.post("/citizens", json=second)
        assert fields_named(problem(conflict, 409, "already_registered")) == [taken]

    assert await user_count(sessions) == 1
    owner = await login(api, first["phone"])
    assert (await me(api, bearer(owner)))["name"] == "Nguyễn Văn An"
    problem(await login(api, second["phone"], password=second["password"]), 401, "invalid_credentials")


async def test_enrolment_asks_for_the_password_again_and_counts_wrong_ones(
    api: Api, settings: Settings, clock: FixedClock
) -> None:
    """A stolen access token alone cannot tie the account to someone else's authenticator app."""
    citizen = await api.register()

    for _ in range(settings.login_max_failures):
        clock.advance(PAUSE)
        refused = await api.client.post(
            "/auth/totp/enrolment/", json={"password": "not-my-password"}, headers=citizen.headers
        )
        assert problem(refused, 401, "invalid_credentials")["errors"][0]["field"] == "password"

    never_started = await api.client.post(
        "/auth/totp/enrolment/confirm", json={"code": "123456"}, headers=citizen.headers
    )
    problem(never_started, 409, "totp_enrolment_not_started")
    problem(await login(api, citizen.phone), 429, "locked")
