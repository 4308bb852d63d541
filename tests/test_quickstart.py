"""README.md's "First group in five minutes", run as written: the block under that heading, line
by line with bash, in a fresh folder holding a copy of the shipped config.toml and templates/,
while `mailhub serve` (the last part of README's install command) runs there."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


REPO = Path(__file__).resolve().parent.parent
HEADING = "First group in five minutes"
LINE_TIMEOUT = 30  # seconds; the block's wait for delivery loops until the copy is there


def _section(readme: str, heading: str) -> str:
    match = re.search(rf"^#+ {re.escape(heading)}\s*$", readme, re.MULTILINE)
    assert match, f"README.md has no heading {heading!r}"
    rest = readme[match.end():]
    following = re.search(r"^#+ ", rest, re.MULTILINE)
    return rest[: following.start()] if following else rest


def _first_block(section: str) -> list[str]:
    """The first code block of a section, fenced (```) or indented by four spaces."""
    lines = section.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("```"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            return [x for x in lines[i + 1:end] if x.strip()]
        if line.startswith("    ") and line.strip():
            block = []
            for x in lines[i:]:
                if x.strip() and not x.startswith("    "):
                    break
                block.append(x[4:])
            return [x for x in block if x.strip()]
    raise AssertionError("no code block in the section")


def quickstart_lines(readme: str) -> list[str]:
    return _first_block(_section(readme, HEADING))


def serve_command(readme: str) -> str:
    """`.venv/bin/mailhub serve`: the last part of README's install-and-run command."""
    install = next(line.strip() for line in readme.splitlines()
                   if line.startswith("    ") and "pip install" in line and line.rstrip().endswith("mailhub serve"))
    return install.split(" && ")[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_listener(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert server.poll() is None, f"mailhub serve exited:\n{log.read_text()}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"mailhub serve did not listen on {port}:\n{log.read_text()}")


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_readme_quickstart_runs_as_written(tmp_path: Path) -> None:
    venv = Path(sys.prefix)
    assert (venv / "bin" / "mailhub").exists(), \
        f"no mailhub console script in {venv}/bin: install with pip install -e '.[test]' as README says"
    readme = (REPO / "README.md").read_text()
    lines = quickstart_lines(readme)
    assert any("mailhub post" in line for line in lines)

    folder = tmp_path / "mailhub"
    folder.mkdir()
    shutil.copytree(REPO / "templates", folder / "templates")
    # The shipped config listens on 127.0.0.1:8025, which another test run or a developer's own
    # `mailhub serve` may hold: this copy listens on a free port instead; nothing else changes.
    port = _free_port()
    config = (REPO / "config.toml").read_text()
    config, n = re.subn(r"^port = 8025\b", f"port = {port}", config, count=1, flags=re.MULTILINE)
    assert n == 1, "config.toml no longer has `port = 8025` under [server]"
    (folder / "config.toml").write_text(config)
    # The README's lines say `.venv/bin/mailhub`: point .venv at the venv running this test.
    (folder / ".venv").symlink_to(venv, target_is_directory=True)

    env = {k: v for k, v in os.environ.items() if k != "MAILHUB_CONFIG"}
    log = folder / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(["bash", "-c", "exec " + serve_command(readme)], cwd=folder, env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_listener(port, server, log)
        output = ""
        for line in lines:
            done = subprocess.run(["bash", "-c", line], cwd=folder, env=env, capture_output=True, text=True,
                                  timeout=LINE_TIMEOUT)
            assert done.returncode == 0, f"{line}\nexit {done.returncode}\n{done.stdout}{done.stderr}\n{log.read_text()}"
            output = done.stdout
        assert server.poll() is None, f"mailhub serve exited:\n{log.read_text()}"
    finally:
        _stop(server)

    # The block's last line shows Bea's copy, as the relay would have received it.
    assert "Delivered-To: bea@example.com" in output, output
    assert "Subject: [mentors] Welcome" in output, output
    assert "Hello everyone" in output, output
    copies = list((folder / "var" / "outgoing" / "new").iterdir())
    assert len(copies) == 1, copies
