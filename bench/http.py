"""HTTP benchmark: command throughput and latency through the API at N concurrent clients,
beside the library-level command rate in the same run, and the event -> SSE client lag.

A command is the same on both sides: ``review`` on an accepted case of the client's own
slice (no conflicts), i.e. ``POST /cases/{id}/review`` versus ``CaseService.execute``.
The API runs as ``casestore serve --no-workers`` in its own process on loopback (its
stream hub still runs); the load comes from one asyncio process over raw keep-alive
connections (one per client), and one SSE client reads ``/stream`` meanwhile. The SSE
lag of an event is the time from its ``recorded_at`` (the server's clock, taken just
before the commit) to its arrival at the client, on the same machine.

Run: ``python -m casestore.bench.http --db URL [--clients 32] [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import orjson

from casestore.authority import Authority
from casestore.bootstrap import open_store
from casestore.identity import issue_dev_token
from casestore.querycode import QueryPeppers
from casestore.service import utc_now

from .baselines import percentiles
from .store import accepted_cases, commands

REVIEW = {"stage_name": "审查", "opinion": "pass"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """``casestore serve --no-workers`` (or another server module) as a child process."""

    def __init__(
        self, db_url: str, secret: str, module: str = "", env: dict[str, str] | None = None
    ) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if module:  # python -m MODULE --db URL --port P
            command = f"import runpy; runpy.run_module({module!r}, run_name='__main__')"
            argv = ["--db", db_url, "--port", str(self.port)]
        else:
            command = "from casestore.cli import main; main()"
            argv = ["serve", "--db", db_url, "--no-workers", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", command, *argv],
            env={
                **os.environ,
                "CASESTORE_SECRET": secret,
                "CASESTORE_QUERY_PEPPER": QueryPeppers.generate().setting(),
                **(env or {}),
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("the API server exited at start")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.1)

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the server process has used so far (Linux ``/proc``;
        ``None`` elsewhere)."""
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rpartition(")")[2].split()  # from field 3 (state) on
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)


def _probe(port: int, token: str, stop: Any, results: Any) -> None:
    """In its own process: read ``/stream``; send back (position, arrival, recorded_at).

    A separate process, so that the load generator never delays the reading (the lag
    measured is the server's, not the client's).
    """
    seen: list[tuple[int, float, float]] = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            f"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        sock.settimeout(0.2)
        results.send("connected")
        buffer = b""
        while not stop.is_set():
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            arrived = time.time()
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.startswith(b"data: {"):
                    data = orjson.loads(line[6:])
                    recorded = datetime.fromisoformat(data["recorded_at"]).timestamp()
                    seen.append((data["position"], arrived, recorded))
    results.send(seen)


class _Connection:
    """A minimal HTTP/1.1 keep-alive client for one connection.

    httpx costs more CPU per request than the server it measures (and shares the two
    cores of the machine with it), so the load is generated with raw requests: one
    pre-built request per case, responses read by ``Content-Length``.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send one request, read its response; (status code, body)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def _settled(connection: _Connection, port: int, timeout: float = 60.0) -> None:
    """Wait until the server's stream has read everything committed (lag 0 on /health)."""
    request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = await connection.send(request)
        if status == 200 and orjson.loads(body)["stream"]["lag"] == 0:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the server's stream did not catch up after the warm-up")


