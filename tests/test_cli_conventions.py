"""The `mailhub` command behaves like a command-line tool people already know: --version, help when
run bare, --config before or after the command, usage errors on one line with a hint and exit
status 2, choices shown as choices, and no traceback ever. Most tests run the installed console
script (`mailhub.cli:main`) as a process, as a shell would; the walk over every command's help
uses typer's CliRunner, which prints the same help."""
from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import get_args

import pytest
from typer.testing import CliRunner

from mailhub.cli import app
from mailhub.cli import common
from mailhub.cli.common import count

MAILHUB = str(Path(sys.executable).with_name("mailhub"))
BOXES = ("╭", "│", "╰", "─")
TYPE_NOISE = ("<str>", "<bool>", "<int>", "<path>", "<text>", "{")
ORDER = ["serve", "check", "group", "member", "pair", "private", "messages", "held", "topics", "topic", "digest", "events", "event", "stats", "report",
         "bounces", "queue", "failed", "post", "import", "export", "db"]


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MAILHUB, *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config of its own with a fresh SQLite database (whatever database the other tests use)."""
    path = tmp_path / "config.toml"
    path.write_text('[server]\ndomain = "lists.example.org"\n\n[database]\nurl = "sqlite:///mailhub.db"\n\n'
                    '[relay]\nmaildir = "outbox"\n')
    return path


def without_config_variable() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "MAILHUB_CONFIG"}


def assert_usage_error(done: subprocess.CompletedProcess[str], command: str, *fragments: str) -> str:
    """Exit 2; stderr is one `error: …` line and the hint for `command`; nothing else anywhere."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("error: "), lines[0]
    assert lines[1] == f"try '{command} --help'"
    assert not any(box in done.stderr for box in BOXES) and "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


# ---- version and help --------------------------------------------------------------------------


