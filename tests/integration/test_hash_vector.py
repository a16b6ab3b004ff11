"""A fixed hash vector from the README's documented layout, computed with hashlib alone.

Layout (README, "Integrity"): an event's hash is SHA-256 over the previous hash of the
same case (32 zero bytes for the first), the case id's 16 bytes, the version as a
big-endian signed 64-bit integer, recorded_at in microseconds since the Unix epoch as a
big-endian signed 64-bit integer, the topic's UTF-8 length as a big-endian unsigned
32-bit integer, the topic's UTF-8 bytes and the stored state bytes. The chain hash is
SHA-256 over the previous chain hash (32 zero bytes at genesis) and the event hash.

The literal digests below were computed once from that layout with ``hashlib`` and are
checked against what each backend's writer stores; nothing here calls casestore's own
hashing code.
"""

from __future__ import annotations

import hashlib
from uuid import UUID

from casestore.store.application import CasestoreApp
from casestore.store.batch import TimedStoredEvent

CASE = UUID("00112233-4455-6677-8899-aabbccddeeff")
US = 1_740_963_600_000_000  # 2025-03-03T01:00:00Z
EVENTS = [
    (1, "casestore.domain.case:Case.Submitted", b'{"case_no":"XY1"}', US),
    (2, "casestore.domain.case:Case.Accepted", b'{"notice_no":"N1"}', US + 1_000_000),
]
EVENT_HASHES = [
    "486bc02a46d4537ab7ab065a85dd8598fdf07d52a73b3138eb12211a9780e20e",
    "09e20fb521d99adbd43f939f3c9fca4b1a2e517e8739759ce688e237266d46bb",
]
CHAIN_HASHES = [
    "73d38da769639bb4d3b9c84fa4d78b1e727b5eae72396ba2c6876acf4092769a",
    "cc9735abfc828cb8754ac16befb231f36d637534bb43a2bf4afeb5d593e9c9a4",
]


def _layout(prev: bytes, version: int, topic: str, state: bytes, micros: int) -> bytes:
    topic_bytes = topic.encode("utf-8")
    return (
        prev
        + CASE.bytes
        + version.to_bytes(8, "big", signed=True)
        + micros.to_bytes(8, "big", signed=True)
        + len(topic_bytes).to_bytes(4, "big")
        + topic_bytes
        + state
    )


def test_the_vector_follows_from_the_documented_layout() -> None:
    prev, chain = bytes(32), bytes(32)
    for (version, topic, state, micros), ev_hex, chain_hex in zip(
        EVENTS, EVENT_HASHES, CHAIN_HASHES, strict=True
    ):
        prev = hashlib.sha256(_layout(prev, version, topic, state, micros)).digest()
        chain = hashlib.sha256(chain + prev).digest()
        assert (prev.hex(), chain.hex()) == (ev_hex, chain_hex)


def test_each_backend_stores_exactly_the_vector(store_url: str) -> None:
    app = CasestoreApp(store_url)
    try:
        for version, topic, state, micros in EVENTS:
            app.recorder.insert_events([TimedStoredEvent(CASE, version, topic, state, micros)])
        rows = list(app.log.iter_log())
        assert [r.event_hash.hex() for r in rows] == EVENT_HASHES
        assert [r.chain_hash.hex() for r in rows] == CHAIN_HASHES
        assert [r.recorded_at_us for r in rows] == [US, US + 1_000_000]
    finally:
        app.close()
