"""Swagger UI served by the app itself, so ``/schema`` works with no network beyond the service.

The scripts and styles are swagger-ui-dist as the ``flask-swagger-ui`` distribution ships them (its version
is swagger-ui's own, and it follows every upstream release). Only its ``dist/`` folder is used, found
without importing the package, so Flask, which it names as a dependency, is installed but never loaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

ASSETS_PATH = "/static/swagger-ui"
_DISTRIBUTION_PACKAGE = "flask_swagger_ui"


class SwaggerUiMissing(RuntimeError):
    """The package that ships Swagger UI's files is not installed, or ships none."""


def swagger_ui_dist() -> Path:
    """The installed folder of swagger-ui-dist's files (``swagger-ui-bundle.js`` and the rest)."""
    spec = importlib.util.find_spec(_DISTRIBUTION_PACKAGE)  # finds it without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise SwaggerUiMissing(f"{_DISTRIBUTION_PACKAGE} is not installed (pyproject names it: pip install -e .)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "dist"
    if not (folder / "swagger-ui-bundle.js").is_file():
        raise SwaggerUiMissing(f"{folder} holds no swagger-ui-bundle.js")
    return folder


def swagger_ui_version() -> str:
    """swagger-ui's version as its files say (``5.34.0``)."""
    return (swagger_ui_dist() / "VERSION").read_text(encoding="utf-8").strip().removeprefix("v")


def swagger_assets_router() -> Router:
    """``/static/swagger-ui/<file>``: public like the documentation, cached by browsers for a day."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[swagger_ui_dist()],
        name="swagger-ui",
        opt={"exclude_from_auth": True},
        cache_control=CacheControlHeader(public=True, max_age=86_400),
        include_in_schema=False,
    )


def swagger_render_plugin() -> SwaggerRenderPlugin:
    """Litestar's Swagger UI page, pointed at the files above instead of a CDN (favicon included)."""
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )
