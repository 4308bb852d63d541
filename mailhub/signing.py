"""DKIM-sign outgoing mail (RFC 6376: rsa-sha256, relaxed/relaxed), so copies whose From is the
group's address pass DMARC at the reader's provider.

Every list copy is signed for its recipient, because their own List-Unsubscribe and
List-Unsubscribe-Post must be under the signature (Gmail's and Yahoo's rule for one-click
unsubscribe). That stays cheap: the body hash is the same for every recipient of a copy, so it is
made once (`body_hash`) and each recipient costs hashing a header block and one RSA signature,
made by `cryptography` (OpenSSL): ~0.4 ms a copy in all, where dkimpy with its pure-Python RSA
takes ~8 ms (bench/sign.py: 10,000 copies in 3.7 s against 78 s). The canonicalization and the
header itself are the few lines below; the tests verify what they sign with dkimpy."""
from __future__ import annotations

import base64
import hashlib
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from mailhub.config import DkimConfig

log = logging.getLogger(__name__)

# Signed when present. Only headers the mail already has go into h=: signing an absent header
# would forbid adding it later.
SIGNED = ("From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "Reply-To",
          "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "List-Id", "List-Post", "List-Help",
          "List-Unsubscribe", "List-Unsubscribe-Post", "Precedence", "Auto-Submitted", "X-Original-From")
_SIGNED = {name.lower().encode() for name in SIGNED}
WIDTH = 76  # the signature header is folded to lines of at most this many characters

_LINE_END = re.compile(rb"\r?\n")
_WSP = re.compile(rb"[ \t]+")
_WSP_AT_EOL = re.compile(rb"[ \t]+\r\n")
_SPACES = re.compile(rb" +")
_WSP_RUN = re.compile(rb"[ \t]{2,}|\t")  # the runs that one space replaces and that are not one already
_HEAD_END = re.compile(rb"\r?\n\r?\n")


def _load(data: bytes) -> Any:
    """The RSA key as `cryptography` uses it; ValueError when it is something else."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(data, password=None)
    except (TypeError, ValueError, UnsupportedAlgorithm) as exc:  # TypeError: it wants a password
        raise ValueError(str(exc).split("\n")[0]) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA key")
    return key


def read_private_key(path: Path) -> bytes:
    """The PEM key, checked the way signing will read it; ValueError says what is wrong."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    try:
        _load(data)
    except ValueError as exc:
        raise ValueError(f"{path} is not an RSA private key in PEM form ({exc})") from None
    return data


# ---- RFC 6376 3.4: canonicalization ------------------------------------------------------------

def relaxed_header(name: bytes, value: bytes) -> bytes:
    """3.4.2: name in lower case, value unfolded, runs of spaces and tabs made one space, none at
    either end, none around the colon. Without the line end."""
    return name.strip().lower() + b":" + _WSP.sub(b" ", _LINE_END.sub(b"", value)).strip()


def relaxed_body(body: bytes) -> bytes:
    """3.4.4: no spaces or tabs at the end of a line, other runs of them made one space, no empty
    lines at the end; a body that is not empty ends in CRLF, an empty one hashes as nothing.

    A 150 KB digest is signed per reader, so each step first looks (in C) whether it has work:
    regex substitutions over the whole body took ~20 ms a digest, this ~0.5 ms."""
    if body.count(b"\n") != body.count(b"\r\n"):
        body = _LINE_END.sub(b"\r\n", body)  # as a bare LF reaches the reader: a line end
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"  # as SMTP adds one before the final dot
    if b" \r\n" in body or b"\t\r\n" in body:
        body = _WSP_AT_EOL.sub(b"\r\n", body)
    if b"\t" in body:
        body = _WSP_RUN.sub(b" ", body)
    elif b"  " in body:
        body = _one_space(body)
    end = len(body)
    while body.endswith(b"\r\n", 0, end):  # the empty lines at the end, and the last line end
        end -= 2
    return body[:end] + b"\r\n" if end else b""


def _one_space(body: bytes) -> bytes:
    """Each run of spaces made one space (a body without tabs), the runs found by `find`, which
    is many times faster than a regex scanning every byte."""
    kept, start = [], 0
    at = body.find(b"  ")
    while at >= 0:
        kept.append(body[start:at + 1])
        start = _SPACES.match(body, at).end()  # type: ignore[union-attr]
        at = body.find(b"  ", start)
    kept.append(body[start:])
    return b"".join(kept)


def fields(head: bytes) -> list[tuple[bytes, bytes]]:
    """(name, value) of each field of a header block, folded lines joined back with their CRLF."""
    found: list[tuple[bytes, bytes]] = []
    for line in _LINE_END.split(head):
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            if not found:
                raise ValueError("the header block starts with a folded line")
            name, value = found[-1]
            found[-1] = (name, value + b"\r\n" + line)
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name.strip():
            raise ValueError(f"header line without a name: {line[:40]!r}")
        found.append((name, value))
    return found


def split(data: bytes) -> tuple[bytes, bytes]:
    """A mail's header block and its body (what follows the empty line)."""
    end = _HEAD_END.search(data)
    return (data, b"") if end is None else (data[:end.start()], data[end.end():])


