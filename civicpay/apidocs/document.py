"""The OpenAPI document as the service really behaves: each status a route can answer, in problem+json.

Litestar describes what a handler returns; what it refuses is derived here, in one place, from what the
app knows about each route:

- authentication (the middleware, unless the route or its path is excluded): 401;
- guards: 403;
- a body, a parameter or a header: 400 (``validation_failed``; ``invalid_json`` and ``body_too_deep``
  for a body, ``civicpay.bodies``); any POST,
  PUT or PATCH also 400 ``nul_character`` and 413;
- an ``Idempotency-Key``: 409 ``idempotency_key_reused``;
- a path parameter: 404 (the id names nothing; or it is not a number, and no route matches);
- the per-address rate limit of the sign-in routes: 429;
- every ``DomainError`` the handler's code raises, read by ``civicpay.apidocs.raises``, and those its
  decorator names with ``errors=[...]``;
- every route: 500, the logged internal error; every route that takes a database session: 503 when
  every pooled connection stayed busy (``civicpay.errors.database_busy_handler``).

Each status is one response whose body is the shared ``Problem`` component, with an example per code
rendered by the same function that writes the real answers (``civicpay.errors.problem_body``). The
operation's summary is its handler's docstring's first line, the rest its description; request bodies
and successful answers get examples (``civicpay.apidocs.examples``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.middleware.rate_limit import RateLimitMiddleware
from litestar.routes import HTTPRoute

from civicpay.apidocs import examples
from civicpay.apidocs.raises import raised_by
from civicpay.bodies import BodyTooDeep
from civicpay.errors import (
    DATABASE_BUSY,
    HTTP_TITLES,
    INTERNAL_ERROR,
    INVALID_JSON,
    PROBLEM_JSON,
    VALIDATION_DETAIL,
    VALIDATION_FAILED,
    DomainError,
    FieldError,
    NulCharacter,
    Problem,
    Text,
    problem_body,
)
from civicpay.idempotency import KeyReused

PROBLEM_REF = "#/components/schemas/Problem"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_IDEMPOTENCY_HEADER = "Idempotency-Key"


class UndocumentedRoute(Exception):
    """A route the document cannot describe: its handler has no docstring to take a summary from."""


@dataclass(frozen=True)
class Refusal:
    """One way an operation says no: a status and a code, in the words the service answers with."""

    status: int
    code: str
    title: Text
    detail: Text | None = None
    errors: tuple[FieldError, ...] = ()

    @classmethod
    def of(cls, error: type[DomainError]) -> Refusal:
        return cls(error.status, error.code, error.title)

    @classmethod
    def http(cls, status: int) -> Refusal:
        return cls(status, *HTTP_TITLES[status])

    def example(self) -> dict[str, Any]:
        """The body the service sends for it (in Vietnamese, its first language)."""
        errors = list(self.errors) or None
        body = problem_body(
            "vi", status=self.status, code=self.code, title=self.title, detail=self.detail, errors=errors
        )
        example: dict[str, Any] = msgspec.json.decode(body)
        return example


INVALID_JSON_BODY = Refusal(400, *INVALID_JSON)
UNAUTHENTICATED = Refusal.http(401)
FORBIDDEN = Refusal.http(403)
NO_SUCH_PATH = Refusal.http(404)
TOO_LARGE = Refusal.http(413)
RATE_LIMITED = Refusal.http(429)
INTERNAL = Refusal(500, *INTERNAL_ERROR)
BUSY = Refusal(503, *DATABASE_BUSY)


def _validation(where: str, message: str) -> Refusal:
    return Refusal(400, *VALIDATION_FAILED, detail=VALIDATION_DETAIL, errors=(FieldError(where, message),))


@dataclass(frozen=True)
class Route:
    """One operation as the app has assembled it: its handler, guards, middleware, hooks and parameters resolved."""

    method: str
    path: str
    handler: HTTPRouteHandler
    path_parameters: tuple[str, ...]
    parameters: tuple[str, ...]  # every header, query and path parameter, the dependencies' included
    headers: tuple[str, ...]
    has_body: bool
    authenticated: bool
    uses_database: bool = True
    declared: tuple[type[DomainError], ...] = field(default=())

    def refusals(self) -> list[Refusal]:
        """Every refusal the route can answer with, in status order, one per code."""
        found: list[Refusal] = []
        if self.has_body:
            found += [INVALID_JSON_BODY, Refusal.of(BodyTooDeep)]
        if self.method in _BODY_METHODS:
            found += [Refusal.of(NulCharacter), TOO_LARGE]
        if self.authenticated:
            found.append(UNAUTHENTICATED)
        if self.handler.resolve_guards():
            found.append(FORBIDDEN)
        if self.path_parameters:
            found.append(NO_SUCH_PATH)
        if _IDEMPOTENCY_HEADER in self.headers:
            found.append(Refusal.of(KeyReused))
        if any(_is_rate_limit(middleware) for middleware in self.handler.resolve_middleware()):
            found.append(RATE_LIMITED)
        found += [Refusal.of(error) for error in sorted(self.raised(), key=lambda error: error.code)]
        found.append(INTERNAL)
        # An Idempotency-Key is kept in the database, even by the transfer route, which injects no session.
        if self.uses_database or _IDEMPOTENCY_HEADER in self.headers:
            found.append(BUSY)
        unique = {(refusal.status, refusal.code): refusal for refusal in found}
        return sorted(unique.values(), key=lambda refusal: refusal.status)

    def raised(self) -> frozenset[type[DomainError]]:
        """What the handler's code raises, its hooks' too (the app-wide NUL check only looks at bodies)."""
        hooks = [self.handler.resolve_before_request()] if self.method in _BODY_METHODS else []
        return raised_by([self.handler.fn, *filter(None, hooks)]) | frozenset(self.declared)


def _is_rate_limit(middleware: Any) -> bool:
    return middleware is RateLimitMiddleware or getattr(middleware, "middleware", None) is RateLimitMiddleware


# What a handler takes a pooled connection through (directly, or under its idempotency key).
_DATABASE_DEPENDENCIES = frozenset({"session", "once"})


def routes_of(app: Litestar, unauthenticated: Sequence[str]) -> dict[str, Route]:
    """Every documented operation of the app, by operation id.

    ``unauthenticated`` are the path patterns the authentication middleware leaves alone.
    """
    excluded = [re.compile(pattern) for pattern in unauthenticated]
    found: dict[str, Route] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method, (handler, kwargs) in route.route_handler_map.items():
            if not handler.resolve_include_in_schema() or method in ("HEAD", "OPTIONS"):
                continue
            path = route.path_format or "/"
            headers = tuple(param.field_alias for param in kwargs.expected_header_params)
            found[str(handler.operation_id)] = Route(
                method=str(method),
                path=path,
                handler=handler,
                path_parameters=tuple(param.field_alias for param in kwargs.expected_path_params),
                parameters=(
                    *(f"path.{param.field_alias}" for param in kwargs.expected_path_params),
                    *(f"query.{param.field_alias}" for param in kwargs.expected_query_params),
                    *(f"header.{name}" for name in headers),
                ),
                headers=headers,
                has_body="data" in kwargs.expected_reserved_kwargs,
                authenticated=not handler.opt.get("exclude_from_auth")
                and not any(pattern.search(path) for pattern in excluded),
                uses_database=any(
                    dependency.key in _DATABASE_DEPENDENCIES
                    for batch in kwargs.dependency_batches
                    for dependency in batch
                ),
                declared=tuple(handler.opt.get("errors", ())),
            )
    return found


def describe(document: dict[str, Any], routes: dict[str, Route]) -> dict[str, Any]:
    """The document Litestar generated, completed: summaries, every refusal, and examples."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    _, problem_components = msgspec.json.schema_components([Problem], ref_template="#/components/schemas/{name}")
    schemas.update(problem_components)
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or operation.get("operationId") not in routes:
                continue
            route = routes[operation["operationId"]]
            operation.update(_words(route))
            _refusals(operation, route, schemas)
            examples.add_examples(operation, route.handler, schemas)
    return document


