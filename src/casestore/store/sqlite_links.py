"""Link checks over a SQLite log file, split across processes for large logs.

Every link of the hash chain can be checked on its own, given the stored hash it
follows: an event's hash follows from the stored hash of its case's previous version
and its own content; a chain hash follows from the previous position's stored chain
hash and the event hash. So the per-case links are checked by two worker processes
(half of the case ids each, scanning the ``(originator_id, originator_version)`` index
in order) while this process follows the global chain in position order: both cores
work, as the PostgreSQL check has the server do. Counts only; when anything is wrong
the caller runs the full pass that names each finding.

The workers are plain ``python -m casestore.store.sqlite_links`` processes (not
``multiprocessing``, which would re-run the caller's main script in each child), and
import only this module and the hash layout of ``integrity``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from casestore.store.integrity import EVENT_LAYOUT, GENESIS

_PAGE = 20_000
#: Below this many events one in-process pass is quicker than starting processes.
PARALLEL_FROM = 150_000
#: The two halves of the case ids (32 lowercase hex digits, compared as text).
_HALVES = (("", "8"), ("8", "g"))


def _connect(path: str) -> sqlite3.Connection:
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    conn.row_factory = None
    return conn


def check_cases(path: str, table: str, low: str, high: str, upto: int) -> tuple[int, int]:
    """(events, bad links) of the cases whose id is in [low, high), up to a position."""
    sha256 = hashlib.sha256
    pack = EVENT_LAYOUT.pack
    topics: dict[str, bytes] = {}
    events = bad = 0
    last_case: str | None = None
    id_bytes = b""
    prev_version, prev = 0, GENESIS
    with _connect(path) as conn:
        cursor = conn.execute(
            f"SELECT originator_id, originator_version, topic, state, recorded_at, event_hash "
            f"FROM {table} WHERE originator_id >= ? AND originator_id < ? "
            "AND notification_id <= ? ORDER BY originator_id, originator_version",
            (low, high, upto),
        )
        while rows := cursor.fetchmany(_PAGE):
            for case, version, topic, state, micros, ev_hash in rows:
                if case != last_case:
                    last_case, id_bytes = case, bytes.fromhex(case)
                    prev_version, prev = 0, GENESIS
                topic_bytes = topics.get(topic)
                if topic_bytes is None:
                    topic_bytes = topics[topic] = topic.encode()
                computed = sha256(
                    prev + pack(id_bytes, version, micros, len(topic_bytes)) + topic_bytes + state
                ).digest()
                if version != prev_version + 1 or computed != ev_hash:
                    bad += 1
                prev_version, prev = version, ev_hash
                events += 1
    return events, bad


def check_chain(
    path: str, table: str, upto: int, digest_position: int
) -> tuple[int, int, bytes | None, tuple[int, bytes] | None]:
    """(events, bad links, chain hash at the digest position, last link) in log order."""
    sha256 = hashlib.sha256
    chain = GENESIS
    events = bad = position = 0
    at_digest: bytes | None = None
    with _connect(path) as conn:
        cursor = conn.execute(
            f"SELECT notification_id, event_hash, chain_hash FROM {table} "
            "WHERE notification_id <= ? ORDER BY notification_id",
            (upto,),
        )
        while rows := cursor.fetchmany(_PAGE):
            for position, ev_hash, chain_hash in rows:
                try:
                    if sha256(chain + ev_hash).digest() != chain_hash:
                        bad += 1
                except TypeError:  # a hash stored as TEXT: named by ``verify_rows``
                    bad += 1
                chain = chain_hash
                if position == digest_position:
                    at_digest = chain_hash
                events += 1
    return events, bad, at_digest, (position, chain) if events else None


def check_in_parallel(
    path: str, table: str, upto: int, digest_position: int
) -> tuple[int, int, bytes | None, tuple[int, bytes] | None] | None:
    """Per-case halves in two worker processes, the global chain here, all at once.

    None when a worker could not run (the caller then checks in process)."""
    src = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", __name__, path, table, low, high, str(upto)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        for low, high in _HALVES
    ]
    events, bad, at_digest, last = check_chain(path, table, upto, digest_position)
    case_events = 0
    for worker in workers:
        out, _ = worker.communicate()
        if worker.returncode != 0:
            return None
        n, b = (int(x) for x in out.split())
        case_events += n
        bad += b
    if case_events != events:  # a row outside both halves (an id that is not hex)
        bad += abs(case_events - events)
    return events, bad, at_digest, last


if __name__ == "__main__":  # a worker: PATH TABLE LOW HIGH UPTO -> "events bad"
    _path, _table, _low, _high, _upto = sys.argv[1:6]
    print(*check_cases(_path, _table, _low, _high, int(_upto)))
