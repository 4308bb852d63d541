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
    """A temporary folder with config.toml and a database (SQLite in the folder, or a new one on a
    throw-away PostgreSQL server); `serve()` starts `processes` mailhub serve processes on it,
    each listening on its own port."""

    def __init__(self, relay: str, extra: str = "", postgresql: bool = False, processes: int = 1) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mailhub-bench-"))
        self.postgres = None
        url = "sqlite:///mailhub.db"
        if postgresql:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
            from pg import PostgresServer  # the tests' throw-away server, here with fsync on

            self.postgres = PostgresServer(durable=True).start()
            url = self.postgres.create_database()
        self.database_url = url if postgresql else f"sqlite:///{self.folder / 'mailhub.db'}"
        self.ports = [free_port() for _ in range(processes)]
        self.configs = [self.folder / ("config.toml" if i == 0 else f"config{i}.toml") for i in range(processes)]
        for port, config in zip(self.ports, self.configs):
            config.write_text(f"""
[server]
domain = "{DOMAIN}"
port = {port}
max_recipients = 50
max_sessions_per_ip = 100  # every bench client comes from 127.0.0.1

[database]
url = "{url}"

[relay]
{relay}

[delivery]
connections = 4
batch_size = 500
{extra}
""")
        self.port, self.config = self.ports[0], self.configs[0]
        self.procs: list[subprocess.Popen] = []

    def cli(self, *args: str) -> str:
        out = subprocess.run([MAILHUB, *args, "--config", str(self.config)], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"mailhub {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def serve(self) -> None:
        for i, (port, config) in enumerate(zip(self.ports, self.configs)):
            log = self.folder / f"serve{i}.log"
            self.procs.append(subprocess.Popen([MAILHUB, "serve", "--config", str(config)],
                                               stdout=subprocess.DEVNULL, stderr=open(log, "w")))
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"mailhub serve did not start; see {log}") from None
                    time.sleep(0.05)

    def _processes(self) -> dict[str, int]:
        """Each `mailhub serve` and its worker process, by name: pid."""
        pids = {}
        for i, proc in enumerate(self.procs):
            suffix = f" {i + 1}" if len(self.procs) > 1 else ""
            pids[f"serve{suffix}"] = proc.pid
            for pid in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split():
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                kind = "multiprocessing resource tracker" if b"resource_tracker" in cmdline else "workers"
                pids[kind + suffix] = int(pid)
        return pids

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each process has used so far: steadier than elapsed time on a
        shared machine, where other work stretches the clock."""
        tick = os.sysconf("SC_CLK_TCK")
        used = {}
        for name, pid in self._processes().items():
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            used[name] = (int(fields[11]) + int(fields[12])) / tick
        return used

    def peak_rss_mb(self) -> dict[str, float]:
        """High-water resident memory (VmHWM) of each process, read while they still run."""
        peaks = {}
        for name, pid in self._processes().items():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[name] = int(line.split()[1]) / 1024
        return peaks

    def close(self, keep: bool = False) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=30)
        if self.postgres is not None:
            self.postgres.stop()
        if not keep:
            shutil.rmtree(self.folder, ignore_errors=True)


def database_options(parser) -> None:  # noqa: ANN001
    parser.add_argument("--postgresql", action="store_true",
                        help="on a throw-away PostgreSQL server (Debian's postgresql; fsync on) instead of SQLite")
    parser.add_argument("--processes", type=int, default=1, help="mailhub serve processes sharing the database")


def describe(install: Install) -> str:
    database = "PostgreSQL" if install.postgres is not None else "SQLite"
    return f"{database}, {len(install.ports)} serve process(es)"


def show_rss(peaks: dict[str, float]) -> str:
    return ", ".join(f"{name} {mb:.0f} MB" for name, mb in peaks.items()) + f" (sum {sum(peaks.values()):.0f} MB)"


def show_cpu(used: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in used.items())


def machine() -> str:
    return f"{os.cpu_count()} CPU(s), Python {sys.version.split()[0]}"
