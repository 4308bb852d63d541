"""The benchmarks' relay and their plain-sender baseline.

`Sink` is a minimal SMTP server in its own process that takes every mail and counts it, and
separately counts the mails that contain a marker (a post's subject among digests). It scans
for the end of DATA with `bytes.find` instead of reading line by line, so it is never the
bottleneck, even for 150 KB digests: what is measured is the sender. Every sender in a run
(mailhub and the baseline) talks to the same sink.

`plain_send` is the baseline mailhub's delivery is compared with: smtplib pushing pre-built
mails over a few connections, as a script with no queue, no database and no composing would."""
from __future__ import annotations

import multiprocessing
import smtplib
import threading
import time
from typing import Any

from common import free_port


class _SinkProtocol:
    """One SMTP session: commands are answered at once, DATA is read up to CRLF.CRLF."""

    def __init__(self, count: Any, marked: Any, marker: bytes) -> None:
        self.count, self.marked, self.marker = count, marked, marker
        self.buffer, self.in_data, self.transport = bytearray(), False, None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def connection_lost(self, exc: Any) -> None:
        pass

    def eof_received(self) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    return
                mail = bytes(self.buffer[:end])
                del self.buffer[:end + 5]
                self.in_data = False
                with self.count.get_lock():
                    self.count.value += 1
                if self.marker and self.marker in mail:
                    with self.marked.get_lock():
                        self.marked.value += 1
                self.transport.write(b"250 2.0.0 OK\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            verb = bytes(self.buffer[:4]).upper()
            del self.buffer[:end + 2]
            if verb == b"EHLO":
                self.transport.write(b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 100000000\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.buffer[:0] = b"\r\n"  # the end mark's first CRLF may be this command's
                self.transport.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"221 bye\r\n")
                self.transport.close()
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                self.transport.write(b"250 OK\r\n")


def _serve(port: int, count: Any, marked: Any, marker: bytes, ready: Any) -> None:
    import asyncio

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(lambda: _SinkProtocol(count, marked, marker), "127.0.0.1", port)
        ready.set()
        await asyncio.sleep(24 * 3600)

    asyncio.run(main())


class Sink:
    """`count`: mails taken; `marked`: those containing `marker`. `reset()` between senders."""

    def __init__(self, marker: bytes = b"") -> None:
        ctx = multiprocessing.get_context("spawn")
        self._count, self._marked, ready = ctx.Value("l", 0), ctx.Value("l", 0), ctx.Event()
        self.port = free_port()
        self._proc = ctx.Process(target=_serve, args=(self.port, self._count, self._marked, marker, ready),
                                 daemon=True)
        self._proc.start()
        if not ready.wait(20):
            raise SystemExit("the relay sink did not start")

    @property
    def count(self) -> int:
        return self._count.value

    @property
    def marked(self) -> int:
        return self._marked.value

    def reset(self) -> None:
        self._count.value = self._marked.value = 0

    def relay_settings(self) -> str:
        return f'host = "127.0.0.1"\nport = {self.port}'

    def wait_for(self, total: int, timeout: float) -> float:
        """Seconds (from now) until `total` mails are in, or until `timeout`."""
        start = time.perf_counter()
        while self.count < total and time.perf_counter() - start < timeout:
            time.sleep(0.01)
        return time.perf_counter() - start

    def close(self) -> None:
        self._proc.terminate()
        self._proc.join(5)


def plain_send(port: int, mails: list[tuple[str, str, bytes]], connections: int = 4) -> float:
    """Seconds for smtplib to push pre-built (sender, recipient, bytes) mails over `connections`
    connections, each a thread as mailhub's delivery has, one mail per transaction."""
    def push(part: list[tuple[str, str, bytes]]) -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for sender, recipient, data in part:
                smtp.sendmail(sender, [recipient], data)

    threads = [threading.Thread(target=push, args=(mails[i::connections],)) for i in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start
