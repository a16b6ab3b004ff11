"""Failed-credential limits for the applicant's view (``/public``).

The query code is six digits: without a limit a script could try every code against a
case number in minutes. Failed look-ups (a wrong code or an unknown case number) are
counted per case number and per client address in a sliding window; over either limit
the endpoint answers 429 ``too-many-attempts`` with ``Retry-After`` and does not even
check the code, so guessing stops paying. A correct code does not reset the count.

Decisions: the counts live in this process's memory (behind several API processes each
keeps its own, which multiplies the allowance by their number; put the front proxy's
own rate limit in front for that). The client address is the socket peer, or, when
the peer is one of ``CASESTORE_TRUSTED_PROXIES``, the client its ``X-Forwarded-For``
names (``api.clientaddr``; from anyone else the header is ignored, since anyone can
send one: ``tests/e2e/test_proxies_served.py``). A case number
locked by someone else's guessing is also locked for its applicant until the window
passes — the hall's window can still show the case.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

#: Failed look-ups allowed per case number, and per client address, in one window.
CASE_FAILURES = 10
CLIENT_FAILURES = 100
WINDOW_SECONDS = 15 * 60.0


class FailureLimiter:
    """Failures per key within a sliding window, in bounded memory."""

    def __init__(
        self,
        limit: int,
        window: float = WINDOW_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> int | None:
        """Whole seconds until ``key`` may try again, or None when it may now."""
        with self._lock:
            times = self._recent(key)
            if times is None or len(times) < self.limit:
                return None
            return max(1, math.ceil(times[0] + self.window - self._clock()))

    def failed(self, key: str) -> None:
        """Count one failure of ``key``."""
        with self._lock:
            times = self._recent(key)
            if times is None:
                if len(self._failures) >= self._max_keys:  # forget the oldest keys
                    for old in list(self._failures)[: self._max_keys // 10 or 1]:
                        del self._failures[old]
                times = self._failures[key] = deque()
            times.append(self._clock())
            while len(times) > self.limit:
                times.popleft()

    def _recent(self, key: str) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        horizon = self._clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times


class PublicLimits:
    """The two limits the applicant's endpoints check."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.cases = FailureLimiter(CASE_FAILURES, clock=clock)
        self.clients = FailureLimiter(CLIENT_FAILURES, clock=clock)

    def retry_after(self, case_no: str, client: str) -> int | None:
        waits = [
            w
            for w in (self.cases.retry_after(case_no), self.clients.retry_after(client))
            if w is not None
        ]
        return max(waits) if waits else None

    def failed(self, case_no: str, client: str) -> None:
        self.cases.failed(case_no)
        self.clients.failed(client)


class StreamSlots:
    """Open public streams per client address and in all, in this process.

    The hall board's stream needs no token; without a cap a script could hold thousands
    of never-ending streams open (150 of them once made ``/health`` take 6–13 s).
    ``acquire`` answers None over either cap, else a :class:`Slot` whose ``release`` may
    be called more than once (the stream's end and the response's end both call it).
    The client address is the socket peer, as for :class:`PublicLimits`.
    """

    def __init__(self, per_client: int = 32, total: int = 512) -> None:
        self.per_client = per_client
        self.total = total
        self._open: dict[str, int] = {}
        self._count = 0
        self._lock = threading.Lock()

    def acquire(self, client: str) -> Slot | None:
        with self._lock:
            if self._count >= self.total or self._open.get(client, 0) >= self.per_client:
                return None
            self._open[client] = self._open.get(client, 0) + 1
            self._count += 1
            return Slot(self, client)

    def _release(self, client: str) -> None:
        with self._lock:
            left = self._open.get(client, 0) - 1
            if left > 0:
                self._open[client] = left
            else:
                self._open.pop(client, None)
            self._count = max(self._count - 1, 0)

    def open_count(self) -> int:
        with self._lock:
            return self._count


class Slot:
    """One open stream's place in :class:`StreamSlots`."""

    def __init__(self, slots: StreamSlots, client: str) -> None:
        self._slots: StreamSlots | None = slots
        self.client = client

    def release(self) -> None:
        slots, self._slots = self._slots, None
        if slots is not None:
            slots._release(self.client)
