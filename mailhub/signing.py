"""DKIM-sign outgoing mail with dkimpy (relaxed/relaxed), so copies whose From is the group's
address pass DMARC at the reader's provider."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import dkim
from dkim.crypto import UnparsableKeyError, parse_pem_private_key

if TYPE_CHECKING:
    from mailhub.config import DkimConfig

log = logging.getLogger(__name__)

# Signed when present. Only headers the mail already has go into h=: signing an absent header
# would forbid adding it later, and a list copy gets its List-Unsubscribe after signing.
SIGNED = ("From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "Reply-To",
          "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "List-Id", "List-Post", "List-Help",
          "List-Unsubscribe", "List-Unsubscribe-Post", "Precedence", "Auto-Submitted", "X-Original-From")
_SIGNED = {name.lower().encode() for name in SIGNED}


def read_private_key(path: Path) -> bytes:
    """The PEM key, checked the way signing will read it; ValueError says what is wrong."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    try:
        parse_pem_private_key(data)
    except (UnparsableKeyError, ValueError, IndexError) as exc:
        raise ValueError(f"{path} is not an RSA private key in PEM form ({exc})") from None
    return data


def _present(head: bytes) -> list[bytes]:
    """Names of the SIGNED headers in a header block, in the order they appear."""
    names: list[bytes] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") or b":" not in line:
            continue
        name = line.split(b":", 1)[0].strip().lower()
        if name in _SIGNED and name not in names:
            names.append(name)
    return names


class Signer:
    def __init__(self, domain: str, selector: str, key: bytes) -> None:
        self.domain, self.selector, self.key = domain.encode(), selector.encode(), key

    @classmethod
    def from_config(cls, config: DkimConfig) -> Optional[Signer]:
        """None when DKIM is not configured (config.py has checked the key is readable)."""
        if not config.domain:
            return None
        return cls(config.domain, config.selector, read_private_key(Path(config.private_key)))

    def header(self, data: bytes) -> bytes:
        """The DKIM-Signature header line (CRLF-terminated) to put before `data`'s headers; empty
        when the mail is too broken to sign, so it still goes out."""
        head = data.split(b"\r\n\r\n", 1)[0]
        try:
            return dkim.sign(data, self.selector, self.domain, self.key, canonicalize=(b"relaxed", b"relaxed"),
                             include_headers=_present(head))
        except Exception as exc:  # noqa: BLE001 - dkimpy raises several kinds on malformed mail
            log.warning("could not DKIM-sign a mail, sending it unsigned: %s", exc)
            return b""

    def sign(self, data: bytes) -> bytes:
        return self.header(data) + data
