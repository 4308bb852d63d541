"""Web links that save a member a reply: one-click unsubscribe (RFC 8058) in every copy and
digest, and a link in join/leave confirmations and held-post notices.

A link is `BASE/KIND/ID-MAC`: KIND says what it does, ID is the row it acts on (a member for
`u`, a pending Token for `c` and `m`), and MAC an HMAC of both with that row's own random token,
keyed with the installation's secret. So a link cannot be made up or moved to another row, it
dies with its row (a member who leaves and joins again gets new ones; a used or expired
confirmation is gone or refused by its expiry), and checking one needs no table of links."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from mailhub.config import Config

UNSUBSCRIBE, CONFIRM, MODERATE = "u", "c", "m"
KINDS = (UNSUBSCRIBE, CONFIRM, MODERATE)
SECRET = "secret"  # its SiteSetting name
_MAC_CHARS = 27  # of base64url: 160 bits
_TOKEN = re.compile(r"\A([1-9][0-9]{0,18})-([A-Za-z0-9_-]{%d})\Z" % _MAC_CHARS)


_secrets: dict[str, bytes] = {}  # database URL -> its secret, which never changes once made


def site_secret(session: Session) -> bytes:
    """The installation's HMAC key: made at random the first time (in the caller's transaction,
    which commits it), then the same for every process on the database."""
    from sqlmodel import select

    from mailhub.db import insert_ignoring_duplicates
    from mailhub.models import SiteSetting

    where = str(session.get_bind().url)
    if where not in _secrets:
        stored = select(SiteSetting.value).where(SiteSetting.name == SECRET)
        value = session.exec(stored).first()
        if value is None:  # written only the first time: a reading session stays a reader
            insert_ignoring_duplicates(session, SiteSetting, [{"name": SECRET, "value": secrets.token_hex(32)}],
                                       ["name"])
            value = session.exec(stored).one()
        _secrets[where] = bytes.fromhex(value)
    return _secrets[where]


def ensure_site_secret(engine: Engine) -> bytes:
    """Make the secret now, in a transaction of its own (the service does this at start, so the
    web listener, which only reads, always finds it)."""
    from sqlmodel import Session

    from mailhub.db import writing

    with writing(engine), Session(engine) as session:
        secret = site_secret(session)
        session.commit()
    return secret


def mac(secret: bytes, kind: str, row_id: int, nonce: str) -> str:
    digest = hmac.new(secret, f"{kind}\0{row_id}\0{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:_MAC_CHARS]


def token(secret: bytes, kind: str, row_id: int, nonce: str) -> str:
    """The last part of a link's path."""
    return f"{row_id}-{mac(secret, kind, row_id, nonce)}"


def url(config: Config, secret: bytes, kind: str, row_id: int, nonce: str) -> Optional[str]:
    """The link, or None while the web listener is off ([web] not set)."""
    if not config.web.enabled:
        return None
    return f"{config.web.base_url}/{kind}/{token(secret, kind, row_id, nonce)}"


@dataclass(frozen=True)
class Claimed:
    row_id: int
    given_mac: str


def read(text: str) -> Optional[Claimed]:
    """A path's token split into the row it names and its MAC, or None for anything else."""
    found = _TOKEN.match(text)
    return Claimed(int(found.group(1)), found.group(2)) if found else None


def valid(secret: bytes, kind: str, claimed: Claimed, nonce: str) -> bool:
    """Whether the MAC is the one made for this row with this nonce (in constant time)."""
    return hmac.compare_digest(mac(secret, kind, claimed.row_id, nonce), claimed.given_mac)
