"""Quote-stripping accuracy: how many reply fixtures `mailhub.quotes.new_text` reduces to exactly
the words their author wrote, how many leak quoted history, per language and per mail client;
beside it, in the same run and on the same texts, mail-parser-reply and email_reply_parser.

Each folder holds the fixtures and `expected.json`: fixture path (relative to the folder) -> the
expected new text, or an object with "text", "client", "history" (the first line of the quoted or
forwarded history, as the text reads) and "tags". The language is the fixture's first folder
(`sv/gmail.eml`), "en" for the old set. `.eml` files are whole messages, read into text as mailhub
reads them (`mailhub.body.extract_body`: the plain part, else the HTML as text, format=flowed
joined); any other file is a body as is. Texts are compared after whitespace normalisation
(trailing spaces, runs of blank lines).

A result leaks when one of its lines (not blank, not a rule, not one of the expected text's or of
the author's part above the history) comes from the history: a line starting with ">" or any line
from the "history" line down.

    .venv/bin/python bench/quote_score.py [FOLDER ...] [--verbose] [--mailhub-only]

Without FOLDER: tests/data/replies (36 English talon and email-reply-parser samples) and
tests/data/replies_i18n (18 languages, 9 clients). The other two libraries are measured when
installed (they are no dependency of mailhub):

    .venv/bin/pip install mail-parser-reply email_reply_parser

mail-parser-reply only recognises the languages it is given: it runs twice, once told every
language it knows ("all") and once told the fixture's language ("told").
"""
from __future__ import annotations

import os
import sys

# Run as a script, this folder comes first on sys.path, and its threading.py would hide the
# standard library's `threading` from anything imported below.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import json  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

try:
    from mailhub.quotes import new_text  # noqa: E402
except ImportError:  # run from a checkout that is not installed into the interpreter
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from mailhub.quotes import new_text
from mailhub.body import extract_body  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
DEFAULT_FOLDER = DATA / "replies"
LANGUAGES_FOLDER = DATA / "replies_i18n"

REPEAT = 5
_BLANK_RUN = re.compile(r"\n{3,}")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_RULE = re.compile(r"[-_=*~—–\s]*")

Extract = Callable[[str], str]


def fixture_body(path: Path) -> str:
    """The plain text a reply parser is given for this fixture: what mailhub stores as body_text."""
    raw = path.read_bytes()
    if path.suffix != ".eml":
        return raw.decode("utf-8", "replace")
    return extract_body(raw)[0]


def normalise(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip()


def entries(folder: str | Path | None = None) -> dict[str, dict]:
    """Fixture -> {"text", "client", "language", "history", "tags"} for every fixture in `folder`."""
    root = Path(folder) if folder else DEFAULT_FOLDER
    found = {}
    for name, value in json.loads((root / "expected.json").read_text(encoding="utf-8")).items():
        entry = dict(value) if isinstance(value, dict) else {"text": value}
        entry.setdefault("client", name.split("/")[0] if "/" in name else "-")
        entry["language"] = name.split("/")[0] if isinstance(value, dict) else "en"
        entry.setdefault("history", None)
        entry.setdefault("tags", [])
        found[name] = entry
    return found


def expectations(folder: str | Path | None = None) -> dict[str, str]:
    return {name: entry["text"] for name, entry in entries(folder).items()}


def _line_key(line: str) -> str:
    key = _INVISIBLE.sub("", line).strip().lstrip(">").strip()
    return "" if len(key) < 4 or _RULE.fullmatch(key) else key


def history_lines(body: str, entry: dict) -> set[str]:
    """The lines of `body` that belong to quoted or forwarded history and to no one else."""
    lines = body.replace("\r\n", "\n").split("\n")
    start = len(lines)
    if entry.get("history"):
        wanted = _line_key(entry["history"]) or _INVISIBLE.sub("", entry["history"]).strip()
        for i, line in enumerate(lines):
            if _INVISIBLE.sub("", line).strip() == _INVISIBLE.sub("", entry["history"]).strip() or (
                    wanted and _line_key(line) == wanted):
                start = i
                break
    history = {_line_key(line) for line in lines[start:]}
    history |= {_line_key(line) for line in lines if line.lstrip().startswith(">")}
    own = {_line_key(line) for line in lines[:start] if not line.lstrip().startswith(">")}
    own |= {_line_key(line) for line in entry["text"].split("\n")}
    return history - own - {""}


def leaks(got: str, body: str, entry: dict) -> bool:
    history = history_lines(body, entry)
    return any(_line_key(line) in history for line in got.split("\n"))


def misses(folder: str | Path | None = None, *, extract: Extract = new_text) -> list[tuple[str, str, str]]:
    """(fixture, expected, got) for each fixture `extract` does not reduce to its expected text."""
    root = Path(folder) if folder else DEFAULT_FOLDER
    wrong = []
    for name, entry in sorted(entries(root).items()):
        got = extract(fixture_body(root / name)) or ""
        if normalise(got) != normalise(entry["text"]):
            wrong.append((name, entry["text"], got))
    return wrong


def score(folder: str | None = None, *, extract: Extract = new_text) -> tuple[int, int]:
    """(exact matches, total) over the fixtures in `folder` (default: tests/data/replies)."""
    total = len(entries(folder))
    return total - len(misses(folder, extract=extract)), total


# --- the other libraries ------------------------------------------------------------------------

def other_parsers() -> dict[str, Callable[[str, str], str]]:
    """Name -> extract(text, language) for each comparison library that is installed."""
    found: dict[str, Callable[[str, str], str]] = {}
    try:
        from mailparser_reply import EmailReplyParser as MailParserReply
        from mailparser_reply.constants import MAIL_LANGUAGES

        known = [code for code in MAIL_LANGUAGES if len(code) == 2]
        every = MailParserReply(languages=known)
        told: dict[str, object] = {}

        def mpr_all(text: str, language: str) -> str:
            return every.parse_reply(text) or ""

        def mpr_told(text: str, language: str) -> str:
            if language not in told:
                told[language] = MailParserReply(languages=[language] if language in MAIL_LANGUAGES else [])
            return told[language].parse_reply(text) or ""

        found["mail-parser-reply (all)"] = mpr_all
        found["mail-parser-reply (told)"] = mpr_told
    except ImportError:
        pass
    try:
        from email_reply_parser import EmailReplyParser

        found["email_reply_parser"] = lambda text, language: EmailReplyParser.parse_reply(text) or ""
    except ImportError:
        pass
    return found


def _safe(extract: Callable[[str, str], str], text: str, language: str) -> str:
    try:
        return extract(text, language)
    except Exception as exc:  # noqa: BLE001 - a library failing on a fixture scores it as a miss
        return f"<raised {type(exc).__name__}>"


def measure(folder: Path, parsers: dict[str, Callable[[str, str], str]]) -> dict:
    """For each parser: per fixture (exact, leak, text), and its time per message (best of REPEAT)."""
    fixtures = entries(folder)
    bodies = {name: fixture_body(folder / name) for name in fixtures}
    results: dict[str, dict] = {}
    for label, extract in parsers.items():
        rows, times = {}, []
        for name, entry in sorted(fixtures.items()):
            body = bodies[name]
            best = float("inf")
            for _ in range(REPEAT):  # the best of a few runs: the parser's time, not the machine's
                start = time.perf_counter()
                got = _safe(extract, body, entry["language"])
                best = min(best, time.perf_counter() - start)
            times.append(best)
            rows[name] = (normalise(got) == normalise(entry["text"]), leaks(got, body, entry), got)
        times.sort()
        results[label] = {"rows": rows, "mean_ms": 1000 * sum(times) / len(times),
                          "p99_ms": 1000 * times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]}
    return {"fixtures": fixtures, "results": results}


