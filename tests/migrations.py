"""A database of a test's own at an older revision, for tests of a migration on the rows that revision left."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from civicpay.db import alembic_config
from tests.conftest import ON_POSTGRES, POSTGRES_URL


@asynccontextmanager
async def database_at(revision: str, folder: Path) -> AsyncIterator[str]:
    """Its URL, migrated to ``revision``: a SQLite file in ``folder``, or a new PostgreSQL database beside the
    test one, dropped afterwards."""
    if not ON_POSTGRES:
        url = f"sqlite+aiosqlite:///{folder / f'at_{revision}.db'}"
        await asyncio.to_thread(command.upgrade, alembic_config(url), revision)
        yield url
        return
    server = make_url(POSTGRES_URL)
    name = f"{server.database}_at{revision}_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(command.upgrade, alembic_config(url), revision)
        yield url
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()
