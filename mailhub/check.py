"""`mailhub check`: is this installation ready to take and send mail, and which DNS records must
its domain publish?

Each check is a plain function returning a `Result` that says what was found or what to do.
The DNS records are derived from the config alone: no lookups are made (the machine may have no
resolver, and comparing with what is published is the admin's part)."""
from __future__ import annotations

import base64
import errno
import ipaddress
import os
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from dkim.crypto import UnparsableKeyError, parse_pem_private_key
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session, select

from mailhub import migrate
from mailhub.config import Config, ConfigError, DkimConfig, RelayConfig, ServerConfig, WebConfig, load_config
from mailhub.db import StoreError, make_engine
from mailhub.models import Group
from mailhub.router import address_for
from mailhub.signing import read_private_key

RELAY_TIMEOUT = 10.0  # seconds, at most, for each answer of the relay
WEB_TIMEOUT = 3.0  # seconds for the web listener's /health
GREETING_TIMEOUT = 3.0  # seconds for whatever holds the listener's port to greet
MIN_RSA_BITS = 1024  # RFC 8301: verifiers ignore shorter keys


@dataclass(frozen=True)
class Result:
    name: str  # config, templates, database, listener, web (when [web] is set), tls, relay, dkim
    ok: bool
    text: str  # what was found; for a failure, what is wrong and what to do


@dataclass(frozen=True)
class Record:
    name: str  # fully qualified, with the final dot
    type: str  # MX or TXT
    data: str  # MX: "10 host."; TXT: the text itself, unquoted
    why: str  # one line for the admin


@dataclass(frozen=True)
class Report:
    results: list[Result]
    records: list[Record] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


def _ok(name: str, text: str) -> Result:
    return Result(name, True, text)


def _fail(name: str, text: str) -> Result:
    return Result(name, False, text)


def _one_line(exc: BaseException) -> str:
    """A database driver's or socket's error as one line (SQLAlchemy's carry a link on a second)."""
    cause = getattr(exc, "orig", None) or exc
    text = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
    return " ".join(str(text).split())


# ---- the checks ---------------------------------------------------------------------------------

def config_check(path: Optional[Path]) -> tuple[Optional[Config], Result]:
    """Loading names the key of any mistake (config.py); the other checks need a config that loads."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        return None, _fail("config", str(exc))
    return config, _ok("config", f"{config.path} loads")


def templates_check(config: Config) -> Result:
    folder = config.templates
    if not folder.is_dir() or not any(folder.glob("*.txt")):
        return _fail("templates", f"no mail templates in {folder}: set 'templates' to the folder of mailhub's "
                                  "templates/ (a plain pip install leaves them out; pip install -e keeps them)")
    return _ok("templates", f"mail templates from {folder}")


def _nearest_folder(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _can_write(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def _sqlite_path(url: str) -> Optional[Path]:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database)  # type: ignore[arg-type]
    return None


def database_check(config: Config) -> Result:
    """Reachable and at the schema this code needs, opened without creating anything. A SQLite
    file that is not there yet is made on first start: then only its folder must be writable."""
    try:
        shown = make_url(config.database.url).render_as_string(hide_password=True)
        path = _sqlite_path(config.database.url)
    except ArgumentError as exc:
        return _fail("database", f"'database.url' is not a database URL: {exc}")
    if path is not None and not path.exists():
        folder = _nearest_folder(path.parent)
        if not _can_write(folder):
            return _fail("database", f"{path} does not exist yet and {folder} is not a folder this user can "
                                     f"write: create {path.parent} for the user the service runs as")
        return _ok("database", f"{shown} does not exist yet: it will be created on first start")
    if path is not None and not (os.access(path, os.R_OK | os.W_OK) and _can_write(path.parent)):
        return _fail("database", f"{path} and its folder (for the WAL journal) must be writable by this user")
    engine = None
    try:
        engine = make_engine(config.database.url, create=False)
        problem = migrate.problem(engine)
    except StoreError as exc:
        return _fail("database", str(exc))
    except Exception as exc:  # noqa: BLE001 - a driver's error of any kind is the answer to report
        return _fail("database", f"cannot open {shown}: {_one_line(exc)}")
    finally:
        if engine is not None:
            engine.dispose()
    if problem:
        return _fail("database", problem)
    return _ok("database", f"{shown} is reachable and at the current schema")


def _greeting(address: tuple, timeout: float) -> str:
    """The first line whoever holds `address` says, "" when it says nothing SMTP-like."""
    try:
        with socket.create_connection(address[:2], timeout=timeout) as conn:
            line = conn.recv(512).split(b"\r\n", 1)[0].decode("utf-8", "replace")
            conn.sendall(b"QUIT\r\n")
            return line
    except OSError:
        return ""


def listener_check(server: ServerConfig, timeout: float = GREETING_TIMEOUT) -> Result:
    """Can `serve` bind its address? If a mailhub for this domain holds it already, the service is
    running: that is fine. Bound as asyncio's listener binds, with SO_REUSEADDR."""
    where = f"{server.host}:{server.port}"
    try:
        refused, address = _bind_error(server.host or None, server.port)
    except socket.gaierror as exc:
        return _fail("listener", f"cannot listen on {where}: {exc.strerror}; check 'server.host'")
    if refused is None:
        return _ok("listener", f"{where} is free to listen on")
    if refused.errno == errno.EADDRINUSE:
        return _in_use(server, address, timeout)
    if refused.errno == errno.EACCES:
        return _fail("listener", f"not allowed to listen on {where}: {_bind_words(refused)} (AmbientCapabilities= "
                                 "in the systemd unit)")
    return _fail("listener", f"cannot listen on {where}: {refused.strerror}; 'server.host' must be an address of "
                             "this machine")


