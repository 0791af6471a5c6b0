"""Alembic environment: runs migrations over the async engine of either database."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import billing.models  # noqa: F401 - importing the models registers their tables
import civicpay.notifications  # noqa: F401 - importing the models registers their tables
import disbursement.models  # noqa: F401 - importing the models registers their tables
import qr.models  # noqa: F401 - importing the models registers their tables
import reconciliation.models  # noqa: F401 - importing the models registers their tables
import wallet.ledger.models
import wallet.models  # noqa: F401 - importing the models registers their tables
from civicpay.db import Base
from civicpay.settings import database_url_from_env

target_metadata = Base.metadata


def _url() -> str:
    # `civicpay db upgrade` passes its URL in; the plain `alembic` command reads the environment.
    url: str | None = context.config.attributes.get("database_url")
    return url or database_url_from_env()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
