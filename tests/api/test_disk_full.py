"""A full disk answers truthfully: 503 ``unavailable`` with Retry-After, nothing
acknowledged that was not written, and recovery once space returns (no restart).

The SQLite database sits on a small tmpfs mounted for the test (root only; skipped
elsewhere, failed under CI where the harness runs as root).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api import support
from tests.api.support import APPLICANT, make_api
from tests.ciflag import under_ci


@contextlib.contextmanager
def small_disk(where: Path, megabytes: int) -> Iterator[Path]:
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        message = f"cannot mount a small tmpfs here: {done.stderr.strip()}"
        if under_ci():
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(path: Path) -> None:
    """Take every free byte of the filesystem."""
    with path.open("wb") as f:
        chunk = b"\0" * 65536
        with contextlib.suppress(OSError):
            while True:
                f.write(chunk)
                f.flush()
                os.fsync(f.fileno())


def test_a_full_disk_is_503_and_recovers_when_space_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only this test's staff on the small disk: the tokens issued by earlier tests of the
    # session would all be enrolled at the first request, and their WAL filled the 6 MB
    # before the test did (fill() found no room to create its file).
    monkeypatch.setattr(support, "ISSUED", {})
    with small_disk(tmp_path / "disk", 6) as disk:
        api = make_api(disk / "casestore.db")
        try:
            first = api.submit()["case_id"]
            filler = disk / "filler"
            fill(filler)
            body = {"item_code": "XK-003", "applicant": {**APPLICANT, "name": "满" * 200}}
            answers, acknowledged = [], []
            for n in range(40):
                materials = [f"材料{n}-" + "x" * 150 for _ in range(40)]
                r = api.post("/cases", "clerk", json=body | {"materials": materials})
                answers.append(r.status_code)
                if r.status_code == 201:
                    acknowledged.append(r.json()["case_id"])
                else:
                    assert r.status_code == 503, r.text
                    problem = r.json()
                    assert problem["type"].endswith("/unavailable")
                    assert "full" in problem["detail"] and r.headers["Retry-After"]
            assert 503 in answers, "the disk never filled up"
            assert all(code in (201, 503) for code in answers)
            health = api.get("/health")
            assert health.status_code == 503 and health.json()["writes"]["ok"] is False
            # Space returns: commands succeed again in the same process.
            filler.unlink()
            again = api.post("/cases", "clerk", json=body)
            assert again.status_code == 201, again.text
            acknowledged.append(again.json()["case_id"])
            assert api.get("/health").status_code == 200
            # Every acknowledged case was written; nothing else was.
            for case_id in acknowledged:
                assert api.get(f"/cases/{case_id}", "clerk").status_code == 200
            submitted = [
                str(row.originator_id)
                for row in api.state.service.app.log.iter_log()
                if row.topic.endswith("Case.Submitted")
            ]
            assert sorted(submitted) == sorted([first, *acknowledged])
        finally:
            api.close()
