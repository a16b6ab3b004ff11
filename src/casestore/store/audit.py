"""Auditor operations over the log: verify, digest and export (JSON Lines, streamed)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import orjson

from casestore.store.application import CasestoreApp
from casestore.store.batch import from_micros
from casestore.store.dbverify import check_in_database
from casestore.store.integrity import GENESIS, Finding, LinkCheck, VerifyReport, verify_rows
from casestore.store.recorders import CasestorePostgresRecorder, CasestoreSQLiteRecorder
from casestore.store.transcoder import to_plain


def parse_digest(text: str) -> tuple[int, bytes]:
    """``POSITION:HEXHASH`` as saved by ``casestore digest``."""
    try:
        pos, hexhash = text.split(":", 1)
        value = (int(pos), bytes.fromhex(hexhash))
    except ValueError:
        raise ValueError(f"a digest is POSITION:HEXHASH, got {text!r}") from None
    if len(value[1]) != 32:
        raise ValueError("a digest hash is 64 hex digits")
    return value


def verify(
    app: CasestoreApp, digest: tuple[int, bytes] | None = None, *, independent: bool = False
) -> VerifyReport:
    """Recompute the whole chain; name each finding.

    First every link is checked with counts only: on PostgreSQL by the database itself
    (both cores, see :mod:`casestore.store.dbverify`), on SQLite by one lean streamed
    pass (``integrity.check_links``). Only when something is wrong does the full
    Python pass run to name each finding. ``independent`` always runs the full pass.
    """
    recorder = app.recorder
    check: LinkCheck | None = None
    if not independent and isinstance(recorder, CasestorePostgresRecorder):
        check = check_in_database(
            recorder.datastore.get_connection,
            recorder.events_table_name,
            digest[0] if digest is not None else 0,
        )
    elif not independent and isinstance(recorder, CasestoreSQLiteRecorder):
        check = recorder.check_links(digest[0] if digest is not None else 0)
    if check is not None and check.bad_links == 0:
        position, chain = check.last if check.last else app.log.head()
        report = VerifyReport(
            events=check.events, last_position=position, last_chain_hash=chain or GENESIS
        )
        if digest is not None:
            report.digest_checked = True
            if check.chain_at_digest != digest[1]:
                report.findings.append(
                    Finding(
                        "digest",
                        digest[0],
                        None,
                        None,
                        "no event at the digest's position (removed?)"
                        if check.chain_at_digest is None
                        else "the log up to this position differs from the saved digest",
                    )
                )
        return report
    return verify_rows(app.log.iter_log(), digest=digest)


def digest(app: CasestoreApp, position: int | None = None) -> dict[str, Any]:
    """The (position, chain hash) an auditor can keep, at the head or at ``position``."""
    if position is None:
        pos, chain = app.log.head()
    else:
        rows = list(app.log.iter_log(position - 1, upto=position))
        if not rows:
            raise ValueError(f"no event at position {position}")
        pos, chain = rows[0].position, rows[0].chain_hash
    hexhash = (chain or bytes(32)).hex()
    return {"position": pos, "hash": hexhash, "digest": f"{pos}:{hexhash}"}


def export_lines(app: CasestoreApp, after: int = 0, upto: int | None = None) -> Iterator[bytes]:
    """One JSON object per event, with its exact stored bytes and both hashes."""
    for row, event in app.iter_events(after, upto=upto):
        state = {
            k: v
            for k, v in vars(event).items()
            if k not in ("originator_id", "originator_version", "timestamp")
        }
        yield (
            orjson.dumps(
                {
                    "position": row.position,
                    "aggregate_id": str(row.originator_id),
                    "version": row.version,
                    "type": row.topic.rsplit(".", 1)[-1],
                    "topic": row.topic,
                    "recorded_at": from_micros(row.recorded_at_us).isoformat(),
                    "data": to_plain(state),
                    "stored_b64": base64.b64encode(row.state).decode(),
                    "event_hash": row.event_hash.hex(),
                    "chain_hash": row.chain_hash.hex(),
                }
            )
            + b"\n"
        )
