"""Forgetting a subject through the real processes (issue 18): ``casestore serve`` with a
master key, ``casestore forget``, then every view, export, stream, as-of read and the
subject report show 〔已删除〕, ``casestore verify`` says INTACT and a proof taken before
the forget still verifies. Expected values are written by hand from SPEC §10."""

from __future__ import annotations

import base64
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import CASESTORE, PEPPER, SECRET, _free_port, _stop

ERASED = "〔已删除〕"
APPLICANT = {
    "name": "赵六",
    "id_type": "resident_id",
    "id_number": "11010119800808123X",
    "phone": "13912345678",
}
OTHER = {**APPLICANT, "name": "钱七", "id_number": "110101197707071234", "phone": "13588889999"}
SECRETS = ("赵六", "11010119800808123X", "13912345678", "13611112222")
ORIGIN = "forget.e2e/log"


class Bureau:
    """One served database with its own master key and checkpoint signing key."""

    def __init__(self, workdir: Path, db: str) -> None:
        self.workdir = workdir
        self.db = db
        private, self.verifier = self.cli("keygen", "--signing", ORIGIN, env=False).split()
        self.env = {
            "CASESTORE_CIPHER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "CASESTORE_SIGNING_KEY": private,
            "CASESTORE_CHECKPOINT_SECONDS": "1",
            "CASESTORE_LOG_ORIGIN": ORIGIN,
        }
        self.tokens: dict[str, str] = {}
        self.base = ""

    def run(self, *args: str, env: bool = True) -> subprocess.CompletedProcess[str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith("CASESTORE_")}
        full = {**keep, "CASESTORE_SECRET": SECRET, "CASESTORE_QUERY_PEPPER": PEPPER}
        if env:
            full.update(self.env)
        return subprocess.run(
            [CASESTORE, *args], env=full, capture_output=True, text=True, timeout=180, check=False
        )

    def cli(self, *args: str, env: bool = True) -> str:
        done = self.run(*args, env=env)
        assert done.returncode == 0, f"casestore {' '.join(args)}: {done.stderr[-2000:]}"
        return done.stdout

    def client(self, role: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return httpx.Client(base_url=self.base, headers=headers, timeout=60)


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.pg, pytest.mark.slow])],
)
def bureau(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bureau]:
    """A served bureau on each backend (PostgreSQL: a fresh database of the harness's
    cluster, ``casestore serve`` with its embedded projection workers)."""
    workdir = tmp_path_factory.mktemp("forget-e2e")
    if request.param == "sqlite":
        yield from _served(Bureau(workdir, f"sqlite:///{workdir / 'casestore.db'}"))
        return
    from tests.pgharness import create_database, drop_database

    pg_url: str = request.getfixturevalue("pg_url")
    db = create_database(pg_url)
    try:
        yield from _served(Bureau(workdir, db))
    finally:
        drop_database(pg_url, db)


