"""HTML mail to readable text (inscriptis on an lxml tree), for body.py. A module of its own so
that only processes that read HTML bodies load lxml and inscriptis."""
from __future__ import annotations

import html
import logging
import re
import textwrap

import lxml.etree
import lxml.html
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.html_engine import Inscriptis
from inscriptis.html_properties import Display
from inscriptis.model.config import ParserConfig
from inscriptis.model.html_element import HtmlElement

log = logging.getLogger(__name__)

_MAX_QUOTE_BLOCKS = 50  # each HTML blockquote is rendered once per enclosing quote level
_MAX_CRUDE_HTML = 1_000_000  # the regex fallback is quadratic on unclosed <script> tags
_MANY_BLANK_LINES = re.compile(r"\n{3,}")
_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.I | re.S)
_LINK_SCHEMES = ("http://", "https://", "ftp://", "mailto:")
_URL_DECORATION = re.compile(r"\A(?:https?://|ftp://|mailto:)?(?:www\.)?")


def _html_config() -> ParserConfig:
    """A fresh one per conversion: inscriptis keeps its output canvas on the profile's <body>
    element, so a shared profile would mix the text of conversions running in two threads."""
    css = dict(CSS_PROFILES["strict"])  # "relaxed" indents every nested <div>, which mail is
    css["body"] = css["body"].__copy__()
    css["blockquote"] = HtmlElement(display=Display.block, margin_before=0, margin_after=0)
    return ParserConfig(css=css, display_links=False, display_images=False)


def html_to_text(markup: str) -> str:
    """The text a plain-text reader should see of an HTML part: link targets shown, quotes as '> ' lines."""
    try:
        tree = _html_tree(markup)
        if tree is None:
            return ""
        config = _html_config()
        _show_link_targets(tree)
        _quote_blockquotes(tree, config)
        text = Inscriptis(tree, config).get_text()
    except Exception as exc:  # noqa: BLE001 - pathological HTML: strip tags crudely instead
        log.info("HTML conversion failed, stripping tags: %s", exc)
        text = html.unescape(_TAG.sub(" ", markup[:_MAX_CRUDE_HTML]))
    lines = "\n".join(line.rstrip() for line in text.replace("\xa0", " ").split("\n"))
    return _MANY_BLANK_LINES.sub("\n\n", lines).strip("\n")


def _html_tree(markup: str) -> lxml.html.HtmlElement | None:
    markup = re.sub(r"\A\s*<\?xml[^>]*>", "", markup)  # lxml refuses str with an encoding decl
    if not markup.strip():
        return None
    try:
        return lxml.html.document_fromstring(markup)
    except (lxml.etree.ParserError, ValueError):
        return lxml.html.document_fromstring("<pre>" + markup.replace("<", "&lt;") + "</pre>")


def _show_link_targets(tree: lxml.html.HtmlElement) -> None:
    """'the guide <https://…>': in plain text the target is the useful part of a link, unless
    the link text already says it."""
    for anchor in tree.iter("a"):
        href = (anchor.get("href") or "").strip()
        if not href.lower().startswith(_LINK_SCHEMES):
            continue
        label = anchor.text_content().strip()
        if not label or _bare(label) == _bare(href):
            continue
        target = href[7:] if href.lower().startswith("mailto:") else href
        try:
            if len(anchor):
                anchor[-1].tail = (anchor[-1].tail or "") + f" <{target}>"
            else:
                anchor.text = (anchor.text or "") + f" <{target}>"
        except ValueError:  # a target with characters XML cannot hold: show the label only
            continue


def _bare(url: str) -> str:
    return _URL_DECORATION.sub("", url.strip().lower()).rstrip("/")


def _quote_blockquotes(tree: lxml.html.HtmlElement, config: ParserConfig) -> None:
    """Quoted mail as '> ' lines, as a plain-text reader and quote stripping expect. Innermost
    first, so each outer quote adds one more level to text already quoted."""
    blocks = list(tree.iter("blockquote"))[:_MAX_QUOTE_BLOCKS]
    for block in sorted(blocks, key=lambda b: sum(1 for _ in b.iterancestors()), reverse=True):
        parent = block.getparent()
        if parent is None:
            continue
        inner = textwrap.dedent(Inscriptis(block, config).get_text()).strip("\n")
        quoted = "\n".join(("> " + line.rstrip()) if line.strip() else ">" for line in inner.split("\n"))
        replacement = block.makeelement("pre", {})
        replacement.text = quoted + "\n"
        replacement.tail = block.tail
        parent.replace(block, replacement)
