"""Optional OpenTelemetry traces (issue 16 item 5): ``casestore serve`` with
``OTEL_EXPORTER_OTLP_ENDPOINT`` set sends FastAPI request spans and psycopg query spans
to the collector over OTLP/HTTP. The collector here is a loopback HTTP server that keeps
what it is sent; span names are plain strings inside the protobuf body."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from tests.integration.servedstaff import PEPPER, clerk_headers, enrol_clerk

pytest.importorskip("opentelemetry.instrumentation.fastapi")
pytestmark = pytest.mark.pg
CASESTORE = Path(sys.executable).parent / "casestore"
SECRET = "tracing-test-secret-of-32-bytes!!!"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Collector.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_serve_sends_request_and_query_spans(pg_db_url: str, tmp_path: Path) -> None:
    collector = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    env = dict(os.environ, CASESTORE_SECRET=SECRET, CASESTORE_QUERY_PEPPER=PEPPER,
               OTEL_SERVICE_NAME="casestore-test",
               OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.server_port}",
               OTEL_BSP_SCHEDULE_DELAY="200")  # fmt: skip
    subprocess.run([str(CASESTORE), "catalogue", "--db", pg_db_url], env=env, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    enrol_clerk(CASESTORE, pg_db_url, env)
    port = _free_port()
    with (tmp_path / "serve.log").open("wb") as log:
        argv = [str(CASESTORE), "serve", "--no-workers", "--db", pg_db_url, "--port", str(port)]
        server = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.3)
        r = httpx.post(f"{base}/cases", headers=clerk_headers(SECRET),
                       json={"item_code": "XK-003", "applicant": {
                           "name": "王五", "id_type": "resident_id",
                           "id_number": "110101199001011234", "phone": "13800002222"}})  # fmt: skip
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 30
        while True:
            sent = b"".join(body for path, body in Collector.received if path == "/v1/traces")
            if b"POST /cases" in sent and b"postgresql" in sent:
                break
            assert time.monotonic() < deadline, sent[:2000]
            time.sleep(0.3)
        assert b"casestore-test" in sent  # the service name
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        collector.shutdown()
