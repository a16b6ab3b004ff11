"""The HTTP edge against its anchor, in one run (issue 11 targets).

``casestore serve --no-workers`` and the anchor (:mod:`casestore.bench.anchor`: a bare
FastAPI endpoint that verifies the same token, validates the same body with pydantic and
inserts one row in one transaction) run side by side over the same database; the same
raw keep-alive load client (:mod:`casestore.bench.http`) drives one, then the other, at
each client count, for several rounds (alternating, so drift of the shared machine hits
both alike). Reported per client count and round: command rate and p99 latency of each,
their ratios (targets: rate >= 0.8x, p99 <= 1.25x the anchor's), and the SSE lag p99 of
the served commands at the largest client count (target <= 100 ms), read by a separate
process following ``/stream``.

The SSE lag of an event runs from its ``recorded_at`` (stamped by the service when the
command is decided, before the group commit) to its arrival at that process, so it holds
the command's own wait for its commit as well as the stream's path after it. Beside it,
``from_ack``: from the moment the writing client got its 2xx (the commit is done and
acknowledged) to the arrival; it can be negative (the stream was faster than the answer).

Run: ``python -m casestore.bench.edge [--db URL] [--clients 8 32] [--seconds 8] [--rounds 2]``
(``--db``: a scratch database, it gets new cases and the anchor's table; without it, a
scratch database on a throwaway PostgreSQL cluster, started with the test harness).

Beside each rate, the server process's CPU milliseconds per request (``cpu_ms_per_request``,
from ``/proc``) and their ratio (``cpu_ratio``, served over anchor): both servers are one
Python process each, bound by its GIL, so on a shared machine whose load moves the rates
this is the steadier figure of what a served command costs against the anchor's insert.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import orjson

from casestore.bootstrap import open_store
from casestore.identity import issue_dev_token

from .baselines import percentiles
from .http import _load, _Outcome, _probe, _Server, bench_staff
from .store import accepted_cases

RATE_TARGET, P99_TARGET, SSE_TARGET_MS = 0.8, 1.25, 100.0
PER_CLIENT = 20


def _run(port: int, token: str, slices: list[list[UUID]], seconds: float, settle: bool) -> _Outcome:
    with ThreadPoolExecutor(1) as pool:  # the caller may already run an event loop
        return pool.submit(asyncio.run, _load(port, token, slices, seconds, settle=settle)).result()


def _cpu_run(
    server: _Server, token: str, slices: list[list[UUID]], seconds: float, settle: bool
) -> tuple[_Outcome, float | None]:
    """One load run and the server process's CPU milliseconds per request in it (warm-up
    requests included, as in the CPU): with the shared machine's load the rates drift,
    while the CPU a request costs in the one Python process (bound by its GIL) does not."""
    before = server.cpu_seconds()
    out = _run(server.port, token, slices, seconds, settle)
    after = server.cpu_seconds()
    requests = out.done + out.errors + sum(len(mine) for mine in slices)
    if before is None or after is None or not requests:
        return out, None
    return out, round(1000 * (after - before) / requests, 2)


def _figures(out: _Outcome) -> dict[str, Any]:
    return {
        "per_s": round(out.done / out.seconds, 1) if out.seconds else 0.0,
        "errors": out.errors,
        **{k: round(v, 2) for k, v in percentiles(out.latencies).items()},
    }


def _span(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if values else "-"


def measure_edge(
    db_url: str, clients: tuple[int, ...] = (8, 32), seconds: float = 8.0, rounds: int = 2
) -> dict[str, Any]:
    """Anchor and ``casestore serve`` at each client count, ``rounds`` times, one run."""
    app = open_store(db_url)
    try:
        ids = accepted_cases(app, max(clients) * PER_CLIENT)
    finally:
        app.close()
    secret = secrets.token_urlsafe(32)
    token = issue_dev_token(secret, bench_staff(db_url, "bench-reviewer", "reviewer"))
    server = _Server(db_url, secret)
    anchor = _Server(db_url, secret, module="casestore.bench.anchor")
    spawn = multiprocessing.get_context("spawn")
    stop = spawn.Event()
    ours, theirs = spawn.Pipe()
    probe = spawn.Process(target=_probe, args=(server.port, token, stop, theirs), daemon=True)
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in clients}
    acked: dict[int, float] = {}
    try:
        probe.start()
        if not ours.poll(30):
            raise RuntimeError("the SSE probe did not connect")
        ours.recv()
        for _ in range(rounds):
            for n in clients:
                slices = [ids[i::n] for i in range(n)]
                base, a_cpu = _cpu_run(anchor, token, slices, seconds, settle=False)
                served, s_cpu = _cpu_run(server, token, slices, seconds, settle=True)
                if n == max(clients):
                    acked.update(served.acked)
                a, s = _figures(base), _figures(served)
                a["cpu_ms_per_request"], s["cpu_ms_per_request"] = a_cpu, s_cpu
                runs[n].append(
                    {
                        "anchor": a,
                        "serve": s,
                        "rate_ratio": round(s["per_s"] / a["per_s"], 3) if a["per_s"] else 0,
                        "p99_ratio": round(s["p99_ms"] / a["p99_ms"], 3) if a["p99_ms"] else 0,
                        "cpu_ratio": round(s_cpu / a_cpu, 3) if s_cpu and a_cpu else None,
                    }
                )
        time.sleep(1.0)  # the last events reach the probe
        stop.set()
        seen = ours.recv() if ours.poll(30) else []
        probe.join(10)
    finally:
        server.stop()
        anchor.stop()
    lags = [arrived - recorded for position, arrived, recorded in seen if position in acked]
    sse = percentiles(lags)
    from_ack = [arrived - acked[position] for position, arrived, _ in seen if position in acked]
    summary = {
        str(n): {
            "rate_ratio": _span([r["rate_ratio"] for r in rs]),
            "p99_ratio": _span([r["p99_ratio"] for r in rs]),
            "anchor_per_s": _span([r["anchor"]["per_s"] for r in rs]),
            "cpu_ratio": _span([r["cpu_ratio"] for r in rs if r["cpu_ratio"]]),
            "serve_per_s": _span([r["serve"]["per_s"] for r in rs]),
            "rate_met": min(r["rate_ratio"] for r in rs) >= RATE_TARGET,
            "p99_met": max(r["p99_ratio"] for r in rs) <= P99_TARGET,
        }
        for n, rs in runs.items()
    }
    return {
        "clients": list(clients),
        "seconds": seconds,
        "rounds": rounds,
        "runs": {str(n): rs for n, rs in runs.items()},
        "summary": summary,
        "sse": {
            "clients": max(clients),
            "events": len(lags),
            "missing": len(acked) - len(lags),
            **{k: round(v, 1) for k, v in sse.items()},
            "target_p99_ms": SSE_TARGET_MS,
            "met": bool(lags) and sse["p99_ms"] <= SSE_TARGET_MS,
            "from_ack": {k: round(v, 1) for k, v in percentiles(from_ack).items()},
        },
        "targets": {"rate": f">= {RATE_TARGET}x", "p99": f"<= {P99_TARGET}x"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db",
        help="a scratch database URL (default: a scratch database on a throwaway "
        "PostgreSQL cluster, or on CASESTORE_BENCH_PG)",
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.db:
        result = measure_edge(args.db, tuple(args.clients), args.seconds, args.rounds)
    else:
        from .runner import _postgres

        with _postgres("sqlite:///unused.db") as (url, origin):
            if url is None:
                raise SystemExit(f"no PostgreSQL: {origin}")
            result = measure_edge(url, tuple(args.clients), args.seconds, args.rounds)
            result["database"] = origin
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
