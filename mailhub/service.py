"""`mailhub serve` in one process: the listener, the processing worker and the delivery worker."""
from __future__ import annotations

import logging
import threading
from typing import Callable, Optional

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from mailhub.config import Config
from mailhub.db import make_engine
from mailhub.deliver import Deliverer
from mailhub.models import Message, Outbox
from mailhub.process import process_pending
from mailhub.receive import GroupDirectory, Handler, make_listener
from mailhub.store import StoreWriter
from mailhub.transport import Transport

log = logging.getLogger(__name__)

IDLE_POLL = 1.0  # seconds: how often idle workers look for work the CLI or a retry made due


def release_leases(engine: Engine) -> None:
    """SQLite has one serve process per database (holding the listener port proves it), so leases
    left by a killed predecessor are stale and can be freed at once instead of waiting them out."""
    if engine.dialect.name != "sqlite":
        return
    with Session(engine) as session:
        for model in (Message, Outbox):
            session.execute(update(model).where(model.lease_until.is_not(None)).values(lease_until=None))
        session.commit()


class Worker:
    """A thread that calls `step` until stopped; sleeps when `step` found nothing to do."""

    def __init__(self, name: str, step: Callable[[], int], wake: threading.Event,
                 after_work: Callable[[], None] = lambda: None) -> None:
        self.step, self.wake, self.after_work = step, wake, after_work
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                worked = self.step()
            except Exception:  # noqa: BLE001 - e.g. a locked database: wait and try again
                log.exception("%s: step failed; retrying", self.thread.name)
                worked = 0
            if worked:
                self.after_work()
                continue
            self.wake.wait(IDLE_POLL)
            self.wake.clear()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.thread.join(timeout=30)


class Service:
    def __init__(self, config: Config, listen: bool = True,
                 transport_factory: Optional[Callable[[], Transport]] = None) -> None:
        self.config = config
        self.engine = make_engine(config.database.url)
        self.process_wake, self.deliver_wake = threading.Event(), threading.Event()
        self.writer = StoreWriter(self.engine, config.server.domain, on_commit=self.process_wake.set)
        self.deliverer = Deliverer(self.engine, config, transport_factory)
        self.processor = Worker("mailhub-process", lambda: process_pending(self.engine, config),
                                self.process_wake, after_work=self.deliver_wake.set)
        self.sender = Worker("mailhub-deliver", self.deliverer.run_once, self.deliver_wake)
        self.listener = make_listener(config, Handler(config, GroupDirectory(self.engine), self.writer)) \
            if listen else None

    def start(self) -> None:
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
        self.processor.start()
        self.sender.start()

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        self.writer.stop()
        self.processor.stop()
        self.deliverer.stopping.set()
        self.sender.stop()
        self.deliverer.close()
        self.engine.dispose()
