"""The access log's writer (``api/logs.py::BatchedLines``): records are held without
waking anyone and written by its own thread, a batch of lines in one write; stopping it
writes what is still held."""

from __future__ import annotations

import io
import logging
import time

import orjson
from casestore.api.logs import BatchedLines

from casestore.logs import JsonFormatter
from tests.api.support import BODIES, Api


class _Counting(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def _writer(interval: float) -> tuple[BatchedLines, _Counting, logging.Logger]:
    stream = _Counting()
    target = logging.StreamHandler(stream)
    target.setFormatter(JsonFormatter())
    writer = BatchedLines(target, interval=interval)
    logger = logging.getLogger("casestore.test.batched")
    logger.handlers[:] = [writer]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return writer, stream, logger


def test_held_lines_are_written_in_one_write_when_stopped() -> None:
    writer, stream, logger = _writer(interval=3600)  # the thread never wakes by itself
    writer.start()
    for n in range(5):
        logger.info("request", extra={"status": 200 + n, "request_id": f"r{n}"})
    assert stream.getvalue() == ""  # held, not written by the request's thread
    writer.stop()
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [(ln["msg"], ln["status"], ln["request_id"]) for ln in lines] == [
        ("request", 200 + n, f"r{n}") for n in range(5)
    ]
    assert lines[0]["logger"] == "casestore.test.batched" and lines[0]["level"] == "info"
    assert stream.writes == 1
    writer.stop()  # idempotent
    assert stream.writes == 1


def test_the_writer_thread_writes_without_being_woken() -> None:
    writer, stream, logger = _writer(interval=0.01)
    writer.start()
    try:
        logger.info("request", extra={"request_id": "late"})
        deadline = time.monotonic() + 10
        while "late" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert orjson.loads(stream.getvalue())["request_id"] == "late"
    finally:
        writer.stop()


def test_a_traceback_is_rendered_before_it_crosses_threads() -> None:
    writer, stream, logger = _writer(interval=3600)
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    writer.stop()
    line = orjson.loads(stream.getvalue())
    assert line["msg"] == "failed" and "ValueError: boom" in line["exc"]


def test_request_and_command_metrics_count_every_request(api: Api) -> None:
    """The labelled series are looked up once and then reused: every request still counts."""
    case_id = api.submit()["case_id"]
    for _ in range(3):
        assert api.get("/health").status_code == 200
    for _ in range(2):
        api.post(f"/cases/{case_id}/decide", "clerk", json=BODIES["decide"])
    text = api.get("/metrics", role="admin").text
    assert 'casestore_http_requests_total{method="GET",route="/health",status="200"} 3.0' in text
    assert 'casestore_http_request_seconds_count{method="GET",route="/health"} 3.0' in text
    assert 'casestore_commands_total{action="decide",outcome="forbidden"} 2.0' in text
    assert 'casestore_command_seconds_count{action="decide"} 2.0' in text
    assert 'casestore_http_requests_total{method="POST",route="/cases",status="201"} 1.0' in text
