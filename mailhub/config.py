"""Load and check config.toml: every mistake is reported with the key that holds it."""
from __future__ import annotations

import os
import ssl
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mailhub.i18n.languages import UnknownLanguage, read_language
from mailhub.router import AddressError, normalize_email
from mailhub.logs import FORMATS as LOG_FORMATS, LEVELS as LOG_LEVELS
from mailhub.schedule import ScheduleError, read_time, read_weekly, read_zone

DEFAULT_PATH = "config.toml"


def shipped_templates() -> Path:
    """The templates mailhub comes with. A wheel ships the repo's top-level templates/ inside the
    package (mailhub/templates, see pyproject.toml); a checkout or an editable install has no such
    folder and uses the repo's templates/ itself, so an admin's edits there take effect."""
    package = Path(__file__).resolve().parent
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


REPO_TEMPLATES = shipped_templates()  # the default [templates] folder, installed or in the checkout


MAX_NUMBER = 1e9  # ~31 years in seconds: larger values are typos, and overflow date arithmetic


class ConfigError(Exception):
    """A config problem a person can fix; the message names the key."""


@dataclass(frozen=True)
class ServerConfig:
    domain: str
    host: str = "127.0.0.1"
    port: int = 8025
    max_message_size: int = 10 * 1024 * 1024
    max_recipients: int = 50
    tls_cert: str = ""  # PEM certificate chain: with tls_key, the listener offers STARTTLS
    tls_key: str = ""
    require_tls: bool = False  # refuse mail from clients that did not STARTTLS (530)
    # Abuse limits. Past max_sessions a new connection gets 421 (each session may hold up to
    # max_message_size in memory, so this also bounds memory); idle_timeout is RFC 5321 4.5.3.2.7's
    # five minutes; max_commands leaves an MTA room for many messages per connection while ending
    # RCPT/NOOP/RSET floods and address harvesting; max_line_length is RFC 5321 4.5.3.1.6's 998
    # bytes, the longest line every relay downstream must take. max_sessions_per_ip keeps one client
    # from taking every session (a big sender has many addresses). data_timeout caps the whole DATA
    # phase, so it must cover max_message_size at the slowest rate a real sender has (10 MB in 600 s
    # is 17 KB/s); data_min_rate ends a dribble sooner: a client that falls RATE_HEAD_START bytes
    # (receive.py; one minute at 100 bytes/s) behind it gets 421, which no real link does.
    max_sessions: int = 100
    idle_timeout: float = 300.0
    max_commands: int = 1000
    max_line_length: int = 998
    max_sessions_per_ip: int = 10
    data_timeout: float = 600.0
    data_min_rate: int = 100
    # Where mail to postmaster@ and abuse@ (RFC 5321 4.5.1, RFC 2142) goes, and an owner-less group's
    # -owner@ mail and held-post notices; empty: to every group's owners.
    postmaster: str = ""
    # What groups that have not chosen a language write in (member and group settings come first).
    language: str = "en"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str


@dataclass(frozen=True)
class RelayConfig:
    host: str = ""
    port: int = 25
    starttls: bool = False
    username: str = ""
    password: str = ""
    maildir: str = ""
    timeout: float = 30.0


@dataclass(frozen=True)
class DeliveryConfig:
    connections: int = 4
    batch_size: int = 200
    retry_initial: float = 60.0
    retry_max: float = 3600.0
    give_up_after: float = 5 * 24 * 3600.0
    lease_seconds: float = 300.0


@dataclass(frozen=True)
class ThreadingConfig:
    subject_window_days: float = 30.0


@dataclass(frozen=True)
class LimitsConfig:
    replies_per_day: int = 10  # automatic mails to one address per day (confirmations, answers)
    confirm_days: float = 7.0  # how long a join or leave confirmation stays valid
    # How long a moderator's notice of a held post, or an owner's of a join to approve, can be
    # answered; the post stays held after it (see moderation.py), a late answer gets a fresh notice.
    hold_days: float = 14.0
    # Private mail through the group (relay.py): how long a relay address in a copy keeps working,
    # and how many private mails one member may send in an hour.
    relay_days: float = 90.0
    relay_per_hour: int = 20


@dataclass(frozen=True)
class DigestConfig:
    daily: str = "07:00"  # local time of each reader
    weekly: str = "mon 07:00"
    timezone: str = "UTC"  # for readers who have not chosen their own
    unanswered_hours: float = 48.0  # a topic with no reply for this long is listed as unanswered
    excerpt_chars: int = 300  # of each new message's text
    text_budget: int = 60_000  # bytes per digest; topics past it are listed by subject only
    html_budget: int = 100_000  # Gmail clips HTML mail past about 102 KB
    check_every: float = 60.0  # seconds between looks for digests that are due


