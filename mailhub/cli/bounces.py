"""`mailhub bounces GROUP`: each member's bounce score and whether delivery to them stopped."""
from __future__ import annotations

from typing import TYPE_CHECKING

from mailhub.cli.common import ConfigOpt, JsonOpt, count, find_group, opened, print_rows, when

if TYPE_CHECKING:
    from mailhub.models import Member


def bounce_state(member: Member) -> str:
    if member.disabled_at is not None:
        return f"stopped ({count(member.warnings, 'warning')} sent)"
    if member.bounce_score or member.temporary_since:
        return "bouncing"
    return "ok"


def bounces(group: str, as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Members with a bounce score or stopped delivery (members with neither are left out)."""
    from sqlmodel import col, select

    from mailhub.models import Member

    with opened(config) as (_, session):
        g = find_group(session, group)
        members = session.exec(select(Member).where(
            Member.group_id == g.id,
            (Member.bounce_score > 0) | col(Member.temporary_since).is_not(None) | col(Member.disabled_at).is_not(None))
            .order_by(col(Member.bounce_score).desc(), Member.email)).all()
        rows = [{"email": m.email, "score": m.bounce_score, "state": bounce_state(m),
                 "last_counted": when(m.bounce_counted_at), "temporary_since": when(m.temporary_since),
                 "stopped": when(m.disabled_at), "warnings": m.warnings, "last_warning": when(m.warned_at)}
                for m in members]
    print_rows(rows, as_json, ["email", "score", "state", "last_counted", "stopped"],
               f"no member of {g.name} bounces")
