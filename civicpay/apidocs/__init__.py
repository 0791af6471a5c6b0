"""The API's documentation: Swagger UI served from the app, and an OpenAPI document that tells the truth."""

from civicpay.apidocs.assets import ASSETS_PATH, swagger_assets_router, swagger_render_plugin, swagger_ui_version
from civicpay.apidocs.config import CompletedOpenAPIConfig
from civicpay.apidocs.document import PROBLEM_REF, Refusal, Route, UndocumentedRoute, documenting, routes_of

__all__ = [
    "ASSETS_PATH",
    "PROBLEM_REF",
    "CompletedOpenAPIConfig",
    "Refusal",
    "Route",
    "UndocumentedRoute",
    "documenting",
    "routes_of",
    "swagger_assets_router",
    "swagger_render_plugin",
    "swagger_ui_version",
]
