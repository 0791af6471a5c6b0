"""Database plumbing: metadata, engines, the unit of work, and the schema revision check.

Every transaction is a ``UnitOfWork`` from the one ``UnitsOfWork`` factory: one per request
(``provide_session``), one per item a background job or a command changes.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources
from inspect import isawaitable
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from litestar.datastructures import State
from sqlalchemy import BigInteger, Column, DateTime, Dialect, Integer, MetaData, Table, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeDecorator

from civicpay.errors import Text
from civicpay.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """The Core table behind a mapped class, for bulk statements on hot paths."""
    table = model.__table__
    assert isinstance(table, Table)  # noqa: S101 - every mapped class here maps one Table
    return table


# The largest id either database can store; larger ids from a client are refused at the edge.
MAX_ID = 2**63 - 1

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on both databases.

    SQLite has no time zone type, so values are stored there as naive UTC text, which still sorts
    in time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use the injected clock")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        _ensure_sqlite_directory(settings.database_url)
        engine = create_async_engine(settings.database_url, connect_args={"timeout": 30}, hide_parameters=True)
        _serialise_sqlite_writers(engine)
        return engine
    return create_async_engine(
        settings.database_url,
        # Sized by the settings (their comment says how); overflow connections are closed as soon as they
        # are returned, so the default is none.
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        # No ping per checkout: it would cost a round trip on every request. A connection PostgreSQL has
        # dropped fails its request once, and SQLAlchemy then replaces every connection of the pool.
        pool_pre_ping=False,
        # Bound values (password hashes, TOTP seeds) never reach an error message or a log.
        hide_parameters=True,
    )


def _ensure_sqlite_directory(url: str) -> None:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _serialise_sqlite_writers(engine: AsyncEngine) -> None:
    """Make every SQLite transaction take the write lock at BEGIN.

    A deferred transaction that reads and then writes can fail with "database is locked" when
    another writer got there first; BEGIN IMMEDIATE makes writers queue instead, which is the
    embedded database's equivalent of the row locks PostgreSQL takes.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_session_factory(engine: AsyncEngine, info: dict[str, Any] | None = None) -> async_sessionmaker[AsyncSession]:
    """Sessions of one engine; ``info`` is copied into each session's ``info`` (the events hub, say)."""
    return async_sessionmaker(engine, expire_on_commit=False, info=info)


KeptAction = Callable[[AsyncSession], Awaitable[None]]
AfterCommit = Callable[[], object]  # what it returns is awaited when awaitable
_KEPT = "civicpay.kept_after_rollback"
_AFTER_COMMIT = "civicpay.after_commit"


def keep_after_rollback(session: AsyncSession, action: KeptAction) -> None:
    """Ask for ``action`` to be written even though the use case is about to fail.

    A wrong password or OTP fails the request, and the rollback would also erase the failure
    counter that makes lockout work; the unit of work runs what is kept here in a fresh
    transaction after the rollback.
    """
    session.info.setdefault(_KEPT, []).append(action)


async def run_kept_actions(session: AsyncSession) -> None:
    for action in session.info.pop(_KEPT, []):
        await action(session)


def after_commit(session: AsyncSession, action: AfterCommit) -> None:
    """Run ``action`` once the unit of work this session belongs to has committed, never if it rolls back.

    For work whose record is a row of the same transaction (an outbox message, say), so a crash
    before ``action`` runs loses nothing. Asked for inside a savepoint that is rolled back, it is
    dropped with the savepoint.
    """
    sync = session.sync_session
    session.info.setdefault(_AFTER_COMMIT, []).append((action, sync.get_nested_transaction() or sync.get_transaction()))


def made_within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    """Whether ``transaction`` is ``ended`` or a savepoint inside it: what a rollback of ``ended`` undoes."""
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    if pending := session.info.get(_AFTER_COMMIT):
        session.info[_AFTER_COMMIT] = [entry for entry in pending if not made_within(entry[1], previous_transaction)]


class UnitOfWork:
    """One use case's transaction: the only way this codebase opens one.

    Routes get one per request (``provide_session``), background jobs and commands one per item
    they change. On leaving the ``async with`` block it commits, or rolls back on any error and
    then commits, in a fresh transaction, only what ``keep_after_rollback`` asked for; after a
    commit it runs what ``after_commit`` asked for (the outbox's delivery of what it wrote, say).
    Announcements (``civicpay.events.announce``) made in it reach the live screens at its commit,
    and only then. Savepoints inside one (``session.begin_nested()``) are its business: they undo a
    part, never commit. The one transaction opened elsewhere is the PostgreSQL fast path's single
    statement (``wallet.fast_path``), which commits on its own and falls back to a unit of work for
    anything it does not make.
    """

    __slots__ = ("_sessions", "session")

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self.session: AsyncSession

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        return self

    async def __aexit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        session = self.session
        try:
            if error_type is not None:
                await session.rollback()
                if session.info.get(_KEPT):
                    await run_kept_actions(session)
                    await session.commit()
                return
            await session.commit()
        finally:
            await session.close()
        for action, _ in session.info.pop(_AFTER_COMMIT, []):
            if isawaitable(outcome := action()):
                await outcome


class UnitsOfWork:
    """The one factory of units of work, built once (``civicpay.bootstrap``) and shared by everything."""

    __slots__ = ("_sessions",)

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self._sessions)


async def provide_session(state: State) -> AsyncGenerator[AsyncSession, None]:
    """The unit of work of one request, as a Litestar dependency.

    Litestar runs this generator's end after the handler has returned and before the response is
    sent, so the commit happens first and a failed commit can only become an error response.
    """
    units: UnitsOfWork = state.units
    async with units() as unit:
        yield unit.session


@functools.cache
def insert_ignoring_conflict(
    dialect_name: str, table: Table, conflict_columns: tuple[str, ...], returning: Column[Any] | None = None
) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` for either database; the basis of idempotency.

    Built once per table and dialect; the values are bound at execution.
    """
    dialect_insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    statement = dialect_insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))
    return statement if returning is None else statement.returning(returning)


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("migrations")))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    if database_url:
        config.attributes["database_url"] = database_url
    return config


@functools.cache
def head_revision() -> str | None:
    # Read once: the migrations are code and cannot change under a running process, and reading them
    # parses every script: 30 ms whenever an app or a command starts, which every test does.
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    # Read the version table directly: MigrationContext logs at INFO on every call, and /health
    # calls this on every probe.
    def read(connection: Connection) -> str | None:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()

    async with engine.connect() as connection:
        return await connection.run_sync(read)


class SchemaBehind(Exception):
    """The database has not been migrated to what this code expects; ``text`` says so in both languages."""

    def __init__(self, current: str | None, head: str | None) -> None:
        self.text = Text(
            f"cơ sở dữ liệu đang ở phiên bản {current or 'none'}, mã này cần {head}: hãy chạy `civicpay db upgrade`",
            f"database is at revision {current or 'none'}, this code needs {head}: run `civicpay db upgrade`",
        )
        super().__init__(self.text.en)


async def ensure_schema_current(engine: AsyncEngine) -> str:
    """Refuse to serve a database behind the newest migration; return its revision."""
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise SchemaBehind(current, head)
    return current or ""
