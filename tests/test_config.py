"""config.toml: loading, defaults, path resolution, and one clear message naming the key for each mistake."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailhub.cli import app
from mailhub.config import REPO_TEMPLATES, ConfigError, load_config, parse_config

SHIPPED = Path(__file__).resolve().parent.parent / "config.toml"

SERVER = '[server]\ndomain = "lists.example.org"\n'
DATABASE = '[database]\nurl = "sqlite:///mailhub.db"\n'
RELAY = '[relay]\nhost = "smtp.example.org"\n'


def write(folder: Path, text: str, name: str = "config.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(folder: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(folder, text))
    return str(caught.value)


def test_the_shipped_config_loads() -> None:
    config = load_config(SHIPPED)
    assert config.server.domain == "lists.example.org"
    assert config.server.port == 8025
    assert config.relay.host == ""
    assert config.relay.maildir == str(SHIPPED.parent / "var" / "outgoing")
    assert config.database.url == f"sqlite:///{SHIPPED.parent / 'var' / 'mailhub.db'}"
    assert config.delivery.connections == 4
    assert config.path == SHIPPED


def test_a_minimal_config_gets_the_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SERVER + DATABASE + RELAY))
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8025)
    assert config.server.max_message_size == 10 * 1024 * 1024
    assert (config.relay.host, config.relay.port, config.relay.starttls) == ("smtp.example.org", 25, False)
    assert config.delivery.retry_initial == 60.0
    assert config.threading.subject_window_days == 30.0
    assert config.templates == REPO_TEMPLATES


def test_whole_numbers_are_accepted_for_seconds_and_kept_as_numbers(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SERVER + DATABASE + RELAY + "timeout = 5\n[delivery]\nretry_max = 10\n"))
    assert config.relay.timeout == 5.0
    assert config.delivery.retry_max == 10.0


def test_the_domain_is_lowercased(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[server]\ndomain = "Lists.Example.ORG"\n' + DATABASE + RELAY))
    assert config.server.domain == "lists.example.org"


def test_a_missing_server_domain_names_server_domain(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[server]\nport = 2525\n" + DATABASE + RELAY)
    assert "server.domain" in message and "missing" in message


@pytest.mark.parametrize("domain", ["", "lists@example.org", "lists example.org"])
def test_a_domain_that_is_not_a_mail_domain_names_server_domain(tmp_path: Path, domain: str) -> None:
    message = config_error(tmp_path, f'[server]\ndomain = "{domain}"\n' + DATABASE + RELAY)
    assert "server.domain" in message


@pytest.mark.parametrize("text,section", [(DATABASE + RELAY, "[server]"), (SERVER + RELAY, "[database]")])
def test_a_missing_required_section_is_named(tmp_path: Path, text: str, section: str) -> None:
    message = config_error(tmp_path, text)
    assert section in message and "missing" in message


def test_a_missing_database_url_names_database_url(tmp_path: Path) -> None:
    assert "database.url" in config_error(tmp_path, SERVER + "[database]\n" + RELAY)


@pytest.mark.parametrize("extra,key", [
    ('[server]\ndomain = "lists.example.org"\nhostname = "x"\n' + DATABASE + RELAY, "server.hostname"),
    (SERVER + DATABASE + RELAY + "tls = true\n", "relay.tls"),
    (SERVER + DATABASE + RELAY + "[delivery]\nretries = 3\n", "delivery.retries"),
])
def test_an_unknown_key_is_named(tmp_path: Path, extra: str, key: str) -> None:
    message = config_error(tmp_path, extra)
    assert f"unknown key '{key}'" in message


def test_an_unknown_section_is_named(tmp_path: Path) -> None:
    message = config_error(tmp_path, SERVER + DATABASE + RELAY + "[smtp]\nport = 25\n")
    assert "[smtp]" in message and "unknown section" in message


def test_a_section_that_is_not_a_table_is_named(tmp_path: Path) -> None:
    assert "[relay]" in config_error(tmp_path, 'relay = "smtp.example.org"\n' + SERVER + DATABASE)


@pytest.mark.parametrize("setting,key", [
    ('port = "x"', "server.port"),
    ("port = 25.5", "server.port"),
    ("port = true", "server.port"),
    ("host = 127", "server.host"),
])
def test_a_value_of_the_wrong_type_names_the_key(tmp_path: Path, setting: str, key: str) -> None:
    message = config_error(tmp_path, SERVER + setting + "\n" + DATABASE + RELAY)
    assert key in message and "must be" in message


@pytest.mark.parametrize("setting,key", [('starttls = "yes"', "relay.starttls"), ('timeout = "30s"', "relay.timeout")])
def test_a_relay_value_of_the_wrong_type_names_the_key(tmp_path: Path, setting: str, key: str) -> None:
    message = config_error(tmp_path, SERVER + DATABASE + RELAY + setting + "\n")
    assert key in message


@pytest.mark.parametrize("text,key", [
    (SERVER + "port = -1\n" + DATABASE + RELAY, "server.port"),
    (SERVER + "max_message_size = -5\n" + DATABASE + RELAY, "server.max_message_size"),
    (SERVER + DATABASE + RELAY + "[delivery]\nretry_initial = -60\n", "delivery.retry_initial"),
    (SERVER + DATABASE + RELAY + "[threading]\nsubject_window_days = -1.5\n", "threading.subject_window_days"),
])
def test_a_negative_number_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    message = config_error(tmp_path, text)
    assert key in message and "negative" in message


@pytest.mark.parametrize("key", ["confirm_days", "hold_days"])
def test_a_token_lifetime_of_zero_is_refused(tmp_path: Path, key: str) -> None:
    assert f"'limits.{key}' must be more than 0" in config_error(tmp_path, SERVER + DATABASE + RELAY
                                                                  + f"[limits]\n{key} = 0\n")


@pytest.mark.parametrize("port", [0, 65536])
def test_a_port_out_of_range_names_server_port(tmp_path: Path, port: int) -> None:
    message = config_error(tmp_path, SERVER + f"port = {port}\n" + DATABASE + RELAY)
    assert "server.port" in message and "65535" in message


def test_zero_delivery_connections_names_the_key(tmp_path: Path) -> None:
    assert "delivery.connections" in config_error(tmp_path, SERVER + DATABASE + RELAY + "[delivery]\nconnections = 0\n")


@pytest.mark.parametrize("value", ["inf", "nan", "1e300"])
def test_a_number_too_large_to_use_names_the_key(tmp_path: Path, value: str) -> None:
    # BUG (mailhub/config.py, _section): floats are only checked for being negative, so inf, nan and
    # huge values load fine; then `mailhub post` (and the service) crash with OverflowError/ValueError
    # in timedelta(seconds=lease_seconds) after the message is already stored.
    message = config_error(tmp_path, SERVER + DATABASE + RELAY + f"[delivery]\nlease_seconds = {value}\n")
    assert "delivery.lease_seconds" in message


def test_relay_host_and_maildir_together_are_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, SERVER + DATABASE + RELAY + 'maildir = "outgoing"\n')
    assert "relay.host" in message and "relay.maildir" in message and "exactly one" in message


@pytest.mark.parametrize("relay", ["", "[relay]\nport = 587\n"])
def test_a_relay_with_neither_host_nor_maildir_is_refused(tmp_path: Path, relay: str) -> None:
    message = config_error(tmp_path, SERVER + DATABASE + relay)
    assert "relay.host" in message and "relay.maildir" in message and "exactly one" in message


def test_a_relative_sqlite_path_is_relative_to_the_config_file(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_path = tmp_path.resolve()
    folder = tmp_path / "etc" / "mailhub"
    folder.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = write(folder, SERVER + '[database]\nurl = "sqlite:///../data/mailhub.db"\n' + RELAY)
    config = load_config(path)
    assert config.database.url == f"sqlite:///{tmp_path / 'etc' / 'data' / 'mailhub.db'}"
    # the same when the config itself is named by a relative path from another folder
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("etc/mailhub/config.toml")).database.url == config.database.url


@pytest.mark.parametrize("url", ["sqlite:////srv/mailhub/mailhub.db", "sqlite:///:memory:",
                                 "postgresql://mailhub@db.example.org/mailhub"])
def test_absolute_and_non_file_database_urls_are_kept(tmp_path: Path, url: str) -> None:
    config = load_config(write(tmp_path, SERVER + f'[database]\nurl = "{url}"\n' + RELAY))
    assert config.database.url == url


def test_a_relative_maildir_and_templates_folder_are_relative_to_the_config_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_path = tmp_path.resolve()
    monkeypatch.chdir("/")
    config = load_config(write(tmp_path, 'templates = "my-templates"\n' + SERVER + DATABASE
                               + '[relay]\nmaildir = "var/outgoing"\n'))
    assert config.relay.maildir == str(tmp_path / "var" / "outgoing")
    assert config.templates == tmp_path / "my-templates"


def test_parse_config_takes_a_table_and_a_base_folder(tmp_path: Path) -> None:
    tmp_path = tmp_path.resolve()
    config = parse_config({"server": {"domain": "lists.example.org", "port": 2525},
                           "database": {"url": "sqlite:///db/mailhub.db"},
                           "relay": {"maildir": "out"}}, tmp_path)
    assert config.server.port == 2525
    assert config.database.url == f"sqlite:///{tmp_path / 'db' / 'mailhub.db'}"
    assert config.relay.maildir == str(tmp_path / "out")
    with pytest.raises(ConfigError, match="server.port"):
        parse_config({"server": {"domain": "lists.example.org", "port": "x"},
                      "database": {"url": "sqlite:///m.db"}, "relay": {"maildir": "out"}}, tmp_path)


def test_invalid_toml_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[server\ndomain = "lists.example.org"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value) and "not valid TOML" in str(caught.value)


def test_a_missing_config_file_is_an_error_that_says_how_to_point_at_one(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    message = str(caught.value)
    assert str(missing) in message and "--config" in message and "MAILHUB_CONFIG" in message


def test_a_folder_instead_of_a_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path)


def test_mailhub_config_is_used_when_no_path_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path.resolve(), '[server]\ndomain = "env.example.org"\n' + DATABASE + RELAY,
                 name="from-env.toml")
    monkeypatch.chdir(tmp_path.parent)
    monkeypatch.setenv("MAILHUB_CONFIG", str(path))
    config = load_config()
    assert config.server.domain == "env.example.org"
    assert config.path == path


def test_an_explicit_path_wins_over_mailhub_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILHUB_CONFIG", str(tmp_path / "not-there.toml"))
    path = write(tmp_path, '[server]\ndomain = "explicit.example.org"\n' + DATABASE + RELAY)
    assert load_config(path).server.domain == "explicit.example.org"


def test_without_a_path_or_mailhub_config_config_toml_here_is_used(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILHUB_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    write(tmp_path, '[server]\ndomain = "here.example.org"\n' + DATABASE + RELAY)
    assert load_config().server.domain == "here.example.org"


def test_serve_with_a_bad_config_exits_with_one_line_naming_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, SERVER + 'port = "x"\n' + DATABASE + RELAY)
    result = CliRunner().invoke(app, ["serve", "--config", str(path)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "server.port" in lines[0], result.output
    assert not (tmp_path / "mailhub.db").exists()


def test_serve_with_a_missing_config_file_exits_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    result = CliRunner().invoke(app, ["serve", "--config", str(missing)])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: config file not found"), result.output


@pytest.mark.parametrize("setting, fragment", [
    ('daily = "7am"', "'digest.daily': '7am' is not a time like 07:00"),
    ('weekly = "someday 07:00"', "'digest.weekly': 'someday 07:00' is not a weekly time"),
    ('timezone = "Europe/Atlantis"', "'digest.timezone': unknown time zone 'Europe/Atlantis'"),
])
def test_an_unreadable_digest_schedule_names_the_key(tmp_path: Path, setting: str, fragment: str) -> None:
    assert fragment in config_error(tmp_path, SERVER + DATABASE + RELAY + f"[digest]\n{setting}\n")


def test_digest_times_default_to_seven_in_the_morning(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SERVER + DATABASE + RELAY))
    assert (config.digest.daily, config.digest.weekly, config.digest.timezone) == ("07:00", "mon 07:00", "UTC")


def test_listener_limits_default_to_what_a_mail_admin_expects(tmp_path: Path) -> None:
    server = load_config(write(tmp_path, SERVER + DATABASE + RELAY)).server
    assert (server.max_sessions, server.idle_timeout, server.max_commands, server.max_line_length) == (
        100, 300.0, 1000, 998)
    assert (server.max_sessions_per_ip, server.data_timeout, server.data_min_rate) == (10, 600.0, 100)


def test_listener_limits_can_be_set(tmp_path: Path) -> None:
    text = SERVER + "max_sessions = 500\nidle_timeout = 60\nmax_commands = 200\nmax_line_length = 4096\n"
    text += "max_sessions_per_ip = 50\ndata_timeout = 1800\ndata_min_rate = 1000\n"
    server = load_config(write(tmp_path, text + DATABASE + RELAY)).server
    assert (server.max_sessions, server.idle_timeout, server.max_commands, server.max_line_length) == (
        500, 60.0, 200, 4096)
    assert (server.max_sessions_per_ip, server.data_timeout, server.data_min_rate) == (50, 1800.0, 1000)


def test_sessions_per_address_default_to_max_sessions_when_that_is_smaller(tmp_path: Path) -> None:
    # A config written before the key existed, with fewer sessions than its default, still loads.
    server = load_config(write(tmp_path, SERVER + "max_sessions = 4\n" + DATABASE + RELAY)).server
    assert (server.max_sessions, server.max_sessions_per_ip) == (4, 4)


def test_the_shipped_config_sets_the_listener_limits_to_their_defaults() -> None:
    server = load_config(SHIPPED).server
    assert (server.max_sessions_per_ip, server.data_timeout, server.data_min_rate) == (10, 600.0, 100)


@pytest.mark.parametrize("setting, fragment", [
    ("max_sessions = 0", "'server.max_sessions' must be at least 1"),
    ("max_recipients = 0", "'server.max_recipients' must be at least 1"),
    ("idle_timeout = 0", "'server.idle_timeout' must be at least 1 (second)"),
    ("idle_timeout = 0.5", "'server.idle_timeout' must be at least 1 (second)"),
    ("max_line_length = 500", "'server.max_line_length' must be at least 998"),
    ("max_commands = 20", "'server.max_commands' must be at least 56"),
    ("max_recipients = 100\nmax_commands = 100", "'server.max_commands' must be at least 106"),
    ('max_sessions = "many"', "'server.max_sessions' must be int"),
    ("idle_timeout = -5", "'server.idle_timeout' must not be negative"),
    ("max_sessions_per_ip = 0", "'server.max_sessions_per_ip' must be at least 1"),
    ("max_sessions = 20\nmax_sessions_per_ip = 21",
     "'server.max_sessions_per_ip' must be at most 'server.max_sessions' (20), got 21"),
    ("max_sessions_per_ip = 2.5", "'server.max_sessions_per_ip' must be int"),
    ("data_timeout = 0", "'server.data_timeout' must be at least 1 (second)"),
    ("data_timeout = 0.5", "'server.data_timeout' must be at least 1 (second)"),
    ("data_timeout = -600", "'server.data_timeout' must not be negative"),
    ("data_min_rate = 0", "'server.data_min_rate' must be at least 1 (byte per second)"),
    ('data_min_rate = "slow"', "'server.data_min_rate' must be int"),
])
def test_a_listener_limit_that_cannot_work_names_the_key(tmp_path: Path, setting: str, fragment: str) -> None:
    assert fragment in config_error(tmp_path, SERVER + setting + "\n" + DATABASE + RELAY)
