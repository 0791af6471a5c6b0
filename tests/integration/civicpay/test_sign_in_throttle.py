"""Failed sign-ins slow down and lock per (phone, client address), and per address: nobody locks anyone out.

Each caller here has an address of its own (documentation ranges, RFC 5737 and RFC 3849): the ASGI client
stands where the server's peer would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response
from litestar import Litestar
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from civicpay import audit
from civicpay.audit import AuditEntry
from civicpay.auth import throttle
from civicpay.clock import FixedClock
from civicpay.settings import Settings
from tests.conftest import PASSWORD, Api, new_phone

STRANGER = "198.51.100.7"
OWNER = "203.0.113.9"
WRONG = "not-the-password"
PAUSE = timedelta(seconds=throttle.MAX_SLOW_DOWN_SECONDS)

From = Callable[[str], AsyncClient]


@pytest.fixture
async def from_address(app: Litestar, api: Api) -> AsyncIterator[From]:
    """HTTP into the running app (``api`` keeps it running) as a client at the given address."""
    opened: list[AsyncClient] = []

    def client(host: str) -> AsyncClient:
        transport = ASGITransport(app=app, client=(host, 40_000))  # type: ignore[arg-type]
        opened.append(AsyncClient(transport=transport, base_url="http://civicpay.test"))
        return opened[-1]

    yield client
    for http in opened:
        await http.aclose()


async def login(http: AsyncClient, phone: str, password: str = PASSWORD) -> Response:
    return await http.post("/auth/login", json={"phone": phone, "password": password})


def refused(answer: Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, body
    return body


async def audit_lines(sessions: async_sessionmaker[AsyncSession]) -> list[AuditEntry]:
    async with sessions() as session:
        return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all())


async def test_a_strangers_failures_lock_the_number_from_the_strangers_address_only(
    api: Api, from_address: From, settings: Settings, clock: FixedClock
) -> None:
    owner = await api.register()
    stranger, at_home = from_address(STRANGER), from_address(OWNER)

    for _ in range(settings.login_max_failures):
        clock.advance(PAUSE)
        refused(await login(stranger, owner.phone, WRONG), 401, "invalid_credentials")
    clock.advance(PAUSE)
    more = await login(stranger, owner.phone, WRONG)
    even_right = await login(stranger, owner.phone)
    owner_signs_in = await login(at_home, owner.phone)

    assert refused(more, 429, "locked")["retry_after_seconds"] == settings.lockout_seconds - PAUSE.seconds
    assert refused(even_right, 429, "locked")["retry_after_seconds"] == settings.lockout_seconds - PAUSE.seconds
    assert even_right.headers["Retry-After"] == str(settings.lockout_seconds - PAUSE.seconds)
    assert owner_signs_in.status_code == 200, owner_signs_in.text


async def test_wrong_passwords_slow_the_next_try_down_before_they_lock(
    api: Api, from_address: From, settings: Settings, clock: FixedClock
) -> None:
    citizen = await api.register()
    http = from_address(STRANGER)

    first = await login(http, citizen.phone, WRONG)
    second = await login(http, citizen.phone, WRONG)  # one failure: no wait yet
    too_soon = await login(http, citizen.phone)  # two: a second's wait, even for the right password
    clock.advance(timedelta(seconds=1))
    third = await login(http, citizen.phone, WRONG)
    clock.advance(timedelta(seconds=1))
    still_too_soon = await login(http, citizen.phone, WRONG)  # three: two seconds
    elsewhere = await login(from_address(OWNER), citizen.phone)
    clock.advance(timedelta(seconds=1))
    right = await login(http, citizen.phone)

    for answer in (first, second, third):
        refused(answer, 401, "invalid_credentials")
    assert refused(too_soon, 429, "sign_in_slowed_down")["retry_after_seconds"] == 1
    assert too_soon.headers["Retry-After"] == "1"
    assert still_too_soon.headers["Retry-After"] == "1"
    assert (elsewhere.status_code, right.status_code) == (200, 200)


@pytest.mark.parametrize("settings_overrides", [{"login_address_max_failures": 6}])
async def test_many_numbers_tried_from_one_address_lock_that_address(
    api: Api, from_address: From, settings: Settings
) -> None:
    citizen = await api.register()
    sprayer = from_address(STRANGER)

    for _ in range(settings.login_address_max_failures):
        refused(await login(sprayer, new_phone(), WRONG), 401, "invalid_credentials")
    another_number = await login(sprayer, new_phone(), WRONG)
    a_real_citizen_there = await login(sprayer, citizen.phone)
    the_citizen_elsewhere = await login(from_address(OWNER), citizen.phone)

    refused(another_number, 429, "locked")
    assert refused(a_real_citizen_there, 429, "locked")["retry_after_seconds"] == settings.lockout_seconds
    assert the_citizen_elsewhere.status_code == 200, the_citizen_elsewhere.text


async def test_wrong_passwords_at_totp_enrolment_lock_only_the_callers_address(
    api: Api, from_address: From, settings: Settings, clock: FixedClock
) -> None:
    """A stolen access token used elsewhere cannot lock the owner out of signing in."""
    owner = await api.register()
    thief = from_address(STRANGER)

    for _ in range(settings.login_max_failures):
        clock.advance(PAUSE)
        tried = await thief.post("/auth/totp/enrolment/", json={"password": WRONG}, headers=owner.headers)
        refused(tried, 401, "invalid_credentials")

    refused(await login(thief, owner.phone), 429, "locked")
    assert (await login(from_address(OWNER), owner.phone)).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"login_address_max_failures": 3, "login_max_failures": 3}])
@pytest.mark.parametrize("lifted_by", ["the next attempt", "the workers' sweep"])
async def test_each_lock_and_its_lifting_is_one_audit_line_with_no_actor(
    api: Api,
    app: Litestar,
    from_address: From,
    settings: Settings,
    clock: FixedClock,
    sessions: async_sessionmaker[AsyncSession],
    lifted_by: str,
) -> None:
    citizen = await api.register()
    http = from_address(STRANGER)
    unknown = new_phone()
    for phone in (citizen.phone, unknown, citizen.phone):  # the pair's 2nd and the address's 3rd: both lock
        clock.advance(PAUSE)
        refused(await login(http, phone, WRONG), 401, "invalid_credentials")
    clock.advance(PAUSE)
    refused(await login(http, citizen.phone, WRONG), 429, "locked")

    locked = await audit_lines(sessions)
    clock.advance(timedelta(seconds=settings.lockout_seconds))
    if lifted_by == "the next attempt":
        assert (await login(http, citizen.phone)).status_code == 200
    else:
        assert await throttle.sweep(app.state.units, settings, now=clock.now()) == 1
    assert await throttle.sweep(app.state.units, settings, now=clock.now()) == 0  # lifted once, not again
    lines = await audit_lines(sessions)

    assert [(line.action, line.subject_type, line.subject_id) for line in locked] == [
        ("sign_in_locked", "sign_in_address", STRANGER)
    ]
    assert locked[0].actor_user_id is None
    assert locked[0].details["failures"] == 3
    assert [(line.action, line.subject_type, line.subject_id, line.actor_user_id) for line in lines[1:]] == [
        ("sign_in_unlocked", "sign_in_address", STRANGER, None)
    ]
    assert lines[1].details["locked_until"] == locked[0].details["locked_until"]


@pytest.mark.parametrize("settings_overrides", [{"login_address_max_failures": 50}])
async def test_a_pairs_lock_and_lifting_name_the_number_and_the_address(
    api: Api,
    app: Litestar,
    from_address: From,
    settings: Settings,
    clock: FixedClock,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    citizen = await api.register()
    http = from_address(STRANGER)
    for _ in range(settings.login_max_failures):
        clock.advance(PAUSE)
        await login(http, citizen.phone, WRONG)
    clock.advance(timedelta(seconds=settings.lockout_seconds))
    await throttle.sweep(app.state.units, settings, now=clock.now())

    lines = [
        (line.action, line.subject_type, line.subject_id, line.details["address"])
        for line in await audit_lines(sessions)
    ]
    assert lines == [
        ("sign_in_locked", "sign_in_phone", "+84" + citizen.phone[1:], STRANGER),
        ("sign_in_unlocked", "sign_in_phone", "+84" + citizen.phone[1:], STRANGER),
    ]


@pytest.mark.parametrize(
    ("host", "counted_as"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        (None, "unknown"),
    ],
)
def test_an_ipv6_client_counts_by_its_64_block(host: str | None, counted_as: str) -> None:
    connection = SimpleNamespace(client=None if host is None else SimpleNamespace(host=host))
    assert throttle.address_of(connection) == counted_as  # type: ignore[arg-type]


async def test_the_audit_log_is_still_append_only_once_its_actor_may_be_empty(
    sessions: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    """Migration 0012 rebuilds audit_log on SQLite, which drops its triggers: they must be back."""
    async with sessions.begin() as session:
        await audit.record(
            session,
            actor_user_id=None,
            action="sign_in_locked",
            subject_type="sign_in_address",
            subject_id=STRANGER,
            reason="test",
            details={},
            now=clock.now(),
        )
    for change in (update(AuditEntry).values(reason="rewritten"), delete(AuditEntry)):
        with pytest.raises(DBAPIError):
            async with sessions.begin() as session:
                await session.execute(change)
    assert [line.reason for line in await audit_lines(sessions)] == ["test"]
