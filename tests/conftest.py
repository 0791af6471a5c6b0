"""Test harness: a real database per test, the real app over ASGI, and the ledger checked after each test.

`make test` runs on SQLite unless CIVICPAY_DATABASE_URL names a PostgreSQL database, which CI does
for its second run. Each test gets an empty, migrated database: a copy of a migrated SQLite file,
or the PostgreSQL database emptied with TRUNCATE (money tables refuse DELETE by design).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlparse

import httpx
import msgspec
import pyotp
import pytest
from alembic import command
from httpx import ASGITransport, AsyncClient, Response
from litestar import Litestar
from litestar.datastructures import State
from litestar.stores.registry import StoreRegistry
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from civicpay import bootstrap
from civicpay.app import app_state, create_app, running
from civicpay.auth.models import Role
from civicpay.auth.secrets import password_hasher
from civicpay.auth.service import NewUser, create_user
from civicpay.bootstrap import Services
from civicpay.clock import FixedClock
from civicpay.db import Base, alembic_config, create_session_factory
from civicpay.money import Category
from civicpay.settings import Settings
from sandbox import bank_notifications
from sandbox.bank import Bank, create_bank_app
from tests.card_sandbox import SECRET_KEY, WEBHOOK_SECRET, running_sandbox
from tests.servers import serving
from wallet import ledger
from wallet.bank_topups import wallet_pool_account
from wallet.service import wallet_account_code

# Fixtures of a room's own, kept beside their helpers.
pytest_plugins = ["tests.desk", "tests.shell", "tests.billers", "tests.programme_office"]

POSTGRES_URL = os.environ.get("CIVICPAY_DATABASE_URL", "")
ON_POSTGRES = POSTGRES_URL.startswith("postgresql")
# 10:00 in Huế on a Monday: inside one business day and month either way of UTC.
START = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
TOTP_STEP = timedelta(seconds=30)
PASSWORD = "correct-horse-battery"
BANK_API_SECRET = "test-bank-api-secret"
BANK_WEBHOOK_SECRET = "test-bank-webhook-secret"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: run with CIVICPAY_DATABASE_URL=postgresql+asyncpg://…")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per run: the PostgreSQL database itself, or a SQLite template file."""
    if ON_POSTGRES:
        asyncio.run(_commit_without_waiting_for_the_disk(POSTGRES_URL))
        command.upgrade(alembic_config(POSTGRES_URL), "head")
        return POSTGRES_URL
    template = tmp_path_factory.mktemp("template") / "template.db"
    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{template}"), "head")
    return str(template)


async def _commit_without_waiting_for_the_disk(url: str) -> None:
    """Every connection to the test database commits without waiting for its WAL to reach the disk.

    What a commit makes visible, and when, is unchanged; only a crash of PostgreSQL could lose the last
    commits, which no test does. Waiting for the disk was much of every test's time on a busy machine
    (each test commits many times, and empties the tables it used with one more).
    """
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            name = make_url(url).database
            await connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit TO off'))
    finally:
        await engine.dispose()


@pytest.fixture
def database_url(migrated_database: str, tmp_path: Path) -> str:
    if ON_POSTGRES:
        return migrated_database
    copy = tmp_path / "civicpay.db"
    shutil.copy(migrated_database, copy)
    return f"sqlite+aiosqlite:///{copy}"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "secret_key": "test-secret-key-that-is-long-enough-for-hs256",
        "bank_webhook_secret": BANK_WEBHOOK_SECRET,
        "bank_api_secret": BANK_API_SECRET,
        "card_secret_key": SECRET_KEY,
        "card_webhook_secret": WEBHOOK_SECRET,
        # Tests run the periodic jobs and the outbox dispatcher themselves, when they choose
        # (`await app.state.outbox.drain()`); a request still delivers the messages it wrote.
        "card_requery_interval_seconds": 0,
        "treasury_sweep_interval_seconds": 0,
        "merchant_settlement_interval_seconds": 0,
        "biller_settlement_interval_seconds": 0,
        "hold_expiry_interval_seconds": 0,
        "ledger_fold_interval_seconds": 0,
        "login_lock_sweep_interval_seconds": 0,
        "bill_autopay_interval_seconds": 0,
        "bill_reminder_interval_seconds": 0,
        "disbursement_interval_seconds": 0,
        "disbursement_unclaimed_interval_seconds": 0,
        "worker_in_process": False,
        # Argon2 at its cheapest: the tests are about rules, not hashing cost.
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "auth_rate_per_minute": 10_000,
        "db_pool_size": 20,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its tests."""
    return {}


@pytest.fixture(scope="session")
def card_sandbox() -> Iterator[str]:
    """The card acquirer (localstripe) as a real server for the whole run; its base URL."""
    with running_sandbox() as url:
        yield url


@pytest.fixture(scope="session")
def bank_server() -> Iterator[tuple[str, Bank]]:
    """The bank's payout API (sandbox/bank.py) on a real socket for the whole run; its URL and state."""
    bank = Bank(request_secret=BANK_API_SECRET, callback_secret=BANK_WEBHOOK_SECRET, civicpay_url=None)
    with serving(create_bank_app(bank)) as url:
        yield url, bank