def _served(b: Bureau) -> Iterator[Bureau]:
    b.cli("catalogue", "--db", b.db)
    b.cli("staff", "enroll", "adm-1", "--name", "局长", "--first-admin", "--db", b.db)
    for staff, role in (("adm-2", "admin"), ("clk-1", "clerk"), ("aud-1", "auditor")):
        b.cli("staff", "enroll", staff, "--name", staff, "--by", "adm-1", "--db", b.db)
        b.cli("staff", "grant", staff, role, "--by", "adm-1", "--reason", "e2e", "--db", b.db)
    for role, staff in (("admin", "adm-1"), ("clerk", "clk-1"), ("auditor", "aud-1")):
        b.tokens[role] = b.cli("token", "--staff", staff, "--db", b.db).strip()
    port = _free_port()
    b.base = f"http://127.0.0.1:{port}"
    log = b.workdir / "serve.log"
    keep = {k: v for k, v in os.environ.items() if not k.startswith("CASESTORE_")}
    env = {**keep, "CASESTORE_SECRET": SECRET, "CASESTORE_QUERY_PEPPER": PEPPER, **b.env}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [CASESTORE, "serve", "--db", b.db, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"{b.base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)
        yield b
    finally:
        _stop(proc)


def settle(b: Bureau) -> None:
    deadline = time.monotonic() + 90
    while True:
        health: dict[str, Any] = httpx.get(f"{b.base}/health", timeout=10).json()
        lags = [p["lag"] for p in health["projections"].values()]
        if health["projections"] and not any(lags) and health["stream"]["lag"] == 0:
            return
        assert time.monotonic() < deadline, health
        time.sleep(0.2)


def submit(b: Bureau, applicant: dict[str, str]) -> dict[str, Any]:
    with b.client("clerk") as c:
        r = c.post("/cases", json={"item_code": "XK-003", "applicant": applicant})
        assert r.status_code == 201, r.text
        case: dict[str, Any] = r.json()
        body = {
            "corrects_version": 1,
            "fact": "applicant.phone",
            "wrong_value": applicant["phone"],
            "correct_value": "13611112222" if applicant is APPLICANT else "13500000000",
            "reason": "typo",
        }
        assert c.post(f"/cases/{case['case_id']}/correct", json=body).status_code == 200
        withdrawn = c.post(f"/cases/{case['case_id']}/withdraw", json={"reason": "撤回"})
        assert withdrawn.status_code == 200, withdrawn.text
    return case


def views(b: Bureau, case: dict[str, Any]) -> dict[str, str]:
    """Everything a process shows about the case, as text."""
    cid = case["case_id"]
    settle(b)
    out: dict[str, str] = {}
    with b.client("admin") as c:
        out["case"] = c.get(f"/cases/{cid}").text
        out["events"] = c.get(f"/cases/{cid}/events").text
        out["as_of"] = c.get(f"/cases/{cid}", params={"version": 1}).text
        out["search"] = c.get("/cases", params={"limit": 50}).text
        out["stream"] = c.get("/stream", params={"case": cid, "after": 0, "limit": 3}).text
    with b.client("auditor") as c:
        out["timeline"] = c.get(f"/cases/{cid}/timeline").text
    report = httpx.get(
        f"{b.base}/public/subject-report",
        params={"case_no": case["case_no"], "code": case["query_code"]},
        timeout=30,
    )
    assert report.status_code == 200, report.text
    out["report"] = report.text
    out["export"] = b.cli("export", "--db", b.db)
    return out


def proof_of(b: Bureau, case: dict[str, Any], path: Path) -> Path:
    b.cli("checkpoint", "--db", b.db)
    b.cli("proof", case["case_no"], "-o", str(path), "--db", b.db)
    return path


def test_forget_through_the_served_processes(bureau: Bureau, tmp_path: Path) -> None:
    b = bureau
    gone, kept = submit(b, APPLICANT), submit(b, OTHER)
    before = views(b, gone)
    assert "赵六" in before["case"] and "11010119800808123X" in before["case"]  # admin sees all
    assert "赵*" in before["search"]
    proof_before = proof_of(b, gone, tmp_path / "before.json")

    refused = b.run(
        "forget", APPLICANT["id_number"], "--reason", "asked", "--approved-by", "adm-2",
        "--by", "adm-1", "--db", b.db,
    )  # fmt: skip
    assert refused.returncode == 1 and "retention not over" in refused.stderr
    done = b.cli(
        "forget", APPLICANT["id_number"], "--reason", "法院判决 (2026) 民初 1 号",
        "--approved-by", "adm-2", "--by", "adm-1", "--ignore-retention", "--db", b.db,
    )  # fmt: skip
    assert "SubjectForgotten at position" in done

    after = views(b, gone)
    for name, text in after.items():
        for secret in SECRETS:
            assert secret not in text, (name, secret)
    for name in ("case", "events", "as_of", "report"):
        assert ERASED in after[name], name
    assert ERASED in after["search"]
    other = views(b, kept)
    assert "钱七" in other["case"] and "110101197707071234" in other["case"]

    audit = b.cli("verify", "--db", b.db)
    assert "INTACT" in audit
    assert b.run("proof", "verify", str(proof_before), "--key", b.verifier).returncode == 0
    proof_after = proof_of(b, gone, tmp_path / "after.json")
    assert b.run("proof", "verify", str(proof_after), "--key", b.verifier).returncode == 0
