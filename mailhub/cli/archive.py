"""`mailhub import` and `mailhub export`: a group's archive in and out of mbox files and Maildirs."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from mailhub.cli.common import ConfigOpt, count, escaped, fail, find_group, opened


def import_archive(
    group: str,
    source: Annotated[Path, typer.Argument(metavar="SOURCE", help="an mbox file (may be gzipped), a Maildir folder "
                                                                  "or a folder of .eml files")],
    config: ConfigOpt = None,
) -> None:
    """Thread an existing archive into GROUP's topics, without sending anything.

    Each mail keeps its bytes and its Date; mails the group has already (same Message-ID and
    content) are left as they are, so running it again finishes an interrupted import. A mail
    that reuses another's Message-ID is imported under an id of its own. Mails that cannot be
    read are reported one per line, and the exit status is then 1."""
    from mailhub.archive import ArchiveError, import_mails, read_archive

    with opened(config) as (cfg, session):
        g = find_group(session, group)
        session.commit()  # end the read: the import writes in batches of its own
        try:
            mails = read_archive(source)
        except ArchiveError as exc:
            fail(str(exc))
        report = import_mails(session.get_bind(), cfg, g, mails)  # type: ignore[arg-type]
    for problem in report.problems:
        typer.echo(escaped(problem), err=True)
    typer.echo(f"imported {count(report.imported, 'message')} into {count(len(report.topics), 'topic')}; "
               f"{report.already} already there; {len(report.problems)} skipped")
    if report.problems:
        raise typer.Exit(1)


def export_archive(
    group: str,
    mbox: Annotated[Path, typer.Option("--mbox", metavar="FILE", help="the mbox file to write")],
    force: Annotated[bool, typer.Option("--force", help="replace FILE if it exists")] = False,
    config: ConfigOpt = None,
) -> None:
    """Write GROUP's archive (its published posts, oldest first, as received) to an mbox file
    (mboxrd) that mutt, Python's mailbox and Mailman 3's HyperKitty read."""
    from mailhub.archive import write_mbox

    with opened(config) as (_, session):
        g = find_group(session, group)
        if mbox.is_dir():
            fail(f"{mbox} is a folder; give the name of the mbox file to write")
        if mbox.exists() and not force:
            fail(f"{mbox} exists already; add --force to replace it")
        folder = mbox.parent
        try:
            # Written beside the target and renamed at the end: a failed export leaves no half file
            # and does not spoil the one it was to replace.
            with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{mbox.name}.", delete=False) as out:
                try:
                    written = write_mbox(session.get_bind(), g.id, out)  # type: ignore[arg-type]
                except BaseException:
                    os.unlink(out.name)
                    raise
            os.chmod(out.name, 0o666 & ~_umask())  # as any file the user writes, not the temporary file's 0600
            os.replace(out.name, mbox)
        except OSError as exc:
            fail(f"cannot write {mbox}: {exc.strerror or exc}")
    typer.echo(f"wrote {count(written, 'message')} of {g.name} to {mbox}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
