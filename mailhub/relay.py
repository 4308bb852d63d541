"""Relay tokens: the `group+p-TOKEN@` address that lets one member write privately to another
without either learning the other's address. Pure functions; the checks that need the database
(still members, blocked, rate) are in private.py.

A token names who may write (the writer), who gets it (the reader), and the day it was made, and
is signed with the site's secret for this group: it cannot be made for another pair or group, or
kept alive past `limits.relay_days`, without the key. Base32, lowercase: some mail systems
lowercase addresses, and the token must survive that. Always TOKEN_LENGTH characters, so a copy's
footer can hold a place for it (compose.RELAY_SLOT) and be filled per reader without re-encoding."""
from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import date, datetime, timezone

_LAYOUT = struct.Struct(">IIH")  # writer member id, reader member id, day made (days since 1970)
_MAC_BYTES = 10
TOKEN_LENGTH = (_LAYOUT.size + _MAC_BYTES) * 8 // 5  # 20 bytes: 32 base32 characters, no padding
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Grant:
    writer: int  # member ids, in the group the address names
    reader: int
    day: int


def _mac(secret: bytes, group_id: int, packed: bytes) -> bytes:
    message = b"mailhub-relay\x00" + str(group_id).encode() + b"\x00" + packed
    return hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_BYTES]


def day_number(when: datetime) -> int:
    return (when.astimezone(timezone.utc).date() - _EPOCH).days


def make_token(secret: bytes, group_id: int, writer: int, reader: int, when: datetime) -> str:
    packed = _LAYOUT.pack(writer, reader, day_number(when))
    return base64.b32encode(packed + _mac(secret, group_id, packed)).decode().lower()


def read_token(secret: bytes, group_id: int, token: str, now: datetime, days: float) -> Grant | None:
    """The grant a token carries, or None when it is not one of ours, is for another group, or is
    older than `days`."""
    if len(token) != TOKEN_LENGTH:
        return None
    try:
        data = base64.b32decode(token.upper())
    except ValueError:
        return None
    packed, mac = data[:_LAYOUT.size], data[_LAYOUT.size:]
    if not hmac.compare_digest(mac, _mac(secret, group_id, packed)):
        return None
    writer, reader, day = _LAYOUT.unpack(packed)
    if not 0 <= day_number(now) - day < days:
        return None
    return Grant(writer=writer, reader=reader, day=day)
