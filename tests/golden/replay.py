"""Load a golden log's stored bytes into a fresh store, exactly as an earlier version wrote them.

The events are inserted as stored events (topic, bytes, ``recorded_at``), never re-encoded
by today's code: the hashes then follow from the old bytes alone, and every read of them
goes through today's decoding registry (upcasters included).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from casestore.store.application import CasestoreApp
from casestore.store.batch import TimedStoredEvent
from casestore.timeutil import to_micros

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class GoldenEvent:
    position: int
    aggregate_id: UUID
    version: int
    topic: str
    state: bytes
    recorded_at_us: int
    event_hash: str
    chain_hash: str


def versions() -> list[str]:
    """Every golden schema version kept in this directory, oldest first."""
    return sorted(
        (p.name for p in HERE.iterdir() if p.is_dir() and (p / "log.jsonl").exists()),
        key=lambda name: (len(name), name),
    )


def read_log(version: str) -> Iterator[GoldenEvent]:
    with (HERE / version / "log.jsonl").open("rb") as lines:
        for line in lines:
            entry = json.loads(line)
            yield GoldenEvent(
                position=entry["position"],
                aggregate_id=UUID(entry["aggregate_id"]),
                version=entry["version"],
                topic=entry["topic"],
                state=base64.b64decode(entry["stored_b64"]),
                recorded_at_us=to_micros(datetime.fromisoformat(entry["recorded_at"])),
                event_hash=entry["event_hash"],
                chain_hash=entry["chain_hash"],
            )


def expected_views(version: str) -> dict[str, Any]:
    views: dict[str, Any] = json.loads((HERE / version / "views.json").read_text("utf-8"))
    return views


def meta(version: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HERE / version / "meta.json").read_text("utf-8"))
    return data


def load(version: str, db_url: str, *, batch: int = 500) -> list[GoldenEvent]:
    """Insert the golden log into the empty store at ``db_url``, in its log order."""
    events = list(read_log(version))
    app = CasestoreApp(db_url)
    try:
        for start in range(0, len(events), batch):
            chunk = events[start : start + batch]
            app.recorder.insert_events(
                [
                    TimedStoredEvent(e.aggregate_id, e.version, e.topic, e.state, e.recorded_at_us)
                    for e in chunk
                ]
            )
    finally:
        app.close()
    return events
