"""The shell around the domains: schema revisions, health, the unit of work, unexpected errors."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from httpx import AsyncClient
from litestar import Litestar, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.handlers import HTTPRouteHandler
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from civicpay import bootstrap
from civicpay.app import create_app, running
from civicpay.db import (
    Base,
    SchemaBehind,
    UnitsOfWork,
    after_commit,
    create_engine,
    create_session_factory,
    head_revision,
    provide_session,
)
from civicpay.errors import EXCEPTION_HANDLERS
from tests.conftest import http_into, make_settings


async def test_the_migrations_build_exactly_the_models(engine: AsyncEngine) -> None:
    def differences(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_health_reports_the_database_and_its_revision(client: AsyncClient) -> None:
    health = await client.get("/health")
    assert health.status_code == 200
    newest = head_revision()
    assert health.json() == {"status": "ok", "database": "ok", "revision": newest, "expected_revision": newest}


async def test_the_app_refuses_a_database_behind_the_newest_migration(tmp_path: Path) -> None:
    app = create_app(bootstrap.build(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")))
    expected = f"revision none, this code needs {head_revision()}: run `civicpay db upgrade`"
    with pytest.raises(SchemaBehind, match=expected):
        async with running(app):
            pass


@pytest.mark.usefixtures("command_shell")
def test_serve_says_in_one_line_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from civicpay.cli import main  # noqa: PLC0415 - imported where the command is exercised

    (tmp_path / "empty.db").touch()  # a database, never migrated
    monkeypatch.setenv("CIVICPAY_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SystemExit) as refused:
        main(["serve"])
    assert refused.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"civicpay: database is at revision none, this code needs {head_revision()}: run `civicpay db upgrade`"
    ]


def _app_with(handler: HTTPRouteHandler, engine: AsyncEngine) -> Litestar:
    state = State({"units": UnitsOfWork(create_session_factory(engine))})
    return Litestar(
        route_handlers=[handler],
        dependencies={"session": Provide(provide_session)},
        exception_handlers=EXCEPTION_HANDLERS,
        state=state,
    )


class _Kept(logging.Handler):
    """Keeps records; caplog cannot, as Litestar's logging config replaces the root handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_an_unexpected_error_is_logged_and_leaks_nothing(engine: AsyncEngine) -> None:
    @post("/boom", status_code=201)
    async def boom() -> None:
        raise RuntimeError("password=hunter2 at /srv/civicpay/secret.py")

    kept = _Kept()
    logging.getLogger("civicpay").addHandler(kept)
    try:
        async with http_into(_app_with(boom, engine)) as http:
            answer = await http.post("/boom", headers={"Accept-Language": "en"})
    finally:
        logging.getLogger("civicpay").removeHandler(kept)

    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json() == {
        "type": "urn:civicpay:problem:internal_error",
        "title": "Internal error, please try again",
        "status": 500,
        "code": "internal_error",
    }
    logged = [record for record in kept.records if record.exc_info]
    assert logged
    assert "hunter2" in str(logged[0].exc_info[1])  # type: ignore[index]


@pytest.mark.postgres_only
async def test_a_commit_that_fails_is_an_error_response_never_a_2xx(engine: AsyncEngine) -> None:
    """The deferred balance trigger only fires at COMMIT, after the handler has returned."""

    @post("/unbalanced", status_code=201)
    async def unbalanced(session: NamedDependency[AsyncSession]) -> dict[str, str]:
        await session.execute(
            text(
                "INSERT INTO ledger_account (id, code, name, kind, no_overdraft, debits_posted, credits_posted,"
                " debits_pending, credits_pending, created_at) VALUES (7, 'x', 'x', 'asset', false, 0, 0, 0, 0, now())"
            )
        )
        await session.execute(text("INSERT INTO ledger_entry (id, description, created_at) VALUES (7, 'x', now())"))
        await session.execute(
            text(
                "INSERT INTO ledger_transfer (id, entry_id, debit_account_id, credit_account_id, amount_vnd, category,"
                " metadata, created_at) VALUES (7, 7, 7, 7, 1, 'p2p', '{}', now())"
            )
        )
        await session.execute(
            text(
                "INSERT INTO ledger_posting (entry_id, transfer_id, account_id, side, amount_vnd, category, created_at)"
                " VALUES (7, 7, 7, 'D', 1, 'p2p', now())"
            )
        )
        return {"status": "looks fine from inside the handler"}

    async with http_into(_app_with(unbalanced, engine)) as http:
        answer = await http.post("/unbalanced")

    assert answer.status_code == 500
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT COUNT(*) FROM ledger_entry")) == 0


async def test_concurrent_requests_share_the_pool_without_leaking_connections(client: AsyncClient) -> None:
    answers = await asyncio.gather(*(client.get("/health") for _ in range(50)))
    assert {answer.status_code for answer in answers} == {200}


async def test_health_says_unavailable_when_the_database_does_not_answer(app: Litestar, client: AsyncClient) -> None:
    working = app.state.engine
    # Nothing listens on port 9 of this machine: the database has gone away.
    app.state.engine = create_engine(make_settings("postgresql+asyncpg://nobody@127.0.0.1:9/gone"))
    try:
        health = await client.get("/health")
    finally:
        await app.state.engine.dispose()
        app.state.engine = working
    assert health.status_code == 503
    assert health.json()["database"] == "unreachable"


async def test_work_after_commit_runs_once_committed_and_never_for_what_was_rolled_back(engine: AsyncEngine) -> None:
    units = UnitsOfWork(create_session_factory(engine))
    ran: list[str] = []

    async def asks_then_fails(session: AsyncSession, what: str) -> None:
        await session.execute(text("SELECT 1"))
        after_commit(session, lambda: ran.append(what))
        raise RuntimeError

    async def in_a_savepoint(session: AsyncSession) -> None:
        async with session.begin_nested():
            await asks_then_fails(session, "undone by its savepoint")

    async def in_a_unit() -> None:
        async with units() as unit:
            await asks_then_fails(unit.session, "rolled back")

    async with units() as unit:
        await unit.session.execute(text("SELECT 1"))
        after_commit(unit.session, lambda: ran.append("kept"))
        with pytest.raises(RuntimeError):
            await in_a_savepoint(unit.session)
        before_the_commit = list(ran)
    with pytest.raises(RuntimeError):
        await in_a_unit()

    assert before_the_commit == []
    assert ran == ["kept"]


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    "settings_overrides", [{"db_pool_size": 1, "db_pool_overflow": 0, "db_pool_timeout_seconds": 0.2}]
)
async def test_a_request_that_finds_every_pooled_connection_busy_is_told_to_retry(
    engine: AsyncEngine, client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async with engine.connect() as busy:  # the pool's only connection
        await busy.execute(text("SELECT 1"))
        citizen = {"phone": "0912345678", "citizen_id": "046000000001", "full_name": "Lê Văn Tám", "password": "x" * 12}
        answer = await client.post("/citizens", json=citizen)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["code"] == "busy"
    assert "pool exhausted" in caplog.text
    assert "Traceback" not in caplog.text
