"""A message whose processing keeps failing is tried a few times, then set aside with its error;
the listener and the messages behind it carry on, and `mailhub failed` shows, retries or deletes
it. The failure here is real: the templates folder lacks the one a held post needs."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from conftest import DOMAIN, Env, mail, wait_for
from mailhub.config import REPO_TEMPLATES

MOD, ANN, BOB = "mod@example.com", "ann@example.com", "bob@example.com"


def failed(env: Env) -> list[dict]:
    return json.loads(env.cli("failed", "list", "--json").output)


def test_a_failing_message_is_set_aside_and_can_be_retried_or_deleted(tmp_path: Path, sink):
    templates = tmp_path / "tpl"
    shutil.copytree(REPO_TEMPLATES, templates)
    (templates / "held.txt").unlink()
    env = Env(tmp_path, sink.port, extra="lease_seconds = 0.3")
    env.edit_config(lambda text: 'templates = "tpl"\n' + text)
    try:
        env.group("mentors", ANN, policy="moderated")
        env.cli("member", "add", "mentors", MOD, "--role", "moderator")
        env.group("staff", ANN, BOB, policy="open")
        assert env.cli("failed", "list").output.strip() == "no failed messages"
        env.start()

        env.send(mail(subject="Held for sure", sender=ANN), [f"mentors@{DOMAIN}"])  # 250: it is stored
        [row] = wait_for(lambda: failed(env), what="the message to be set aside")
        assert row["group"] == "mentors" and row["attempts"] == 3 and row["from"] == ANN
        assert "held.txt" in row["error"]
        shown = env.cli("failed", "show", str(row["id"])).output
        assert "Subject: Held for sure" in shown and "held.txt" in shown
        assert env.cli("failed", "show", str(row["id"]), "--raw").output.startswith(f"From: {ANN}")

        # The listener and the queue behind it carry on.
        env.send(mail(subject="Staff news", sender=ANN, to=f"staff@{DOMAIN}"), [f"staff@{DOMAIN}"])
        assert sink.wait(BOB)[0]["Subject"] == "[staff] Staff news"

        shutil.copy(REPO_TEMPLATES / "held.txt", templates / "held.txt")
        assert "queued again" in env.cli("failed", "retry", str(row["id"])).output
        notice = sink.wait(MOD)[0]
        assert "Held for sure" in str(notice["Subject"])
        assert failed(env) == []

        (templates / "held.txt").unlink()
        env.send(mail(subject="Second", sender=ANN), [f"mentors@{DOMAIN}"])
        [second] = wait_for(lambda: failed(env), what="the second message to be set aside")
        assert env.cli("failed", "delete", str(second["id"])).output.strip() == f"deleted message {second['id']}"
        assert failed(env) == []
        gone = env.cli("failed", "show", str(second["id"]), ok=False)
        assert gone.exit_code == 1 and f"no message with id {second['id']}" in gone.output
        not_failed = env.cli("failed", "retry", str(row["id"]), ok=False)
        assert not_failed.exit_code == 1 and "is not failed (it is held)" in not_failed.output
    finally:
        env.stop()



def test_one_failing_message_in_a_batch_fails_alone(tmp_path: Path) -> None:
    """The worker works the mail it claims in batches, one transaction each: a message that fails
    undoes its batch and then fails alone; the others are posted."""
    from sqlmodel import Session

    from mailhub.db import make_engine
    from mailhub.process import MAX_ATTEMPTS, process_pending
    from mailhub.store import Incoming, insert_incoming

    templates = tmp_path / "tpl"
    shutil.copytree(REPO_TEMPLATES, templates)
    (templates / "held.txt").unlink()  # the moderator's notice of a held post cannot be written
    env = Env(tmp_path, 9, extra="lease_seconds = 0.3")  # no service: the test is the worker
    env.edit_config(lambda text: 'templates = "tpl"\n' + text)
    env.group("mentors", ANN, BOB)
    env.cli("member", "add", "mentors", MOD, "--role", "moderator")
    group_id = json.loads(env.cli("group", "show", "mentors", "--json").output)["id"]
    engine = make_engine(env.config.database.url)
    senders = {"first": ANN, "second": BOB, "held for sure": "stranger@example.org", "fourth": ANN, "fifth": BOB}
    with Session(engine) as session:
        insert_incoming(session, [Incoming(group_id=group_id, channel="post", address_token=None,
                                           rcpt=f"mentors@{DOMAIN}", envelope_from=sender,
                                           raw=mail(subject=subject, sender=sender), header_id=None)
                                  for subject, sender in senders.items()], DOMAIN)
        session.commit()
    for _ in range(MAX_ATTEMPTS):  # the failing one is claimed again when its lease has run out
        process_pending(engine, env.config)
        time.sleep(0.4)
    engine.dispose()
    rows = {m["subject"]: m["state"] for m in json.loads(env.cli("messages", "mentors", "--json").output)}
    assert rows == {"first": "posted", "second": "posted", "held for sure": "failed", "fourth": "posted",
                    "fifth": "posted"}
