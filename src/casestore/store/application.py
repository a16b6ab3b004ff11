"""The eventsourcing application: recorder, mapper and repositories for casestore."""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    Repository,
)
from eventsourcing.cryptography import AESCipher
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    EventStore,
    Mapper,
    StoredEvent,
    Transcoder,
)
from eventsourcing.utils import Environment, get_topic

from casestore.domain.errors import NotFound
from casestore.store.config import backend_of, eventsourcing_env
from casestore.store.fieldcrypt import FieldCrypt, batch_unwrapper
from casestore.store.integrity import LogRow
from casestore.store.logbase import BatchListener
from casestore.store.mapper import TimedMapper
from casestore.store.recorders import (
    EVENTS_TABLE,
    CasestorePostgresRecorder,
    CasestoreSQLiteRecorder,
    LogReader,
)
from casestore.store.subjectkeys import KeyTable, SubjectKeys
from casestore.store.transcoder import OrjsonTranscoder
from casestore.timeutil import to_micros

if TYPE_CHECKING:
    from casestore.settings import Settings

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")


class _SealingEventStore(EventStore[UUID]):
    def __init__(self, mapper: Mapper[UUID], recorder: Any, app: CasestoreApp) -> None:
        super().__init__(mapper, recorder)
        self._app = app

    def put(self, domain_events: Any, **kwargs: Any) -> Any:
        put = super().put
        return self._app._sealing(lambda: put(domain_events, **kwargs))


def personal_keys(app: CasestoreApp, master_b64: str) -> None:
    """Encryption at rest, generalised (SPEC §10): with a master key
    (``CASESTORE_CIPHER_KEY``, base64 AES key, see ``casestore keygen``) every personal
    field is sealed under its subject's data key, wrapped by the master key in the key
    table; the rest of an event stays in clear. Logs written when the key encrypted whole
    events stay readable. Hashes cover the stored bytes, so verification needs no key."""
    if not master_b64:
        return
    master = base64.b64decode(master_b64)
    mapper = cast(TimedMapper, app.mapper)
    mapper.legacy = AESCipher(Environment("casestore", {"CIPHER_KEY": master_b64}))
    recorder = app.recorder

    def first_state(owner_id: str) -> bytes | None:
        found = recorder.select_events(UUID(owner_id), lte=1, limit=1)
        return mapper.sealed_json(found[0].state) if found else None

    app.subject_keys = SubjectKeys(KeyTable(recorder, app.backend), master, first_state)
    mapper.fields = FieldCrypt(app.subject_keys)