def test_version_prints_the_installed_version() -> None:
    done = run("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"mailhub {version('mailhub')}\n", "")


def test_mailhub_alone_prints_its_help_and_exits_0() -> None:
    done = run()
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("Usage: mailhub [OPTIONS] COMMAND [ARGS]...")
    assert "--version" in done.stdout and "--config FILE" in done.stdout
    assert not any(box in done.stdout for box in BOXES)


def test_a_group_of_commands_alone_prints_its_help_and_exits_0() -> None:
    done = run("group")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("Usage: mailhub group [OPTIONS] COMMAND [ARGS]...")
    assert all(name in done.stdout for name in ("create", "list", "show", "set", "delete"))


def test_help_lists_the_commands_in_the_order_people_need_them() -> None:
    done = run("--help")
    assert done.returncode == 0
    listed = done.stdout.split("Commands:\n", 1)[1].splitlines()
    names = [line.split()[0] for line in listed if line.startswith("  ") and not line.startswith("   ")
             and line.split()[0].isalpha() and line.split()[0].islower()]
    assert names == ORDER


def test_group_create_help_shows_the_choices_and_each_default_once() -> None:
    done = run("group", "create", "--help")
    assert done.returncode == 0 and done.stderr == ""
    text = done.stdout
    assert "Usage: mailhub group create [OPTIONS] NAME" in text
    assert "--policy [open|members|moderated]" in text
    assert "--join-policy [confirm|approve|closed]" in text
    assert text.count("[default: members]") == 1 and text.count("default: confirm") == 1
    assert "(default)" not in text
    assert not any(noise in text for noise in TYPE_NOISE), text


def all_commands() -> list[tuple[str, ...]]:
    """Every command path, found by asking each group's help for its commands."""
    found: list[tuple[str, ...]] = []
    runner = CliRunner()

    def walk(path: tuple[str, ...]) -> None:
        text = runner.invoke(app, [*path, "--help"]).output
        if "Commands:\n" not in text:
            found.append(path)
            return
        for line in text.split("Commands:\n", 1)[1].splitlines():
            name = line.split()[0] if line.startswith("  ") and not line.startswith("   ") else ""
            if name.isalpha() and name.islower():
                walk((*path, name))

    walk(())
    return found


def test_every_command_has_plain_help_with_choices_and_no_type_noise() -> None:
    commands = all_commands()
    assert len(commands) >= 30 and ("group", "create") in commands and ("serve",) in commands
    runner = CliRunner()
    for path in commands:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        text = result.output
        assert text.startswith(f"Usage: mailhub {' '.join(path)} "), text
        assert not any(box in text for box in BOXES), text
        assert not any(noise in text for noise in TYPE_NOISE), (path, text)
        assert "Show this message" not in text
    for path, option, shown in [(("group", "set"), "--who", "[moderators|members]"),
                                (("group", "set"), "--new-member-moderation", "[on|off]"),
                                (("group", "set"), "--from-rewrite", "[always|never]"),
                                (("member", "add"), "--role", "[member|mentor|moderator|owner]"),
                                (("member", "set"), "--delivery", "[each|daily|weekly|none]"),
                                (("member", "set"), "--plain", "[on|off]"),
                                (("digest", "send"), "--period", "[daily|weekly]"),
                                (("messages",), "--state", "[new|posted|held|rejected|discarded|done|failed]")]:
        assert f"{option} {shown}" in runner.invoke(app, [*path, "--help"]).output, (path, option)


def test_the_choices_are_the_ones_the_models_know() -> None:
    from mailhub.digest_jobs import PERIODS
    from mailhub.models import DELIVERIES, JOIN_POLICIES, POLICIES, ROLES, WHO_POLICIES

    assert get_args(common.Policy) == POLICIES
    assert get_args(common.JoinPolicy) == JOIN_POLICIES
    assert get_args(common.Who) == WHO_POLICIES
    assert get_args(common.Role) == ROLES
    assert get_args(common.Delivery) == DELIVERIES
    assert get_args(common.Period) == tuple(PERIODS)


# ---- --config before or after the command ------------------------------------------------------


def test_config_works_before_and_after_the_command_and_from_mailhub_config(config: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # no config.toml here: only what we give can lead to the database
    plain = without_config_variable()
    assert run("group", "create", "mentors", "--config", str(config), env=plain, cwd=elsewhere).returncode == 0
    for args, env in [(("--config", str(config), "group", "list"), plain),
                      (("group", "list", "--config", str(config)), plain),
                      (("group", "list"), {**plain, "MAILHUB_CONFIG": str(config)}),
                      # the nearest wins: after the command over before it, either over the variable
                      (("--config", str(tmp_path / "missing.toml"), "group", "list", "--config", str(config)), plain),
                      (("--config", str(config), "group", "list"), {**plain, "MAILHUB_CONFIG": "missing.toml"})]:
        done = run(*args, env=env, cwd=elsewhere)
        assert done.returncode == 0, (args, done.stderr)
        assert "mentors@lists.example.org" in done.stdout, args


def test_a_config_given_before_the_command_that_is_missing_is_a_one_line_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    done = run("--config", str(missing), "group", "list", env=without_config_variable(), cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"error: config file not found: {missing} (use --config PATH or set MAILHUB_CONFIG)"]


# ---- usage errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("args, command, fragment", [
    (("group", "create"), "mailhub group create", "missing argument NAME"),
    (("group", "create", "mentors", "--colour", "red"), "mailhub group create", "no such option: --colour"),
    (("group", "create", "mentors", "--policy", "secret"), "mailhub group create",
     "--policy takes open, members or moderated, not 'secret'"),
    (("group", "create", "mentors", "--policy"), "mailhub group create", "option '--policy' requires an argument"),
    (("messages", "--limit", "many"), "mailhub messages", "--limit takes a whole number, not 'many'"),
    (("messages", "--state", "lost"), "mailhub messages",
     "--state takes new, posted, held, rejected, discarded, done or failed, not 'lost'"),
    (("held", "approve", "seven"), "mailhub held approve", "ID must be a whole number, not 'seven'"),
    (("post", "mentors", "--subject", "Hi"), "mailhub post", "missing option --from"),
    (("member", "set", "mentors", "ann@example.com", "--plain", "maybe"), "mailhub member set",
     "--plain takes on or off, not 'maybe'"),
    (("grup", "list"), "mailhub", "no such command 'grup'; did you mean group?"),
    (("group", "lst"), "mailhub group", "no such command 'lst'; did you mean list"),
    (("--colour",), "mailhub", "no such option: --colour"),
    (("--config", "x.toml"), "mailhub", "missing command"),
    (("group", "list", "extra"), "mailhub group list", "unexpected extra argument"),
])
def test_usage_errors_are_one_line_and_a_hint_with_exit_status_2(args: tuple[str, ...], command: str,
                                                                  fragment: str) -> None:
    assert_usage_error(run(*args), command, fragment)


