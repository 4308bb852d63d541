"""`mailhub check`: is this installation ready to take and send mail?"""
from __future__ import annotations

from mailhub.cli.common import ConfigOpt, fail


def check(config: ConfigOpt = None) -> None:
    """Check the config, the database, the relay and the DKIM key; print the DNS records to publish."""
    fail("not written yet")
