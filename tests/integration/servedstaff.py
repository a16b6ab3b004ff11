"""Staff for tests that drive a served ``casestore`` process: a clerk ``c-1`` at window
W01, enrolled and granted through the real ``casestore staff`` CLI (a token names the
staff member; the grants in the log authorise), and the query pepper ``serve`` needs."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from casestore.identity import issue_dev_token

PEPPER = "k1:" + "A" * 43
_STAFF_CLI = (
    ("staff", "enroll", "adm-1", "--name", "局长", "--first-admin"),
    ("staff", "enroll", "c-1", "--name", "窗口", "--by", "adm-1"),
    ("staff", "grant", "c-1", "clerk", "--window", "W01", "--by", "adm-1", "--reason", "测试"),
)


def enrol_clerk(casestore: Path, url: str, env: Mapping[str, str]) -> None:
    """The first admin, then the clerk ``c-1`` (W01), in the store at ``url``."""
    for argv in _STAFF_CLI:
        subprocess.run(
            [str(casestore), *argv, "--db", url],
            env=dict(env),
            check=True,
            capture_output=True,
            timeout=120,
        )


def enrol_staff(
    casestore: Path, url: str, env: Mapping[str, str], staff_id: str, role: str, window: str = ""
) -> None:
    """The first admin (if the log has none) and ``staff_id`` holding ``role``."""

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(casestore), "staff", *argv, "--db", url],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=120,
        )

    run("enroll", "adm-1", "--name", "局长", "--first-admin")  # refused once there is one
    done = run("enroll", staff_id, "--name", staff_id, "--by", "adm-1")
    assert done.returncode == 0, done.stderr
    grant = ["grant", staff_id, role, "--by", "adm-1", "--reason", "测试"]
    done = run(*grant, *(["--window", window] if window else []))
    assert done.returncode == 0, done.stderr


def clerk_headers(secret: str) -> dict[str, str]:
    """``Authorization`` for the clerk ``c-1`` (a development token)."""
    return staff_headers(secret, "c-1")


def staff_headers(secret: str, staff_id: str, purpose: str = "") -> dict[str, str]:
    """``Authorization`` for ``staff_id`` (and ``X-Purpose``, which inspectors send)."""
    headers = {"Authorization": "Bearer " + issue_dev_token(secret, staff_id)}
    if purpose:
        headers["X-Purpose"] = quote(purpose)
    return headers
