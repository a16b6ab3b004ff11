"""The verifiable log as users reach it: ``/log/*``, case proofs over HTTP, the CLI verbs.

The API runs with its embedded workers (tree + signer, as ``casestore serve`` does), a
signing key from the environment and a checkpoint after every event. Proof files are
checked with the stand-alone verifier and with ``casestore proof verify``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from casestore.cli import app as cli
from casestore.ledger.notes import SignerKey
from casestore.ledger.verify_proof import VerifierKey, verify_proof
from casestore.ledger.witness import witness_once
from tests.api.support import Api, make_api

ORIGIN = "casestore.local/log"
LOG_KEY = SignerKey.generate(ORIGIN)
WITNESS = SignerKey.generate("supervision.example/witness")


@pytest.fixture
def log_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("CASESTORE_SIGNING_KEY", LOG_KEY.private_text())
    monkeypatch.setenv("CASESTORE_CHECKPOINT_EVENTS", "1")
    monkeypatch.setenv("CASESTORE_WITNESS_KEYS", WITNESS.verifier_text())
    client = make_api(tmp_path / "api.db", workers=True)
    yield client
    client.close()


def signed_up_to_head(api: Api, timeout: float = 30.0) -> str:
    """The latest checkpoint once it covers the whole log (the signer runs in the app)."""
    deadline = time.monotonic() + timeout
    while True:
        r = api.get("/log/checkpoint")
        if r.status_code == 200 and int(r.text.split("\n")[1]) == api.head():
            return r.text
        assert time.monotonic() < deadline, r.text
        time.sleep(0.1)


def some_cases(api: Api, n: int = 3) -> list[dict[str, Any]]:
    made = []
    for _ in range(n):
        case = api.submit()
        api.command(case["case_id"], "accept", "clerk", {})
        made.append(case)
    return made


def test_checkpoint_and_proofs_over_http(log_api: Api) -> None:
    some_cases(log_api, 2)
    note = signed_up_to_head(log_api)
    r = log_api.get("/log/checkpoint")
    assert r.headers["content-type"].startswith("text/plain")
    vkey = LOG_KEY.verifier()
    from casestore.ledger.verify_proof import Checkpoint, root_from_inclusion, signed_by, split_note

    assert signed_by(note, vkey)
    cp = Checkpoint.parse(split_note(note)[0])
    events = list(log_api.state.service.app.log.iter_log())
    leaf = __import__("hashlib").sha256(b"\x00" + events[0].event_hash).digest()
    r = log_api.get(f"/log/inclusion?position=1&size={cp.size}")
    assert r.status_code == 200, r.text
    path = [base64.b64decode(p) for p in r.json()["proof"]]
    assert root_from_inclusion(0, cp.size, leaf, path) == cp.root
    r = log_api.get(f"/log/consistency?from=1&to={cp.size}")
    assert r.status_code == 200 and len(r.json()["proof"]) >= 1
    log_api.sync()
    signed_up_to_head(log_api)
    # each projection recorded the tree it was built to: the signed root of the same size
    # (a projection ahead of the tree records it once the tree is there: wait for that)
    deadline = time.monotonic() + 30
    while True:
        health = log_api.get("/health").json()["projections"]
        if all(v["tree_root"] for v in health.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert {v["tree_size"] for v in health.values()} == {log_api.head()}
    assert {v["tree_root"] for v in health.values()} == {base64.b64encode(cp.root).decode()}
    listed = log_api.get("/log/checkpoints?after=0").json()["checkpoints"]
    assert listed[-1]["tree_size"] == cp.size
    assert [c["tree_size"] for c in listed] == sorted({c["tree_size"] for c in listed})
    assert log_api.get("/log/checkpoints?after=" + str(cp.size)).json() == {"checkpoints": []}


@pytest.mark.parametrize(
    "url",
    [
        "/log/inclusion?position=0&size=3",
        "/log/inclusion?position=5&size=3",
        "/log/inclusion?position=x&size=3",
        "/log/consistency?from=4&to=3",
        "/log/consistency?from=-1&to=3",
        "/log/checkpoints?after=-1",
        "/log/checkpoints?limit=5000",
    ],
)
def test_bad_proof_requests_are_4xx(log_api: Api, url: str) -> None:
    some_cases(log_api, 1)
    signed_up_to_head(log_api)
    assert log_api.get(url).status_code in (400, 422)


def test_proof_beyond_the_tree_is_404(log_api: Api) -> None:
    some_cases(log_api, 1)
    signed_up_to_head(log_api)
    assert log_api.get("/log/inclusion?position=1&size=100000").status_code == 404


def test_case_proofs_for_staff_and_applicant_verify_offline(log_api: Api, tmp_path: Path) -> None:
    case = some_cases(log_api, 2)[1]
    signed_up_to_head(log_api)
    assert log_api.get(f"/cases/{case['case_id']}/proof").status_code == 401
    staff = log_api.get(f"/cases/{case['case_id']}/proof", "auditor")
    assert staff.status_code == 200, staff.text
    doc = staff.json()
    assert doc["format"] == "casestore-proof/v1" and doc["case_no"] == case["case_no"]
    assert [e["version"] for e in doc["events"]] == [1, 2]
    assert verify_proof(doc, LOG_KEY.verifier(), []) == []
    public = log_api.get(f"/public/cases/{case['case_no']}/proof?code={case['query_code']}")
    assert public.status_code == 200 and public.json()["events"] == doc["events"]
    wrong = "000000" if case["query_code"] != "000000" else "111111"
    assert log_api.get(f"/public/cases/{case['case_no']}/proof?code={wrong}").status_code == 404

    # the CLI verifies the same file offline; a flipped byte of the stored event fails it
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(doc))
    runner = CliRunner()
    ok = runner.invoke(cli, ["proof", "verify", str(path), "--key", LOG_KEY.verifier_text()])
    assert ok.exit_code == 0, ok.output
    assert "VALID: 2 event(s)" in ok.output
    raw = bytearray(base64.b64decode(doc["events"][0]["stored_b64"]))
    raw[3] ^= 1
    doc["events"][0]["stored_b64"] = base64.b64encode(bytes(raw)).decode()
    path.write_text(json.dumps(doc))
    bad = runner.invoke(cli, ["proof", "verify", str(path), "--key", LOG_KEY.verifier_text()])
    assert bad.exit_code == 1 and "events[0].stored_b64" in bad.output


def witness_http(api: Api):  # type: ignore[no-untyped-def]
    def http(method: str, url: str, body: bytes | None) -> bytes:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        r = api.request(method, target, content=body)
        assert r.status_code < 300, r.text
        return r.content

    return http


def test_witness_cosigns_over_http_and_proofs_can_require_it(log_api: Api, tmp_path: Path) -> None:
    case = some_cases(log_api, 1)[0]
    signed_up_to_head(log_api)
    state = tmp_path / "witness"
    http = witness_http(log_api)
    out = witness_once("http://casestore.test", LOG_KEY.verifier(), WITNESS, state, http=http)
    assert out.status == "cosigned"
    some_cases(log_api, 1)
    signed_up_to_head(log_api)
    out = witness_once("http://casestore.test", LOG_KEY.verifier(), WITNESS, state, http=http)
    assert out.status == "cosigned"
    note = log_api.get("/log/checkpoint").text
    assert note.count("\n\u2014 ") == 2 and f"\u2014 {WITNESS.name} " in note
    doc = log_api.get(f"/cases/{case['case_id']}/proof", "auditor").json()
    wkey = VerifierKey.parse(WITNESS.verifier_text())
    assert verify_proof(doc, LOG_KEY.verifier(), [wkey]) == []
    stranger = SignerKey.generate("stranger.example/w")
    from casestore.ledger.notes import add_signature

    log_only = LOG_KEY.sign(note[: note.index("\n\n") + 1])
    forged = log_api.post("/log/cosignatures", content=add_signature(log_only, stranger))
    assert forged.status_code == 422  # a witness this log does not list
    unknown = log_api.post("/log/cosignatures", content=WITNESS.sign("x\n1\n" + "A" * 43 + "=\n"))
    assert unknown.status_code == 409  # not a checkpoint this log signed
    assert log_api.post("/log/cosignatures", content=b"\xff\xfe").status_code == 422
    assert log_api.post("/log/cosignatures", content=b"x" * 20_000).status_code == 422


def test_witnesses_cosign_in_c2sp_cosignature_v1_and_proof_verify_checks_the_time(
    log_api: Api, tmp_path: Path
) -> None:
    """The witness posts a timestamped ``cosignature/v1`` line; the log serves it; the CLI
    verifies it with the witness's key in either form and names its time; a tampered
    time fails; a future-dated one is refused at the door; an old plain one is kept."""
    from casestore.ledger.notes import add_cosignature, add_signature
    from casestore.ledger.verify_proof import cosigned_by

    case = some_cases(log_api, 1)[0]
    signed_up_to_head(log_api)
    when = int(time.time()) - 5
    out = witness_once(
        "http://casestore.test", LOG_KEY.verifier(), WITNESS, tmp_path / "witness",
        http=witness_http(log_api), clock=lambda: when,
    )  # fmt: skip
    assert out.status == "cosigned"
    note = log_api.get("/log/checkpoint").text
    found = cosigned_by(note, WITNESS.cosigner())
    assert found is not None and found.timestamp == when
    assert base64.b64decode(found.line().split(" ")[2])[4:12] == when.to_bytes(8, "big")
    proof = tmp_path / "case.json"
    doc = log_api.get(f"/cases/{case['case_id']}/proof", "auditor").json()
    proof.write_text(json.dumps(doc))
    runner = CliRunner()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    for wkey in (WITNESS.cosigner_text(), WITNESS.verifier_text()):
        argv = ["proof", "verify", str(proof), "--key", LOG_KEY.verifier_text(), "--witness", wkey]
        ok = runner.invoke(cli, argv)
        assert ok.exit_code == 0, ok.output
        assert f"cosigned by {WITNESS.name} at {stamp} (cosignature/v1)" in ok.output
    line = found.line()
    raw = base64.b64decode(line.split(" ")[2])
    later = raw[:4] + (when + 1).to_bytes(8, "big") + raw[12:]
    forged = line.replace(line.split(" ")[2], base64.b64encode(later).decode() + "\n")
    proof.write_text(json.dumps({**doc, "checkpoint": doc["checkpoint"].replace(line, forged)}))
    argv = ["proof", "verify", str(proof), "--key", LOG_KEY.verifier_text(),
            "--witness", WITNESS.cosigner_text()]  # fmt: skip
    bad = runner.invoke(cli, argv)
    assert bad.exit_code == 1 and "checkpoint.cosignature" in bad.output, bad.output

    log_only = LOG_KEY.sign(note[: note.index("\n\n") + 1])
    future = add_cosignature(log_only, WITNESS, int(time.time()) + 3600)
    refused = log_api.post("/log/cosignatures", content=future)
    assert refused.status_code == 409 and "ahead of this log's clock" in refused.text
    assert log_api.get("/log/checkpoint").text == note  # nothing kept
    plain = log_api.post("/log/cosignatures", content=add_signature(log_only, WITNESS))
    assert plain.status_code == 201, plain.text  # an older witness program's plain line
    assert log_api.get("/log/checkpoint").text.count(f"\u2014 {WITNESS.name} ") == 2


def test_cli_keygen_checkpoint_proof_and_verify_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    made = runner.invoke(cli, ["keygen", "--signing", ORIGIN])
    assert made.exit_code == 0, made.output
    private, verifier = made.output.split()
    assert private.startswith(f"PRIVATE+KEY+{ORIGIN}+") and verifier.startswith(f"{ORIGIN}+")
    assert SignerKey.parse(private).verifier_text() == verifier
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    api = make_api(tmp_path / "cli.db")
    try:
        case = some_cases(api, 1)[0]
    finally:
        api.close()
    monkeypatch.setenv("CASESTORE_SIGNING_KEY", private)
    signed = runner.invoke(cli, ["checkpoint", "--db", db])
    assert signed.exit_code == 0, signed.output
    note = tmp_path / "checkpoint.txt"
    note.write_text(signed.output)
    proof = tmp_path / "case.json"
    wrote = runner.invoke(cli, ["proof", case["case_no"], "-o", str(proof), "--db", db])
    assert wrote.exit_code == 0, wrote.output
    ok = runner.invoke(cli, ["proof", "verify", str(proof), "--key", verifier])
    assert ok.exit_code == 0, ok.output
    audit = runner.invoke(cli, ["verify", "--db", db, "--checkpoint", str(note), "--key", verifier])
    assert audit.exit_code == 0 and "CHECKPOINT OK" in audit.output, audit.output
    other = SignerKey.generate(ORIGIN).verifier_text()
    refused = runner.invoke(cli, ["verify", "--db", db, "--checkpoint", str(note), "--key", other])
    assert refused.exit_code == 1 and "CHECKPOINT MISMATCH" in refused.output
    assert runner.invoke(cli, ["proof", "verify", str(proof)]).exit_code == 2
