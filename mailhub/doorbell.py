"""How the serve process wakes its worker process: a pipe, and how often the worker looks anyway.
Apart from service.py, so the worker process imports neither the listener nor aiosmtpd."""
from __future__ import annotations

import os
import time

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


class IntakeWatch:
    """Lets processing give way to intake: the serve process rings once per commit of new mail,
    and while it keeps ringing, a sender is waiting for each 250. Processing the stored mail
    can wait a moment; on two cores it otherwise takes the CPU and the write lock the listener
    needs (measured at 8 connections: 615 mails/s with processing switched off, 325 alongside).

    Processing never waits for more than MAX_WAIT at a time, and after each wait works for at
    least as long without waiting, so a steady stream of mail still gets processed."""

    QUIET = 0.02  # seconds without a ring: the burst is over, or only a trickle arrives
    MAX_WAIT = 0.5

    def __init__(self) -> None:
        self._last = 0.0
        self._free_until = 0.0  # after a wait, processing runs unhindered until then

    def rung(self) -> None:
        self._last = time.monotonic()

    def give_way(self) -> float:
        """Wait while intake is busy (at most MAX_WAIT); returns the seconds waited."""
        began = now = time.monotonic()
        if now < self._free_until:
            return 0.0
        while now - self._last < self.QUIET and now - began < self.MAX_WAIT:
            time.sleep(self.QUIET - (now - self._last))
            now = time.monotonic()
        if now - began >= self.MAX_WAIT:
            self._free_until = now + self.MAX_WAIT
        return now - began