@pytest.fixture
def bank(bank_server: tuple[str, Bank]) -> Bank:
    """The bank, emptied for this test: no accounts, no payouts, up."""
    state = bank_server[1]
    state.accounts.clear()
    state.payouts.clear()
    state.refused.clear()
    state.down = False
    return state


@pytest.fixture
def settings(
    database_url: str, card_sandbox: str, bank_server: tuple[str, Bank], settings_overrides: dict[str, Any]
) -> Settings:
    outside = {"card_api_base": card_sandbox, "bank_api_base": bank_server[0]}
    return make_settings(database_url, **{**outside, **settings_overrides})


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


async def _empty_postgres(connection: AsyncConnection) -> None:
    """Every table empty and every id sequence back at 1, as a new database has them.

    Only the tables the last test wrote to are emptied (finding them is one query), and with DELETE rather
    than TRUNCATE, which makes new files for a table and each of its indexes: 0.7 s a test, against 30 ms
    for the few rows a test leaves. The money tables' triggers refuse DELETE, as they must in service; so
    the emptying runs as replication does (``session_replication_role``, which needs a superuser, as the
    tests' ``postgres`` is): no trigger fires, and no foreign key is checked while every row goes.
    """
    names = [table.name for table in Base.metadata.sorted_tables]
    probe = " UNION ALL ".join(f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM {name})" for name in names)  # noqa: S608 - our own table names
    used = list(await connection.scalars(text(probe)))
    if used:
        await connection.execute(text("SET LOCAL session_replication_role = replica"))
        for name in used:
            await connection.execute(text(f"DELETE FROM {name}"))  # noqa: S608 - our own table names
    await connection.execute(
        text(
            "SELECT setval(sequence.oid, 1, false) FROM pg_class AS sequence"
            " JOIN pg_namespace AS namespace ON namespace.oid = sequence.relnamespace"
            " WHERE sequence.relkind = 'S' AND namespace.nspname = current_schema()"
        )
    )


@pytest.fixture
async def services(settings: Settings, clock: FixedClock, request: pytest.FixtureRequest) -> AsyncIterator[Services]:
    """The service's parts as the app and the commands get them (``civicpay.bootstrap``), on an empty database."""
    built = bootstrap.build(settings, clock)
    if ON_POSTGRES:
        async with built.engine.begin() as connection:
            await _empty_postgres(connection)
    yield built
    if "breaks_ledger_on_purpose" not in request.keywords:
        # After every test, whatever it did, every ledger invariant must hold.
        async with built.units() as unit:
            assert await ledger.check_invariants(unit.session) == []
    await built.close()


@pytest.fixture
def engine(services: Services) -> AsyncEngine:
    return services.engine


@pytest.fixture
def sessions(services: Services) -> async_sessionmaker[AsyncSession]:
    """Sessions for a test's own setup and checks, beside the app's units of work (in its business calendar)."""
    return create_session_factory(services.engine, ledger.session_info(services.calendar))


# Building the app parses every route's signature and body type, about 0.2 s of CPU, and its OpenAPI document
# is built again on its first request for it, 1.4 s more. The app reads its services from its state at each
# request (``app_state``), and only its sign-in rate limit is fixed when it is built, from the settings; so one
# app per settings serves every test with those settings, handed each test's own services and an empty
# rate-limit store. The apps served in a thread are others, for a test may use both at once.
_apps: dict[Settings, Litestar] = {}
_apps_for_a_thread: dict[Settings, Litestar] = {}