def _fold(atoms: list[tuple[bytes, bytes]], column: int) -> bytes:
    """Join (glue, text) atoms, breaking the line before an atom (its glue then becomes CRLF and
    one space) where it would pass WIDTH."""
    out = b""
    for glue, text in atoms:
        if column + len(glue) + len(text) > WIDTH and out:
            out += b"\r\n " + text
            column = 1 + len(text)
        else:
            out += glue + text
            column += len(glue) + len(text)
    return out


# ---- RFC 6376 3.5 and 3.7: the signature ---------------------------------------------------------

class Signer:
    def __init__(self, domain: str, selector: str, key: bytes) -> None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        self.domain, self.selector, self.key = domain.encode(), selector.encode(), key
        self._key, self._padding, self._hash = _load(key), padding.PKCS1v15(), hashes.SHA256()

    @classmethod
    def from_config(cls, config: DkimConfig) -> Optional[Signer]:
        """None when DKIM is not configured (config.py has checked the key is readable)."""
        if not config.domain:
            return None
        return cls(config.domain, config.selector, read_private_key(Path(config.private_key)))

    @staticmethod
    def body_hash(body: bytes) -> bytes:
        """The bh= of a body (what follows the header block's empty line): the same for every
        recipient of a list copy, so made once per copy."""
        return base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())

    def header(self, data: bytes, body_hash: Optional[bytes] = None) -> bytes:
        """The DKIM-Signature header line (CRLF-terminated) to put before `data`'s headers;
        `body_hash` when known saves hashing the body again. Empty when the mail is too broken to
        sign, so it still goes out."""
        try:
            return self._header(data, body_hash)
        except Exception as exc:  # noqa: BLE001 - a mail that cannot be signed still goes out
            log.warning("could not DKIM-sign a mail, sending it unsigned: %s", exc)
            return b""

    def sign(self, data: bytes, body_hash: Optional[bytes] = None) -> bytes:
        return self.header(data, body_hash) + data

    def _header(self, data: bytes, body_hash: Optional[bytes]) -> bytes:
        head, body = split(data)
        last: dict[bytes, tuple[bytes, bytes]] = {}  # each signed name's last field (3.5, h=)
        names: list[bytes] = []  # in the order they first appear
        for name, value in fields(head):
            key = name.strip().lower()
            if key in _SIGNED:
                if key not in last:
                    names.append(key)
                last[key] = (name, value)
        if b"from" not in last:
            raise ValueError("no From header")
        hashed = b"".join(relaxed_header(*last[name]) + b"\r\n" for name in names)
        tags = [b"v=1;", b"a=rsa-sha256;", b"c=relaxed/relaxed;", b"d=" + self.domain + b";",
                b"s=" + self.selector + b";", b"t=%d;" % int(time.time())]
        h = [b"h=" + names[0]] + [b":" + n for n in names[1:]]
        h[-1] += b";"
        atoms = [(b" ", t) for t in tags] + [(b" ", h[0])] + [(b"", n) for n in h[1:]]
        atoms.append((b" ", b"bh=" + (body_hash or self.body_hash(body)) + b";"))
        # b= on a line of its own, empty while hashing (3.7): the signature is the last thing added.
        value = _fold(atoms, len("DKIM-Signature:")) + b"\r\n b="
        hashed += relaxed_header(b"DKIM-Signature", value)  # the only field hashed without CRLF
        b = base64.b64encode(self._key.sign(hashed, self._padding, self._hash))
        lines = [b[:WIDTH - 3]] + [b[i:i + WIDTH - 1] for i in range(WIDTH - 3, len(b), WIDTH - 1)]
        return b"DKIM-Signature:" + value + b"\r\n ".join(lines) + b"\r\n"


class SlotHash:
    """The bh= of bodies that differ only in one run of bytes without blanks and of a fixed length
    (a list copy's relay address, compose.RELAY_SLOT): canonicalization leaves such a run as it
    is, so the hash of the canonical body before it is made once, and each reader's body costs
    hashing the run and what follows it, not the whole body (an attachment can be megabytes)."""

    def __init__(self, before: Any, slot: bytes, after: bytes) -> None:
        self._before, self.slot, self._after = before, slot, after

    @classmethod
    def of(cls, body: bytes, slot: bytes) -> Optional["SlotHash"]:
        """For `body` (what follows the header block's empty line) holding `slot` once; None when
        the slot is not there as it is in canonical form."""
        canonical = relaxed_body(body)
        at = canonical.find(slot)
        if not slot or at < 0 or _WSP.search(slot) or b"\n" in slot or canonical.count(slot) != 1:
            return None
        return cls(hashlib.sha256(canonical[:at]), slot, canonical[at + len(slot):])

    def body_hash(self, filled: bytes) -> bytes:
        """The bh= of the body with the slot's bytes replaced by `filled`, of the same length."""
        if len(filled) != len(self.slot):
            raise ValueError("a slot is filled with as many bytes as it holds")
        digest = self._before.copy()
        digest.update(filled)
        digest.update(self._after)
        return base64.b64encode(digest.digest())
