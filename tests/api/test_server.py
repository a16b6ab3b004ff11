"""``casestore serve`` refuses to start without a secret; ``casestore demo`` seeds, prints
how to get a token, and serves with embedded projection workers."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CASESTORE = Path(sys.executable).parent / "casestore"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env_without_secret() -> dict[str, str]:
    unset = {"CASESTORE_SECRET", "CASESTORE_QUERY_PEPPER"}
    return {k: v for k, v in os.environ.items() if k not in unset and "OIDC" not in k}


PEPPER = "k1:" + "A" * 43


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"CASESTORE_QUERY_PEPPER": PEPPER}, "CASESTORE_SECRET"),
        ({"CASESTORE_SECRET": "s" * 32}, "CASESTORE_QUERY_PEPPER"),
        ({"CASESTORE_SECRET": "x", "CASESTORE_QUERY_PEPPER": PEPPER}, "at least 32 bytes"),
        ({"CASESTORE_SECRET": "s" * 32, "CASESTORE_QUERY_PEPPER": "k1:c2hvcnQ"}, "32 bytes"),
    ],
)
def test_serve_refuses_to_start_without_usable_secrets(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    done = subprocess.run(
        [str(CASESTORE), "serve", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--port", "1"],
        env={**_env_without_secret(), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert (says in done.stderr and "refusing to start" in done.stderr) or says in done.stderr


def _the_demo_signs_checkpoints(
    base: str, text: str, tmp_path: Path, db: str, case_no: str
) -> None:
    """The demo made a signing key, kept it for its owner only, printed its verifier key;
    the checkpoints it serves verify with that key, and a case proof verifies offline."""
    from casestore.ledger.verify_proof import VerifierKey, signed_by

    printed = re.search(r"Verifier key:\n\s+(casestore\.local/log\+[0-9a-f]{8}\+\S+)", text)
    assert printed is not None, text[-2000:]
    key_file = tmp_path / "demo.db.signing-key"
    assert f"signing key in {key_file};" in text  # one leading slash, not '//tmp/...'
    assert key_file.read_text().startswith("PRIVATE+KEY+casestore.local/log+")
    assert key_file.stat().st_mode & 0o777 == 0o600
    deadline = time.monotonic() + 60
    while (answer := httpx.get(f"{base}/log/checkpoint", timeout=5)).status_code != 200:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.3)
    assert signed_by(answer.text, VerifierKey.parse(printed.group(1)))
    file = tmp_path / "case.json"
    env = _env_without_secret()
    run = [str(CASESTORE), "proof"]
    made = subprocess.run([*run, case_no, "-o", str(file), "--db", db], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert made.returncode == 0, made.stderr
    checked = subprocess.run([*run, "verify", str(file), "--key", printed.group(1)], env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_demo_seeds_prints_a_token_recipe_and_serves(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "demo.log"
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(CASESTORE), "demo", "--db", db, "--port", str(port), "--cases", "40"],
            env={**_env_without_secret(), "CASESTORE_CHECKPOINT_SECONDS": "1"},
            stdout=out,
            stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        text = log.read_text()
        secret = re.search(r"export CASESTORE_SECRET=(\S+)", text)
        assert secret is not None, text[-2000:]
        assert "casestore token --staff" in text
        env = {**_env_without_secret(), "CASESTORE_SECRET": secret.group(1)}
        for argv in (  # the recipe the demo prints, for an inspector
            ["staff", "enroll", "insp-01", "--name", "纪检", "--by", "admin-01"],
            ["staff", "grant", "insp-01", "inspector", "--by", "admin-01", "--reason", "监督"],
        ):
            done = subprocess.run(
                [str(CASESTORE), *argv, "--db", db],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
        issued = subprocess.run(
            [str(CASESTORE), "token", "--staff", "insp-01", "--db", db],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert issued.returncode == 0, issued.stderr
        headers = {"Authorization": f"Bearer {issued.stdout.strip()}", "X-Purpose": "demo"}
        deadline = time.monotonic() + 60
        while True:  # the embedded workers catch up with the seeded log
            health = httpx.get(f"{base}/health", timeout=5).json()
            lags = [p["lag"] for p in health["projections"].values()]
            if lags and max(lags) == 0:
                break
            assert time.monotonic() < deadline, health
            time.sleep(0.2)
        cases = httpx.get(f"{base}/cases", params={"limit": 500}, headers=headers, timeout=10)
        assert cases.status_code == 200 and len(cases.json()["items"]) >= 40  # + bundle children
        flags = httpx.get(f"{base}/supervision/flags", headers=headers, timeout=10)
        assert flags.status_code == 200 and flags.json()["count"] > 0
        case_no = cases.json()["items"][0]["case_no"]
        _the_demo_signs_checkpoints(base, text, tmp_path, db, case_no)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    # uvicorn re-raises SIGTERM after a graceful shutdown.
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()[-3000:]
    assert "Application shutdown complete" in log.read_text()
