"""Failed-login rate limiting: after N bad tokens from one client address within a minute, 429.

In-process (one counter per worker process, lost on restart): with ``VSV_WORKERS`` > 1 an address gets
up to N failures per worker. Put a reverse proxy with its own limit in front for a shared limit. Only
*presented* tokens that fail count (a request without a token is a plain 401, not a failed login).

The limit is on failures only: a valid token passes even when its address is over the limit (tokens are
256-bit random, so guessing is not the risk; locking out colleagues behind one NAT address is). The
address is the connection's (:func:`client_key`); a forwarding header is believed only from a trusted proxy.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping

WINDOW_SECONDS = 60.0
MAX_TRACKED_CLIENTS = 10_000
FORWARDED_FOR = "x-forwarded-for"
# The one bucket of every request that carries X-Forwarded-For from a peer that is not a trusted proxy.
UNTRUSTED_FORWARD = "forwarded-by-an-untrusted-peer"
UNKNOWN_CLIENT = "unknown"


def client_key(peer: str | None, headers: Mapping[str, str], trusted_proxies: Collection[str] = ()) -> str:
    """The address whose failures a request counts against.

    Without ``X-Forwarded-For``: the connection's address ``peer`` (``request.client.host``). With it, from
    a trusted proxy: the rightmost address in the header that is not a trusted proxy itself. With it, from
    any other peer: one shared bucket, :data:`UNTRUSTED_FORWARD`. The server in front may already have put
    the header's address in ``request.client`` (uvicorn believes it from 127.0.0.1 unless started with
    ``--no-proxy-headers``), so a client that varies the header would otherwise pick a fresh bucket for
    every guess. The shared bucket locks no one out: a valid token passes whatever its bucket holds.
    """
    forwarded = headers.get(FORWARDED_FOR)
    if forwarded is None:
        return peer or UNKNOWN_CLIENT
    if peer is None or peer not in trusted_proxies:
        return UNTRUSTED_FORWARD
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    outside = [hop for hop in hops if hop not in trusted_proxies]
    return outside[-1][:64] if outside else peer


class FailedLoginLimiter:
    """Sliding one-minute window of failed logins per client address (thread-safe)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _prune(self, client: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] <= now - WINDOW_SECONDS:
            failures.popleft()
        return failures

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None when it may try now."""
        if self.per_minute <= 0:
            return None
        with self._lock:
            now = self._clock()
            failures = self._prune(client, now)
            if len(failures) < self.per_minute:
                if not failures:
                    del self._failures[client]
                return None
            return max(1, math.ceil(failures[0] + WINDOW_SECONDS - now))

    def record_failure(self, client: str) -> None:
        if self.per_minute <= 0:
            return
        with self._lock:
            now = self._clock()
            if len(self._failures) >= MAX_TRACKED_CLIENTS and client not in self._failures:
                # Bounded memory under a flood of addresses: forget windows that have run out.
                for key in [k for k, v in self._failures.items() if not v or v[-1] <= now - WINDOW_SECONDS]:
                    del self._failures[key]
            self._prune(client, now).append(now)

    def reset(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
