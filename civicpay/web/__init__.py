"""Pages people look at, rendered on the server from plain HTML templates (no front-end build step)."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from string import Template

# The folder of the pages' templates, for Litestar's Jinja engine (the front page, bill receipts).
TEMPLATES = Path(__file__).parent
# DejaVu Sans 2.37, unmodified (fonts/LICENSE.txt), for documents we draw ourselves (bill receipts as PDF):
# shipped with the package because a server may have no fonts installed, and it covers Vietnamese and ₫.
FONTS = TEMPLATES / "fonts"


@functools.cache
def template(name: str) -> Template:
    """A page's template; ``$name`` placeholders, so the pages' JavaScript keeps its own ``${…}``-free style."""
    return Template(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))
