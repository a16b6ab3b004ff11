"""Request ids end to end and JSON logs (issue 16 item 5)."""

from __future__ import annotations

import asyncio
import logging

import httpx
import orjson
from casestore.api.logs import AccessLog
from casestore.api.problems import install_error_handlers
from fastapi import FastAPI

from casestore.logs import JsonFormatter
from tests.api.support import Api


def test_a_problem_carries_the_request_id_of_its_response(api: Api) -> None:
    r = api.get("/cases/not-a-uuid", headers={"X-Request-ID": "abc-123.x"})
    assert r.status_code == 401, r.text  # no token: a problem all the same
    assert r.headers["x-request-id"] == "abc-123.x"
    assert r.json()["request_id"] == "abc-123.x"
    # A caller's id that is not short and plain is replaced, never echoed.
    bad = api.get("/cases/not-a-uuid", headers={"X-Request-ID": "a b\tc" + "x" * 80})
    generated = bad.headers["x-request-id"]
    assert generated != "a b\tc" + "x" * 80 and " " not in generated
    assert bad.json()["request_id"] == generated


def test_a_500_logs_and_answers_its_request_id(caplog: object) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_middleware(AccessLog)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("casestore")
    logger.addHandler(handler)
    try:

        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.get("/boom", headers={"X-Request-ID": "req-500"})

        r = asyncio.run(call())
    finally:
        logger.removeHandler(handler)
    assert r.status_code == 500
    assert r.json()["request_id"] == "req-500"
    errors = [rec for rec in records if rec.getMessage() == "unhandled error"]
    assert errors and getattr(errors[0], "request_id", None) == "req-500"


def test_json_lines_leave_out_uvicorns_colour_codes() -> None:
    record = logging.makeLogRecord(
        {"name": "uvicorn.error", "levelname": "INFO", "msg": "Started",
         "color_message": "\x1b[32mStarted\x1b[0m", "pid": 7}
    )  # fmt: skip
    line = orjson.loads(JsonFormatter().format(record))
    assert line["msg"] == "Started" and line["pid"] == 7
    assert "color_message" not in line and "\x1b" not in str(line)


def test_metrics_carry_the_process_figures(api: Api) -> None:
    text = api.get("/metrics", role="admin").text
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                 "process_start_time_seconds", "python_info", "python_gc_objects_collected"):
        assert f"\n{name}" in text, name  # fmt: skip
