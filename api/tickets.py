"""Single-use stream tickets: ``POST /stream/tickets`` -> ``GET /stream?ticket=``.

``EventSource`` cannot send an ``Authorization`` header, and a bearer token in a URL
ends up in proxy logs, browser history and ``Referer`` headers. A ticket is a random
value worth one stream, for :data:`TICKET_SECONDS`, bound to the staff member (and the
role and purpose) that asked for it; the stream still checks their grants when it
opens and while it runs. Tickets live in this process's memory: behind several API
processes, send ``POST /stream/tickets`` and ``GET /stream`` to the same one (sticky
routing), or use the header.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Final

from .deps import Caller

TICKET_SECONDS: Final = 60.0
MAX_TICKETS: Final = 10_000


class StreamTickets:
    """Issued tickets, each redeemable once before it expires."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tickets: dict[str, tuple[Caller, float]] = {}
        self._lock = threading.Lock()

    def issue(self, caller: Caller) -> str:
        ticket = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            if len(self._tickets) >= MAX_TICKETS:
                self._tickets = {k: v for k, v in self._tickets.items() if v[1] > now}
                if len(self._tickets) >= MAX_TICKETS:
                    oldest = next(iter(self._tickets))
                    del self._tickets[oldest]
            self._tickets[ticket] = (caller, now + TICKET_SECONDS)
        return ticket

    def redeem(self, ticket: str) -> Caller | None:
        """The caller a valid, unused ticket was issued to (it is used up), else None."""
        with self._lock:
            entry = self._tickets.pop(ticket, None)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]
