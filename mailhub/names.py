"""The name mailhub shows for a person: in a list copy's From ("Ann via mentors"), its footer,
digests, `get` answers and held-post notices. One rule, here."""
from __future__ import annotations


def own_name(display: str, address: str) -> str:
    """The display name a mail gives its author, or "" when it gives none. Some mail programs
    put the address itself there ("ann@example.com <ann@example.com>"): that is no name."""
    display = " ".join(display.split())
    return "" if display.lower() == address.strip().lower() else display


def author_name(display: str, member_name: str, address: str) -> str:
    """The name the author chose for this mail, else the name the group knows them by
    (`member add --name`, `profile name` by mail), else the local part of their address.

    Processing stores the first two in `Message.from_name` (see process.py), so a copy, a digest
    and `topic show` agree, and a name changed later does not rewrite what was already sent."""
    return own_name(display, address) or " ".join(member_name.split()) or address.partition("@")[0]
