"""`mailhub private`: the log of private mail passed on through a group (relay addresses and
mentoring pairs), newest first: who wrote to whom, when and how big. The text is never shown:
the log exists so staff can see that private mail flows, not what it says."""
from __future__ import annotations

from typing import Annotated

import typer

from mailhub.cli.common import ConfigOpt, JsonOpt, fail, find_group, opened, print_rows, when


def private(
    group: Annotated[str, typer.Argument(help="the group")],
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 50,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Private mail members sent each other through the group, newest first: when, kind (private
    or pair), from, to and size; never the text."""
    from sqlmodel import col, select

    from mailhub.models import Pair, RelayLog

    if limit < 1:
        fail(f"--limit must be at least 1, not {limit}")
    with opened(config) as (_, session):
        found = find_group(session, group)
        rows = session.exec(select(RelayLog, Pair.key).join(Pair, col(Pair.id) == RelayLog.pair_id, isouter=True)
                            .where(RelayLog.group_id == found.id)
                            .order_by(col(RelayLog.at).desc(), col(RelayLog.id).desc()).limit(limit)).all()
        listed = [{"at": when(row.at), "kind": row.kind, "sender": row.sender, "recipient": row.recipient,
                   "size": row.size, "pair": key, "message": row.message_pk} for row, key in rows]
    print_rows(listed, as_json, ["at", "kind", "sender", "recipient", "size", "pair"],
               f"no private mail in {found.name}")
