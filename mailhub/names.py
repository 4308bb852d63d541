"""The name mailhub shows for a person: in a list copy's From ("Ann via mentors"), its footer,
digests, `get` answers and held-post notices. One rule, here."""
from __future__ import annotations

import re

# Anything shaped like an address inside a name: "Ann (ann@example.com)", "'ann@example.com'".
_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;]+@[^\s<>()\[\]\"',;]+")
_AROUND = " ()[]<>'\"-,;:|"


def own_name(display: str, address: str) -> str:
    """The display name a mail gives its author, or "" when it gives none. Some mail programs
    put the address itself there ("ann@example.com <ann@example.com>"): that is no name."""
    display = " ".join(display.split())
    return "" if display.lower() == address.strip().lower() else display


def without_addresses(name: str) -> str:
    """`name` with any address in it taken out ("Ann (ann@example.com)" is "Ann"), or "" when
    nothing but punctuation is left: what a group that hides addresses may show."""
    kept = " ".join(_ADDRESS.sub(" ", name).split()).strip(_AROUND)
    return kept if any(ch.isalnum() for ch in kept) else ""


def author_name(display: str, member_name: str, address: str, hidden: bool = False) -> str:
    """The name the author chose for this mail, else the name the group knows them by
    (`member add --name`, `profile name` by mail), else the local part of their address.
    With `hidden` (the group hides addresses) no address or part of one: "" when the author has no
    name, and the caller says "a member" in the reader's language.

    Processing stores the first two in `Message.from_name` (see process.py), so a copy, a digest
    and `topic show` agree, and a name changed later does not rewrite what was already sent."""
    if hidden:
        return without_addresses(own_name(display, address)) or without_addresses(" ".join(member_name.split()))
    return own_name(display, address) or " ".join(member_name.split()) or address.partition("@")[0]
