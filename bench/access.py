"""What the access trail costs: ``GET /cases/{id}`` and review commands with the trail on
and off, against the same database in the same run (``casestore serve`` child processes).

A clerk's read shows the applicant's ID number and phone in full, so with the trail on
every read appends an ``AccessRecorded`` through the group commit before it answers.
Target (issue 14): reads with the trail on >= 0.8x reads with it off; commands unchanged.
Both servers (trail off, trail on) run at once; each of ``--repeats`` repeats measures
them off, on, on, off (``--seconds`` per mode, in halves), and the ratio of each repeat
is reported with the range and median::

    python -m casestore.bench.access --db sqlite:///./bench-access.db --seconds 4 --repeats 5
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from typing import Any
from uuid import UUID

import orjson

from casestore.identity import issue_dev_token
from casestore.store.application import CasestoreApp

from .http import _Connection, _review_request, _Server, bench_staff
from .store import accepted_cases


def _read_request(port: int, token: str, case_id: UUID) -> bytes:
    return (
        f"GET /cases/{case_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    ).encode()


async def _rate(port: int, requests: list[list[bytes]], seconds: float) -> tuple[float, int]:
    """Requests per second over ``seconds`` with one keep-alive connection per list."""
    connections = [await _Connection.open(port) for _ in requests]
    done = errors = 0

    async def run(connection: _Connection, mine: list[bytes], deadline: float) -> None:
        nonlocal done, errors
        n = 0
        while time.perf_counter() < deadline:
            status, _ = await connection.send(mine[n % len(mine)])
            if status < 300:
                done += 1
            else:
                errors += 1
            n += 1

    try:
        for connection, mine in zip(connections, requests, strict=True):
            await connection.send(mine[0])  # warm
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(
            *(run(c, m, deadline) for c, m in zip(connections, requests, strict=True))
        )
        return done / (time.perf_counter() - started), errors
    finally:
        for connection in connections:
            await connection.close()


def _span(values: list[float]) -> list[float]:
    return [round(min(values), 3), round(max(values), 3)]


def measure_access(
    db_url: str, clients: int = 8, seconds: float = 4.0, repeats: int = 5
) -> dict[str, Any]:
    """Both servers run at once over the same database (``--no-workers``; only the one
    under load works); each repeat measures off, on, on, off (ABBA, ``seconds / 2``
    each), so a drift of the shared machine's load cancels within the repeat."""
    app = CasestoreApp(db_url)
    try:
        ids = accepted_cases(app, clients * 20)
    finally:
        app.close()
    secret = secrets.token_urlsafe(32)
    clerk = issue_dev_token(secret, bench_staff(db_url, "bench-clerk", "clerk"))
    reviewer = issue_dev_token(secret, bench_staff(db_url, "bench-reviewer", "reviewer"))
    slices = [ids[i::clients] for i in range(clients)]
    servers: dict[str, _Server] = {}
    runs: dict[str, list[float]] = {"read_on": [], "read_off": [], "cmd_on": [], "cmd_off": []}
    errors = 0
    try:
        for trail in ("off", "on"):
            servers[trail] = _Server(db_url, secret, env={"CASESTORE_ACCESS_TRAIL": trail})
        for _ in range(repeats):
            for kind, token, build in (
                ("read", clerk, _read_request),
                ("cmd", reviewer, _review_request),
            ):
                done: dict[str, float] = {"off": 0.0, "on": 0.0}
                for trail in ("off", "on", "on", "off"):
                    port = servers[trail].port
                    requests = [[build(port, token, c) for c in s] for s in slices]
                    rate, bad = asyncio.run(_rate(port, requests, seconds / 2))
                    done[trail] += rate / 2
                    errors += bad
                runs[f"{kind}_off"].append(done["off"])
                runs[f"{kind}_on"].append(done["on"])
    finally:
        for server in servers.values():
            server.stop()
    read_ratios = [on / off for on, off in zip(runs["read_on"], runs["read_off"], strict=True)]
    cmd_ratios = [on / off for on, off in zip(runs["cmd_on"], runs["cmd_off"], strict=True)]
    return {
        "clients": clients,
        "seconds": seconds,
        "repeats": repeats,
        "errors": errors,
        "reads_per_s": {k: [round(v, 1) for v in runs[k]] for k in ("read_off", "read_on")},
        "commands_per_s": {k: [round(v, 1) for v in runs[k]] for k in ("cmd_off", "cmd_on")},
        "read_on_vs_off": _span(read_ratios),
        "read_on_vs_off_median": round(statistics.median(read_ratios), 3),
        "commands_on_vs_off": _span(cmd_ratios),
        "commands_on_vs_off_median": round(statistics.median(cmd_ratios), 3),
        "read_target": 0.8,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a database URL (gets new cases)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    result = measure_access(args.db, args.clients, args.seconds, args.repeats)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
