"""Auditor operations over the log: verify, digest and export (JSON Lines, streamed).

Auditor tools fail closed: :func:`open_for_audit` opens the database read-only (SQLite
``mode=ro``; PostgreSQL sessions with ``default_transaction_read_only``), creates no
table, and refuses a database that does not exist or holds no casestore log, so a
mistyped path can never be "verified" as an empty, intact log.
"""

from __future__ import annotations

import base64
import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import eventsourcing.persistence as es
import orjson
from eventsourcing.utils import get_topic

from casestore.domain.errors import InvalidCommand
from casestore.domain.personal import HIDDEN_FIELDS
from casestore.plain import to_plain
from casestore.settings import Settings, load_settings
from casestore.store.application import CasestoreApp
from casestore.store.config import backend_of, eventsourcing_env
from casestore.store.dbverify import check_in_database
from casestore.store.integrity import GENESIS, Finding, LinkCheck, VerifyReport, verify_rows
from casestore.store.logbase import EVENTS_TABLE
from casestore.store.pg_recorder import ReadOnlyPostgresRecorder
from casestore.store.recorders import CasestorePostgresRecorder, CasestoreSQLiteRecorder
from casestore.timeutil import from_micros


class NoLogToAudit(InvalidCommand):
    """The database named does not exist or holds no casestore log (a usage error)."""

    code = "no-log-to-audit"


def open_for_audit(config: Settings | str | None) -> CasestoreApp:
    """The application over an existing log, read-only; :class:`NoLogToAudit` otherwise.

    ``config``: the process's settings, or a database URL (``None``: ``CASESTORE_DB``)."""
    settings = config if isinstance(config, Settings) else load_settings(db=config)
    url = settings.db
    env = {"CREATE_TABLE": "n"}
    if backend_of(url) == "sqlite":
        name = eventsourcing_env(url)["SQLITE_DBNAME"]
        if name.startswith("file:") or name == ":memory:":
            raise NoLogToAudit(f"{url} is not a database file an auditor can open")
        path = Path(name).resolve()
        if not path.is_file():
            raise NoLogToAudit(f"no database file at {path} (nothing was created)")
        _check_sqlite_log(path)
        env["SQLITE_DBNAME"] = f"{path.as_uri()}?mode=ro"
    else:
        env["APPLICATION_RECORDER_TOPIC"] = get_topic(ReadOnlyPostgresRecorder)
    app = CasestoreApp(url, env=env, settings=settings)
    try:
        app.log.head()
    except es.ProgrammingError as e:  # relation "casestore_events" does not exist
        app.close()
        raise NoLogToAudit(f"{url} holds no casestore log ({EVENTS_TABLE})") from e
    except es.PersistenceError as e:
        app.close()
        if "does not exist" in str(e):  # database "x" does not exist
            raise NoLogToAudit(f"no database at {url}: {e}") from None
        raise
    except BaseException:
        app.close()
        raise
    return app


def _check_sqlite_log(path: Path) -> None:
    """Refuse a file that is not a SQLite database holding the casestore log."""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            found = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                (EVENTS_TABLE,),
            ).fetchone()[0]
    except sqlite3.DatabaseError as e:
        raise NoLogToAudit(f"{path} is not a casestore database ({e})") from None
    if not found:
        raise NoLogToAudit(f"{path} holds no casestore log ({EVENTS_TABLE})")


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
    """One JSON object per event, with its exact stored bytes and both hashes.

    The query code's digest is never a field (``HIDDEN_FIELDS``); inside ``stored_b64``
    it is an HMAC under the server's pepper, which the export does not contain."""
    for row, event in app.iter_events(after, upto=upto):
        state = {
            k: v
            for k, v in vars(event).items()
            if k not in ("originator_id", "originator_version", "timestamp")
            and k not in HIDDEN_FIELDS
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
