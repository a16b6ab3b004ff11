"""JSON log lines for every casestore process (stdlib ``logging`` only).

One object per line on stderr: ``ts``, ``level``, ``logger``, ``msg`` and the record's
extras (``request_id``, ``path``, ...). uvicorn's ANSI ``color_message`` extra is dropped.
:func:`configure` is called once per process by the CLI with ``CASESTORE_LOG_LEVEL``; the
HTTP edge adds its queued access log on top (``casestore.api.logs``).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "exc_text"}
#: Extras never written: uvicorn's message with ANSI colour codes.
_DROPPED = frozenset({"color_message"})
LEVELS = ("debug", "info", "warning", "error")


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...extra}`` per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in _DROPPED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return orjson.dumps(entry, default=str).decode()


def level_of(name: str | int) -> int:
    """``"info"`` -> ``logging.INFO`` (an int is returned as it is)."""
    if isinstance(name, int):
        return name
    return int(logging.getLevelName(name.upper()))


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (never a stream
    that was replaced and closed since, as a test runner's capture is)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure(level: str | int = "info") -> logging.Handler:
    """Every logger's records at ``level`` or above to stderr as JSON lines (a root
    handler: the read side, the ledger, eventsourcing and psycopg alike); returns it.
    Calling it again replaces the handler it installed, and only that one."""
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, StderrHandler)]
    root.addHandler(handler)
    root.setLevel(level_of(level))
    for name in ("casestore", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    for name in CHATTY:
        logging.getLogger(name).setLevel(max(logging.WARNING, level_of(level)))
    return handler


#: Libraries whose INFO records are their own working notes, not the operator's: the PDF
#: font subsetter logs ~40 lines per report (``casestore report monthly -o x.pdf``).
CHATTY = ("fontTools",)
