"""The web pages, from jinja2 templates in the templates folder's web/ (HTML, so autoescaped:
a subject or a sender's name is text, never markup), in the reader's language. An admin's own
templates folder may leave web/ out: the shipped pages are used then."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import escape

from mailhub.config import REPO_TEMPLATES, Config
from mailhub.i18n import catalogs
from mailhub.models import Group
from mailhub.router import address_for

# Bytes of a held post's text on its page: with the rest (about 2.5 KB in English, some 3 KB in a
# language that writes longer or in two-byte letters), a page stays under 10 KB.
BUDGET = 5500
TEXT_CHARS = 2000  # characters of it, at most
LINE = 200  # characters of a subject, a name or a reason: a header can be much longer


def folders(folder: Path) -> tuple[Path, ...]:
    """Where the pages are: the admin's web/, then the shipped one for any page it leaves out;
    after them the mail templates, for what a page says as a mail does (reasons.txt)."""
    chosen = (folder, REPO_TEMPLATES) if folder != REPO_TEMPLATES else (folder,)
    return tuple(f / "web" for f in chosen) + chosen


def render(config: Config, template: str, language: str, **context: Any) -> str:
    """`template` for a reader of `language` (mailhub.i18n.catalogs.environment says what a page
    can use; base.html names the language and its direction on the root)."""
    env = catalogs.environment(folders(config.templates), language, html=True, lstrip=True)
    return env.get_template(template).render(**context)


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
