"""A real install, not only a checkout: the wheel built from this repo, installed into a fresh
venv, serves a group and sends copies with the footer from its own templates. Everything runs
from a folder outside the repo, so nothing is imported from the checkout by accident."""
from __future__ import annotations

import os
import shutil
import smtplib
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

from conftest import DOMAIN, mail, text_of, wait_for, write_config
from mailhub.i18n.catalogs import translations

REPO = Path(__file__).resolve().parent.parent
# What a fresh clone has: the build then leaves no build/ folder in the working tree.
NOT_IN_A_CLONE = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", "*.db",
                                        "*.db-*", "var", ".pytest_cache", "tests")


def run(*args: str | Path, cwd: Path, env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_a_wheel_installed_in_a_fresh_venv_serves_a_group_with_its_templates(tmp_path, sink, figures):
    started = time.monotonic()
    source, dist, home, elsewhere = (tmp_path / d for d in ("source", "dist", "venv", "elsewhere"))
    shutil.copytree(REPO, source, ignore=NOT_IN_A_CLONE)
    elsewhere.mkdir()
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MAILHUB_CONFIG", "VIRTUAL_ENV")}
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", dist, source,
        cwd=elsewhere, env=clean)
    wheel, = dist.glob("mailhub-*.whl")
    built = time.monotonic()
    venv.create(home, with_pip=True)
    bin_ = home / "bin"
    run(bin_ / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q", wheel, cwd=elsewhere,
        env=clean, timeout=300)
    installed = time.monotonic()

    # mailhub has no __init__.py (a namespace package: __file__ is None), so every folder it is made
    # of must be the venv's; config.py's own file stands for the modules.
    where = run(bin_ / "python", "-c", "import mailhub, mailhub.config as c; print(*mailhub.__path__, sep='\\n'); "
                "print(c.__file__); print(c.REPO_TEMPLATES)", cwd=elsewhere, env=clean).splitlines()
    assert all(Path(p).resolve().is_relative_to(home.resolve()) for p in where), where
    assert Path(where[-1]) == Path(where[-2]).parent / "templates" and (Path(where[-1]) / "footer.txt").is_file()

    config = write_config(elsewhere, sink.port, database=f"sqlite:///{tmp_path / 'mailhub.db'}")
    port = int(next(line for line in config.read_text().splitlines() if line.startswith("port =")).split("=")[1])
    mailhub = bin_ / "mailhub"
    run(mailhub, "group", "create", "mentors", "--config", config, cwd=elsewhere, env=clean)
    for member in ("ann@example.com", "bob@example.com"):
        run(mailhub, "member", "add", "mentors", member, "--config", config, cwd=elsewhere, env=clean)
    # The compiled catalogs ship in the wheel: a French reader's footer is French.
    run(mailhub, "member", "add", "mentors", "eve@example.com", "--language", "fr", "--config", config,
        cwd=elsewhere, env=clean)
    server = subprocess.Popen([str(mailhub), "serve", "--config", str(config)], cwd=elsewhere, env=clean,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: listening(port) or server.poll() is not None, timeout=30, what="mailhub serve to listen")
        assert server.poll() is None, f"mailhub serve stopped: {server.communicate()[0]}"
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.sendmail("ann@example.com", [f"mentors@{DOMAIN}"], mail(subject="From the wheel", body="Hello."))
        copy = sink.wait("bob@example.com", timeout=30)[0]
        french = sink.wait("eve@example.com", timeout=30)[0]
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert server.returncode == 0, output
    assert "From the wheel" in str(copy["Subject"])
    text = text_of(copy)
    assert "Hello." in text and f"Leave mentors: mentors-leave@{DOMAIN}" in text  # templates/footer.txt
    in_french = translations("fr").gettext("Reply to this email to answer in this topic.")
    assert in_french != "Reply to this email to answer in this topic." and in_french in text_of(french)
    figures(f"wheel install: build {built - started:.1f} s, venv and pip install {installed - built:.1f} s, "
            f"whole test {time.monotonic() - started:.1f} s")
