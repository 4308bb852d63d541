"""Who is asking, and whether they have asked too often: a token bucket per client address, in
memory (one listener process; a restart forgets, which only forgives).

Behind the reverse proxy every request comes from the proxy, so the client is taken from
X-Forwarded-For, but only when the peer is loopback (the proxy on this host): anyone else could
write any address there. Its last address is the one the proxy added, the others came from the
client and prove nothing."""
from __future__ import annotations

import ipaddress
import time
from typing import Callable, Iterable, Optional

MAX_CLIENTS = 100_000  # buckets kept; about 150 bytes each


def client_address(peer: Optional[str], forwarded_for: Iterable[str] = ()) -> str:
    """The client's address. An IPv6 client counts as its /64, which one host usually has whole."""
    try:
        ip = ipaddress.ip_address(peer or "")
    except ValueError:
        return peer or "unknown"
    ip = _unmapped(ip)
    if ip.is_loopback:
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
        if hops:
            try:
                ip = _unmapped(ipaddress.ip_address(hops[-1]))
            except ValueError:
                pass  # a proxy writes plain addresses; anything else counts as the proxy itself
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _unmapped(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """::ffff:192.0.2.1, as a dual-stack socket reports an IPv4 client, is that IPv4 address."""
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped if mapped is not None else ip


class RateLimiter:
    """`per_minute` requests per client: a burst of that many, then one every 60/per_minute
    seconds. Each client is two numbers; buckets that have filled up again are dropped when the
    table grows, and if a flood from more than MAX_CLIENTS addresses keeps it full, it starts
    over (letting some requests through beats refusing everyone)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when)

    def wait(self, client: str) -> float:
        """0 when the request may go ahead (and counts it), else the seconds until it may."""
        now = self.clock()
        tokens, then = self.buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.rate)
        if tokens < 1.0:
            self.buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if client not in self.buckets and len(self.buckets) >= MAX_CLIENTS:
            self._sweep(now)
        self.buckets[client] = (tokens - 1.0, now)
        return 0.0

    def _sweep(self, now: float) -> None:
        full = now - self.capacity / self.rate  # a bucket untouched this long is full again
        self.buckets = {client: bucket for client, bucket in self.buckets.items() if bucket[1] > full}
        if len(self.buckets) >= MAX_CLIENTS:
            self.buckets.clear()