def _review_request(port: int, token: str, case_id: UUID) -> bytes:
    body = orjson.dumps(REVIEW)
    return (
        f"POST /cases/{case_id}/review HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@dataclass
class _Outcome:
    """What the measured period of the load saw."""

    done: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    acked: dict[int, float] = field(default_factory=dict)  # log position -> time of the 2xx


async def _load(
    port: int, token: str, slices: list[list[UUID]], seconds: float, *, settle: bool = True
) -> _Outcome:
    """One keep-alive connection per slice: first one command on every case of the slice
    (warm-up, not measured), then commands round the slice for ``seconds``. With
    ``settle`` the server's stream must have caught up before the measured period."""
    out = _Outcome()
    connections = [await _Connection.open(port) for _ in slices]
    requests = [[_review_request(port, token, case_id) for case_id in mine] for mine in slices]

    async def warm(connection: _Connection, mine: list[bytes]) -> None:
        for request in mine:
            await connection.send(request)

    async def measure(connection: _Connection, mine: list[bytes], deadline: float) -> None:
        n = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status, body = await connection.send(mine[n % len(mine)])
            out.latencies.append(time.perf_counter() - started)
            if status == 200:
                out.done += 1
                out.acked[orjson.loads(body)["position"]] = time.time()
            else:
                out.errors += 1
            n += 1

    try:
        await asyncio.gather(*(warm(c, r) for c, r in zip(connections, requests, strict=True)))
        if settle:
            await _settled(connections[0], port)
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(
            *(measure(c, r, deadline) for c, r in zip(connections, requests, strict=True))
        )
        out.seconds = time.perf_counter() - started
    finally:
        for connection in connections:
            await connection.close()
    return out


def bench_staff(db_url: str, staff_id: str, role: str) -> str:
    """Enrol ``staff_id`` with ``role`` (and a bench admin, the first one if need be)."""
    app = open_store(db_url)
    try:
        authority = Authority(app, utc_now)
        if authority.staff("bench-admin") is None:
            authority.enroll("bench-admin", name="bench admin", first_admin=True)
        if authority.staff(staff_id) is None:
            authority.enroll(staff_id, name=staff_id, by="bench-admin")
        if role not in authority.grants(staff_id):
            authority.grant(staff_id, role, by="bench-admin", reason="benchmark")
    finally:
        app.close()
    return staff_id


def measure_http(db_url: str, clients: int = 32, seconds: float = 10.0) -> dict[str, Any]:
    """HTTP vs library command rate, HTTP latency and SSE lag, measured in one run.

    Before the measured period every HTTP case gets one command (a warm-up: the server's
    case cache and the stream's per-case facts are then as in steady operation).
    """
    per_client = 20
    app = open_store(db_url)
    try:
        ids = accepted_cases(app, 2 * clients * per_client)
        library_rate = commands(app, ids[: clients * per_client], clients, seconds)
    finally:
        app.close()
    http_ids = ids[clients * per_client :]
    slices = [http_ids[i::clients] for i in range(clients)]
    secret = secrets.token_urlsafe(32)
    token = issue_dev_token(secret, bench_staff(db_url, "bench-reviewer", "reviewer"))
    server = _Server(db_url, secret)
    spawn = multiprocessing.get_context("spawn")
    stop = spawn.Event()
    ours, theirs = spawn.Pipe()
    probe = spawn.Process(target=_probe, args=(server.port, token, stop, theirs), daemon=True)
    try:
        probe.start()
        if not ours.poll(30):
            raise RuntimeError("the SSE probe did not connect")
        ours.recv()
        # In a thread of its own: the caller may already run an event loop (a test).
        with ThreadPoolExecutor(1) as pool:
            out = pool.submit(asyncio.run, _load(server.port, token, slices, seconds)).result()
        time.sleep(1.0)  # the last events reach the probe
        stop.set()
        seen = ours.recv() if ours.poll(30) else []
        probe.join(10)
    finally:
        server.stop()
    # Lag of each command's event: behind its recorded_at (the server stamps it before the
    # append; this includes the command's own commit wait), and behind the moment the
    # writer got its 2xx (from then on the event exists for everyone).
    from_recorded = [
        arrived - recorded for position, arrived, recorded in seen if position in out.acked
    ]
    from_ack = [
        arrived - out.acked[position] for position, arrived, _ in seen if position in out.acked
    ]
    http_rate = out.done / out.seconds
    return {
        "clients": clients,
        "seconds": seconds,
        "http_commands_per_s": round(http_rate, 1),
        "http_errors": out.errors,
        "http_latency": percentiles(out.latencies),
        "library_commands_per_s": round(library_rate, 1),
        "http_vs_library": round(http_rate / library_rate, 3) if library_rate else None,
        "sse_events": len(from_recorded),
        "sse_missing": len(out.acked) - len(from_recorded),
        "sse_lag_from_recorded_at": percentiles(from_recorded),
        "sse_lag_from_ack": percentiles(from_ack),
        "sse_lag_target_p99_ms": 100.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a database URL (its store gets new cases)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    result = measure_http(args.db, args.clients, args.seconds)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
