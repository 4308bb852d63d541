"""`mailhub serve`: the SMTP listener with its store writer in this process, and the processing
and delivery workers and the digest scheduler in a child process, so that each gets a core of its own and a message
that crashes a worker can never take the listener down."""
from __future__ import annotations

import json
import logging
import pickle
import subprocess
import sys
import threading
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from mailhub.config import Config
from mailhub.db import StoreError, make_engine, writing
from mailhub.doorbell import IDLE_POLL, Doorbell
from mailhub.links import ensure_site_secret
from mailhub.logs import event
from mailhub.models import Message, Outbox
from mailhub.receive import GroupDirectory, Handler, make_listener
from mailhub.store import StoreWriter

log = logging.getLogger(__name__)



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


# The worker process's first lines: take the serve process's sys.path (so it imports the same
# mailhub), then the rest from standard input (mailhub.workers.main).
_WORKER_START = "import sys; from mailhub.workers import main; main(sys.stdin.buffer)"


class WorkerProcess:
    """The worker process (mailhub.workers), started as a fresh interpreter. Not through
    multiprocessing: its spawn also starts a resource tracker process (~13 MB) that mailhub has
    no use for."""

    def __init__(self, config: Config, bell: Doorbell, log_level: int) -> None:
        # -P: not the current folder first on sys.path, where a stray mailhub/ would be imported
        # before the parent's path (which the worker takes from stdin) applies.
        self._proc = subprocess.Popen([sys.executable, "-P", "-c", _WORKER_START], stdin=subprocess.PIPE,
                                      pass_fds=(bell.reader,))
        assert self._proc.stdin is not None
        try:
            with self._proc.stdin as stdin:
                stdin.write(json.dumps(sys.path).encode() + b"\n" + pickle.dumps((config, bell.reader, log_level)))
        except BrokenPipeError:  # it died at once: the watcher sees it gone and starts another
            log.error("the worker process exited before it got its settings")

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def exitcode(self) -> int | None:
        return self._proc.poll()

    def is_alive(self) -> bool:
        return self._proc.poll() is None

    def join(self, timeout: float) -> None:
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def terminate(self) -> None:
        self._proc.terminate()


class Service:
    def __init__(self, config: Config, listen: bool = True) -> None:
        self.config = config
        self.engine = make_engine(config.database.url)
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
        old, bell = self.bell, Doorbell()
        self.worker = WorkerProcess(self.config, bell, log_level)
        bell.close_reader()  # the child has its own copy now
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
                try:
                    self._start_worker()
                except Exception:  # noqa: BLE001 - keep watching: the next round tries again
                    log.exception("could not start a worker process")

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
