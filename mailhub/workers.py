"""The worker process of `mailhub serve`: processing (stored mail → topics and outbox rows),
delivery (outbox → relay) and the scheduler (digests, bounce rounds, reports). The serve process
starts it (service.WorkerProcess) and rings its doorbell when new mail is stored; only that
process imports this module, so the listener's does not carry the workers' code."""
from __future__ import annotations

import json
import logging
import os
import pickle
import select
import signal
import sys
import threading
from typing import IO, Any, Callable

from mailhub.config import Config
from mailhub.db import make_engine
from mailhub.deliver import Deliverer
from mailhub.logs import setup as setup_logging
from mailhub.process import process_pending
from mailhub.scheduler import start_scheduler
from mailhub.doorbell import IDLE_POLL, Doorbell, IntakeWatch

log = logging.getLogger(__name__)


class Worker:
    """A thread that calls `step` until stopped; sleeps until woken when `step` found no work."""

    def __init__(self, name: str, step: Callable[[], int], wake: threading.Event,
                 after_work: Callable[[], None] = lambda: None) -> None:
        self.step, self.wake, self.after_work = step, wake, after_work
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        while not self.stopping.is_set():
            self.wake.clear()  # before looking, so a wake-up during the step is not lost
            try:
                worked = self.step()
            except Exception:  # noqa: BLE001 - e.g. a locked database: wait and try again
                log.exception("%s: step failed; retrying", self.thread.name)
                worked = 0
            if worked:
                self.after_work()
            else:
                self.wake.wait(IDLE_POLL)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.thread.join(timeout=60)


class Workers:
    """Processing, delivery and the digest scheduler."""

    def __init__(self, config: Config) -> None:
        self.engine, self.config = make_engine(config.database.url, durable=False), config
        self.process_wake, self.deliver_wake = threading.Event(), threading.Event()
        self.deliverer = Deliverer(self.engine, config)
        self.intake = IntakeWatch()
        self.processor = Worker("mailhub-process", lambda: process_pending(self.engine, config,
                                                                           give_way=self.intake.give_way),
                                self.process_wake,
                                after_work=self.deliver_wake.set)
        self.sender = Worker("mailhub-deliver", self.deliverer.run_once, self.deliver_wake)
        self.scheduler: Any = None

    def start(self) -> None:
        self.processor.start()
        self.sender.start()
        self.scheduler = start_scheduler(self.engine, self.config, self.deliver_wake.set)

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)  # a digest run in progress finishes its group
        self.processor.stop()
        self.deliverer.stopping.set()  # in-flight sends finish and are recorded; the rest wait
        self.sender.stop()
        self.deliverer.close()
        self.engine.dispose()


def run_workers(config: Config, bell: int, log_level: int) -> None:
    """The worker process. It stops when rung to, when the pipe closes (the serve process is
    gone), or on SIGTERM: systemd and `kill` stop the whole process group, and the copies being
    sent must still be recorded, or a restart sends them again. `bell`: the doorbell's read end."""
    if log_level:
        setup_logging(config.logging.format, log_level)
    terminated = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: terminated.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the serve process stops us
    workers = Workers(config)
    workers.start()
    while not terminated.is_set():
        try:
            readable, _, _ = select.select([bell], [], [], IDLE_POLL)
        except InterruptedError:  # the SIGTERM above
            continue
        if not readable:
            continue
        try:
            rung = os.read(bell, 4096)
        except OSError:
            rung = b""
        if not rung:
            log.warning("the serve process is gone; stopping the workers")
            break
        if Doorbell.STOP in rung:
            break
        workers.intake.rung()
        workers.process_wake.set()
    workers.stop()


def main(stdin: IO[bytes]) -> None:
    """Started by service.WorkerProcess: its sys.path on the first line, then (config, bell, log level)."""
    sys.path[:0] = [p for p in json.loads(stdin.readline()) if p not in sys.path]
    config, bell, log_level = pickle.load(stdin)
    run_workers(config, bell, log_level)
