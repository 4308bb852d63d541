"""The web pages, from jinja2 templates in the templates folder's web/ (HTML, so autoescaped:
a subject or a sender's name is text, never markup). An admin's own templates folder may leave
web/ out: the shipped pages are used then."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import escape

from mailhub.config import REPO_TEMPLATES, Config
from mailhub.models import Group
from mailhub.router import address_for

BUDGET = 6000  # bytes of a held post's text on its page: with the rest, a page stays under 10 KB
TEXT_CHARS = 2000  # characters of it, at most
LINE = 200  # characters of a subject, a name or a reason: a header can be much longer


@lru_cache(maxsize=4)
def environment(folder: Path) -> jinja2.Environment:
    folders = [folder / "web"] + ([REPO_TEMPLATES / "web"] if folder != REPO_TEMPLATES else [])
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(f) for f in folders]),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(config: Config, template: str, **context: Any) -> str:
    return environment(config.templates).get_template(template).render(**context)


def group_context(config: Config, group: Group) -> dict[str, str]:
    """What every page says about the group."""
    return {"name": group.name, "title": group.title[:LINE],
            "post_address": address_for(group.name, config.server.domain),
            "join_address": address_for(group.name, config.server.domain, "join"),
            "owner_address": address_for(group.name, config.server.domain, "owner")}


def line(text: str) -> str:
    """One line of a header, cut short."""
    text = " ".join(text.split())
    return text if len(text) <= LINE else text[:LINE - 1] + "…"


def excerpt(text: str) -> tuple[str, bool]:
    """The start of a post's text that fits its page (escaped, every `<` takes four bytes), and
    whether some was left out."""
    shown = text[:TEXT_CHARS]
    while len(str(escape(shown)).encode()) > BUDGET:
        shown = shown[:len(shown) * 3 // 4]
    return shown, len(shown) < len(text)