@dataclass(frozen=True)
class BouncesConfig:
    threshold: float = 5.0  # score at which a member's delivery stops
    stale_days: float = 7.0  # a score with no bounce counted for this long starts again from 0
    temporary_days: float = 3.0  # temporary bounces count once they have come for this long
    warnings: int = 3  # notices sent while delivery is stopped; after the last, the member is removed
    warn_every_days: float = 7.0


@dataclass(frozen=True)
class DkimConfig:
    domain: str = ""  # the d= of the signature; all three empty: mail goes out unsigned
    selector: str = ""  # the TXT record is published at SELECTOR._domainkey.DOMAIN
    private_key: str = ""  # PEM file (RSA), relative to config.toml


@dataclass(frozen=True)
class WebConfig:
    """The HTTP listener for one-click unsubscribe and confirmation links; off while `listen` is
    empty. It sits behind the site's TLS reverse proxy, which serves `base_url`."""

    listen: str = ""  # host:port, like 127.0.0.1:8080
    base_url: str = ""  # what members' links start with, like https://lists.example.org
    max_body: int = 4096  # bytes of a request body; more gets 413
    requests_per_minute: int = 30  # per client address; more get 429

    @property
    def enabled(self) -> bool:
        return bool(self.listen)

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True)
class ReportConfig:
    monthly: bool = True  # on the 1st (each group's time zone), mail last month's impact report to its owners


@dataclass(frozen=True)
class PairsConfig:
    quiet_days: float = 21.0  # a mentoring pair with no mail for this long is listed as quiet


@dataclass(frozen=True)
class LoggingConfig:
    format: str = "logfmt"  # one line per event as key=value pairs, or "json": one object per line
    level: str = "info"


