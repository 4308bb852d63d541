"""What `mailhub serve` logs: one line per event, as key=value pairs (logfmt) or one JSON object.

    ts=2026-11-23T10:00:00.123Z level=info event=posted group=mentors id=12 message_id=<a@b> topic=3

Values come from outside (a Message-ID, a subject, an envelope sender, a relay's answer), so every
control character, quote and backslash in them is escaped: no mail can start a line of its own in
the log, or move the terminal's cursor. Bodies and passwords are never logged: callers pass only
the fields below each event needs."""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Optional

FORMATS = ("logfmt", "json")
LEVELS = ("debug", "info", "warning", "error")
MAX_VALUE = 300  # characters kept of one value: a Message-ID may be 998 long, a relay's answer longer

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}
_QUOTE_IF = frozenset(' ="\\')


def _escape(c: str) -> str:
    if c in _ESCAPES:
        return _ESCAPES[c]
    if c.isprintable():  # also keeps letters of every script; not Cc, Cf (bidi marks), Zl, Zp, lone surrogates
        return c
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "…"


def logfmt_value(value: Any) -> str:
    """One value, bare when it is a single printable word, else quoted with escapes."""
    text = _plain(value)
    escaped = "".join(_escape(c) for c in text)
    if text and escaped == text and not _QUOTE_IF.intersection(text):
        return text
    return f'"{escaped}"'


def logfmt(fields: dict[str, Any]) -> str:
    return " ".join(f"{key}={logfmt_value(value)}" for key, value in fields.items())


def event(logger: logging.Logger, name: str, /, level: int = logging.INFO, exc_info: Any = None,
          **fields: Any) -> None:
    """Log event `name` with `fields` (None values left out). The message text is the logfmt
    line itself, so the event reads the same under any formatter (a test's caplog, a plain
    `logging.basicConfig`); the formatters below also get the fields as they are."""
    if not logger.isEnabledFor(level):
        return
    kept = {key: value for key, value in fields.items() if value is not None}
    logger.log(level, "%s", _Line({"event": name, **kept}), exc_info=exc_info,
               extra={"event": name, "fields": kept})


class _Line:
    """The logfmt text of an event, made only if a formatter asks for the message: ours build
    the line from the fields, so on the service's hot path it is escaped once, not twice."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        return logfmt(self.fields)


def peer(address: Any) -> str:
    """An SMTP client's address as host:port."""
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """ts, level, then the event and its fields, or (for a record that is not an event: a
    library's, or a warning in prose) the logger and the message."""
    head: dict[str, Any] = {"ts": _timestamp(record), "level": record.levelname.lower()}
    name: Optional[str] = getattr(record, "event", None)
    if name is not None:
        return {**head, "event": name, **getattr(record, "fields", {})}
    return {**head, "logger": record.name, "msg": record.getMessage()}


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = logfmt(_fields(record))
        if record.exc_info:  # the traceback goes on the same line, escaped: one record, one line
            line += " trace=" + _trace(self.formatException(record.exc_info))
        return line


def _trace(text: str) -> str:
    """A traceback in full: it is ours, not the outside's, and cutting it would lose the cause."""
    return '"' + "".join(_escape(c) for c in text) + '"'


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {key: value if isinstance(value, (int, float, bool)) else _plain(value)
                  for key, value in _fields(record).items()}
        if record.exc_info:
            fields["trace"] = self.formatException(record.exc_info)
        return json.dumps(fields, ensure_ascii=True)  # \u escapes for every control character and U+2028


# Libraries that speak at info level about routine: aiosmtpd logs every SMTP command, APScheduler
# every run of every job (twice a minute).
QUIET = ("mail.log", "apscheduler")


def setup(fmt: str = "logfmt", level: str | int = "info") -> None:
    """Log to stderr (journald, or whatever runs the service, takes it from there)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    logging.basicConfig(level=level.upper() if isinstance(level, str) else level, handlers=[handler])
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
