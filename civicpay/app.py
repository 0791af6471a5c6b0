"""Assembles the service: routes, dependencies, authentication, problem+json, OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Litestar, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

import qr
import wallet
from civicpay import events, outbox, worker
from civicpay.auth.guards import AuthenticationMiddleware, provide_principal
from civicpay.auth.routes import SIGN_IN, AdminController, ProfileController, rate_limited
from civicpay.auth.secrets import password_hasher
from civicpay.banks import BankController
from civicpay.clock import BusinessCalendar, Clock, SystemClock
from civicpay.db import (
    create_engine,
    create_session_factory,
    current_revision,
    ensure_schema_current,
    provide_session,
)
from civicpay.errors import EXCEPTION_HANDLERS, refuse_nul_characters
from civicpay.settings import Settings


class Health(msgspec.Struct):
    status: str
    database: str
    revision: str | None
    expected_revision: str | None


@get("/health", operation_id="health", exclude_from_auth=True, tags=["ops"])
async def health(state: State) -> Response[Health]:
    """Whether the database answers and is at the migration revision this code expects."""
    expected: str | None = state.expected_revision
    try:
        revision = await current_revision(state.engine)  # also proves the database answers
    except Exception:
        return Response(Health("unavailable", "unreachable", None, expected), status_code=503)
    status = "ok" if revision == expected else "migration_needed"
    return Response(Health(status, "ok", revision, expected), status_code=200 if status == "ok" else 503)


@asynccontextmanager
async def outside_parties(app: Litestar) -> AsyncGenerator[None, None]:
    """Clients of the card acquirer and the bank for the app's lifetime, the outbox dispatcher that uses
    them, and, where the settings ask for it (SQLite by default), a worker in this process."""
    settings: Settings = app.state.settings
    state = app.state
    state.acquirer = wallet.CardAcquirer(settings.card_api_base, settings.card_secret_key)
    state.bank = wallet.BankPayouts(settings.bank_api_base, settings.bank_api_secret)
    state.outbox = worker.dispatcher(
        settings, state.session_factory, state.acquirer, state.bank, state.clock, state.doorbell
    )
    try:
        if settings.runs_worker_in_process:
            jobs = worker.periodic_jobs(
                settings, state.session_factory, state.acquirer, state.outbox, state.calendar, state.clock
            )
            in_process = worker.Worker(settings, state.session_factory, state.outbox, jobs, state.clock)
            async with worker.running(in_process):
                yield
        else:
            yield
    finally:
        await state.acquirer.aclose()
        await state.bank.aclose()


@asynccontextmanager
async def database(app: Litestar) -> AsyncGenerator[None, None]:
    """Open the connection pool and the live-announcement hub for the app's lifetime, schema checked first."""
    settings: Settings = app.state.settings
    engine = create_engine(settings)
    app.state.expected_revision = await ensure_schema_current(engine)
    hub = events.Hub()
    if not settings.is_sqlite:
        await hub.listen(settings.database_url)
    app.state.engine = engine
    app.state.events = hub
    app.state.doorbell = outbox.Doorbell()
    app.state.session_factory = create_session_factory(
        engine, {**events.session_info(hub), **outbox.session_info(app.state.doorbell)}
    )
    try:
        yield
    finally:
        await hub.close()
        await engine.dispose()


def _from_state(name: str) -> Provide:
    """Inject one of the objects built once per app (settings, clock, hasher, calendar)."""

    def provide(state: State) -> Any:
        return state[name]

    return Provide(provide, sync_to_thread=False)


def create_app(settings: Settings, clock: Clock | None = None) -> Litestar:
    """Build the service. ``clock`` lets tests move time; the system clock is the default."""

    state = State(
        {
            "settings": settings,
            "clock": clock or SystemClock(),
            "hasher": password_hasher(settings),
            "calendar": BusinessCalendar(ZoneInfo(settings.business_timezone)),
            # Rooms that may claim an incoming bank transfer before top-up codes are looked for.
            "claimants": qr.NOTIFICATION_CLAIMANTS,
        }
    )
    authentication = DefineMiddleware(AuthenticationMiddleware, exclude=["^/schema", "^/health$"])
    return Litestar(
        route_handlers=[
            health,
            rate_limited(settings, [*SIGN_IN, *wallet.SIGN_UP]),
            ProfileController,
            AdminController,
            outbox.OutboxController,
            BankController,
            *wallet.ROUTE_HANDLERS,
            *qr.ROUTE_HANDLERS,
        ],
        dependencies={
            "session": Provide(provide_session),
            **{
                name: _from_state(name)
                for name in ("settings", "clock", "hasher", "calendar", "acquirer", "bank", "outbox", "claimants")
            },
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        middleware=[authentication],
        before_request=refuse_nul_characters,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[database, outside_parties],
        state=state,
        openapi_config=OpenAPIConfig(
            title="civicpay",
            version="0.1.0",
            description="Wallets, transfers and the ledger of a provincial cashless-payment app.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                    "apiKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
                }
            ),
            security=[{"bearer": []}, {"apiKey": []}],
        ),
        debug=False,
    )


def app_from_env() -> Litestar:
    """The factory uvicorn calls in each worker process."""
    return create_app(Settings.from_env())