class CasestoreApp(Application[UUID]):
    """Event store for cases, items, bundles and the case-number index.

    Commands read aggregates through an in-process cache without a database round
    trip (``AGGREGATE_CACHE_FASTFORWARD=n``); a stale cache shows up as the version
    conflict the store raises anyway, and the service then reloads and re-decides once.
    Snapshots are off: a case has tens of events, and eventsourcing writes snapshots
    outside the events' transaction.
    """

    name = "casestore"
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "20000",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "IS_SNAPSHOTTING_ENABLED": "n",
    }

    def __init__(
        self,
        db_url: str | None = None,
        env: dict[str, str] | None = None,
        *,
        settings: Settings | None = None,
    ) -> None:
        """A store over ``settings.db`` (or ``db_url``, which wins).

        Built by :mod:`casestore.bootstrap` from the process's settings; without
        ``settings`` (scripts, tests) the configuration is read and validated here.
        """
        if settings is None:
            from casestore.settings import load_settings

            settings = load_settings(db=db_url)
        self.settings = settings
        self.db_url = db_url or settings.db
        self.backend = backend_of(self.db_url)
        recorder_cls = (
            CasestorePostgresRecorder if self.backend == "postgres" else CasestoreSQLiteRecorder
        )
        full_env = {
            **eventsourcing_env(
                self.db_url,
                pool_size=settings.db_pool_size,
                pre_ping=settings.db_pre_ping,
                connect_timeout=settings.db_connect_timeout,
            ),
            "APPLICATION_RECORDER_TOPIC": get_topic(recorder_cls),
            **(env or {}),
        }
        super().__init__(full_env)
        committer = getattr(self.recorder, "committer", None)
        if committer is not None:
            committer.queue_wait = settings.commit_queue_wait
        self.reader: Repository[UUID] = Repository(self.events)
        from casestore.store.schema import NO_STAMP, stamp_new

        creating = full_env.get("CREATE_TABLE", "y").lower() not in ("n", "no", "false", "0")
        if creating and NO_STAMP not in full_env:
            stamp_new(self.db_url)
        self.subject_keys: SubjectKeys | None = None
        personal_keys(self, settings.cipher_key_value())
        self._tree: Any = None  # the verifiable log's tree, for the read side's port
        self._tree_lock = threading.Lock()

    def append(self, *objs: Any, **kwargs: Any) -> list[int]:
        """Append the pending events of ``objs`` in one transaction; their log positions.

        The command path's ``save``: what ``Application.save`` does for our aggregates,
        written out lean because every command pays for it — no runtime-checkable
        Protocol ``isinstance`` tests, no ``Recording``/``Notification`` objects, no
        snapshots (off) and no in-process ``notify`` (nothing follows an application that
        way here: the read side tails the log, woken by the recorders' commit listeners).
        Saved aggregates go into the command cache, as ``Application._record`` puts them.
        ``save`` itself stays eventsourcing's, for code that wants its recordings.
        """
        events: list[Any] = []
        aggregates: list[Aggregate] = []
        for obj in objs:
            if isinstance(obj, Aggregate):
                events.extend(obj.collect_events())
                aggregates.append(obj)
            elif hasattr(obj, "originator_version"):  # a domain event, saved as it is
                events.append(obj)
            else:
                raise TypeError(f"cannot save a {type(obj).__name__}")
        to_stored = self.mapper.to_stored_event
        insert = self.recorder.insert_events
        positions = self._sealing(lambda: insert([to_stored(e) for e in events], **kwargs))
        cache = self.repository.cache
        if cache is not None:
            for aggregate in aggregates:
                cache.put(aggregate.id, aggregate)
        return list(positions or ())

    def _sealing(self, write: Callable[[], T]) -> T:
        """One append's unit of per-subject sealing: ``write`` seals and commits (sealed
        again once if the commit finds a remembered key destroyed, ``FieldCrypt.sealing``)."""
        fields = cast(TimedMapper, self.mapper).fields
        return write() if fields is None else fields.sealing(write)

    def construct_event_store(self) -> EventStore[UUID]:
        """eventsourcing's event store, each ``put`` one unit of sealing (``app.save``,
        ``CaseService.record``), like :meth:`append`."""
        return _SealingEventStore(self.mapper, self.recorder, self)

    def close(self) -> None:
        """Close the recorder's own connections, then eventsourcing's."""
        if self.subject_keys is not None:
            self.subject_keys.table.close()
        if self._tree is not None:
            self._tree.close()
        self.log.close()
        super().close()

    def construct_env(self, name: str, env: Any = None) -> Any:
        # Only our own settings: the process environment must not re-route persistence.
        from eventsourcing.utils import Environment

        merged = dict(type(self).env)
        merged.update(env or {})
        return Environment(name, merged)

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=TimedMapper)

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def construct_recorder(self) -> Any:
        recorder = self.factory.application_recorder()
        if isinstance(recorder, CasestorePostgresRecorder | CasestoreSQLiteRecorder):
            return recorder
        raise TypeError(f"unexpected recorder {type(recorder).__name__}")

    @property
    def log(self) -> LogReader:  # type: ignore[override]
        """The hash-chained log with its scans and look-ups."""
        return cast(LogReader, self.recorder)

    # -- the read side's port (``casestore.projections.runtime.port.EventLog``) ---------

    events_table: str = EVENTS_TABLE
    """The table holding the log, for the read side's own scans."""

    def unwrapper(
        self, *, personal: bool | frozenset[str] = True
    ) -> Callable[[list[bytes]], Callable[[bytes], bytes] | None]:
        """A factory of one batch's unwrap: legacy whole-event decryption and compression,
        and personal-field tokens opened with the keys the batch's stored states name,
        fetched in one query when not cached (a forget in another process is seen by the
        next batch, and its ``SubjectForgotten`` erases what earlier batches showed). The
        factory answers ``None`` when nothing is sealed or compressed.

        ``personal=False`` is for readers that never use personal fields (every projection
        but the case list): tokens are left sealed (shown as 〔已加密〕), no key is fetched
        and nothing is decrypted, so those readers hold no personal data and pay nothing
        for it. ``personal`` as a set of field names (``{"name"}``, the last part of a
        field's path) opens only those fields' tokens and fetches only their keys; the
        others are left sealed."""
        mapper = cast(TimedMapper, self.mapper)
        clear = mapper.fields is None and mapper.legacy is None and mapper.compressor is None
        # Without whole-event cipher or compression (the usual case) a stored state is
        # JSON as it stands unless it is a legacy whole-event ciphertext (not ``{...}``).
        direct = mapper.cipher is None and mapper.compressor is None
        return batch_unwrapper(mapper.unwrap, mapper.fields, personal, clear=clear, direct=direct)

    def tree_frontier(self, size: int) -> list[bytes] | None:
        """The stored Merkle tree's complete subtrees for the log's first ``size`` events,
        largest first; None while the tree worker has not grown that far."""
        from casestore.ledger.merkle import Frontier

        if size == 0 or size > self.tree_size():
            return [] if size == 0 else None
        keys = Frontier.keys(size)
        nodes = self._tree_store().read_nodes(keys)
        return [nodes[k] for k in keys] if all(k in nodes for k in keys) else None

    def tree_size(self) -> int:
        """How many leaves the stored Merkle tree has grown to."""
        return int(self._tree_store().head()[0])

    def _tree_store(self) -> Any:
        with self._tree_lock:
            if self._tree is None:
                from casestore.ledger.store import LedgerStore

                self._tree = LedgerStore(self.db_url, pool_size=2)
            return self._tree

    def add_commit_listener(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(last_position)`` after each commit this process makes."""
        self.log.commit_listeners.append(listener)

    def remove_commit_listener(self, listener: Callable[[int], None]) -> None:
        with contextlib.suppress(ValueError):
            self.log.commit_listeners.remove(listener)

    def add_batch_listener(self, listener: BatchListener) -> None:
        """Call ``listener(batch)`` with the rows of each batch this process commits."""
        self.log.batch_listeners.append(listener)

    def remove_batch_listener(self, listener: BatchListener) -> None:
        with contextlib.suppress(ValueError):
            self.log.batch_listeners.remove(listener)

    def writes_from(self, backend_pid: int) -> bool:
        """Whether the database session ``backend_pid`` is one this process appends
        through (on PostgreSQL: a NOTIFY from it announces a batch of ours)."""
        return self.log.writes_from(backend_pid)

    # -- reads ---------------------------------------------------------------------------

    def get(
        self, cls: type[A], aggregate_id: UUID, *, version: int | None = None, cached: bool = False
    ) -> A:
        """Load an aggregate (fresh from the store unless ``cached``), or :class:`NotFound`."""
        aggregate: object
        try:
            if cached and version is None:
                aggregate = self.repository.get(aggregate_id)
            else:
                aggregate = self.reader.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFound(f"no {cls.__name__.lower()} {aggregate_id}") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"{aggregate_id} is not a {cls.__name__.lower()}")
        return aggregate

    def get_as_of(
        self,
        cls: type[A],
        aggregate_id: UUID,
        *,
        as_of: datetime | None = None,
        at_position: int | None = None,
    ) -> A:
        """An aggregate as it stood at a past moment or log position (time travel)."""
        if as_of is not None:
            version = self.log.version_at(aggregate_id, to_micros(as_of))
        elif at_position is not None:
            version = self.log.version_at_position(aggregate_id, at_position)
        else:
            return self.get(cls, aggregate_id)
        if version == 0:
            raise NotFound(f"{aggregate_id} did not exist yet at that moment")
        return self.get(cls, aggregate_id, version=version)

    def domain_events(self, aggregate_id: UUID, *, upto_version: int | None = None) -> list[Any]:
        """Every event of one aggregate, in version order."""
        return list(self.events.get(aggregate_id, lte=upto_version))

    def decode(self, row: LogRow) -> Any:
        """A log row as its domain event."""
        return self.mapper.to_domain_event(
            StoredEvent(row.originator_id, row.version, row.topic, row.state)
        )

    def iter_events(self, after: int = 0, **kwargs: Any) -> Iterator[tuple[LogRow, Any]]:
        """Stream (row, domain event) pairs in log order."""
        for row in self.log.iter_log(after, **kwargs):
            yield row, self.decode(row)

    def evict(self, aggregate_id: UUID) -> None:
        """Drop a cached aggregate after a conflict showed it stale."""
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)