@contextmanager
def _app_on(services: Services, apps: dict[Settings, Litestar]) -> Iterator[Litestar]:
    # On SQLite each test has a database file of its own, which the app only ever finds in its state.
    key = msgspec.structs.replace(services.settings, database_url="")
    app = apps.get(key)
    if app is None:
        app = apps[key] = create_app(services)
    else:
        app.state = app_state(services)
        app.stores = StoreRegistry()
        # Building an app points the logging at the sys.stderr of the moment, and pytest gives each test its
        # own (which tests read with capsys): point it at this test's, as building the app would.
        if app.logging_config is not None:
            app.get_logger = app.logging_config.configure()
    try:
        yield app
    finally:
        app.state = State()  # nothing of this test's reaches the next


@pytest.fixture
def app(services: Services) -> Iterator[Litestar]:
    with _app_on(services, _apps) as app:
        yield app


@pytest.fixture
def app_for_a_thread(services: Services) -> Iterator[Litestar]:
    """The app on services of its own, for a server in another thread: an engine's connections belong to
    the event loop that opened them, and the test's loop has opened the test's (emptying the database)."""
    with _app_on(bootstrap.build(services.settings, services.clock), _apps_for_a_thread) as app:
        yield app


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncClient]:
    """HTTP into the app in the test's own event loop, so concurrent requests really overlap.

    (Litestar's AsyncTestClient runs each request through a blocking portal, which serialises them;
    its lifespan runs in an anyio cancel scope that pytest-asyncio cannot carry across tasks.)
    """
    async with running(app), http_into(app) as http:
        yield http


def http_into(app: Litestar) -> AsyncClient:
    """An HTTP client that calls the ASGI app directly, in the caller's event loop."""
    return AsyncClient(transport=ASGITransport(app=cast(Any, app)), base_url="http://civicpay.test")


@dataclass
class Citizen:
    phone: str
    user_id: int
    wallet_id: int
    account_id: int
    headers: dict[str, str] = field(default_factory=dict)


_citizen_ids = iter(range(1, 10**6))


def new_phone() -> str:
    return f"09{next(_citizen_ids):08d}"