@dataclass(frozen=True)
class Config:
    server: ServerConfig
    database: DatabaseConfig
    relay: RelayConfig = field(default_factory=RelayConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    threading: ThreadingConfig = field(default_factory=ThreadingConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    bounces: BouncesConfig = field(default_factory=BouncesConfig)
    dkim: DkimConfig = field(default_factory=DkimConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    web: WebConfig = field(default_factory=WebConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)
    templates: Path = REPO_TEMPLATES
    path: Path | None = None


_SECTIONS: dict[str, type] = {
    "server": ServerConfig,
    "database": DatabaseConfig,
    "relay": RelayConfig,
    "delivery": DeliveryConfig,
    "threading": ThreadingConfig,
    "limits": LimitsConfig,
    "digest": DigestConfig,
    "bounces": BouncesConfig,
    "dkim": DkimConfig,
    "logging": LoggingConfig,
    "web": WebConfig,
    "report": ReportConfig,
    "pairs": PairsConfig,
}
_REQUIRED_SECTIONS = ("server", "database")


def _section(name: str, cls: type, table: Any) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    for key in table:
        if key not in known:
            raise ConfigError(f"unknown key '{name}.{key}' (known: {', '.join(known)})")
    values: dict[str, Any] = {}
    for key, f in known.items():
        if key not in table:
            if f.default is f.default_factory:  # both MISSING: required
                raise ConfigError(f"missing key '{name}.{key}'")
            continue
        value = table[key]
        expected = {"str": str, "int": int, "float": (int, float), "bool": bool}[str(f.type)]
        if isinstance(value, bool) and expected is not bool:
            raise ConfigError(f"'{name}.{key}' must be {f.type}, not a boolean")
        if not isinstance(value, expected):
            raise ConfigError(f"'{name}.{key}' must be {f.type}, got {value!r}")
        if str(f.type) in ("int", "float"):
            if value < 0:
                raise ConfigError(f"'{name}.{key}' must not be negative")
            if not value <= MAX_NUMBER:  # also refuses nan and inf
                raise ConfigError(f"'{name}.{key}' must be at most {MAX_NUMBER:.0f}, got {value!r}")
        values[key] = float(value) if str(f.type) == "float" else value
    return cls(**values)


def _check_digest(digest: DigestConfig) -> None:
    for key, reader, value in (("daily", read_time, digest.daily), ("weekly", read_weekly, digest.weekly),
                               ("timezone", read_zone, digest.timezone)):
        try:
            reader(value)
        except ScheduleError as exc:
            raise ConfigError(f"'digest.{key}': {exc}") from None
    if digest.check_every < 1:
        raise ConfigError("'digest.check_every' must be at least 1 (second)")
    if digest.text_budget < 5000 or digest.html_budget < 5000:
        raise ConfigError("'digest.text_budget' and 'digest.html_budget' must be at least 5000 (bytes)")


RFC_LINE_LENGTH = 998  # RFC 5321 4.5.3.1.6: 1000 bytes with the CRLF; every server must take it
SESSION_OVERHEAD = 6  # commands besides RCPT in one message over TLS: EHLO STARTTLS EHLO MAIL DATA QUIT


def _check_server_limits(server: ServerConfig) -> None:
    for key in ("max_sessions", "max_recipients", "max_sessions_per_ip"):
        if getattr(server, key) < 1:
            raise ConfigError(f"'server.{key}' must be at least 1")
    if server.max_sessions_per_ip > server.max_sessions:
        raise ConfigError(f"'server.max_sessions_per_ip' must be at most 'server.max_sessions' "
                          f"({server.max_sessions}), got {server.max_sessions_per_ip}")
    for key in ("idle_timeout", "data_timeout"):
        if getattr(server, key) < 1:
            raise ConfigError(f"'server.{key}' must be at least 1 (second), got {getattr(server, key):g}")
    if server.data_min_rate < 1:
        raise ConfigError(f"'server.data_min_rate' must be at least 1 (byte per second), got {server.data_min_rate}")
    if server.max_line_length < RFC_LINE_LENGTH:
        raise ConfigError(f"'server.max_line_length' must be at least {RFC_LINE_LENGTH} (bytes, RFC 5321 "
                          f"4.5.3.1.6), got {server.max_line_length}")
    least = server.max_recipients + SESSION_OVERHEAD
    if server.max_commands < least:
        raise ConfigError(f"'server.max_commands' must be at least {least} ('server.max_recipients' + "
                          f"{SESSION_OVERHEAD}), so that one message to every allowed recipient fits in a "
                          f"session; got {server.max_commands}")


def _check_language(server: ServerConfig) -> str:
    try:
        return read_language(server.language)
    except UnknownLanguage as exc:
        raise ConfigError(f"'server.language': {exc}") from None


def _check_postmaster(server: ServerConfig) -> str:
    """The address as it is compared and sent to (normalized), or "" when not set."""
    if not server.postmaster:
        return ""
    try:
        address = normalize_email(server.postmaster)
    except AddressError:
        raise ConfigError(f"'server.postmaster' must be one mail address such as admin@example.org, "
                          f"got {server.postmaster!r}") from None
    if address.rpartition("@")[2] == server.domain.lower():
        raise ConfigError(f"'server.postmaster' must be an address outside {server.domain} "
                          "(mail to it would come straight back)")
    return address


def _check_tls(server: ServerConfig, base: Path) -> dict[str, str]:
    """The certificate and key paths made absolute, after checking they load together."""
    if not server.tls_cert and not server.tls_key:
        if server.require_tls:
            raise ConfigError("'server.require_tls' needs 'server.tls_cert' and 'server.tls_key'")
        return {}
    if not (server.tls_cert and server.tls_key):
        raise ConfigError("STARTTLS needs both 'server.tls_cert' and 'server.tls_key'")
    cert, key = (base / server.tls_cert).resolve(), (base / server.tls_key).resolve()
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except ssl.SSLError as exc:  # before OSError, which it is a kind of
        raise ConfigError(f"'server.tls_cert'/'server.tls_key': {cert} and {key} are not a PEM "
                          f"certificate and its key ({exc.reason})") from None
    except OSError as exc:
        raise ConfigError(f"'server.tls_cert'/'server.tls_key': cannot read {exc.filename or cert}: "
                          f"{exc.strerror}") from None
    return {"tls_cert": str(cert), "tls_key": str(key)}


def _check_dkim(dkim: DkimConfig, base: Path) -> DkimConfig:
    given = [key for key in ("domain", "selector", "private_key") if getattr(dkim, key)]
    if not given:
        return dkim
    if len(given) < 3:
        missing = [f"'dkim.{key}'" for key in ("domain", "selector", "private_key") if key not in given]
        raise ConfigError(f"DKIM signing needs {' and '.join(missing)} too (or remove the [dkim] section)")
    from mailhub.signing import read_private_key  # here: only a config with [dkim] pays for cryptography

    path = (base / dkim.private_key).resolve()
    try:
        read_private_key(path)
    except ValueError as exc:
        raise ConfigError(f"'dkim.private_key': {exc}") from None
    return DkimConfig(domain=dkim.domain.lower(), selector=dkim.selector, private_key=str(path))


_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def _check_web(web: WebConfig) -> WebConfig:
    if not web.listen and not web.base_url:
        return web
    if not (web.listen and web.base_url):
        raise ConfigError("the web listener needs both 'web.listen' and 'web.base_url' (or remove [web])")
    host, colon, port = web.listen.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"'web.listen' must be host:port, like 127.0.0.1:8080, got {web.listen!r}")
    scheme, _, rest = web.base_url.partition("://")
    where = rest.split("/", 1)[0].rsplit(":", 1)[0]
    if scheme != "https" and not (scheme == "http" and where in _LOOPBACK):
        raise ConfigError(f"'web.base_url' must start with https:// (mail providers only take one-click "
                          f"unsubscribe links over HTTPS), got {web.base_url!r}")
    if not rest or any(c.isspace() or c in "<>\"'" for c in web.base_url):
        raise ConfigError(f"'web.base_url' must be a URL such as https://lists.example.org, got {web.base_url!r}")
    if web.max_body < 256 or web.requests_per_minute < 1:
        raise ConfigError("'web.max_body' must be at least 256 (bytes) and 'web.requests_per_minute' at least 1")
    return WebConfig(**{**web.__dict__, "base_url": web.base_url.rstrip("/")})


def _resolve_sqlite(url: str, base: Path) -> str:
    """A relative SQLite path is taken relative to the config file, not the shell's cwd."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str((base / url[len(prefix):]).resolve())
    return url


def parse_config(data: dict[str, Any], base: Path) -> Config:
    for key in data:
        if key not in _SECTIONS and key != "templates":
            raise ConfigError(f"unknown section '[{key}]' (known: {', '.join(_SECTIONS)})")
    for name in _REQUIRED_SECTIONS:
        if name not in data:
            raise ConfigError(f"missing section '[{name}]'")
    parts = {name: _section(name, cls, data.get(name, {})) for name, cls in _SECTIONS.items()}
    server: ServerConfig = parts["server"]
    if "max_sessions_per_ip" not in data["server"]:  # the default gives way to a smaller max_sessions
        server = ServerConfig(**{**server.__dict__,
                                 "max_sessions_per_ip": min(server.max_sessions_per_ip, server.max_sessions)})
    if not server.domain or "@" in server.domain or " " in server.domain:
        raise ConfigError(f"'server.domain' must be a mail domain such as lists.example.org, got {server.domain!r}")
    if not 0 < server.port < 65536:
        raise ConfigError(f"'server.port' must be between 1 and 65535, got {server.port}")
    _check_server_limits(server)
    parts["server"] = ServerConfig(**{**server.__dict__, "domain": server.domain.lower(),
                                      "postmaster": _check_postmaster(server),
                                      "language": _check_language(server), **_check_tls(server, base)})
    relay: RelayConfig = parts["relay"]
    if bool(relay.host) == bool(relay.maildir):
        raise ConfigError("set exactly one of 'relay.host' (SMTP relay) or 'relay.maildir' (local folder)")
    if relay.maildir:
        parts["relay"] = RelayConfig(**{**relay.__dict__, "maildir": str((base / relay.maildir).resolve())})
    if parts["delivery"].connections < 1:
        raise ConfigError("'delivery.connections' must be at least 1")
    _check_digest(parts["digest"])
    if parts["bounces"].threshold < 1:
        raise ConfigError("'bounces.threshold' must be at least 1")
    for key in ("confirm_days", "hold_days"):  # 0 would make every token dead on arrival
        if getattr(parts["limits"], key) <= 0:
            raise ConfigError(f"'limits.{key}' must be more than 0 (days)")
    parts["dkim"] = _check_dkim(parts["dkim"], base)
    parts["web"] = _check_web(parts["web"])
    for key, allowed in (("format", LOG_FORMATS), ("level", LOG_LEVELS)):
        if getattr(parts["logging"], key) not in allowed:
            raise ConfigError(f"'logging.{key}' must be one of {', '.join(allowed)}, "
                              f"got {getattr(parts['logging'], key)!r}")
    db: DatabaseConfig = parts["database"]
    parts["database"] = DatabaseConfig(url=_resolve_sqlite(db.url, base))
    templates = data.get("templates")
    if templates is not None and not isinstance(templates, str):
        raise ConfigError("'templates' must be a folder path")
    return Config(**parts, templates=(base / templates).resolve() if templates else REPO_TEMPLATES)


def config_path(explicit: str | Path | None) -> Path:
    return Path(explicit or os.environ.get("MAILHUB_CONFIG") or DEFAULT_PATH)


def load_config(explicit: str | Path | None = None) -> Config:
    path = config_path(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path} (use --config PATH or set MAILHUB_CONFIG)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    config = parse_config(data, path.resolve().parent)
    return Config(**{**config.__dict__, "path": path.resolve()})
