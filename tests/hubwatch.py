"""Shared watching of the stream hub and the group commit's hand-over, for the tests that
follow committed batches into the stream (``tests/api/test_stream_hub*.py``,
``tests/integration/test_committed_batches.py``)."""

from __future__ import annotations

import asyncio
import threading
import time
from types import TracebackType
from typing import Any

from casestore.api.stream import StreamHub

from casestore.store.logbase import CommittedBatch


class Handed:
    """Every batch the application hands its listeners while the block runs, in order:
    ``with Handed(app) as handed: ...`` then ``handed.batches``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.batches: list[CommittedBatch] = []
        self._lock = threading.Lock()

    def _listen(self, batch: CommittedBatch) -> None:
        with self._lock:
            self.batches.append(batch)

    def __enter__(self) -> Handed:
        self.app.add_batch_listener(self._listen)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.app.remove_batch_listener(self._listen)


def listening(hub: StreamHub) -> None:
    """Wait until the hub's LISTEN thread (PostgreSQL) is connected and the read its
    connection asked for has run, so every later read is one the hub chose to make."""
    listener = hub._listener
    if listener is None:
        return
    for _ in range(1000):
        if listener.listening.is_set() and not hub._others.is_set():
            break
        time.sleep(0.01)
    time.sleep(0.3)  # the read that cleared the flag returns


async def reach(hub: StreamHub, position: int, seconds: float = 60) -> None:
    """Wait until the hub has taken the log up to ``position`` (TimeoutError after
    ``seconds``)."""
    async with asyncio.timeout(seconds):
        while hub.position < position:
            await hub.wait_beyond(hub.position, 1.0)