class Api:
    """The calls a citizen's app makes, plus test-only funding straight through the ledger."""

    def __init__(self, client: AsyncClient, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.client = client
        self.sessions = sessions

    async def register(self, *, full_name: str = "Nguyễn Văn An", phone: str | None = None) -> Citizen:
        phone = phone or new_phone()
        citizen_id = f"046{next(_citizen_ids):09d}"
        created = await self.client.post(
            "/citizens",
            json={"phone": phone, "citizen_id": citizen_id, "full_name": full_name, "password": PASSWORD},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        login = await self.client.post("/auth/login", json={"phone": phone, "password": PASSWORD})
        assert login.status_code == 200, login.text
        async with self.sessions() as session:
            account = await ledger.account_id(session, wallet_account_code(body["user_id"]))
        return Citizen(
            phone=phone,
            user_id=body["user_id"],
            wallet_id=body["wallet_id"],
            account_id=account,
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        )

    async def fund(self, citizen: Citizen, amount_vnd: int) -> None:
        await fund_wallet(self.sessions, citizen.user_id, amount_vnd)

    async def transfer(
        self,
        sender: Citizen,
        to: Citizen | str,
        amount_vnd: int,
        *,
        key: str | None = None,
        otp: str | None = None,
        memo: str = "",
    ) -> Response:
        headers = {**sender.headers, "Idempotency-Key": key or str(uuid.uuid4())}
        if otp is not None:
            headers["X-OTP"] = otp
        to_phone = to if isinstance(to, str) else to.phone
        return await self.client.post(
            "/transfers", json={"to_phone": to_phone, "amount_vnd": amount_vnd, "memo": memo}, headers=headers
        )

    async def balance(self, citizen: Citizen) -> int:
        wallet = await self.client.get("/wallets/me", headers=citizen.headers)
        assert wallet.status_code == 200, wallet.text
        balance: int = wallet.json()["balance_vnd"]
        return balance


async def fund_wallet(sessions: async_sessionmaker[AsyncSession], user_id: int, amount_vnd: int) -> None:
    """Money into a user's wallet from the wallets' pooled bank account, as a top-up would post it."""
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        wallet = await ledger.account_id(session, wallet_account_code(user_id))
        # No test moves the pooled account away from its default, so any settings name it.
        bank = await wallet_pool_account(session, make_settings("unused"), now)
        spec = ledger.TransferSpec(bank, wallet, amount_vnd, Category.TOPUP, reference="TEST")
        await ledger.post_entry(session, [spec], now=now, description="test funding")


@pytest.fixture
def api(client: AsyncClient, sessions: async_sessionmaker[AsyncSession]) -> Api:
    return Api(client, sessions)


async def enrol(api: Api, citizen: Citizen, clock: FixedClock) -> pyotp.TOTP:
    """Turn TOTP on for a citizen, then move past the step the confirmation code used up."""
    started = await api.client.post("/auth/totp/enrolment/", json={"password": PASSWORD}, headers=citizen.headers)
    assert started.status_code == 201, started.text
    totp = pyotp.TOTP(parse_qs(urlparse(started.json()["provisioning_uri"]).query)["secret"][0])
    confirmed = await api.client.post(
        "/auth/totp/enrolment/confirm", json={"code": totp.at(clock.now())}, headers=citizen.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(TOTP_STEP)
    return totp


def wrong_code(totp: pyotp.TOTP, clock: FixedClock) -> str:
    """A well-formed code that is valid for none of the steps the server accepts right now."""
    valid = {totp.at(clock.now() + offset) for offset in (-TOTP_STEP, timedelta(0), TOTP_STEP)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


async def create_staff(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: FixedClock, role: Role, full_name: str
) -> str:
    """A staff member straight in the database (as operators bootstrap the first admin); returns the phone."""
    phone = new_phone()
    async with sessions.begin() as session:
        await create_user(
            session, password_hasher(settings), NewUser(phone, full_name, PASSWORD, role), now=clock.now()
        )
    return phone


async def signed_in(api: Api, phone: str) -> dict[str, str]:
    answer = await api.client.post("/auth/login", json={"phone": phone, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def notify(api: Api, settings: Settings, clock: FixedClock, *, code: str, amount_vnd: int, **kw: Any) -> Response:
    """The bank's signed notification of an incoming transfer whose description carries ``code``."""
    note = bank_notifications.notification(code=code, amount_vnd=amount_vnd, **{"at": clock.now(), **kw})
    body, headers = bank_notifications.signed(note, settings.bank_webhook_secret)
    return await api.client.post(bank_notifications.WEBHOOK_PATH, content=body, headers=headers)


async def account_balance(sessions: async_sessionmaker[AsyncSession], code: str) -> int:
    async with sessions() as session:
        account = await ledger.account_id(session, code)
        return (await ledger.balances(session, [account]))[account].posted_vnd


async def finance_officer(
    api: Api, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: FixedClock
) -> dict[str, str]:
    return await signed_in(api, await create_staff(sessions, settings, clock, Role.FINANCE_OFFICER, "Hoàng Minh Châu"))


async def bank_decides(bank_url: str, payout_id: str, status: str, reason: str | None = None) -> dict[str, Any]:
    """The bank's back office confirms or rejects an instruction; the sandbox signs its callback (not sent)."""
    async with httpx.AsyncClient(base_url=bank_url) as http:
        signed = await http.post(
            f"/_sandbox/payouts/{payout_id}/settle", json={"status": status, "reason_code": reason}
        )
    assert signed.status_code == 200, signed.text
    callback: dict[str, Any] = signed.json()
    return callback


async def deliver_callback(api: Api, callback: dict[str, Any]) -> Response:
    """What the bank signed, delivered to our callback route (as often as a test wants: the bank retries)."""
    return await api.client.post(
        "/webhooks/bank/payouts",
        content=callback["body"].encode(),
        headers={"Content-Type": "application/json", "X-Signature": callback["signature"]},
    )


async def bank_settles(api: Api, bank_url: str, payout_id: str, status: str, reason: str | None = None) -> Response:
    """The bank's back office decides; the sandbox signs the callback; the test delivers it."""
    return await deliver_callback(api, await bank_decides(bank_url, payout_id, status, reason))
