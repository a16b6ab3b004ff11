"""The mapper between domain events and stored events: timestamps, sealing, upcasting.

:class:`TimedMapper` keeps each event's ``recorded_at`` beside its bytes, seals personal
fields under per-subject keys on the way in (``fieldcrypt``) and reads every stored event
through the one upcasting registry on the way out. Used by :mod:`.application`.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast
from uuid import UUID

from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from casestore.domain.upcasters import registry
from casestore.store.batch import TimedStoredEvent
from casestore.store.fieldcrypt import FieldCrypt, Opener, may_seal
from casestore.store.transcoder import OrjsonTranscoder
from casestore.timeutil import to_micros


class TimedMapper(Mapper[UUID]):
    """Keeps each event's timestamp (``recorded_at``) beside its stored bytes.

    The same state, topic and bytes as eventsourcing's ``Mapper.to_stored_event``, in
    one step: the topic is looked up once per event class and the stored event is
    built once (this runs for every event a command appends).
    """

    #: Per event class: its topic, class version, name, and whether it may be sealed.
    _topics: ClassVar[dict[type[Any], tuple[str, int, str, bool]]] = {}
    #: Per-subject encryption of personal fields (with a master key), see ``fieldcrypt``.
    fields: FieldCrypt | None = None
    #: Whole-event AES-GCM of logs written before per-subject keys (read only).
    legacy: AESCipher | None = None

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        cls = type(domain_event)
        known = self._topics.get(cls)
        if known is None:
            known = self._topics[cls] = (
                get_topic(cls),
                getattr(cls, "class_version", 1),
                cls.__qualname__,
                may_seal(cls.__qualname__),
            )
        topic, class_version, name, personal = known
        state = dict(domain_event.__dict__)
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        if class_version > 1:
            state["class_version"] = class_version
        side: tuple[Any, ...] = ()
        under: tuple[str, ...] = ()
        if personal and self.fields is not None:  # sealed in the JSON-ready copy
            transcoder = cast(OrjsonTranscoder, self.transcoder)
            ready, side, under = self.fields.seal(name, originator_id, transcoder.ready(state))
            data = transcoder.dump(ready)
        else:
            data = self.transcoder.encode(state)
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        return TimedStoredEvent(
            originator_id,
            originator_version,
            topic,
            data,
            to_micros(domain_event.timestamp),
            side,
            under,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        """A stored event in today's shape, read through the one decoding registry.

        eventsourcing's own ``Mapper`` would build value objects first and upcast after
        (and the read side would never upcast); here the registry upcasts the stored JSON
        (event class version, renamed fields, added defaults, value objects) before
        anything is constructed, exactly as the read side's ``LogEvent`` does.
        """
        topic = registry().current_topic(stored_event.topic)
        cls = resolve_topic(topic)
        data = stored_event.state
        try:
            data = self.unwrap(data)
            state: dict[str, Any] = cast(OrjsonTranscoder, self.transcoder).decode_event(
                topic, data
            )
        except Exception as e:
            raise MapperDeserialisationError(
                f"cannot read the stored event {stored_event.originator_id} "
                f"v{stored_event.originator_version} ({stored_event.topic}): {e}"
            ) from e
        originator_id = stored_event.originator_id
        state["originator_id"] = (
            originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
        )
        state["originator_version"] = stored_event.originator_version
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event

    def sealed_json(self, data: bytes) -> bytes:
        """Stored bytes as JSON with its personal tokens as they are: legacy whole-event
        ciphertext decrypted, decompressed."""
        if self.cipher:
            data = self.cipher.decrypt(data)
        if self.legacy is not None and data[:1] != b"{":
            data = self.legacy.decrypt(data)
        if self.compressor:
            data = self.compressor.decompress(data)
        return data

    def unwrap(self, data: bytes, opener: Opener | None = None) -> bytes:
        """Stored bytes as plain JSON: legacy whole-event ciphertext decrypted, personal
        tokens opened (or shown erased / sealed, see ``fieldcrypt``)."""
        data = self.sealed_json(data)
        if b'"enc1:' in data:
            if opener is None:
                opener = self.fields.opener() if self.fields else Opener(None)
            data = opener(data)
        return data
