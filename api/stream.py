"""The live stream behind ``GET /stream``: status changes read from the log by position.

One :class:`StreamHub` per process tails the log for every client. This process's own
commits reach it without a read: each group-commit batch's listener (in the writer's
thread, right after the commit) hands the hub the batch's rows as the log holds them
(:class:`~casestore.store.logbase.CommittedBatch`) and sets a :class:`threading.Event`
the hub's reading thread waits on. Other processes' commits are read from the log: on
PostgreSQL the LISTEN thread wakes the hub on each NOTIFY an append sends (those sent by
this process's own writer sessions are skipped), and on either backend the hub reads
what is past its position at least every ``poll_seconds``; a gap before a handed batch
(another process's commit, or a batch whose times the recorder could not tell) is read
once it is that old. Those reads use the hub's own connection (the read side's
:class:`~casestore.projections.runtime.logsource.LogSource`: no pool checkout, no
pre-ping, one round trip). The hub builds each item once (data and SSE frame) from the
stored JSON, handed or read, personal fields left sealed (the stream carries none), and
hands the batch to the event loop in one call, which appends it to a buffer of recent
items and wakes the clients. Each client holds a cursor, the last log position it has
*read* (whether or not its filter let the event through). A client whose cursor is older
than the buffer reads the log itself (on a separate thread, so tailing never waits
behind it). The event ``id`` is the log position, so ``Last-Event-ID`` resumes exactly
after the last event the client saw: positions are assigned without gaps and commit in
order, so nothing is skipped or repeated.

Over 400 lines: the hub's two sources of items (batches handed over by this process's
commits, reads of the log for everything else) decide together which positions were
published, so they are kept in one module with the items they build.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

import orjson
from casestore.projections.engine.events import LogEvent
from casestore.projections.runtime.live import NotifyListener
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.port import EventLog

from casestore.domain.stages import INITIAL, next_stage, stage_of
from casestore.service import CaseService, CommittedBatch
from casestore.timeutil import from_micros

log = logging.getLogger("casestore.api.stream")
_CASE = "Case"


@dataclass(frozen=True)
class StreamItem:
    """One status change, ready to send: its JSON ``data`` and its complete SSE ``frame``
    (``id``, ``event: status``, ``data``), both built once for every client."""

    position: int
    case_id: str
    window: str
    data: bytes
    frame: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        frame = b"id: %d\r\nevent: status\r\ndata: %s\r\n\r\n" % (self.position, self.data)
        object.__setattr__(self, "frame", frame)

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
        self._facts: OrderedDict[str, _Known] = OrderedDict()
        self._lock = threading.Lock()  # the tailing and catching-up threads both read

    def after(self, event: LogEvent) -> _Known:
        """The case as of ``event`` (a ``Case`` event), remembered if newer."""
        case_id, version = event.aggregate_id, event.version
        if version == 1:
            raw = event.raw
            before = _Known(raw["case_no"], raw["item_code"], event.actor()["window"], 0, INITIAL)
        else:
            before = self._before(case_id, version)
        known = replace(
            before,
            version=version,
            stage=next_stage(before.stage, event.type, event.plain("outcome")),
        )
        with self._lock:
            current = self._facts.get(case_id)
            if current is None or current.version < version:
                self._facts[case_id] = known
                self._facts.move_to_end(case_id)
                if len(self._facts) > self._size:
                    self._facts.popitem(last=False)
        return known

    def _before(self, case_id: str, version: int) -> _Known:
        with self._lock:
            known = self._facts.get(case_id)
        if known is not None and known.version == version - 1:
            return known
        earlier = self._service.events(UUID(case_id), upto_version=version - 1)
        first = earlier[0]
        stage = stage_of([(type(e).__name__, getattr(e, "outcome", None)) for e in earlier])
        return _Known(first.case_no, first.item_code, first.actor.window, version - 1, stage)


def stream_data(event: LogEvent, known: _Known) -> bytes:
    """The JSON ``data`` of one ``Case`` event's status item (``known``: the case after it)."""
    actor = event.actor()
    return orjson.dumps(
        {
            "position": event.position,
            "case_id": event.aggregate_id,
            "case_no": known.case_no,
            "item_code": known.item_code,
            "window": known.window,
            "event": event.type,
            "version": event.version,
            "stage": known.stage,
            "recorded_at": from_micros(event.recorded_at_us).isoformat(),
            "occurred_at": event.plain("occurred_at"),
            "actor": {"staff_id": actor["staff_id"], "role": actor["role"]},
        }
    )


