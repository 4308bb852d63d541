"""The compiled gettext catalogs (locale/<code>/LC_MESSAGES/mailhub.mo, made from the .po files
by `scripts/catalogs.sh`), and jinja2 environments that render a template in one language with
jinja2's i18n extension and Babel's dates, numbers and plural rules."""
from __future__ import annotations

import gettext
from collections.abc import Iterable
from datetime import date, datetime, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import jinja2
from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.lists import format_list
from babel.numbers import format_decimal

from mailhub.i18n.languages import DEFAULT, RIGHT_TO_LEFT, SHIPPED

LOCALE = Path(__file__).resolve().parent / "locale"
DOMAIN = "mailhub"


class MissingCatalog(RuntimeError):
    pass


@lru_cache(maxsize=None)
def translations(language: str) -> gettext.NullTranslations:
    """The catalog of a shipped language. English is the source text: it has no catalog to miss."""
    if language == DEFAULT:
        return gettext.NullTranslations()
    if language not in SHIPPED:
        raise MissingCatalog(f"'{language}' is not a shipped language")
    try:
        return gettext.translation(DOMAIN, localedir=str(LOCALE), languages=[language])
    except OSError as exc:  # a checkout whose .mo files were deleted, or a package built without them
        raise MissingCatalog(f"no compiled catalog for '{language}' in {LOCALE} ({exc}); "
                             "run scripts/catalogs.sh") from exc


def command_word(language: str, english: str) -> str:
    """The word a reader of `language` writes for a command (the first of the catalog's
    alternatives, which are separated by `|`)."""
    return translations(language).pgettext("command", english).split("|")[0].strip()


def local_time(moment: datetime, zone: tzinfo, language: str) -> str:
    """A weekday, day, month and time, as the language writes them ("Wed, Dec 2 07:05",
    "mer. 2 déc. 07:05")."""
    if moment.tzinfo is None:  # SQLite gives stored times back without their zone: UTC
        moment = moment.replace(tzinfo=timezone.utc)
    here = moment.astimezone(zone)
    return f"{format_skeleton('MMMEd', here, locale=language, fuzzy=True)} {format_skeleton('Hm', here, locale=language)}"


def local_date(day: date | datetime, language: str, form: str = "medium") -> str:
    return format_date(day, form, locale=language)


def number(value: float, language: str) -> str:
    return format_decimal(value, locale=language)


def either(items: Iterable[str], language: str) -> str:
    """A choice as the language writes it ("a, b or c", "a, b ou c", "a أو b أو c"). mailhub's
    English is British ("organisation"): no comma before "or"."""
    return format_list(list(items), style="or", locale="en_GB" if language == DEFAULT else language)


def direction(language: str) -> str:
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


def language_name(code: str, language: str) -> str:
    """`code`'s name in `language` ("French", "français", "Kifaransa")."""
    return Locale.parse(code).get_display_name(language) or code


@lru_cache(maxsize=64)
def environment(folder: Path | tuple[Path, ...], language: str, html: bool = False,
                lstrip: bool = False) -> jinja2.Environment:
    """Templates in `folder` rendered for a reader of `language`. They use `_("…")`,
    `{% trans %}…{% endtrans %}` (with `{% pluralize %}` for counts), `cmd("help")` for a command
    word as this reader writes it, and the filters `time(zone)`, `day`, `number`, `either` (a
    list of choices joined with the language's "or"); `lang` and
    `dir` name the language and its direction (for HTML). `folder` may be several, searched in
    order."""
    folders = folder if isinstance(folder, tuple) else (folder,)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(f) for f in folders]), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=lstrip,
                             autoescape=html, extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(lang=language, dir=direction(language), utc=timezone.utc,
                       cmd=lambda english: command_word(language, english),
                       language_name=lambda code: language_name(code, language))
    env.filters.update(time=lambda moment, zone: local_time(moment, zone, language),
                       day=lambda value, form="medium": local_date(value, language, form),
                       number=lambda value: number(value, language),
                       either=lambda items: either(items, language))
    return env


def render(folder: Path, template: str, language: str = DEFAULT, **context: Any) -> str:
    return environment(folder, language).get_template(template).render(**context)


def gettext_for(language: Optional[str]) -> Any:
    """`gettext` of a language, for the few texts code hands to a template ready-made."""
    return translations(language or DEFAULT).gettext
