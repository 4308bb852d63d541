"""How the serve process wakes its worker process: a pipe, and how often the worker looks anyway.
Apart from service.py, so the worker process imports neither the listener nor aiosmtpd."""
from __future__ import annotations

import os

IDLE_POLL = 1.0  # seconds: how often idle workers look for work the CLI or a retry made due


class Doorbell:
    """The serve process rings the worker process through a pipe: "new mail" or "stop".

    Not a multiprocessing.Event: its set() waits until every process sleeping in wait() has
    woken, so a worker killed while it slept (kill -9, the OOM killer, systemd's SIGTERM to the
    whole group) left the store thread stuck in its next set(), and the listener never again
    answered 250. A pipe write never waits: when the pipe is full a wake-up is pending anyway,
    and when the worker is gone the watcher starts another with a new bell."""

    WAKE, STOP = b"w", b"s"

    def __init__(self) -> None:
        self.reader, self.writer = os.pipe()
        os.set_blocking(self.writer, False)

    def ring(self, signal: bytes = WAKE) -> None:
        try:
            os.write(self.writer, signal)
        except OSError:  # full, closed, or nobody listening: see the class note
            pass

    def close_reader(self) -> None:
        """Once the worker has its own copy of the read end."""
        os.close(self.reader)

    def close(self) -> None:
        try:
            os.close(self.writer)
        except OSError:
            pass
