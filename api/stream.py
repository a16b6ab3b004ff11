"""The live stream behind ``GET /stream``: status changes read from the log by position.

One :class:`StreamHub` per process tails the log (woken in-process by the recorder's
commit listeners, on PostgreSQL by the NOTIFY every append sends, and by a short poll
as the fallback for writes from other processes) and keeps the most recent items in a
buffer. Each client holds a cursor, the last log position it has *read* (whether or not
its filter let the event through). A client whose cursor
is older than the buffer reads the log itself. The event ``id`` is the log position,
so ``Last-Event-ID`` resumes exactly after the last event the client saw: positions
are assigned without gaps and commit in order, so nothing is skipped or repeated.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

import orjson
from casestore.projections.runtime.live import NotifyListener
from starlette.concurrency import run_in_threadpool

from casestore.domain.stages import INITIAL, next_stage, stage_of
from casestore.service import CaseService, LogRow
from casestore.timeutil import from_micros

log = logging.getLogger("casestore.api.stream")
_CASE_TOPIC = "casestore.domain.case:Case."


@dataclass(frozen=True)
class StreamItem:
    """One status change, ready to send."""

    position: int
    case_id: str
    window: str
    data: bytes

    @property
    def frame(self) -> bytes:
        """The complete SSE frame (``id``, ``event: status``, ``data``)."""
        return b"id: %d\r\nevent: status\r\ndata: %s\r\n\r\n" % (self.position, self.data)

    def matches(self, case_id: str | None, window: str | None) -> bool:
        return (case_id is None or self.case_id == case_id) and (
            window is None or self.window == window
        )


def _position(item: StreamItem) -> int:
    return item.position


@dataclass(frozen=True)
class _Known:
    """What the stream remembers of a case: its intake facts and its stage at a version."""

    case_no: str
    item_code: str
    window: str
    version: int
    stage: str


class _CaseFacts:
    """case id -> intake facts and the stage at the last version seen: an LRU.

    A case's stage after each event comes from the domain's one stage machine
    (:func:`casestore.domain.stages.next_stage`), from the stage before it: remembered
    when the previous version was seen, else folded from the case's earlier events.
    """

    def __init__(self, service: CaseService, size: int = 50_000) -> None:
        self._service = service
        self._size = size
        self._facts: OrderedDict[UUID, _Known] = OrderedDict()
        self._lock = threading.Lock()  # the hub and catching-up clients read in threads

    def after(self, case_id: UUID, version: int, event: Any) -> _Known:
        """The case as of ``event`` (its version ``version``), remembered if newer."""
        name = type(event).__name__
        if version == 1:
            before = _Known(event.case_no, event.item_code, event.actor.window, 0, INITIAL)
        else:
            before = self._before(case_id, version)
        known = replace(
            before,
            version=version,
            stage=next_stage(before.stage, name, getattr(event, "outcome", None)),
        )
        with self._lock:
            current = self._facts.get(case_id)
            if current is None or current.version < version:
                self._facts[case_id] = known
                self._facts.move_to_end(case_id)
                if len(self._facts) > self._size:
                    self._facts.popitem(last=False)
        return known

    def _before(self, case_id: UUID, version: int) -> _Known:
        with self._lock:
            known = self._facts.get(case_id)
        if known is not None and known.version == version - 1:
            return known
        earlier = self._service.events(case_id, upto_version=version - 1)
        first = earlier[0]
        stage = stage_of([(type(e).__name__, getattr(e, "outcome", None)) for e in earlier])
        return _Known(first.case_no, first.item_code, first.actor.window, version - 1, stage)


class StreamHub:
    """Tails the log once for every ``/stream`` client of this process."""

    def __init__(
        self, service: CaseService, *, buffer: int = 20_000, poll_seconds: float = 0.2
    ) -> None:
        self.service = service
        self.position = 0
        self._items: list[StreamItem] = []
        self._covered_after = 0  # the buffer holds every item with a position above this
        self._buffer = buffer
        self._poll = poll_seconds
        self._facts = _CaseFacts(service)
        self._wake = asyncio.Event()
        self._advanced = asyncio.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="casestore-stream-hub")
        self._stopping = threading.Event()
        self._listener: NotifyListener | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Begin tailing at the current head (older positions are read on demand)."""
        self._loop = asyncio.get_running_loop()
        head, _ = await run_in_threadpool(self.service.head)
        self.position = self._covered_after = head
        self.service.add_commit_listener(self._on_commit)
        if self.service.backend == "postgres":
            # Other processes' commits arrive by NOTIFY (every append sends one), not by
            # waiting for the next poll.
            self._listener = NotifyListener(
                self.service.db_url,
                self.service.events_channel,
                lambda: self._on_commit(0),
                self._stopping,
            )
            self._listener.start()
        self._task = asyncio.create_task(self._run(), name="casestore-stream-hub")

    async def stop(self) -> None:
        """Stop tailing and wait for the reading thread: the store closes next, and a
        connection closed under a running read would crash the process."""
        self._stopping.set()
        self._wake.set()
        with contextlib.suppress(ValueError):
            self.service.remove_commit_listener(self._on_commit)
        if self._task is not None:
            try:
                async with asyncio.timeout(10):
                    await asyncio.shield(self._task)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        await asyncio.to_thread(self._reader.shutdown, wait=True, cancel_futures=True)
        if self._listener is not None:
            await asyncio.to_thread(self._listener.join, 5.0)

    def _on_commit(self, position: int) -> None:
        # Called in the writer's thread right after its commit.
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        # Stops on the flag, not only on cancellation: asyncio.wait_for in Python 3.11 can
        # swallow a cancellation that lands as its timeout fires, and the loop would go on.
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                await self._catch_up()
            except Exception:  # the store may be briefly unreachable; keep tailing
                log.exception("stream hub could not read the log")
                await asyncio.sleep(1.0)

    async def _catch_up(self) -> None:
        while True:
            # Its own thread: tailing must not queue behind commands in the shared pool.
            loop = asyncio.get_running_loop()
            items, last = await loop.run_in_executor(self._reader, self._read, self.position, 2000)
            if last == self.position:
                return
            self._items.extend(items)
            if len(self._items) > 2 * self._buffer:  # trim in halves: amortised O(1)
                drop = len(self._items) - self._buffer
                self._covered_after = self._items[drop - 1].position
                del self._items[:drop]
            self.position = last
            async with self._advanced:
                self._advanced.notify_all()

    # -- reading -----------------------------------------------------------------------

    def _read(
        self, after: int, limit: int, upto: int | None = None
    ) -> tuple[list[StreamItem], int]:
        """Items in (after, after+limit] and the last position read.

        ``upto`` is a position known to be committed: everything up to the stop has
        then been seen even where the scan returned nothing.
        """
        stop = after + limit if upto is None else min(after + limit, upto)
        items: list[StreamItem] = []
        last = after
        for row in self.service.log_rows(after, upto=stop, page=limit):
            last = row.position
            if row.topic.startswith(_CASE_TOPIC):
                items.append(self._item(row))
        return items, (stop if upto is not None else last)

    def _item(self, row: LogRow) -> StreamItem:
        event = self.service.decode(row)
        known = self._facts.after(row.originator_id, row.version, event)
        data = {
            "position": row.position,
            "case_id": str(row.originator_id),
            "case_no": known.case_no,
            "item_code": known.item_code,
            "window": known.window,
            "event": type(event).__name__,
            "version": row.version,
            "stage": known.stage,
            "recorded_at": from_micros(row.recorded_at_us).isoformat(),
            "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
            "actor": {"staff_id": event.actor.staff_id, "role": event.actor.role},
        }
        return StreamItem(row.position, str(row.originator_id), known.window, orjson.dumps(data))

    async def read_after(self, cursor: int, limit: int = 500) -> tuple[list[StreamItem], int]:
        """The next items after ``cursor`` (from the buffer, else the log) and the new cursor."""
        head = self.position
        if cursor >= head:
            return [], cursor
        if cursor >= self._covered_after:
            start = bisect.bisect_right(self._items, cursor, key=_position)
            chunk = self._items[start : start + limit]
            if len(chunk) < limit:
                return chunk, head
            return chunk, chunk[-1].position
        return await run_in_threadpool(self._read, cursor, limit, self._covered_after)

    async def wait_beyond(self, cursor: int, timeout: float) -> None:
        """Return once the hub has read past ``cursor`` (or after ``timeout`` seconds)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._advanced:
                await self._advanced.wait_for(lambda: self.position > cursor)

    def case_exists_check(self, case_id: UUID) -> None:
        """Raise NotFound unless ``case_id`` is a case (for a filtered stream)."""
        self.service.case(case_id)