def _bind_error(host: Optional[str], port: int) -> tuple[Optional[OSError], Optional[tuple]]:
    """The error binding host:port as asyncio's listeners bind (SO_REUSEADDR), with the address
    it came at; (None, None) when every address binds. A name that does not resolve raises
    socket.gaierror."""
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                              flags=socket.AI_PASSIVE):
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                return exc, address
    return None, None


def _bind_words(refused: OSError) -> str:
    if refused.errno == errno.EACCES:
        return "ports below 1024 need root or CAP_NET_BIND_SERVICE"
    return str(refused.strerror)


SERVICE_UP = "the service is up"


def _in_use(server: ServerConfig, address: tuple, timeout: float) -> Result:
    where = f"{server.host}:{server.port}"
    greeting = _greeting(address, timeout)
    words = greeting.split()
    # aiosmtpd greets "220 <server_hostname> <ident>"; mailhub passes its domain and "mailhub".
    if len(words) == 3 and words[0] == "220" and words[2] == "mailhub":
        if words[1].lower() == server.domain:
            return _ok("listener", f"{where} is in use by a running mailhub for @{server.domain}: {SERVICE_UP}")
        return _fail("listener", f"{where} is in use by a mailhub for @{words[1]}: stop it or change 'server.port'")
    said = f" (it greets: {greeting})" if greeting else ""
    return _fail("listener", f"{where} is in use by another program{said}: stop it or change 'server.port'")


def web_check(web: WebConfig, service_up: bool, timeout: float = WEB_TIMEOUT) -> Result:
    """Does the web listener answer GET /health at 'web.listen'? While the service is stopped: is
    that address free for it? (`mailhub serve` starts it with the SMTP listener.)"""
    import http.client
    import urllib.error
    import urllib.request

    host, port = web.address
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/health"
    other = "another program holds 'web.listen': stop it or change 'web.listen'"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an http_proxy
    try:
        with opener.open(url, timeout=timeout) as response:
            said = response.read(64).decode("utf-8", "replace").strip()
    except urllib.error.HTTPError as exc:
        return _fail("web", f"{url} answers {exc.code}, not mailhub's 'ok': {other}")
    except (http.client.HTTPException, ConnectionResetError) as exc:  # a server that speaks no HTTP
        return _fail("web", f"{url} does not answer HTTP ({type(exc).__name__}): {other}")
    except (urllib.error.URLError, OSError) as exc:
        reason = _one_line(getattr(exc, "reason", exc))
        if service_up:
            return _fail("web", f"mailhub serve runs but nothing answers {url} ({reason}): its log says why "
                                "(event=web_failed); is 'web.listen' taken by another program?")
        problem = _bind_problem(host, port)
        if problem:
            return _fail("web", f"cannot listen on {web.listen}: {problem}; check 'web.listen'")
        return _ok("web", f"{web.listen} is free for the web listener, which mailhub serve starts; links in mail "
                          f"start with {web.base_url}")
    if said != "ok":
        return _fail("web", f"{url} answers {said[:40]!r}, not mailhub's 'ok': {other}")
    return _ok("web", f"{url} answers ok: the web listener is up; the reverse proxy must pass {web.base_url}/ "
                      f"to {web.listen}")