def _table(title: str, groups: dict[str, list[str]], measured: dict, labels: list[str]) -> list[str]:
    width = max([len(title)] + [len(g) for g in groups]) + 2
    head = title.ljust(width) + "".join(f"{label[:26]:>28}" for label in labels)
    out = [head, "-" * len(head)]
    for group, names in groups.items():
        cells = []
        for label in labels:
            rows = measured["results"][label]["rows"]
            exact = sum(rows[n][0] for n in names)
            leaked = sum(rows[n][1] for n in names)
            cells.append(f"{exact:>3}/{len(names):<3} {100 * exact // len(names):>3}%  {leaked:>2} leak")
        out.append(group.ljust(width) + "".join(f"{c:>28}" for c in cells))
    return out


def _timing(result: dict) -> str:
    return f"mean {result['mean_ms']:.3f} p99 {result['p99_ms']:.3f} ms"


def report(folder: Path, parsers: dict[str, Callable[[str, str], str]], verbose: bool = False) -> list[str]:
    measured = measure(folder, parsers)
    fixtures, labels = measured["fixtures"], list(parsers)
    by_language, by_client, by_tag = defaultdict(list), defaultdict(list), defaultdict(list)
    for name, entry in sorted(fixtures.items()):
        by_language[entry["language"]].append(name)
        by_client[entry["client"]].append(name)
        for tag in entry["tags"]:
            by_tag[tag].append(name)
    lines = [f"== {folder} ({len(fixtures)} fixtures)", ""]
    everything = {"all fixtures": sorted(fixtures)}
    lines += _table("", everything, measured, labels)
    lines.append("time per message".ljust(len("all fixtures") + 2) + "".join(
        f"{_timing(measured['results'][label]):>28}" for label in labels))
    if len(by_language) > 1:
        lines += ["", *_table("language", dict(sorted(by_language.items())), measured, labels)]
    if len(by_client) > 1:
        lines += ["", *_table("client", dict(sorted(by_client.items())), measured, labels)]
    if by_tag:
        lines += ["", *_table("class", dict(sorted(by_tag.items())), measured, labels)]
    if verbose:
        for name, (exact, leaked, got) in sorted(measured["results"][labels[0]]["rows"].items()):
            if not exact or leaked:
                lines += [f"--- {name}{' (LEAK)' if leaked else ''}", f"expected: {fixtures[name]['text']!r}",
                          f"got:      {got!r}"]
    return lines


def main(argv: list[str]) -> None:
    verbose = "--verbose" in argv
    parsers: dict[str, Callable[[str, str], str]] = {"mailhub": lambda text, language: new_text(text)}
    if "--mailhub-only" not in argv:
        others = other_parsers()
        parsers.update(others)
        if not others:
            print("(mail-parser-reply and email_reply_parser not installed: "
                  ".venv/bin/pip install mail-parser-reply email_reply_parser)\n")
    folders = [Path(a) for a in argv if not a.startswith("--")] or [DEFAULT_FOLDER, LANGUAGES_FOLDER]
    for folder in folders:
        print("\n".join(report(folder, parsers, verbose)))
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
