"""The web listener on a thread of its own with its own event loop, as aiosmtpd's Controller
runs the SMTP server: `mailhub serve` starts it beside the SMTP listener.

It must never cost a mail: when it cannot listen (the port is taken, by a previous serve still
stopping or by another program), it logs `web_failed` and tries again, 1, 2, 4 … 60 seconds
apart, while the SMTP listener takes mail as ever."""
from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from sqlalchemy.engine import Engine

from mailhub.config import Config
from mailhub.logs import event
from mailhub.web.actions import Actions
from mailhub.web.app import make_app

log = logging.getLogger(__name__)

THREADS = 4  # for the database work of requests; SQLite writes one at a time anyway
FIRST_RETRY, LAST_RETRY = 1.0, 60.0  # seconds between tries to listen
STARTED = 5.0  # seconds `start` waits for the first try
STOPPED = 10.0  # seconds `stop` waits for requests in progress


class WebListener:
    def __init__(self, config: Config, engine: Engine, secret: bytes) -> None:
        self.config = config
        self.executor = ThreadPoolExecutor(THREADS, thread_name_prefix="mailhub-web")
        self.app = make_app(config, Actions(engine, config, secret), self.executor)
        self.loop = asyncio.new_event_loop()
        self.stopping = asyncio.Event()
        self.tried = threading.Event()  # the first try to listen is over, whatever it gave
        self.listening = False
        self.thread = threading.Thread(target=self._run, name="mailhub-web", daemon=True)

    def start(self) -> None:
        """Start, and wait for the first try to listen. Never raises: mail comes first."""
        self.thread.start()
        self.tried.wait(STARTED)

    def stop(self) -> None:
        if self.thread.is_alive():
            try:
                self.loop.call_soon_threadsafe(self.stopping.set)
            except RuntimeError:  # the loop has ended already
                pass
            self.thread.join(STOPPED)
        # Before the service closes the database: a request's transaction in progress finishes.
        self.executor.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except Exception as exc:  # noqa: BLE001 - the listener is lost, the mail is not
            event(log, "web_failed", level=logging.ERROR, exc_info=True, listen=self.config.web.listen,
                  error=repr(exc))
        finally:
            self.tried.set()
            self.loop.close()

    async def _serve(self) -> None:
        host, port = self.config.web.address
        # No access log: a link's path is the key to what it does, and logs travel further than mail.
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=STOPPED / 2)
        await runner.setup()
        try:
            wait, tries = FIRST_RETRY, 0
            while not self.stopping.is_set():
                tries += 1
                try:
                    await web.TCPSite(runner, host, port).start()
                except OSError as exc:
                    event(log, "web_failed", level=logging.ERROR if tries == 1 else logging.DEBUG,
                          listen=self.config.web.listen, error=exc.strerror or repr(exc), retry_in=wait)
                    self.tried.set()
                    try:
                        await asyncio.wait_for(self.stopping.wait(), wait)
                    except TimeoutError:
                        pass
                    wait = min(wait * 2, LAST_RETRY)
                    continue
                self.listening = True
                event(log, "web_listening", listen=self.config.web.listen, base_url=self.config.web.base_url,
                      tries=tries if tries > 1 else None)
                self.tried.set()
                await self.stopping.wait()
        finally:
            self.listening = False
            await runner.cleanup()
