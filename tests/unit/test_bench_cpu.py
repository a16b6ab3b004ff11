"""The edge bench's CPU per request reads a server process's CPU time from ``/proc``."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from casestore.bench.http import _Server

#: Works until its standard input closes: its CPU time keeps growing meanwhile.
_BUSY = (
    "import select, sys\n"
    "while not select.select([sys.stdin], [], [], 0)[0]:\n"
    "    sum(range(100_000))\n"
)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux /proc only")
def test_cpu_seconds_grows_with_the_work_the_process_does() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _BUSY],
        stdin=subprocess.PIPE,
    )
    server = object.__new__(_Server)  # only its process is read
    server.proc = child
    try:
        first = server.cpu_seconds()
        assert first is not None and first >= 0
        deadline = time.monotonic() + 60
        while (server.cpu_seconds() or 0) <= first and time.monotonic() < deadline:
            time.sleep(0.05)
        later = server.cpu_seconds()
        assert later is not None and later > first  # the sums took CPU, not only wall time
    finally:
        child.kill()
        child.wait()
    assert server.cpu_seconds() is None  # gone: no /proc entry (reaped)