def _bind_problem(host: str, port: int) -> str:
    """Why this machine cannot listen on host:port, "" when it can."""
    try:
        refused, _ = _bind_error(host, port)
    except socket.gaierror as exc:
        return str(exc.strerror)
    return _bind_words(refused) if refused is not None else ""


def tls_check(server: ServerConfig) -> Result:
    if not server.tls_cert:
        return _ok("tls", "no STARTTLS for incoming mail ('server.tls_cert' and 'server.tls_key' not set): "
                          "fine behind a local MTA; set them when mailhub itself is the MX")
    from mailhub.receive import tls_context  # the listener's own loading; keeps aiosmtpd out otherwise

    try:
        tls_context(server)
    except (ssl.SSLError, OSError) as exc:
        return _fail("tls", f"'server.tls_cert'/'server.tls_key': cannot load {server.tls_cert} with "
                            f"{server.tls_key}: {_one_line(exc)}")
    return _ok("tls", f"STARTTLS offered with {server.tls_cert}")


def _folder_check(name: str, folder: Path, what: str) -> Result:
    if folder.exists():
        if _can_write(folder):
            return _ok(name, f"{what} {folder}, which this user can write")
        return _fail(name, f"{what} {folder}, which this user cannot write: fix its owner or permissions")
    parent = _nearest_folder(folder)
    if _can_write(parent):
        return _ok(name, f"{what} {folder}, made on first use")
    return _fail(name, f"{what} {folder}, which does not exist and {parent} is not writable: create it "
                       "for the user the service runs as")