def test_a_bad_value_is_quoted_on_one_line_whatever_it_holds() -> None:
    line = assert_usage_error(run("member", "add", "mentors", "ann@example.com", "--role", "owner\r\nBcc: x"),
                              "mailhub member add", "--role takes")
    assert "owner\\r\\nBcc: x" in line and line.isprintable()


def test_choices_on_and_off_take_any_case(config: Path) -> None:
    assert run("group", "create", "mentors", "--config", str(config)).returncode == 0
    done = run("group", "set", "mentors", "--include-author", "ON", "--from-rewrite", "Never",
               "--config", str(config))
    assert done.returncode == 0, done.stderr
    shown = run("group", "show", "mentors", "--config", str(config)).stdout
    assert "include_author: on" in shown and "from_rewrite: never" in shown


# ---- errors of substance, and never a traceback ------------------------------------------------


def test_an_error_of_substance_is_one_line_with_exit_status_1(config: Path) -> None:
    done = run("group", "show", "nope", "--config", str(config))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == ["error: no group named 'nope' (groups: none yet)"]


def test_an_unexpected_failure_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"  # a database driver that is not installed: SQLAlchemy raises on its own
    path.write_text('[server]\ndomain = "lists.example.org"\n\n[database]\nurl = "nosuchdb://x/y"\n\n'
                    '[relay]\nmaildir = "outbox"\n')
    done = run("group", "list", "--config", str(path))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("error: "), done.stderr


# ---- start-up ----------------------------------------------------------------------------------


def test_help_and_version_import_no_database_or_mail_library() -> None:
    """What keeps `mailhub --help` fast (bench/cli_startup.py has the timings): the command
    modules import SQLAlchemy, dkim, jinja2 and the rest inside the commands that use them."""
    heavy = ("sqlalchemy", "sqlmodel", "pydantic", "dkim", "jinja2", "lxml", "aiosmtpd", "rich", "alembic",
             "mailhub.models", "mailhub.config", "mailhub.db")
    for args in (["--help"], ["--version"], []):
        code = ("import atexit, sys\n"
                f"atexit.register(lambda: print(sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr))\n"
                f"sys.argv = ['mailhub', *{args!r}]\n"
                "from mailhub.cli import main\nmain()\n")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip() == "[]", (args, done.stderr)


def test_a_database_command_loads_only_its_own_command_module(config: Path) -> None:
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print(sorted(m for m in sys.modules if m.startswith('mailhub.cli.')), "
            "file=sys.stderr))\n"
            f"sys.argv = ['mailhub', 'group', 'list', '--config', {str(config)!r}]\n"
            "from mailhub.cli import main\nmain()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == str(["mailhub.cli.common", "mailhub.cli.conventions", "mailhub.cli.groups",
                                       "mailhub.cli.main"])


# ---- words -------------------------------------------------------------------------------------


def test_counts_read_as_english() -> None:
    assert [count(n, "copy", "copies") for n in (0, 1, 2)] == ["0 copies", "1 copy", "2 copies"]
    assert [count(n, "message") for n in (0, 1, 2)] == ["0 messages", "1 message", "2 messages"]
