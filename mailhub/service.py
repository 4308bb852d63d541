"""`mailhub serve`: the SMTP listener with its store writer in this process, and the processing
and delivery workers and the digest scheduler in a child process, so that each gets a core of its own and a message
that crashes a worker can never take the listener down."""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from typing import Any, Callable

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from mailhub.config import Config
from mailhub.db import StoreError, make_engine, writing
from mailhub.deliver import Deliverer
from mailhub.links import ensure_site_secret
from mailhub.logs import event, setup as setup_logging
from mailhub.scheduler import start_scheduler
from mailhub.models import Message, Outbox
from mailhub.process import process_pending
from mailhub.receive import GroupDirectory, Handler, make_listener
from mailhub.store import StoreWriter

log = logging.getLogger(__name__)

IDLE_POLL = 1.0  # seconds: how often idle workers look for work the CLI or a retry made due


def release_leases(engine: Engine) -> None:
    """SQLite has one serve process per database (holding the listener port shows it), so leases
    left by a killed predecessor are stale and can be freed at once instead of waiting them out.
    Only a shortcut: when the store is locked or full it is skipped, and the leases expire."""
    if engine.dialect.name != "sqlite":
        return
    try:
        with writing(engine), Session(engine) as session:
            for model in (Message, Outbox):
                session.execute(update(model).where(model.lease_until.is_not(None)).values(lease_until=None))
            session.commit()
    except SQLAlchemyError as exc:
        log.warning("could not free the leases of the previous run (%s); that work resumes when they expire",
                    getattr(exc, "orig", exc))


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
    """Processing (stored mail → topics and outbox rows), delivery (outbox → relay) and the
    digest scheduler."""

    def __init__(self, config: Config) -> None:
        self.engine, self.config = make_engine(config.database.url, durable=False), config
        self.process_wake, self.deliver_wake = threading.Event(), threading.Event()
        self.deliverer = Deliverer(self.engine, config)
        self.processor = Worker("mailhub-process", lambda: process_pending(self.engine, config), self.process_wake,
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


class Doorbell:
    """The serve process rings the worker process through a pipe: "new mail" or "stop".

    Not a multiprocessing.Event: its set() waits until every process sleeping in wait() has
    woken, so a worker killed while it slept (kill -9, the OOM killer, systemd's SIGTERM to the
    whole group) left the store thread stuck in its next set(), and the listener never again
    answered 250. A pipe write never waits: when the pipe is full a wake-up is pending anyway,
    and when the worker is gone the watcher starts another with a new bell."""

    WAKE, STOP = b"w", b"s"

    def __init__(self, mp: Any) -> None:
        self.reader, self.writer = mp.Pipe(duplex=False)
        os.set_blocking(self.writer.fileno(), False)

    def ring(self, signal: bytes = WAKE) -> None:
        try:
            os.write(self.writer.fileno(), signal)
        except OSError:  # full, closed, or nobody listening: see the class note
            pass

    def close(self) -> None:
        self.writer.close()


def run_workers(config: Config, bell: Any, log_level: int) -> None:
    """The worker process. It stops when rung to, when the pipe closes (the serve process is
    gone), or on SIGTERM: systemd and `kill` stop the whole process group, and the copies being
    sent must still be recorded, or a restart sends them again."""
    if log_level:
        setup_logging(config.logging.format, log_level)
    terminated = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: terminated.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the serve process stops us
    workers = Workers(config)
    workers.start()
    while not terminated.is_set():
        if not bell.poll(IDLE_POLL):
            continue
        try:
            rung = os.read(bell.fileno(), 4096)
        except OSError:
            rung = b""
        if not rung:
            log.warning("the serve process is gone; stopping the workers")
            break
        if Doorbell.STOP in rung:
            break
        workers.process_wake.set()
    workers.stop()


class Service:
    def __init__(self, config: Config, listen: bool = True) -> None:
        self.config = config
        self.engine = make_engine(config.database.url)
        self._mp = multiprocessing.get_context("spawn")  # a clean interpreter, not a copy of our threads
        self.stopping = threading.Event()
        self.bell: Doorbell | None = None  # the current worker process's
        self.writer = StoreWriter(self.engine, config.server.domain, on_commit=self._ring)
        self.listener = make_listener(config, Handler(config, GroupDirectory(self.engine), self.writer)) \
            if listen else None
        self.worker: Any = None
        self.web: Any = None  # the web listener (mailhub.web), with the SMTP one when [web] is set

    def start(self) -> None:
        # The key of the links in mail, made once: the worker signs links, the web listener checks them.
        try:
            secret = ensure_site_secret(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write to the database: {getattr(exc, 'orig', exc)}") from None
        self.writer.start()
        if self.listener is not None:
            try:
                self.listener.start()
            except BaseException:
                self.writer.stop()
                raise
            # Only now, holding the port, do we know no other serve works this SQLite file.
            release_leases(self.engine)
            log.info("listening on %s:%s for @%s", self.config.server.host, self.config.server.port,
                     self.config.server.domain)
            if self.config.web.enabled:
                self._start_web(secret)
        self._start_worker()
        self._watcher = threading.Thread(target=self._watch, name="mailhub-watch", daemon=True)
        self._watcher.start()

    def _start_web(self, secret: bytes) -> None:
        """The HTTP listener for links in mail. Whatever befalls it, mail intake goes on: it logs
        `web_failed` and (for a taken port) keeps trying by itself."""
        try:
            from mailhub.web.listener import WebListener  # here: aiohttp only when [web] is set

            self.web = WebListener(self.config, self.engine, secret)
            self.web.start()
        except Exception as exc:  # noqa: BLE001 - see above
            event(log, "web_failed", level=logging.ERROR, exc_info=True, listen=self.config.web.listen,
                  error=repr(exc))

    def _ring(self) -> None:
        bell = self.bell
        if bell is not None:
            bell.ring()

    def _start_worker(self) -> None:
        log_level = logging.getLogger().level if logging.getLogger().handlers else 0
        old, bell = self.bell, Doorbell(self._mp)
        self.worker = self._mp.Process(target=run_workers, name="mailhub-workers",
                                       args=(self.config, bell.reader, log_level))
        self.worker.start()
        bell.reader.close()  # the child has its own copy now
        self.bell = bell
        if old is not None:
            old.close()

    def _watch(self) -> None:
        """Restart the worker process if it dies (killed, out of memory): the listener keeps
        taking mail meanwhile, and the new worker resumes from the database."""
        while not self.stopping.wait(IDLE_POLL):
            if self.worker is not None and not self.worker.is_alive() and not self.stopping.is_set():
                log.error("worker process exited with code %s; starting a new one", self.worker.exitcode)
                release_leases(self.engine)
                self._start_worker()

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop()
            self.web = None
        if self.listener is not None:
            self.listener.stop()
        self.writer.stop()
        if self.worker is not None:
            self.stopping.set()
            self._watcher.join(timeout=5)
            if self.bell is not None:
                self.bell.ring(Doorbell.STOP)
            self.worker.join(timeout=90)
            if self.worker.is_alive():
                log.error("workers did not stop in time; terminating them")
                self.worker.terminate()
                self.worker.join()
            self.worker = None
        if self.bell is not None:
            self.bell.close()
            self.bell = None
        self.engine.dispose()
