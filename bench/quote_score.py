"""Quote-stripping accuracy: how many reply fixtures `mailhub.quotes.new_text` reduces to exactly
the words their author wrote.

The folder holds the fixtures and `expected.json` (fixture path relative to the folder -> the
expected new text). `.eml` files are real messages: their plain-text body (or, for HTML-only
mail, the HTML with tags crudely removed) is what gets stripped; any other file is a body as is.
Texts are compared after whitespace normalisation (trailing spaces, runs of blank lines).

    .venv/bin/python bench/quote_score.py [FOLDER] [--verbose]
"""
from __future__ import annotations

import os
import sys

# Run as a script, this folder comes first on sys.path, and its threading.py would hide the
# standard library's `threading` from anything imported below.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import email  # noqa: E402
import email.policy  # noqa: E402
import html  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

try:
    from mailhub.quotes import new_text  # noqa: E402
except ImportError:  # run from a checkout that is not installed into the interpreter
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from mailhub.quotes import new_text

DEFAULT_FOLDER = Path(__file__).resolve().parent.parent / "tests" / "data" / "replies"

_TAG = re.compile(r"<[^>]*>")
_BLOCK_TAG = re.compile(r"<\s*(?:br|/p|/div|/tr|/li|/h\d)\b[^>]*>", re.IGNORECASE)
_BLANK_RUN = re.compile(r"\n{3,}")


def fixture_body(path: Path) -> str:
    """The plain text a reply parser would be given for this fixture."""
    raw = path.read_bytes()
    if path.suffix != ".eml":
        return raw.decode("utf-8", "replace")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    if part.get_content_type() == "text/html":
        content = html.unescape(_TAG.sub("", _BLOCK_TAG.sub("\n", content)))
    return content


def normalise(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip()


def expectations(folder: str | Path | None = None) -> dict[str, str]:
    root = Path(folder) if folder else DEFAULT_FOLDER
    return json.loads((root / "expected.json").read_text(encoding="utf-8"))


def misses(folder: str | Path | None = None, *,
           extract: Callable[[str], str] = new_text) -> list[tuple[str, str, str]]:
    """(fixture, expected, got) for each fixture `extract` does not reduce to its expected text."""
    root = Path(folder) if folder else DEFAULT_FOLDER
    wrong = []
    for name, expected in sorted(expectations(root).items()):
        got = extract(fixture_body(root / name)) or ""
        if normalise(got) != normalise(expected):
            wrong.append((name, expected, got))
    return wrong


def score(folder: str | None = None, *, extract: Callable[[str], str] = new_text) -> tuple[int, int]:
    """(exact matches, total) over the fixtures in `folder` (default: tests/data/replies)."""
    total = len(expectations(folder))
    return total - len(misses(folder, extract=extract)), total


def main(argv: list[str]) -> None:
    verbose = "--verbose" in argv
    args = [a for a in argv if a != "--verbose"]
    folder = args[0] if args else None
    exact, total = score(folder)
    print(f"quote stripping: {exact}/{total} fixtures exact ({100 * exact // max(total, 1)}%)")
    if verbose:
        for name, expected, got in misses(folder):
            print(f"--- {name}\nexpected: {expected!r}\ngot:      {got!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
