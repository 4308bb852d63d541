"""The `mailhub` admin commands, run through typer's CliRunner against a fresh SQLite file per test."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from conftest import DOMAIN, Env
from mailhub.cli import app
from mailhub.db import make_engine
from mailhub.models import Topic

# ---- helpers -----------------------------------------------------------------------------------


def assert_error(result: Any, *fragments: str) -> str:
    """A failed command: exit 1, exactly one line starting with `error:`, no crash, no traceback."""
    assert result.exit_code == 1, f"exit {result.exit_code}: {result.output!r}"
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"crashed instead of a one-line error: {result.exception!r}"
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got: {result.output!r}"
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


def assert_usage_error(result: Any, *fragments: str) -> str:
    """A command line that does not parse: exit 2, one `error:` line and a `try '… --help'` line."""
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("try 'mailhub "), lines
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


def as_json(env: Env, *args: str) -> Any:
    return json.loads(env.cli(*args, "--json").output)


def pending(env: Env) -> int:
    return as_json(env, "queue")["counts"]["pending"]


def post(env: Env, group: str, sender: str, subject: str, body: str = "Hello everyone", ok: bool = True) -> Any:
    return env.cli("post", group, "--from", sender, "--subject", subject, "--body", body, ok=ok)


def held_ids(env: Env, *group: str) -> list[int]:
    return [row["id"] for row in as_json(env, "held", "list", *group)]


def posted_id(result: Any) -> int:
    # "posted message 3 to mentors: 2 copies queued" / "message 3 was held: ..."
    words = result.output.split()
    return int(words[words.index("message") + 1])


# ---- groups ------------------------------------------------------------------------------------


def test_group_create_prints_the_post_address_and_policy(env: Env) -> None:
    result = env.cli("group", "create", "mentors")
    assert f"mentors@{DOMAIN}" in result.output
    assert "policy: members" in result.output


def test_group_create_stores_title_description_and_policy(env: Env) -> None:
    env.cli("group", "create", "mentors", "--title", "Mentoring circle",
            "--description", "Mentors help each other", "--policy", "moderated")
    shown = as_json(env, "group", "show", "mentors")
    assert shown["title"] == "Mentoring circle"
    assert shown["description"] == "Mentors help each other"
    assert shown["policy"] == "moderated"


def test_group_create_rejects_a_name_that_already_exists(env: Env) -> None:
    env.cli("group", "create", "mentors")
    assert_error(env.cli("group", "create", "mentors", ok=False), "mentors", "already exists")
    assert [g["name"] for g in as_json(env, "group", "list")] == ["mentors"]


@pytest.mark.parametrize("name", ["x-join", "team-leave", "help-request", "boss-owner", "mentors-bounces"])
def test_group_create_rejects_a_name_kept_for_service_addresses(env: Env, name: str) -> None:
    assert_error(env.cli("group", "create", name, ok=False), "invalid group name", name)
    assert as_json(env, "group", "list") == []


@pytest.mark.parametrize("name", ["my group", "My Group", "_mentors", "mentors-", "a@b", "ment/ors", "a" * 65, ""])
def test_group_create_rejects_an_invalid_name(env: Env, name: str) -> None:
    assert_error(env.cli("group", "create", name, ok=False), "invalid group name")
    assert as_json(env, "group", "list") == []


def test_group_names_are_case_insensitive(env: Env) -> None:
    # Mail addresses ignore case, so an uppercase name is stored lowercased and found in any case.
    env.cli("group", "create", "Mentors")
    assert [g["name"] for g in as_json(env, "group", "list")] == ["mentors"]
    assert as_json(env, "group", "show", "MENTORS")["address"] == f"mentors@{DOMAIN}"
    assert_error(env.cli("group", "create", "mentors", ok=False), "already exists")


@pytest.mark.parametrize("policy", ["secret", "Open", "members-only", ""])
def test_group_create_rejects_an_unknown_policy(env: Env, policy: str) -> None:
    assert_usage_error(env.cli("group", "create", "mentors", "--policy", policy, ok=False),
                       f"--policy takes open, members or moderated, not '{policy}'")
    assert as_json(env, "group", "list") == []


def test_group_create_rejects_a_title_with_a_line_break(env: Env) -> None:
    assert_error(env.cli("group", "create", "mentors", "--title", "Mentors\nBcc: x@example.net", ok=False),
                 "--title")
    assert as_json(env, "group", "list") == []


def test_group_list_says_how_to_start_when_there_are_no_groups(env: Env) -> None:
    assert "no groups yet" in env.cli("group", "list").output
    assert as_json(env, "group", "list") == []


def test_group_list_shows_groups_by_name_with_member_and_topic_counts(env: Env) -> None:
    env.group("zeta", "ann@example.com")
    env.group("alpha", "ann@example.com", "bob@example.com")
    post(env, "alpha", "ann@example.com", "Welcome")
    rows = as_json(env, "group", "list")
    assert [r["name"] for r in rows] == ["alpha", "zeta"]
    for row in rows:
        assert {"id", "name", "address", "title", "description", "policy", "members", "topics", "created"} <= set(row)
    alpha = rows[0]
    assert (alpha["members"], alpha["topics"], alpha["address"]) == (2, 1, f"alpha@{DOMAIN}")
    assert (rows[1]["members"], rows[1]["topics"]) == (1, 0)
    text = env.cli("group", "list").output.splitlines()
    assert text[0].split()[:2] == ["ID", "NAME"]
    assert [line.split()[1] for line in text[1:]] == ["alpha", "zeta"]


def test_group_show_lists_the_service_addresses(env: Env) -> None:
    env.cli("group", "create", "mentors", "--title", "Mentors")
    shown = as_json(env, "group", "show", "mentors")
    assert shown["name"] == "mentors"
    assert isinstance(shown["id"], int)
    assert shown["subject_prefix"] == "[mentors]"
    assert shown["addresses"] == {
        "post": f"mentors@{DOMAIN}", "join": f"mentors-join@{DOMAIN}", "leave": f"mentors-leave@{DOMAIN}",
        "request": f"mentors-request@{DOMAIN}", "owner": f"mentors-owner@{DOMAIN}"}
    text = env.cli("group", "show", "mentors").output
    assert "title: Mentors" in text
    assert f"join address: mentors-join@{DOMAIN}" in text


@pytest.mark.parametrize("args", [
    ["group", "show", "nope"],
    ["group", "delete", "nope", "--yes"],
    ["member", "add", "nope", "ann@example.com"],
    ["member", "list", "nope"],
    ["member", "set", "nope", "ann@example.com", "--role", "owner"],
    ["member", "remove", "nope", "ann@example.com"],
    ["topics", "nope"],
    ["held", "list", "nope"],
    ["post", "nope", "--from", "ann@example.com", "--subject", "Hi", "--body", "Hello"],
])
def test_an_unknown_group_is_named_and_the_existing_groups_listed(env: Env, args: list[str]) -> None:
    env.cli("group", "create", "mentors")
    env.cli("group", "create", "alumni")
    assert_error(env.cli(*args, ok=False), "no group named 'nope'", "alumni, mentors")


def test_an_unknown_group_error_says_there_are_no_groups_yet(env: Env) -> None:
    assert_error(env.cli("member", "list", "mentors", ok=False), "no group named 'mentors'", "none yet")


def test_member_import_into_an_unknown_group_names_it(env: Env, tmp_path: Path) -> None:
    env.cli("group", "create", "mentors")
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("email\nann@example.com\n")
    assert_error(env.cli("member", "import", "nope", str(csv_file), ok=False), "no group named 'nope'", "mentors")


def test_group_delete_refuses_without_yes_and_keeps_the_group(env: Env) -> None:
    env.group("mentors", "ann@example.com")
    post(env, "mentors", "ann@example.com", "Hi")
    assert_error(env.cli("group", "delete", "mentors", ok=False), "mentors", "its 1 message for good", "--yes")
    shown = as_json(env, "group", "show", "mentors")
    assert (shown["members"], shown["topics"]) == (1, 1)


def test_group_delete_with_yes_removes_its_members_messages_and_queued_mail(env: Env) -> None:
    env.group("mentors", "ann@example.com", "bob@example.com", "cy@example.com")
    env.group("alumni", "ann@example.com", "dee@example.com")
    post(env, "mentors", "ann@example.com", "Hi")           # 2 copies
    post(env, "mentors", "zed@example.com", "Let me in")    # held: zed is told it waits
    post(env, "alumni", "ann@example.com", "Reunion")       # 1 copy
    assert pending(env) == 4
    result = env.cli("group", "delete", "mentors", "--yes")
    assert "deleted group mentors and 2 messages" in result.output
    assert [g["name"] for g in as_json(env, "group", "list")] == ["alumni"]
    assert pending(env) == 1
    assert held_ids(env) == []
    assert_error(env.cli("member", "list", "mentors", ok=False), "no group named 'mentors'")
    # the name is free again, and the new group starts empty
    env.cli("group", "create", "mentors")
    assert as_json(env, "member", "list", "mentors") == []


# ---- members -----------------------------------------------------------------------------------


def test_member_add_shows_the_member_in_member_list(env: Env) -> None:
    env.cli("group", "create", "mentors")
    result = env.cli("member", "add", "mentors", "Ann@Example.COM", "--name", "Ann Lee",
                     "--role", "moderator", "--delivery", "daily")
    assert "added ann@example.com to mentors as moderator (daily)" in result.output
    rows = as_json(env, "member", "list", "mentors")
    assert len(rows) == 1
    assert {"id", "email", "name", "role", "delivery", "joined"} <= set(rows[0])
    assert (rows[0]["email"], rows[0]["name"], rows[0]["role"], rows[0]["delivery"]) == \
        ("ann@example.com", "Ann Lee", "moderator", "daily")


def test_member_add_defaults_to_member_with_each_delivery(env: Env) -> None:
    env.group("mentors", "ann@example.com")
    row = as_json(env, "member", "list", "mentors")[0]
    assert (row["role"], row["delivery"], row["name"]) == ("member", "each", "")


@pytest.mark.parametrize("address", ["not-an-address", "ann@localhost", "ann@@example.com", "ann@example..com",
                                     "Ann <ann@example.com>", "ann example@example.com", ""])
def test_member_add_rejects_a_bad_address(env: Env, address: str) -> None:
    env.cli("group", "create", "mentors")
    assert_error(env.cli("member", "add", "mentors", address, ok=False), "is not a valid mail address")
    assert as_json(env, "member", "list", "mentors") == []


def test_member_add_reports_an_address_with_a_line_break_on_one_line(env: Env) -> None:
    # BUG (mailhub/cli.py, _email/fail with mailhub/router.py normalize_email): the refusal quotes the
    # address as typed, so its line break splits the error over two lines ("error: 'ann@example.com"
    # then "Bcc: x@example.net' is not a valid mail address"). The address itself is refused.
    env.cli("group", "create", "mentors")
    result = env.cli("member", "add", "mentors", "ann@example.com\nBcc: x@example.net", ok=False)
    assert as_json(env, "member", "list", "mentors") == []
    assert_error(result, "is not a valid mail address")


def test_member_add_rejects_a_duplicate_member_whatever_the_case(env: Env) -> None:
    env.group("mentors", "ann@example.com")
    assert_error(env.cli("member", "add", "mentors", "ANN@example.com", ok=False),
                 "ann@example.com is already a member of mentors")
    assert len(as_json(env, "member", "list", "mentors")) == 1


def test_the_same_address_may_join_two_groups(env: Env) -> None:
    env.group("mentors", "ann@example.com")
    env.group("alumni", "ann@example.com")
    assert [m["email"] for m in as_json(env, "member", "list", "alumni")] == ["ann@example.com"]


@pytest.mark.parametrize("option,value,choices", [
    ("--role", "admin", "member, mentor, moderator or owner"),
    ("--role", "Owner", "member, mentor, moderator or owner"),
    ("--delivery", "hourly", "each, daily, weekly or none"), ("--delivery", "digest", "each, daily, weekly or none")])
def test_member_add_rejects_an_unknown_role_or_delivery(env: Env, option: str, value: str, choices: str) -> None:
    env.cli("group", "create", "mentors")
    assert_usage_error(env.cli("member", "add", "mentors", "ann@example.com", option, value, ok=False),
                       f"{option} takes {choices}, not '{value}'")
    assert as_json(env, "member", "list", "mentors") == []


def test_member_add_rejects_a_name_with_a_line_break(env: Env) -> None:
    env.cli("group", "create", "mentors")
    assert_error(env.cli("member", "add", "mentors", "ann@example.com", "--name", "Ann\nLee", ok=False), "--name")
    assert as_json(env, "member", "list", "mentors") == []


def test_member_list_is_sorted_by_address_and_says_when_empty(env: Env) -> None:
    env.cli("group", "create", "mentors")
    assert "mentors has no members yet" in env.cli("member", "list", "mentors").output
    for address in ("cy@example.com", "ann@example.com", "bob@example.com"):
        env.cli("member", "add", "mentors", address)
    assert [m["email"] for m in as_json(env, "member", "list", "mentors")] == \
        ["ann@example.com", "bob@example.com", "cy@example.com"]
    lines = env.cli("member", "list", "mentors").output.splitlines()
    assert lines[0].split()[:2] == ["ID", "EMAIL"]
    assert [line.split()[1] for line in lines[1:]] == ["ann@example.com", "bob@example.com", "cy@example.com"]


def test_member_set_changes_role_and_delivery(env: Env) -> None:
    env.group("mentors", "ann@example.com", "bob@example.com")
    result = env.cli("member", "set", "mentors", "ANN@example.com", "--role", "owner", "--delivery", "weekly")
    assert "ann@example.com: role owner, delivery weekly" in result.output
    env.cli("member", "set", "mentors", "bob@example.com", "--delivery", "none")
    rows = {m["email"]: m for m in as_json(env, "member", "list", "mentors")}
    assert (rows["ann@example.com"]["role"], rows["ann@example.com"]["delivery"]) == ("owner", "weekly")
    assert (rows["bob@example.com"]["role"], rows["bob@example.com"]["delivery"]) == ("member", "none")


def test_member_set_delivery_none_stops_copies_of_new_posts(env: Env) -> None:
    env.group("mentors", "ann@example.com", "bob@example.com", "cy@example.com")
    env.cli("member", "set", "mentors", "cy@example.com", "--delivery", "none")
    result = post(env, "mentors", "ann@example.com", "Hi")
    assert "1 copy queued" in result.output
    assert pending(env) == 1


def test_member_set_with_nothing_to_change_is_an_error(env: Env) -> None:
    env.group("mentors", "ann@example.com")
    assert_error(env.cli("member", "set", "mentors", "ann@example.com", ok=False), "nothing to change")


@pytest.mark.parametrize("option,value,choices", [("--role", "king", "member, mentor, moderator or owner"),
                                                   ("--delivery", "monthly", "each, daily, weekly or none")])
def test_member_set_rejects_an_unknown_role_or_delivery(env: Env, option: str, value: str, choices: str) -> None:
    env.group("mentors", "ann@example.com")
    assert_usage_error(env.cli("member", "set", "mentors", "ann@example.com", option, value, ok=False),
                       f"{option} takes {choices}, not '{value}'")
    row = as_json(env, "member", "list", "mentors")[0]
    assert (row["role"], row["delivery"]) == ("member", "each")


def test_member_set_on_someone_who_is_not_a_member_is_an_error(env: Env) -> None:
    env.group("mentors", "ann@example.com")
    assert_error(env.cli("member", "set", "mentors", "bob@example.com", "--role", "owner", ok=False),
                 "bob@example.com is not a member of mentors")


def test_member_remove_drops_the_member_and_their_pending_copies(env: Env) -> None:
    env.group("mentors", "ann@example.com", "bob@example.com", "cy@example.com")
    post(env, "mentors", "ann@example.com", "Hi")
    assert pending(env) == 2
    assert "removed bob@example.com from mentors" in env.cli("member", "remove", "mentors", "Bob@Example.com").output
    assert [m["email"] for m in as_json(env, "member", "list", "mentors")] == ["ann@example.com", "cy@example.com"]
    assert pending(env) == 1
    # a removed member is a non-member: their post waits for a moderator
    assert "held" in post(env, "mentors", "bob@example.com", "Still here?").output


def test_member_remove_of_someone_who_is_not_a_member_is_an_error(env: Env) -> None:
    env.group("mentors", "ann@example.com")
    assert_error(env.cli("member", "remove", "mentors", "bob@example.com", ok=False),
                 "bob@example.com is not a member of mentors")
    assert_error(env.cli("member", "remove", "mentors", "bob", ok=False), "is not a valid mail address")
    assert len(as_json(env, "member", "list", "mentors")) == 1


# ---- member import -----------------------------------------------------------------------------


def write_csv(tmp_path: Path, text: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_member_import_adds_every_row_of_a_good_file(env: Env, tmp_path: Path) -> None:
    env.cli("group", "create", "mentors")
    csv_file = write_csv(tmp_path, "email,name,role,delivery\n"
                                   "ann@example.com,Ann Lee,owner,daily\n"
                                   "BOB@example.com,\"Bob, Jr.\",,\n"
                                   "\n"
                                   "cy@example.com,,Moderator,NONE\n")
    result = env.cli("member", "import", "mentors", str(csv_file))
    assert "added 3 members to mentors" in result.output
    assert "skipped" not in result.output
    rows = {m["email"]: (m["name"], m["role"], m["delivery"]) for m in as_json(env, "member", "list", "mentors")}
    assert rows == {"ann@example.com": ("Ann Lee", "owner", "daily"),
                    "bob@example.com": ("Bob, Jr.", "member", "each"),
                    "cy@example.com": ("", "moderator", "none")}


def test_member_import_accepts_a_header_in_any_case_in_any_order_with_a_bom(env: Env, tmp_path: Path) -> None:
    env.cli("group", "create", "mentors")
    csv_file = tmp_path / "people.csv"
    csv_file.write_bytes("\ufeffName,EMAIL\nAnn,ann@example.com\n".encode("utf-8"))
    env.cli("member", "import", "mentors", str(csv_file))
    assert [(m["email"], m["name"]) for m in as_json(env, "member", "list", "mentors")] == [("ann@example.com", "Ann")]


def test_member_import_reports_bad_rows_with_file_and_line_and_keeps_the_good_rows(env: Env, tmp_path: Path) -> None:
    env.cli("group", "create", "mentors")
    csv_file = write_csv(tmp_path, "email,name,role,delivery\n"         # line 1
                                   "ann@example.com,Ann,,\n"            # 2 good
                                   "not-an-address,X,,\n"               # 3 bad address
                                   "bob@example.com,Bob,boss,\n"        # 4 bad role
                                   "cy@example.com,Cy,,hourly\n"        # 5 bad delivery
                                   ",Nobody,,\n"                        # 6 empty email
                                   "dee@example.com,Dee,,,extra\n"      # 7 too many fields
                                   "eve@example.com,Eve,moderator,weekly\n")  # 8 good
    result = env.cli("member", "import", "mentors", str(csv_file), ok=False)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    out = result.output
    assert f"{csv_file}:3: 'not-an-address' is not a valid mail address" in out
    assert f"{csv_file}:4: unknown role 'boss'" in out
    assert f"{csv_file}:5: unknown delivery 'hourly'" in out
    assert f"{csv_file}:6: email is empty" in out
    assert f"{csv_file}:7: too many fields" in out
    assert f"{csv_file}:2:" not in out and f"{csv_file}:8:" not in out
    assert "added 2 members to mentors; 5 rows skipped" in out
    assert [m["email"] for m in as_json(env, "member", "list", "mentors")] == ["ann@example.com", "eve@example.com"]


def test_member_import_reports_duplicates_within_the_file_and_against_existing_members(
        env: Env, tmp_path: Path) -> None:
    env.group("mentors", "ann@example.com")
    csv_file = write_csv(tmp_path, "email,name\n"
                                   "Ann@Example.com,Ann again\n"   # 2: already a member
                                   "bob@example.com,Bob\n"         # 3: good
                                   "BOB@example.com,Bob twice\n")  # 4: twice in the file
    result = env.cli("member", "import", "mentors", str(csv_file), ok=False)
    assert result.exit_code == 1
    assert f"{csv_file}:2: ann@example.com" in result.output
    assert f"{csv_file}:4: bob@example.com" in result.output
    assert "added 1 member to mentors; 2 rows skipped" in result.output
    rows = {m["email"]: m["name"] for m in as_json(env, "member", "list", "mentors")}
    assert rows == {"ann@example.com": "", "bob@example.com": "Bob"}


def test_member_import_rejects_an_unknown_column_and_adds_nobody(env: Env, tmp_path: Path) -> None:
    env.cli("group", "create", "mentors")
    csv_file = write_csv(tmp_path, "email,name,team\nann@example.com,Ann,blue\n")
    assert_error(env.cli("member", "import", "mentors", str(csv_file), ok=False),
                 "unknown column(s) team", str(csv_file))
    assert as_json(env, "member", "list", "mentors") == []


@pytest.mark.parametrize("text", ["", "name,role\nAnn,member\n", "ann@example.com,Ann\n"])
def test_member_import_needs_a_header_with_email(env: Env, tmp_path: Path, text: str) -> None:
    env.cli("group", "create", "mentors")
    csv_file = write_csv(tmp_path, text)
    assert_error(env.cli("member", "import", "mentors", str(csv_file), ok=False),
                 "header email,name,role,delivery")
    assert as_json(env, "member", "list", "mentors") == []


def test_member_import_of_a_missing_file_is_a_one_line_error(env: Env, tmp_path: Path) -> None:
    env.cli("group", "create", "mentors")
    missing = tmp_path / "nobody-here.csv"
    assert_error(env.cli("member", "import", "mentors", str(missing), ok=False), "file not found", str(missing))


# ---- posting and the queue ---------------------------------------------------------------------


def test_queue_of_a_fresh_database_is_empty(env: Env) -> None:
    doc = as_json(env, "queue")
    assert doc["counts"] == {"pending": 0, "sent": 0, "failed": 0}
    assert doc["oldest_pending"] is None
    assert doc["errors"] == []
    assert "pending: 0  sent: 0  failed: 0" in env.cli("queue").output


def test_post_from_a_member_is_posted_and_queues_a_copy_for_each_other_member(env: Env) -> None:
    env.group("mentors", "ann@example.com", "bob@example.com", "cy@example.com", "dee@example.com")
    result = post(env, "mentors", "ann@example.com", "Welcome", "Glad you are here")
    assert "posted message" in result.output and "3 copies queued" in result.output
    doc = as_json(env, "queue")
    assert doc["counts"] == {"pending": 3, "sent": 0, "failed": 0}
    assert doc["oldest_pending"] is not None
    assert held_ids(env) == []
    topics = as_json(env, "topics", "mentors")
    assert [(t["subject"], t["messages"]) for t in topics] == [("Welcome", 1)]


def test_post_from_a_non_member_is_held_and_listed_for_a_moderator(env: Env) -> None:
    env.group("mentors", "ann@example.com", "bob@example.com")
    result = post(env, "mentors", "Zed@Example.com", "Can I join?")
    assert "held" in result.output and "not a member" in result.output
    rows = as_json(env, "held", "list")
    assert len(rows) == 1
    assert {"id", "group", "from", "subject", "reason", "received"} <= set(rows[0])
    assert (rows[0]["group"], rows[0]["from"], rows[0]["subject"]) == ("mentors", "zed@example.com", "Can I join?")
    assert rows[0]["id"] == posted_id(result)
    assert pending(env) == 1  # only the note to zed that the post waits: no owners to tell, no copies
    assert as_json(env, "topics", "mentors") == []


def test_post_to_an_open_group_from_a_non_member_is_posted(env: Env) -> None:
    env.group("help", "ann@example.com", "bob@example.com", policy="open")
    assert "2 copies queued" in post(env, "help", "zed@example.com", "Question").output
    assert held_ids(env) == []
    assert pending(env) == 2


def test_post_to_a_moderated_group_is_held_unless_it_comes_from_a_moderator(env: Env) -> None:
    env.group("news", "ann@example.com", "bob@example.com", policy="moderated")
    env.cli("member", "set", "news", "bob@example.com", "--role", "moderator")
    held = post(env, "news", "ann@example.com", "My news")
    assert "held" in held.output and "moderated" in held.output
    assert "1 copy queued" in post(env, "news", "bob@example.com", "Official news").output
    assert held_ids(env, "news") == [posted_id(held)]
    assert pending(env) == 3  # bob's copy to ann, bob's notice of ann's held post, ann's waiting note


def test_post_reads_the_text_from_a_file(env: Env, tmp_path: Path) -> None:
    env.group("mentors", "ann@example.com", "bob@example.com")
    text_file = tmp_path / "announcement.txt"
    text_file.write_text("Line one\nLine two: café\n", encoding="utf-8")
    env.cli("post", "mentors", "--from", "ann@example.com", "--subject", "Announcement", "--file", str(text_file))
    topic_id = as_json(env, "topics", "mentors")[0]["id"]
    messages = as_json(env, "topic", "show", str(topic_id))["messages"]
    assert messages[0]["text"].strip() == "Line one\nLine two: café"


@pytest.mark.parametrize("text_args", [[], ["--body", "Hi", "--file", "body.txt"]])
def test_post_needs_exactly_one_of_body_or_file(env: Env, tmp_path: Path, text_args: list[str]) -> None:
    env.group("mentors", "ann@example.com", "bob@example.com")
    (tmp_path / "body.txt").write_text("Hi")
    args = [a if a != "body.txt" else str(tmp_path / a) for a in text_args]
    result = env.cli("post", "mentors", "--from", "ann@example.com", "--subject", "Hi", *args, ok=False)
    assert_error(result, "exactly one of --body or --file")
    assert pending(env) == 0
    assert as_json(env, "topics", "mentors") == []


def test_post_with_a_missing_file_is_a_one_line_error(env: Env, tmp_path: Path) -> None:
    env.group("mentors", "ann@example.com")
    missing = tmp_path / "nothing.txt"
    result = env.cli("post", "mentors", "--from", "ann@example.com", "--subject", "Hi", "--file", str(missing),
                     ok=False)
    assert_error(result, "cannot read", str(missing))


@pytest.mark.parametrize("subject", ["Hi\nBcc: victim@example.net", "Hi\r\nBcc: victim@example.net",
                                     "Hi\rBcc: victim@example.net", "Hi\x00there"])
def test_post_refuses_a_subject_with_a_line_break_or_control_character(env: Env, subject: str) -> None:
    env.group("mentors", "ann@example.com", "bob@example.com")
    assert_error(post(env, "mentors", "ann@example.com", subject, ok=False), "--subject", "one line")
    assert pending(env) == 0
    assert as_json(env, "topics", "mentors") == []


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085"])
def test_post_refuses_a_subject_with_a_unicode_line_separator(env: Env, separator: str) -> None:
    # BUG (mailhub/cli.py, _one_line): only characters below U+0020 are refused, so U+2028/U+2029/U+0085
    # get through and email's header check raises ValueError: the command crashes instead of a clean error.
    env.group("mentors", "ann@example.com", "bob@example.com")
    result = post(env, "mentors", "ann@example.com", f"Hi{separator}Bcc: victim@example.net", ok=False)
    assert_error(result, "--subject")
    assert pending(env) == 0


@pytest.mark.parametrize("sender", ["ann", "ann@example", "Ann <ann@example.com>"])
def test_post_rejects_a_bad_from_address(env: Env, sender: str) -> None:
    env.group("mentors", "ann@example.com", "bob@example.com")
    assert_error(post(env, "mentors", sender, "Hi", ok=False), "is not a valid mail address")
    assert pending(env) == 0


# ---- held posts --------------------------------------------------------------------------------


def test_held_list_says_when_nothing_is_waiting(env: Env) -> None:
    env.group("mentors", "ann@example.com")
    assert "no held posts" in env.cli("held", "list").output
    assert as_json(env, "held", "list") == []
    assert as_json(env, "held", "list", "mentors") == []


def test_held_list_shows_oldest_first_and_filters_by_group(env: Env) -> None:
    env.group("mentors", "ann@example.com")
    env.group("alumni", "ann@example.com")
    first = posted_id(post(env, "mentors", "zed@example.com", "First"))
    other = posted_id(post(env, "alumni", "zed@example.com", "Elsewhere"))
    second = posted_id(post(env, "mentors", "yan@example.com", "Second"))
    assert held_ids(env) == [first, other, second]
    assert held_ids(env, "mentors") == [first, second]
    assert held_ids(env, "alumni") == [other]
    text = env.cli("held", "list", "mentors").output
    assert "First" in text and "Second" in text and "Elsewhere" not in text


def test_held_approve_posts_the_message_and_queues_copies(env: Env) -> None:
    env.group("mentors", "ann@example.com", "bob@example.com", "cy@example.com")
    message_id = posted_id(post(env, "mentors", "zed@example.com", "Hello from outside", "Nice to meet you"))
    result = env.cli("held", "approve", str(message_id))
    assert f"approved message {message_id}: posted, 3 copies queued" in result.output
    assert held_ids(env) == []
    assert pending(env) == 4  # 3 copies, and zed's note that the post waited
    topic = as_json(env, "topics", "mentors")[0]
    shown = as_json(env, "topic", "show", str(topic["id"]))
    assert [(m["id"], m["from"]) for m in shown["messages"]] == [(message_id, "zed@example.com")]
    assert "Nice to meet you" in shown["messages"][0]["text"]


def test_held_reject_queues_one_notice_to_the_sender(env: Env) -> None:
    env.group("mentors", "ann@example.com", "bob@example.com")
    message_id = posted_id(post(env, "mentors", "zed@example.com", "Buy now"))
    before = pending(env)
    result = env.cli("held", "reject", str(message_id), "--reason", "off topic")
    assert f"rejected message {message_id}; zed@example.com will be told" in result.output
    assert pending(env) == before + 1
    assert held_ids(env) == []
    assert as_json(env, "topics", "mentors") == []
    # a decided post cannot be decided again
    assert_error(env.cli("held", "approve", str(message_id), ok=False), "is not held", "rejected")
    assert pending(env) == before + 1


def test_held_approve_of_a_post_that_is_not_held_is_refused(env: Env) -> None:
    env.group("mentors", "ann@example.com", "bob@example.com")
    message_id = posted_id(post(env, "mentors", "ann@example.com", "Hi"))
    assert_error(env.cli("held", "approve", str(message_id), ok=False),
                 f"message {message_id} is not held", "posted")
    assert_error(env.cli("held", "reject", str(message_id), "--reason", "x", ok=False), "is not held")
    assert pending(env) == 1


@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_held_decision_on_an_unknown_id_is_an_error(env: Env, verb: str) -> None:
    env.group("mentors", "ann@example.com")
    assert_error(env.cli("held", verb, "4242", ok=False), "no message with id 4242")


@pytest.mark.parametrize("args", [["held", "approve", "99999999999999999999"],
                                  ["held", "reject", "99999999999999999999"],
                                  ["topic", "show", "99999999999999999999"]])
def test_an_id_too_large_for_the_database_is_a_clean_error(env: Env, args: list[str]) -> None:
    # BUG (mailhub/cli.py, _held and topic_show): session.get() with an id above 2**63-1 raises
    # OverflowError from sqlite3, which is not caught, so the command crashes.
    env.group("mentors", "ann@example.com")
    assert_error(env.cli(*args, ok=False))


# ---- topics ------------------------------------------------------------------------------------


def test_topics_of_a_group_without_posts_says_so(env: Env) -> None:
    env.group("mentors", "ann@example.com")
    assert "mentors has no topics yet" in env.cli("topics", "mentors").output
    assert as_json(env, "topics", "mentors") == []


def test_topics_lists_the_most_recently_active_first_with_reply_addresses(env: Env) -> None:
    env.group("mentors", "ann@example.com", "bob@example.com")
    post(env, "mentors", "ann@example.com", "Older topic")
    post(env, "mentors", "ann@example.com", "Newer topic")
    post(env, "mentors", "bob@example.com", "Re: Older topic")
    rows = as_json(env, "topics", "mentors")
    assert [(r["subject"], r["messages"]) for r in rows] == [("Older topic", 2), ("Newer topic", 1)]
    for row in rows:
        assert {"id", "key", "subject", "messages", "last_message", "created", "reply_address"} <= set(row)
        assert row["reply_address"] == f"mentors+{row['key']}@{DOMAIN}"
    text = env.cli("topics", "mentors").output
    assert text.index("Older topic") < text.index("Newer topic")


def test_topic_show_lists_the_messages_of_a_topic_in_order_with_their_text(env: Env) -> None:
    env.group("mentors", "ann@example.com", "bob@example.com", "cy@example.com")
    first = posted_id(post(env, "mentors", "ann@example.com", "Study plan", "Shall we meet weekly?"))
    posted_id(post(env, "mentors", "cy@example.com", "Unrelated", "Something else"))
    second = posted_id(post(env, "mentors", "bob@example.com", "Re: Study plan", "Weekly works for me"))
    third = posted_id(post(env, "mentors", "ann@example.com", "Re: [mentors] Re: Study plan", "Great, Mondays"))
    topic = next(t for t in as_json(env, "topics", "mentors") if t["subject"] == "Study plan")
    doc = as_json(env, "topic", "show", str(topic["id"]))
    assert {"id", "key", "group", "subject", "reply_address", "messages"} <= set(doc)
    assert (doc["id"], doc["group"], doc["subject"]) == (topic["id"], "mentors", "Study plan")
    assert [m["id"] for m in doc["messages"]] == [first, second, third]
    assert [m["from"] for m in doc["messages"]] == ["ann@example.com", "bob@example.com", "ann@example.com"]
    assert [m["text"].strip() for m in doc["messages"]] == \
        ["Shall we meet weekly?", "Weekly works for me", "Great, Mondays"]
    for m in doc["messages"]:
        assert {"id", "message_id", "from", "name", "subject", "received", "text"} <= set(m)
    text = env.cli("topic", "show", str(topic["id"])).output
    assert "Topic" in text and "Study plan" in text and doc["reply_address"] in text
    positions = [text.index(s) for s in ("Shall we meet weekly?", "Weekly works for me", "Great, Mondays")]
    assert positions == sorted(positions)
    assert "Something else" not in text


def test_topic_show_finds_a_topic_by_its_key(env: Env) -> None:
    env.group("mentors", "ann@example.com", "bob@example.com")
    post(env, "mentors", "ann@example.com", "Keyed", "by key")
    topic = as_json(env, "topics", "mentors")[0]
    doc = as_json(env, "topic", "show", topic["key"])
    assert doc["id"] == topic["id"]
    assert doc["messages"][0]["text"].strip() == "by key"


def test_topic_show_finds_a_topic_whose_key_is_all_digits(env: Env) -> None:
    # BUG (mailhub/cli.py, topic_show): an all-digit TOPIC_ID is always taken as the numeric id, but
    # keys are 10 random hex digits, so about 1 topic in 110 has an all-digit key and cannot be shown
    # by the key of its reply address. The key is set directly in this test's database to make it certain.
    env.group("mentors", "ann@example.com", "bob@example.com")
    post(env, "mentors", "ann@example.com", "Digits", "numeric key")
    topic_id = as_json(env, "topics", "mentors")[0]["id"]
    engine = make_engine(env.config.database.url)
    try:
        with Session(engine) as session:
            topic = session.get(Topic, topic_id)
            assert topic is not None
            topic.key = "0123456789"
            session.add(topic)
            session.commit()
    finally:
        engine.dispose()
    result = env.cli("topic", "show", "0123456789", "--json", ok=False)
    assert result.exit_code == 0, f"the topic with key 0123456789 was not found: {result.output!r}"
    assert json.loads(result.output)["id"] == topic_id


@pytest.mark.parametrize("topic", ["4242", "nokey"])
def test_topic_show_of_an_unknown_topic_is_an_error(env: Env, topic: str) -> None:
    env.group("mentors", "ann@example.com")
    assert_error(env.cli("topic", "show", topic, ok=False), f"no topic '{topic}'")


# ---- which config ------------------------------------------------------------------------------


def test_mailhub_config_env_var_is_used_when_config_is_not_given(env: Env, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    env.cli("group", "create", "mentors")
    monkeypatch.chdir(tmp_path.parent)  # no config.toml here, so only the variable can lead to env's database
    result = CliRunner().invoke(app, ["group", "list", "--json"], env={"MAILHUB_CONFIG": str(env.path)})
    assert result.exit_code == 0, result.output
    assert [g["name"] for g in json.loads(result.output)] == ["mentors"]


def test_config_option_wins_over_mailhub_config(env: Env, tmp_path: Path) -> None:
    env.cli("group", "create", "mentors")
    result = CliRunner().invoke(app, ["group", "list", "--json", "--config", str(env.path)],
                                env={"MAILHUB_CONFIG": str(tmp_path / "missing.toml")})
    assert result.exit_code == 0, result.output
    assert [g["name"] for g in json.loads(result.output)] == ["mentors"]


def test_a_missing_config_file_is_a_one_line_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "config.toml"
    result = CliRunner().invoke(app, ["group", "list", "--config", str(missing)])
    assert_error(result, "config file not found", str(missing))


def test_a_missing_mailhub_config_file_is_a_one_line_error(tmp_path: Path) -> None:
    missing = tmp_path / "gone.toml"
    result = CliRunner().invoke(app, ["queue"], env={"MAILHUB_CONFIG": str(missing)})
    assert_error(result, "config file not found", str(missing))


def test_without_config_or_mailhub_config_it_looks_for_config_toml_here(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILHUB_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["group", "list"])
    assert_error(result, "config file not found: config.toml", "MAILHUB_CONFIG")
    assert not (tmp_path / "var").exists()


def test_a_broken_config_is_a_one_line_error_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[server]\ndomain = "lists.example.org"\nport = "x"\n[database]\nurl = "sqlite:///m.db"\n'
                    '[relay]\nmaildir = "out"\n')
    result = CliRunner().invoke(app, ["group", "create", "mentors", "--config", str(path)])
    assert_error(result, "server.port")
    assert not (tmp_path / "m.db").exists()


# ---- group and member settings for membership and moderation -----------------------------------


def test_group_set_changes_only_the_settings_given_and_show_reports_them(env: Env) -> None:
    env.group("mentors")
    result = env.cli("group", "set", "mentors", "--join-policy", "approve", "--rate-limit", "5/hour",
                     "--new-member-moderation", "on", "--who", "members")
    assert "join policy approve" in result.output and "rate limit 5/hour" in result.output
    shown = as_json(env, "group", "show", "mentors")
    assert (shown["policy"], shown["join_policy"], shown["rate_limit"], shown["new_member_moderation"],
            shown["who"]) == ("members", "approve", "5/hour", "on", "members")
    env.cli("group", "set", "mentors", "--rate-limit", "none", "--policy", "moderated")
    shown = as_json(env, "group", "show", "mentors")
    assert (shown["policy"], shown["join_policy"], shown["rate_limit"]) == ("moderated", "approve", "none")


@pytest.mark.parametrize("args, fragment", [
    (["--rate-limit", "lots"], "--rate-limit takes posts per hour like 5/hour"),
    (["--title", "two\nlines"], "--title must be one line"),
    ([], "nothing to change"),
])
def test_group_set_refuses_bad_values_with_one_line(env: Env, args: list[str], fragment: str) -> None:
    env.group("mentors")
    assert_error(env.cli("group", "set", "mentors", *args, ok=False), fragment)
    assert as_json(env, "group", "show", "mentors")["join_policy"] == "confirm"


@pytest.mark.parametrize("args, fragment", [
    (["--join-policy", "invite"], "--join-policy takes confirm, approve or closed, not 'invite'"),
    (["--new-member-moderation", "yes"], "--new-member-moderation takes on or off, not 'yes'"),
    (["--who", "everyone"], "--who takes moderators or members, not 'everyone'"),
    (["--from-rewrite", "sometimes"], "--from-rewrite takes always or never, not 'sometimes'"),
])
def test_group_set_refuses_a_value_outside_the_choices_as_a_usage_error(env: Env, args: list[str],
                                                                         fragment: str) -> None:
    env.group("mentors")
    assert_usage_error(env.cli("group", "set", "mentors", *args, ok=False), fragment)
    assert as_json(env, "group", "show", "mentors")["join_policy"] == "confirm"


def test_member_set_moderated_and_plain(env: Env) -> None:
    env.group("mentors", "ann@example.com")
    result = env.cli("member", "set", "mentors", "ann@example.com", "--moderated", "on", "--plain", "on")
    assert "moderated on, plain on" in result.output
    ann = as_json(env, "member", "list", "mentors")[0]
    assert (ann["moderated"], ann["plain"]) == (True, True)
    assert_usage_error(env.cli("member", "set", "mentors", "ann@example.com", "--plain", "maybe", ok=False),
                       "--plain takes on or off, not 'maybe'")


def test_held_discard_drops_the_post_without_a_notice(env: Env) -> None:
    env.group("mentors", "ann@example.com")
    message_id = posted_id(post(env, "mentors", "zed@example.com", "Spam"))
    before = pending(env)  # zed's note that the post waits
    assert f"discarded message {message_id}" in env.cli("held", "discard", str(message_id)).output
    assert held_ids(env) == [] and pending(env) == before
    assert_error(env.cli("held", "discard", str(message_id), ok=False), "is not held")


def test_digest_times_and_zones_for_groups_and_members(env: Env) -> None:
    env.group("mentors", "ann@example.com")
    shown = as_json(env, "group", "show", "mentors")
    assert (shown["digest_daily"], shown["digest_weekly"], shown["timezone"]) == ("07:00", "mon 07:00", "UTC")
    env.cli("group", "set", "mentors", "--daily", "18:30", "--weekly", "fri 09:00", "--timezone", "Africa/Lagos")
    shown = as_json(env, "group", "show", "mentors")
    assert (shown["digest_daily"], shown["digest_weekly"], shown["timezone"]) == ("18:30", "fri 09:00", "Africa/Lagos")
    env.cli("group", "set", "mentors", "--timezone", "default")
    assert as_json(env, "group", "show", "mentors")["timezone"] == "UTC"
    assert "time zone America/Bogota" in env.cli("member", "set", "mentors", "ann@example.com",
                                                 "--timezone", "America/Bogota").output
    assert as_json(env, "member", "list", "mentors")[0]["timezone"] == "America/Bogota"


@pytest.mark.parametrize("args, fragment", [
    (["group", "set", "mentors", "--daily", "7am"], "--daily: '7am' is not a time like 07:00"),
    (["group", "set", "mentors", "--weekly", "07:00"], "--weekly: '07:00' is not a weekly time like 'mon 07:00'"),
    (["group", "set", "mentors", "--timezone", "Moon/Base"], "--timezone: unknown time zone 'Moon/Base'"),
    (["member", "set", "mentors", "ann@example.com", "--timezone", "EAT+3"], "unknown time zone 'EAT+3'"),
])
def test_unreadable_digest_times_and_zones_are_refused(env: Env, args: list[str], fragment: str) -> None:
    env.group("mentors", "ann@example.com")
    assert_error(env.cli(*args, ok=False), fragment)
