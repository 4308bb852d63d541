"""Parse a recipient address into what it asks for: one parse, one typed value."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailhub.parse import Parsed

# Suffixes that turn a group address into a service address. "post" is the bare group.
KINDS = ("join", "leave", "request", "owner", "bounces")
# Addresses of the site, not of a group: RFC 5321 4.5.1 requires postmaster, RFC 2142 names abuse.
SITE = ("postmaster", "abuse")
POSTMASTER = "postmaster"  # the kind of both: their mail goes to server.postmaster
TOKEN_KINDS = {"post", "leave", "request", "bounces"}  # kinds whose address may carry +token
# `group+p-TOKEN@`: a private mail to one member through the group (relay.py); the token says
# who may write to whom. `group-pair-KEY@`: a mentoring pair's channel (pairs.py).
PRIVATE, PAIR = "private", "pair"
PRIVATE_MARK = "p-"
_PAIR = re.compile(r"^(?P<group>.+)-pair-(?P<key>[a-z0-9]{6,32})$")

GROUP_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
_LOCAL = re.compile(r"^(?P<base>[a-z0-9][a-z0-9._-]*)(?:\+(?P<token>[A-Za-z0-9_-]{1,64}))?$")


@dataclass(frozen=True)
class Address:
    group: str  # "" for the site's own addresses
    kind: str  # "post", one of KINDS, or POSTMASTER
    token: str | None = None


class AddressError(ValueError):
    """Not an address this service receives mail for; the text is the SMTP reply reason."""


class RelayRefused(AddressError):
    """An address that would have this server pass mail on: another domain, a source route, a %- or !-path."""


def group_name_problem(name: str) -> str | None:
    """Why `name` cannot be a group name, or None if it can."""
    if not GROUP_NAME.fullmatch(name):
        return "use lowercase letters, digits, '.', '-' or '_' (at most 64), starting and ending with a letter or digit"
    for kind in KINDS:
        if name.endswith("-" + kind):
            return f"names ending in '-{kind}' are kept for service addresses"
    if name in SITE:
        return f"'{name}@' is the site's own address, not a group's"
    if "-pair-" in name:
        return "names with '-pair-' are kept for mentoring pairs' addresses"
    return None


def parse_address(address: str, domain: str) -> Address:
    """Split `local@domain` into group, kind and token; raise AddressError for anything else.

    Source routes, %-hacks, !-paths, quoted local parts, IP literals and other domains never
    parse, so they can never be relayed.
    """
    address = address.strip()
    if address.startswith("<") != address.endswith(">"):
        raise AddressError("not a mail address: '<' and '>' do not match")
    if address.startswith("<"):
        address = address[1:-1]
    if address.startswith("@"):  # <@relay.example:user@domain>, RFC 5321 4.1.1.3 lets us decline it
        raise RelayRefused("relay access denied: source routes are not accepted")
    if address.lower() == POSTMASTER:  # RFC 5321 4.1.1.3: <Postmaster> alone, any case, must be taken
        return Address(group="", kind=POSTMASTER)
    local, at, dom = address.rpartition("@")
    if not at or not local:
        raise AddressError("not a mail address")
    if dom.lower().rstrip(".") != domain:
        raise RelayRefused("relay access denied: this server only takes mail for " + domain)
    if "%" in local or "!" in local:
        raise RelayRefused("relay access denied: '%' and '!' routes are not accepted")
    if local.startswith('"'):
        raise AddressError("quoted local parts are not accepted")
    if local.lower() in SITE:
        return Address(group="", kind=POSTMASTER)
    base_part, plus, token_part = local.partition("+")
    m = _LOCAL.fullmatch(base_part.lower() + plus + token_part)  # tokens are case-sensitive
    if not m:
        raise AddressError("no such address")
    base, token = m.group("base"), m.group("token")
    pair = _PAIR.fullmatch(base)
    if pair and token is None and not group_name_problem(pair.group("group")):
        return Address(group=pair.group("group"), kind=PAIR, token=pair.group("key"))
    kind = "post"
    for suffix in KINDS:
        if base.endswith("-" + suffix) and len(base) > len(suffix) + 1:
            kind, base = suffix, base[: -len(suffix) - 1]
            break
    if token is not None and kind not in TOKEN_KINDS:
        raise AddressError("no such address")
    if group_name_problem(base):
        raise AddressError("no such address")
    if kind == "post" and token is not None and token.startswith(PRIVATE_MARK):
        return Address(group=base, kind=PRIVATE, token=token[len(PRIVATE_MARK):].lower())
    return Address(group=base, kind=kind, token=token)


def list_id(group: str, domain: str) -> str:
    """The group's List-Id (RFC 2919): what copies carry, and how a looped copy is recognised."""
    return f"{group}.{domain}"


def address_for(group: str, domain: str, kind: str = "post", token: str | None = None) -> str:
    if kind == PRIVATE:
        return f"{group}+{PRIVATE_MARK}{token}@{domain}"
    if kind == PAIR:
        return f"{group}-pair-{token}@{domain}"
    local = group if kind == "post" else f"{group}-{kind}"
    if token:
        local += "+" + token
    return f"{local}@{domain}"


DIGEST_ID = "mailhub-digest."


def digest_message_id(issue_id: int, member_id: int, domain: str) -> str:
    """The Message-ID of one reader's digest, without <>."""
    return f"{DIGEST_ID}{issue_id}.{member_id}@{domain}"


def is_digest_id(message_id: str, domain: str) -> bool:
    """Whether a Message-ID (as In-Reply-To/References name it) is one of our digests."""
    local, _, dom = message_id.strip("<> ").rpartition("@")
    return local.startswith(DIGEST_ID) and dom.lower() == domain


def answers_digest(mail: "Parsed", domain: str) -> bool:
    """Whether `mail` replies to one of our digests rather than to a topic."""
    return any(is_digest_id(ref, domain) for ref in (*mail.in_reply_to, *mail.references))


_MAILBOX = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def normalize_email(text: str) -> str:
    """A member's address as stored and compared: lowercased, checked to be one plain mailbox."""
    address = text.strip().lower()
    if len(address) > 254 or not _MAILBOX.fullmatch(address) or ".." in address:
        shown = text.strip().encode("unicode_escape").decode("ascii")  # keep the error on one line
        raise AddressError(f"'{shown}' is not a valid mail address")
    return address
