"""Shared set-up for the benchmarks: a throw-away install run as a real `mailhub serve` process."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOMAIN = "lists.example.org"
MAILHUB = str(Path(sys.executable).with_name("mailhub"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A key made for the tests, good enough to measure what signing costs.
DKIM_TEST_KEY = Path(__file__).resolve().parent.parent / "tests" / "data" / "dkim" / "test-private.pem"
DKIM_SETTINGS = f'[dkim]\ndomain = "{DOMAIN}"\nselector = "bench"\nprivate_key = "{DKIM_TEST_KEY}"\n'


class Install:
    """A temporary folder with config.toml and a SQLite database; `serve()` starts mailhub."""

    def __init__(self, relay: str, extra: str = "") -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mailhub-bench-"))
        self.port = free_port()
        self.config = self.folder / "config.toml"
        self.config.write_text(f"""
[server]
domain = "{DOMAIN}"
port = {self.port}
max_recipients = 50

[database]
url = "sqlite:///mailhub.db"

[relay]
{relay}

[delivery]
connections = 4
batch_size = 500
{extra}
""")
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str) -> str:
        out = subprocess.run([MAILHUB, *args, "--config", str(self.config)], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"mailhub {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def serve(self) -> subprocess.Popen:
        self.proc = subprocess.Popen([MAILHUB, "serve", "--config", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=open(self.folder / "serve.log", "w"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self.proc
            except OSError:
                time.sleep(0.05)
        raise SystemExit("mailhub serve did not start; see " + str(self.folder / "serve.log"))

    def peak_rss_mb(self) -> dict[str, float]:
        """High-water resident memory (VmHWM) of `mailhub serve` and of its worker process,
        read while they still run."""
        assert self.proc is not None
        pids = {"serve": self.proc.pid}
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        for pid in children:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            pids["multiprocessing resource tracker" if b"resource_tracker" in cmdline else "workers"] = int(pid)
        peaks = {}
        for name, pid in pids.items():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[name] = int(line.split()[1]) / 1024
        return peaks


    def close(self, keep: bool = False) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        if not keep:
            shutil.rmtree(self.folder, ignore_errors=True)


def show_rss(peaks: dict[str, float]) -> str:
    return ", ".join(f"{name} {mb:.0f} MB" for name, mb in peaks.items()) + f" (sum {sum(peaks.values()):.0f} MB)"


def machine() -> str:
    return f"{os.cpu_count()} CPU(s), Python {sys.version.split()[0]}"
