"""Litestar's OpenAPI configuration, with the document completed by ``civicpay.apidocs.document``.

Litestar builds the document the first time it is asked for (the first request to ``/schema``, or
``app.openapi_schema``), so the completion runs then too, once per app, and building an app stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import OpenAPI

Completion = Callable[[dict[str, Any]], dict[str, Any]]


class _CompletedOpenAPI(OpenAPI):
    """The document Litestar generates; its dictionary form passes through the completion."""

    complete: Completion | None = None  # a class attribute, not a dataclass field: never serialised itself

    def to_schema(self) -> dict[str, Any]:
        document = super().to_schema()
        return self.complete(document) if self.complete is not None else document


@dataclass
class CompletedOpenAPIConfig(OpenAPIConfig):
    """``OpenAPIConfig`` whose document is completed by ``completion``, set once the app has its routes."""

    completion: Completion | None = None

    def to_openapi_schema(self) -> OpenAPI:
        generated = super().to_openapi_schema()
        document = _CompletedOpenAPI(**{field.name: getattr(generated, field.name) for field in fields(generated)})
        document.complete = self.completion
        return document
