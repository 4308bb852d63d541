"""`mailhub import` and `mailhub export`: a group's archive in and out of mbox files and Maildirs."""
from __future__ import annotations

from mailhub.cli.common import ConfigOpt, fail


def import_archive(group: str, source: str, config: ConfigOpt = None) -> None:
    """Thread an existing archive (an mbox file or a Maildir) into GROUP's topics, without sending."""
    fail("not written yet")


def export_archive(group: str, config: ConfigOpt = None) -> None:
    """Write GROUP's archive out as an mbox file."""
    fail("not written yet")
