"""Relay addresses: the `group+p-TOKEN@` address that lets one member write privately to another
without either learning the other's address, and who may use a relay or pair address (`route`,
`rcpt_problem`: the listener asks at RCPT, private.py again when it works the mail). Only the
tables and the site's key: the listener loads nothing of the mail-writing code for this.

A token names who may write (the writer), who gets it (the reader), and the day it was made,
hidden from whoever reads it, and is signed with the site's secret for this group: it cannot be
made for another pair or group, or kept alive past `limits.relay_days`, without the key. Base32,
lowercase: some mail systems lowercase addresses, and the token must survive that. Always
TOKEN_LENGTH characters, so a copy's footer can hold a place for it (compose.RELAY_SLOT) and be
filled per reader without re-encoding."""
from __future__ import annotations

import base64
import hmac
import struct
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Optional

from sqlmodel import Session, func, select

from mailhub import links
from mailhub.config import Config
from mailhub.models import Block, Member, Pair, RelayLog
from mailhub.router import PAIR, PRIVATE, Address

_LAYOUT = struct.Struct(">IIH")  # writer member id, reader member id, day made (days since 1970)
_MAC_BYTES = 10
TOKEN_LENGTH = (_LAYOUT.size + _MAC_BYTES) * 8 // 5  # 20 bytes: 32 base32 characters, no padding
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Grant:
    writer: int  # member ids, in the group the address names
    reader: int
    day: int


def _mac(secret: bytes, group_id: int, packed: bytes, bind: bytes) -> bytes:
    message = b"mailhub-relay\x00" + str(group_id).encode() + b"\x00" + packed + b"\x00" + bind
    return hmac.digest(secret, message, "sha256")[:_MAC_BYTES]  # one C call: a token is made per copy


def bind(writer_token: str, reader_token: str) -> bytes:
    """What ties a token to these two memberships (their Member.token), not only to their row
    numbers: a database may give a deleted member's number to the next one who joins, who must
    not get the mail meant for the one who left."""
    return f"{writer_token}\x00{reader_token}".encode()


def day_number(when: datetime) -> int:
    return (when.astimezone(timezone.utc).date() - _EPOCH).days


def _mask(secret: bytes, mac: bytes) -> bytes:
    """What the ids and day are hidden under: drawn from the MAC, so that the token shows no
    member's number (nor how many there are) to whoever reads it; only the site can read it."""
    return hmac.digest(secret, b"mailhub-relay-mask\x00" + mac, "sha256")[:_LAYOUT.size]


def _xor(data: bytes, mask: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, mask))


def make_token(secret: bytes, group_id: int, writer: int, reader: int, when: datetime, bound: bytes) -> str:
    """`bound`: `bind` of the two members."""
    packed = _LAYOUT.pack(writer, reader, day_number(when))
    mac = _mac(secret, group_id, packed, bound)
    return base64.b32encode(mac + _xor(packed, _mask(secret, mac))).decode().lower()


def read_token(secret: bytes, group_id: int, token: str, now: datetime, days: float,
               bound: Callable[[int, int], bytes]) -> Grant | None:
    """The grant a token carries, or None when it is not one of ours, is for another group or other
    memberships (`bound(writer, reader)`: `bind` of the members with those numbers now), or is
    older than `days`."""
    if len(token) != TOKEN_LENGTH:
        return None
    try:
        data = base64.b32decode(token.upper())
    except ValueError:
        return None
    mac = data[:_MAC_BYTES]
    packed = _xor(data[_MAC_BYTES:], _mask(secret, mac))
    writer, reader, day = _LAYOUT.unpack(packed)
    if not hmac.compare_digest(mac, _mac(secret, group_id, packed, bound(writer, reader))):
        return None
    if not 0 <= day_number(now) - day < days:
        return None
    return Grant(writer=writer, reader=reader, day=day)


# Every refusal of a relay or pair address reads alike, whether the token is forged, expired or
# ended, or the sender is not the member it was given to: nothing tells a stranger who is a member.
NO_SUCH = "no such address"
BLOCKED = "the member does not take private mail from you"
TOO_MANY = "too many private messages in the last hour, please try again later"


@dataclass(frozen=True)
class Route:
    """Who writes (the sender, checked) and who gets it, in one group; `pair` for a pair channel."""

    writer: Member
    reader: Member
    pair: Optional[Pair] = None
    # The writer blocked the reader: a block works both ways, so only `unblock` (or `block`) passes.
    blocking: bool = False


def _member(session: Session, group_id: int, member_id: int) -> Optional[Member]:
    member = session.get(Member, member_id)
    return member if member is not None and member.group_id == group_id else None


def _by_address(session: Session, group_id: int, email: str) -> Optional[Member]:
    return session.exec(select(Member).where(Member.group_id == group_id, Member.email == email)).first()


def route(session: Session, config: Config, group_id: int, address: Address, sender: str,
          now: datetime) -> Route | str:
    """Where mail from `sender` to a relay or pair address goes, or why it may not (NO_SUCH or
    BLOCKED). `now` is when it arrived, so working it again later decides the same."""
    sender = sender.lower()
    if address.kind == PRIVATE:
        members: dict[int, Optional[Member]] = {}

        def bound(writer_id: int, reader_id: int) -> bytes:
            members.update({i: _member(session, group_id, i) for i in (writer_id, reader_id)})
            found = members[writer_id], members[reader_id]
            return bind(found[0].token, found[1].token) if found[0] and found[1] else b""

        grant = read_token(links.site_secret(session), group_id, address.token or "", now, config.limits.relay_days,
                           bound)
        if grant is None:
            return NO_SUCH
        writer, reader = members[grant.writer], members[grant.reader]
        pair = None
    elif address.kind == PAIR:
        pair = session.exec(select(Pair).where(Pair.group_id == group_id, Pair.key == address.token,
                                               Pair.ended_at.is_(None))).first()  # type: ignore[union-attr]
        if pair is None or sender not in (pair.mentor, pair.mentee):
            return NO_SUCH
        other = pair.mentee if sender == pair.mentor else pair.mentor
        writer, reader = _by_address(session, group_id, sender), _by_address(session, group_id, other)
    else:
        return NO_SUCH
    if writer is None or reader is None or writer.email != sender:
        return NO_SUCH
    if pair is None and session.exec(select(Block.id).where(
            Block.group_id == group_id, Block.blocker == reader.email, Block.blocked == writer.email)).first():
        return BLOCKED
    blocking = pair is None and session.exec(select(Block.id).where(
        Block.group_id == group_id, Block.blocker == writer.email, Block.blocked == reader.email)).first() is not None
    return Route(writer, reader, pair, blocking)


def rcpt_problem(session: Session, config: Config, group_id: int, address: Address, sender: str,
                 now: datetime) -> Optional[str]:
    """The SMTP reply refusing mail from `sender` to a relay or pair address, or None to take it."""
    found = route(session, config, group_id, address, sender, now)
    if found == NO_SUCH:
        return f"550 5.1.1 {NO_SUCH}"
    if found == BLOCKED:
        return f"550 5.7.1 {BLOCKED}"
    since = now - timedelta(hours=1)
    sent = session.exec(select(func.count()).select_from(RelayLog).where(
        RelayLog.group_id == group_id, RelayLog.sender == sender.lower(), RelayLog.at >= since)).one()
    if sent >= config.limits.relay_per_hour:
        return f"450 4.7.1 {TOO_MANY}"
    return None