class StreamHub:
    """Tails the log once for every ``/stream`` client of this process."""

    def __init__(
        self,
        service: CaseService,
        log: EventLog,
        *,
        buffer: int = 20_000,
        poll_seconds: float = 0.2,
        settle_seconds: float = 0.005,
    ) -> None:
        self.service = service
        self._event_log = log  # the store, handed over by the composition root
        self.position = 0  # the last position published to the clients (event loop side)
        self._items: list[StreamItem] = []
        self._covered_after = 0  # the buffer holds every item with a position above this
        self._buffer = buffer
        self._poll = poll_seconds
        self._settle = settle_seconds  # how long a wake waits before publishing
        self._facts = _CaseFacts(service)
        self._source: LogSource | None = None  # opened at the first read
        self._source_lock = threading.Lock()
        self._wake = threading.Event()  # set by commits and NOTIFYs, in their threads
        self._others = threading.Event()  # set by another process's NOTIFY: read the log
        self._handed: dict[int, CommittedBatch] = {}  # first position -> own batch, not yet taken
        self._handed_lock = threading.Lock()
        self._read_at = 0.0  # monotonic time of the tailing thread's last read of the log
        #: Rows the tailing thread has read from the log (not counting catching-up
        #: clients' reads): this process's own commits are handed over, never read.
        self.rows_read = 0
        self._advanced = asyncio.Event()  # replaced (and set) at each publish
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tail: threading.Thread | None = None
        self._catch_up = ThreadPoolExecutor(2, thread_name_prefix="casestore-stream-catch-up")
        self._stopping = threading.Event()
        self._listener: NotifyListener | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Begin tailing at the current head (older positions are read on demand)."""
        self._loop = asyncio.get_running_loop()
        head, _ = await asyncio.to_thread(self.service.head)
        self.position = self._covered_after = head
        self.service.add_batch_listener(self._on_batch)
        if self.service.backend == "postgres":
            # Other processes' commits arrive by NOTIFY (every append sends one), not by
            # waiting for the next poll; this process's own are handed over instead.
            self._listener = NotifyListener(
                self.service.db_url,
                self.service.events_channel,
                self._on_notify,
                self._stopping,
                ours=self.service.writes_from,
            )
            self._listener.start()
        self._tail = threading.Thread(
            target=self._follow, args=(head,), name="casestore-stream-hub", daemon=True
        )
        self._tail.start()

    async def stop(self) -> None:
        """Stop tailing and wait for the reading threads: the store closes next, and a
        connection closed under a running read would crash the process."""
        self._stopping.set()
        self._wake.set()
        with contextlib.suppress(ValueError):
            self.service.remove_batch_listener(self._on_batch)
        if self._tail is not None:
            await asyncio.to_thread(self._tail.join, 10.0)
        await asyncio.to_thread(self._catch_up.shutdown, wait=True, cancel_futures=True)
        if self._listener is not None:
            await asyncio.to_thread(self._listener.join, 5.0)
        if self._source is not None:
            self._source.close()

    def _on_batch(self, batch: CommittedBatch) -> None:
        # Called in the writer's thread right after its commit: hands the rows over and
        # wakes the reading thread directly (no hop through the event loop, no read).
        with self._handed_lock:
            self._handed[batch.first] = batch
        self._wake.set()

    def _on_notify(self) -> None:
        # Another process committed (or the LISTEN connection was (re)opened).
        self._others.set()
        self._wake.set()

    def _follow(self, position: int) -> None:
        """The reading thread: on each wake (or poll), publish everything new."""
        self._read_at = time.monotonic()
        gap_since: float | None = None
        while not self._stopping.is_set():
            if self._wake.wait(self._poll) and self._settle:
                # Let the commands whose batch woke us answer first: published at once, the
                # items reach the event loop before those answers and delay them (closed
                # loop of 8 clients: rate 0.37-0.48x the anchor against 0.52-0.67x).
                self._stopping.wait(self._settle)
            try:
                while not self._stopping.is_set():
                    self._wake.clear()  # a commit from now on wakes the next round
                    items, last, gap_since = self._next(position, gap_since)
                    if last == position:
                        break
                    position = last
                    if not self._publish_soon(items, last):
                        return
            except Exception:  # the store may be briefly unreachable; keep tailing
                log.exception("stream hub could not read the log")
                self._stopping.wait(1.0)

    def _next(
        self, position: int, gap_since: float | None
    ) -> tuple[list[StreamItem], int, float | None]:
        """The items after ``position`` (the last one published), the position they reach,
        and since when a gap before a handed batch has waited.

        The handed batches that continue the stream are taken as they are, together (one
        publish); one whose rows the recorder could not tell is read. A gap before the
        oldest handed batch is committed (the batch after it is): it is another process's
        commit, or an own batch whose listener has not run yet (two leaders finish in either
        order), so it is read on another process's NOTIFY or once it is ``poll_seconds``
        old. With nothing handed, the log is read on a NOTIFY and every ``poll_seconds``.
        """
        now = time.monotonic()
        rows: list[tuple[Any, ...]] = []
        last = position
        with self._handed_lock:
            for first in [f for f, b in self._handed.items() if b.last <= position]:
                del self._handed[first]
            # Every handed batch that continues the stream, in one publish.
            while (batch := self._handed.get(last + 1)) is not None and batch.rows is not None:
                del self._handed[last + 1]
                rows += batch.rows
                last = batch.last
            if last == position and self._handed:
                batch = self._handed[min(self._handed)]
                if batch.first <= position and batch.rows is not None:  # overlaps a read
                    del self._handed[batch.first]
                    rows, last = [r for r in batch.rows if r[0] > position], batch.last
            batch = self._handed[min(self._handed)] if self._handed else None
        if last > position:
            return self._built(rows), last, None
        if batch is not None and batch.first <= position + 1:
            return (*self._tail_read(position, batch.last), None)  # its times: read them
        others = self._others.is_set()
        if batch is not None:
            gap_since = gap_since if gap_since is not None else now
            if others or now - gap_since >= self._poll:
                return (*self._tail_read(position, batch.first - 1), None)
            return [], position, gap_since
        if others or now - self._read_at >= self._poll:
            return (*self._tail_read(position, None), None)
        return [], position, None

    def _tail_read(self, position: int, upto: int | None) -> tuple[list[StreamItem], int]:
        """The tailing thread's read of the log after ``position`` (up to a committed
        ``upto``)."""
        self._others.clear()
        self._read_at = time.monotonic()
        items, last = self._read(position, 2000, upto)
        self.rows_read += last - position
        return items, last

    def _publish_soon(self, items: list[StreamItem], last: int) -> bool:
        loop = self._loop
        if loop is None or loop.is_closed():
            return False
        try:
            loop.call_soon_threadsafe(self._publish, items, last)
        except RuntimeError:  # the loop closed meanwhile
            return False
        return True

    def _publish(self, items: list[StreamItem], last: int) -> None:
        # On the event loop: one call per batch read, in the order they were read.
        self._items.extend(items)
        if len(self._items) > 2 * self._buffer:  # trim in halves: amortised O(1)
            drop = len(self._items) - self._buffer
            self._covered_after = self._items[drop - 1].position
            del self._items[:drop]
        self.position = last
        advanced, self._advanced = self._advanced, asyncio.Event()
        advanced.set()

    # -- reading -----------------------------------------------------------------------

    def _read(
        self, after: int, limit: int, upto: int | None = None
    ) -> tuple[list[StreamItem], int]:
        """Items in (after, after+limit] and the last position read.

        ``upto`` is a position known to be committed: everything up to the stop has
        then been seen even where the scan returned nothing.
        """
        stop = after + limit if upto is None else min(after + limit, upto)
        page = self._log().read_page(after, limit, upto=stop, personal=False)
        items = [self._item(event) for event in page if event.aggregate == _CASE]
        return items, (stop if upto is not None else page.last_position)

    def _built(self, rows: list[tuple[Any, ...]]) -> list[StreamItem]:
        """Items of handed rows, built exactly as from rows read (personal fields sealed)."""
        if not rows:
            return []
        unwrap = self._log().sealed([r[4] for r in rows])
        events = LogEvent.many(rows, [unwrap] * len(rows))
        return [self._item(event) for event in events if event.aggregate == _CASE]

    def _log(self) -> LogSource:
        """The hub's reader of the log (a connection per reading thread)."""
        with self._source_lock:
            if self._source is None:
                self._source = LogSource(self._event_log)
            return self._source

    def _item(self, event: LogEvent) -> StreamItem:
        known = self._facts.after(event)
        return StreamItem(
            event.position, event.aggregate_id, known.window, stream_data(event, known)
        )

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
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._catch_up, self._read, cursor, limit, self._covered_after
        )

    async def wait_beyond(self, cursor: int, timeout: float) -> None:
        """Return once the hub has read past ``cursor`` (or after ``timeout`` seconds)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.position <= cursor:
                    await self._advanced.wait()

    def case_exists_check(self, case_id: UUID) -> None:
        """Raise NotFound unless ``case_id`` is a case (for a filtered stream)."""
        self.service.case(case_id)