def _words(route: Route) -> dict[str, str]:
    # The function's own docstring: inspect.getdoc would fall back to the controller attribute's (Litestar's).
    # Docstrings quote code as reStructuredText (``x``); the document is Markdown (`x`).
    doc = inspect.cleandoc(inspect.unwrap(route.handler.fn).__doc__ or "").replace("``", "`")
    if not doc:
        raise UndocumentedRoute(f"{route.method} {route.path}: its handler needs a docstring (the operation's summary)")
    summary, _, rest = doc.partition("\n")
    words = {"summary": summary.strip().rstrip(".")}
    if rest.strip():
        words["description"] = doc
    return words


def _refusals(operation: dict[str, Any], route: Route, schemas: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    # Litestar's own guess at a 400 ({status_code, detail, extra}) is not what the service sends.
    responses.pop("400", None)
    by_status: dict[int, list[Refusal]] = {}
    for refusal in _with_validation(route.refusals(), operation, route, schemas):
        by_status.setdefault(refusal.status, []).append(refusal)
    for status, refusals in by_status.items():
        if str(status) in responses:  # the route documents this status itself (/health's 503)
            continue
        named = {refusal.code: {"summary": refusal.title.en, "value": refusal.example()} for refusal in refusals}
        responses[str(status)] = {
            "description": _description(status, refusals),
            "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}, "examples": named}},
        }
    operation["responses"] = dict(sorted(responses.items()))


def _with_validation(
    refusals: Iterable[Refusal], operation: dict[str, Any], route: Route, schemas: dict[str, Any]
) -> Iterator[Refusal]:
    """The refusals, with ``validation_failed`` first among the 400s where there is anything to validate."""
    where = _first_field(operation, schemas) if route.has_body else None
    if where is not None:
        yield _validation(where, f"Thiếu trường bắt buộc `{where}`")
    elif route.parameters:
        kind, _, name = route.parameters[0].partition(".")
        message = f"Thiếu tham số `{name}`" if kind == "header" else "Giá trị phải >= 1"
        yield _validation(route.parameters[0], message)
    yield from refusals


def _first_field(operation: dict[str, Any], schemas: dict[str, Any]) -> str | None:
    content: dict[str, Any] = operation.get("requestBody", {}).get("content", {})
    first: dict[str, Any] = next(iter(content.values()), {})
    schema: dict[str, Any] = first.get("schema", {})
    if "$ref" in schema:
        schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
    required = schema.get("required") or list(schema.get("properties", {}))
    return str(required[0]) if required else None


def _description(status: int, refusals: list[Refusal]) -> str:
    codes = ", ".join(f"`{refusal.code}`" for refusal in refusals)
    return f"{HTTPStatus(status).phrase}: {codes}"


def documenting(routes: Callable[[], dict[str, Route]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``describe`` over the routes the callable finds, read when the document is first asked for."""

    def complete(document: dict[str, Any]) -> dict[str, Any]:
        return describe(document, routes())

    return complete
