"""The real `mailhub serve` as a child process the reliability tests can kill, starve and restart."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from conftest import Env, Sink, wait_for

MAILHUB = Path(sys.executable).with_name("mailhub")  # the console script this venv installed


class Served:
    """`mailhub serve` as its own process group, so that SIGKILL takes its worker process too,
    as an OOM kill or a power cut would."""

    def __init__(self, env: Env, log: Path, listen: bool = True) -> None:
        self.env, self.log, self.listen = env, log, listen
        self.proc: subprocess.Popen | None = None

    def start(self, stdout_closed: bool = False) -> None:
        """`stdout_closed`: its standard output a pipe nobody reads, closed (the log gets the rest)."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([str(MAILHUB), "serve", "--config", str(self.env.path),
                                          *([] if self.listen else ["--no-listen"])],
                                         stdout=subprocess.PIPE if stdout_closed else out,
                                         stderr=out if stdout_closed else subprocess.STDOUT, start_new_session=True)
        if stdout_closed:
            self.proc.stdout.close()  # type: ignore[union-attr]
        if self.listen:
            wait_for(self._listening, timeout=30, what="mailhub serve to listen")
        else:
            wait_for(self._working, timeout=30, what="mailhub serve --no-listen to start")

    def _working(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, f"mailhub serve exited:\n{self.tail()}"
        return "working the queues" in self.log.read_text(errors="replace")

    def _listening(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, f"mailhub serve exited:\n{self.tail()}"
        try:
            with socket.create_connection(("127.0.0.1", self.env.port), timeout=1) as s:
                return s.recv(100).startswith(b"220")
        except OSError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def worker_pid(self) -> int:
        """The worker process, once started (a restarted one is the watcher thread's child)."""
        return wait_for(self._worker, what="the worker process")  # type: ignore[return-value]

    def _worker(self) -> int | None:
        assert self.proc is not None
        for children in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            for pid in children.read_text().split():
                try:
                    if b"mailhub.workers" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        return int(pid)
                except OSError:  # it ended meanwhile
                    continue
        return None

    def kill_worker(self) -> None:
        """kill -9 of the worker process alone, as the OOM killer might pick it."""
        os.kill(self.worker_pid(), signal.SIGKILL)

    def stop(self) -> int | None:
        """SIGTERM to the whole group, as systemd stops a service; returns the exit status."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                return None
        return self.proc.returncode if self.proc is not None else None

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


@contextmanager
def serving(folder: Path, sink: Sink, extra: str = "") -> Iterator[Served]:
    """A test's own config and database, relaying to `sink`; the process is started by the test."""
    s = Served(Env(folder, sink.port, extra), folder / "serve.log")
    try:
        yield s
    finally:
        s.stop()
