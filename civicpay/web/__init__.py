"""Pages people look at, rendered on the server from plain HTML templates (no front-end build step)."""

from __future__ import annotations

import functools
from importlib import resources
from string import Template


@functools.cache
def template(name: str) -> Template:
    """A page's template; ``$name`` placeholders, so the pages' JavaScript keeps its own ``${…}``-free style."""
    return Template(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))