def _answer(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {' '.join(text.split())}"


def relay_check(relay: RelayConfig, domain: str, timeout: float = RELAY_TIMEOUT) -> Result:
    """Greet the relay as delivery does (EHLO, STARTTLS, login), then ask MAIL FROM one of our
    addresses and take it back (RSET): a relay that wants a login we do not give says so there.
    No mail is sent."""
    if relay.maildir:
        return _folder_check("relay", Path(relay.maildir), "copies are written into the Maildir folder")
    where = f"{relay.host}:{relay.port}"
    sender = f"mailhub-check@{domain}"
    steps = []
    try:
        with smtplib.SMTP(relay.host, relay.port, local_hostname=domain, timeout=min(relay.timeout, timeout)) as smtp:
            smtp.ehlo()
            if relay.starttls:
                smtp.starttls(context=ssl.create_default_context())  # as transport.py does
                smtp.ehlo()
                steps.append("STARTTLS")
            if relay.username:
                smtp.login(relay.username, relay.password)
                steps.append(f"login as {relay.username}")
            code, text = smtp.mail(sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, text, sender)
            smtp.rset()
    except smtplib.SMTPAuthenticationError as exc:
        return _fail("relay", f"relay {where} refused the login as '{relay.username}': {_answer(exc)}; check "
                              "'relay.username' and 'relay.password'")
    except smtplib.SMTPNotSupportedError as exc:
        hint = ("set 'relay.starttls = false', or use the relay's port that offers it" if not steps and relay.starttls
                else "it may offer a login only after STARTTLS: set 'relay.starttls = true'")
        return _fail("relay", f"relay {where}: {exc} ({hint})")
    except smtplib.SMTPSenderRefused as exc:
        return _fail("relay", f"relay {where} refused MAIL FROM:<{sender}>: {_answer(exc)}; mailhub sends from "
                              f"@{domain} addresses: give 'relay.username' and 'relay.password', or let this "
                              "host relay")
    except smtplib.SMTPResponseException as exc:
        return _fail("relay", f"relay {where} answered {_answer(exc)}")
    except ssl.SSLCertVerificationError as exc:
        return _fail("relay", f"relay {where}: its certificate is not trusted ({exc.verify_message}); it must name "
                              f"{relay.host} and come from a CA this machine trusts")
    except (ssl.SSLError, smtplib.SMTPException, OSError) as exc:
        return _fail("relay", f"cannot reach relay {where}: {_one_line(exc)}; is it running? check 'relay.host' and "
                              "'relay.port'")
    done = f" ({', '.join(steps)})" if steps else ""
    return _ok("relay", f"relay {where} answered{done} and takes mail from @{domain}; nothing was sent")


def dkim_check(dkim: DkimConfig, domain: str) -> Result:
    if not dkim.domain:
        return _ok("dkim", "not set: copies go out unsigned, so DMARC at readers' providers rests on SPF alone, "
                           "which fails when a reader forwards; see [dkim] in config.toml")
    try:
        key = public_key(read_private_key(Path(dkim.private_key)))
    except ValueError as exc:
        return _fail("dkim", f"'dkim.private_key': {exc}")
    if key.bits < MIN_RSA_BITS:
        return _fail("dkim", f"{dkim.private_key} is a {key.bits}-bit key: receivers ignore keys under "
                             f"{MIN_RSA_BITS} bits (RFC 8301); make a 2048-bit one")
    aligned = domain == dkim.domain or domain.endswith("." + dkim.domain) or dkim.domain.endswith("." + domain)
    note = "" if aligned else (f"; note: d={dkim.domain} and the list's From domain {domain} must share their "
                               "organisational domain for DMARC to count the signature")
    return _ok("dkim", f"{dkim.private_key} is a {key.bits}-bit RSA key; copies are signed d={dkim.domain} "
                       f"s={dkim.selector}{note}")


# ---- the public key, from the private one -------------------------------------------------------

RSA_ENCRYPTION = bytes.fromhex("06092a864886f70d010101")  # OID 1.2.840.113549.1.1.1, DER
DER_NULL = bytes.fromhex("0500")


@dataclass(frozen=True)
class PublicKey:
    p: str  # base64 of the DER SubjectPublicKeyInfo, as `openssl rsa -pubout` writes it
    bits: int


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _der_int(n: int) -> bytes:
    return _der(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big"))  # the extra byte keeps it positive


def public_key(pem: bytes) -> PublicKey:
    """The DKIM `p=` of an RSA private key (PKCS#1 or PKCS#8 PEM). dkimpy reads the key but has no
    encoder for this (dknewkey calls the openssl command), so the few DER bytes are built here."""
    try:
        key = parse_pem_private_key(pem)
    except (UnparsableKeyError, ValueError, IndexError) as exc:
        raise ValueError(f"not an RSA private key in PEM form ({exc})") from None
    modulus, exponent = key["modulus"], key["publicExponent"]
    rsa = _der(0x30, _der_int(modulus) + _der_int(exponent))
    info = _der(0x30, _der(0x30, RSA_ENCRYPTION + DER_NULL) + _der(0x03, b"\0" + rsa))
    return PublicKey(base64.b64encode(info).decode("ascii"), modulus.bit_length())


# ---- the DNS records ----------------------------------------------------------------------------

LOOPBACK_NAMES = ("localhost", "localhost.localdomain")
SOFT = "~all (soft fail) until DMARC reports show all your mail passes, then -all"


def _spf(config: Config) -> tuple[str, str]:
    """The SPF mechanism for the servers that hand list mail to readers, and why. Receivers see the
    relay (smarthost), not mailhub, and check SPF for the copies' envelope sender, a -bounces
    address at the list domain."""
    host = config.relay.host.lower()
    try:
        ip = ipaddress.ip_address(host) if host else None
    except ValueError:
        ip = None
    if config.relay.maildir:
        return "mx", "nothing leaves yet (copies go to a Maildir folder); with a local MTA mail leaves from this host"
    if host in LOOPBACK_NAMES or (ip is not None and ip.is_loopback):
        return "mx", f"mail leaves through the MTA on this host ({host}), the one the MX record names"
    if ip is not None and ip.is_private:
        return "mx", (f"the relay {host} is on a private network: replace mx with ip{ip.version}: and the public "
                      "address it sends from, unless that is the MX host")
    if ip is not None:
        return f"ip{ip.version}:{ip}", f"mail leaves through the relay {ip}, the address receivers see"
    return f"a:{host}", (f"mail leaves through the relay {host}, whose address receivers see; for a provider's "
                         "smarthost use the include: it documents instead")


def records(config: Config, owner: Optional[str] = None) -> list[Record]:
    """The records to publish. `owner`: the address DMARC reports go to (a group's -owner address)."""
    domain, server = config.server.domain, config.server
    if server.port == 25:
        mx_why = f"mail for @{domain} comes here: give {domain} an A (and AAAA) record with this host's address"
    else:
        mx_why = (f"mail for @{domain} comes to port 25 of this host, whose MTA must hand it to mailhub on "
                  f"{server.host}:{server.port}; give {domain} an A (and AAAA) record with this host's address")
    mechanism, spf_why = _spf(config)
    found = [Record(f"{domain}.", "MX", f"10 {domain}.", mx_why),
             Record(f"{domain}.", "TXT", f"v=spf1 {mechanism} ~all", f"SPF: {spf_why}; {SOFT}")]
    dkim = config.dkim
    if dkim.domain:
        try:
            key = public_key(read_private_key(Path(dkim.private_key)))
        except ValueError:
            key = None  # dkim_check reports it
        if key is not None:
            found.append(Record(f"{dkim.selector}._domainkey.{dkim.domain}.", "TXT", f"v=DKIM1; k=rsa; p={key.p}",
                                "DKIM: the public half of 'dkim.private_key'; receivers check each copy's "
                                "signature with it"))
    report = f"; rua=mailto:{owner}" if owner else ""
    dmarc_why = ("DMARC: p=none refuses nothing while the setup is new, and the daily reports to rua show which "
                 "servers send as @{0} and whether SPF and DKIM pass; raise to p=quarantine once they all do"
                 .format(domain))
    if not owner:
        dmarc_why += f"; add rua=mailto:GROUP-owner@{domain} once a group exists (run check again)"
    found.append(Record(f"_dmarc.{domain}.", "TXT", f"v=DMARC1; p=none{report}", dmarc_why))
    return found


def first_owner(config: Config) -> Optional[str]:
    """The -owner address of the first group by name: DMARC reports go to people who run a group.
    None when there is no database or group yet."""
    engine = None
    try:
        path = _sqlite_path(config.database.url)
        if path is not None and not path.exists():
            return None
        engine = make_engine(config.database.url, create=False)
        with Session(engine) as session:
            name = session.exec(select(Group.name).order_by(Group.name).limit(1)).first()
    except Exception:  # noqa: BLE001 - database_check reports why it cannot be read
        return None
    finally:
        if engine is not None:
            engine.dispose()
    return address_for(name, config.server.domain, "owner") if name else None


def zone_line(record: Record) -> str:
    """The record as a zone-file line. A TXT record's text is cut into quoted strings of at most 255
    characters (RFC 1035): a DKIM key is longer; resolvers join them again."""
    if record.type != "TXT":
        return f"{record.name} IN {record.type} {record.data}"
    parts = [record.data[i:i + 255] for i in range(0, len(record.data), 255)] or [""]
    quoted = ('"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"' for part in parts)
    return f"{record.name} IN TXT " + " ".join(quoted)


def run_checks(path: Optional[Path]) -> Report:
    config, loaded = config_check(path)
    if config is None:
        return Report([loaded])
    listener = listener_check(config.server)
    results = [loaded, templates_check(config), database_check(config), listener]
    if config.web.enabled:
        results.append(web_check(config.web, service_up=listener.ok and listener.text.endswith(SERVICE_UP)))
    results += [tls_check(config.server), relay_check(config.relay, config.server.domain),
                dkim_check(config.dkim, config.server.domain)]
    return Report(results, records(config, first_owner(config)))
