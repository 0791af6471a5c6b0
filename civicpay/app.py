"""Assembles the service: routes, dependencies, authentication, problem+json, OpenAPI."""

from __future__ import annotations

import importlib.metadata
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Components, Example, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig

import billing
import disbursement
import qr
import reconciliation.routes
import wallet
from civicpay import apidocs, bootstrap, notifications, outbox, web, worker
from civicpay.auth.guards import AuthenticationMiddleware, provide_principal
from civicpay.auth.routes import SIGN_IN, AdminController, ProfileController, rate_limited
from civicpay.banks import BankController
from civicpay.bodies import CivicRequest
from civicpay.bootstrap import Services
from civicpay.db import ensure_schema_current, provide_session
from civicpay.errors import EXCEPTION_HANDLERS, refuse_nul_characters
from civicpay.health import Health, read_health
from civicpay.home import front_page
from civicpay.settings import Settings

VERSION = importlib.metadata.version("civicpay")
# Paths the authentication middleware leaves alone (handlers may also opt out with exclude_from_auth).
PUBLIC_PATHS = ("^/schema", "^/health$")

# What the state holds besides the services object, and which of those handlers may ask for by name.
_SERVICES = (
    "settings",
    "clock",
    "calendar",
    "hasher",
    "engine",
    "events",
    "units",
    "acquirer",
    "bank",
    "outbox",
    "claimants",
    "instructions",
    "bill_lookup",
    "fee_book",
)
_INJECTED = (
    "settings",
    "clock",
    "hasher",
    "calendar",
    "acquirer",
    "bank",
    "claimants",
    "instructions",
    "bill_lookup",
    "fee_book",
)


@get(
    "/health",
    operation_id="health",
    exclude_from_auth=True,
    tags=["ops"],
    responses={
        503: ResponseSpec(
            Health,
            description="The database does not answer, or is not at the revision this code expects",
            generate_examples=False,
            examples=[Example(id="migration_needed", value=Health("migration_needed", "ok", "0011", "0012"))],
        )
    },
)
async def health(state: State) -> Response[Health]:
    """Whether the database answers and is at the migration revision this code expects."""
    answer, status_code = await read_health(state)
    return Response(answer, status_code=status_code)


@asynccontextmanager
async def running(app: Litestar) -> AsyncGenerator[None, None]:
    """The app's lifetime: the schema checked, the services started and, where the settings ask for it
    (SQLite by default), a worker in this process; all closed after."""
    services: Services = app.state.services
    app.state.expected_revision = await ensure_schema_current(services.engine)
    await services.start()
    try:
        if services.settings.runs_worker_in_process:
            async with worker.running(services.worker()):
                yield
        else:
            yield
    finally:
        await services.close()


def _from_state(name: str) -> Provide:
    """Inject one of the services built once (settings, clock, hasher, calendar, clients)."""

    def provide(state: State) -> Any:
        return state[name]

    return Provide(provide, sync_to_thread=False)


def app_state(services: Services) -> State:
    """Where the app's handlers, dependencies and middleware find ``services``, read anew at every request.

    Each service under its own name too: handlers inject them by name, and the hot routes read them
    straight from the state.
    """
    return State({"services": services, "version": VERSION, **{name: getattr(services, name) for name in _SERVICES}})


def create_app(services: Services) -> Litestar:
    """Build the HTTP service on ``services`` (``civicpay.bootstrap``); the app closes them when it stops."""
    state = app_state(services)
    authentication = DefineMiddleware(AuthenticationMiddleware, exclude=list(PUBLIC_PATHS))
    openapi = apidocs.CompletedOpenAPIConfig(
        title="civicpay",
        version=VERSION,
        description="Wallets, transfers, VietQR fee collection and the ledger of a provincial cashless-payment app. "
        "Every error is `application/problem+json` (RFC 9457) with a stable `code`; Vietnamese unless "
        "`Accept-Language` prefers English.",
        path="/schema",
        render_plugins=[apidocs.swagger_render_plugin()],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                "apiKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
            }
        ),
        security=[{"bearer": []}, {"apiKey": []}],
    )
    app = Litestar(
        route_handlers=[
            health,
            front_page,
            apidocs.swagger_assets_router(),
            rate_limited(services.settings, [*SIGN_IN, *wallet.SIGN_UP]),
            ProfileController,
            AdminController,
            outbox.OutboxController,
            notifications.NotificationController,
            BankController,
            *wallet.ROUTE_HANDLERS,
            *qr.ROUTE_HANDLERS,
            *billing.ROUTE_HANDLERS,
            *disbursement.ROUTE_HANDLERS,
            *reconciliation.routes.ROUTE_HANDLERS,
        ],
        dependencies={
            "session": Provide(provide_session),
            **{name: _from_state(name) for name in _INJECTED},
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        middleware=[authentication],
        # Every JSON body is read by it: refused past a sane nesting depth, decoded strictly (civicpay/bodies.py).
        request_class=CivicRequest,
        before_request=refuse_nul_characters,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[running],
        state=state,
        openapi_config=openapi,
        template_config=TemplateConfig(directory=web.TEMPLATES, engine=JinjaTemplateEngine),
        debug=False,
    )
    # The document is completed from the app's assembled routes, when it is first asked for.
    openapi.completion = apidocs.documenting(lambda: apidocs.routes_of(app, PUBLIC_PATHS))
    return app


def app_from_env() -> Litestar:
    """The factory uvicorn calls in each worker process."""
    return create_app(bootstrap.build(Settings.from_env()))
