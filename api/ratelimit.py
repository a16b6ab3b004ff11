"""Failed-credential limits for the applicant's view (``/public``).

The query code is six digits: without a limit a script could try every code against a
case number in minutes. Failed look-ups (a wrong code or an unknown case number) are
counted per case number and per client address in a sliding window; over either limit
the endpoint answers 429 ``too-many-attempts`` with ``Retry-After`` and does not even
check the code, so guessing stops paying. A correct code does not reset the count.

Decisions: the counts live in this process's memory (behind several API processes each
keeps its own, which multiplies the allowance by their number; put the front proxy's
own rate limit in front for that). The client address is the socket peer: a
``X-Forwarded-For`` header is not trusted, since anyone can send one. A case number
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
