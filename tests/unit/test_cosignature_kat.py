"""Known answers for C2SP ``tlog-cosignature`` (``cosignature/v1``) witness cosignatures.

The expected key, key ID and signature line are built here from the specification's text
(c2sp.org/tlog-cosignature, "Format" and "Ed25519 signed message"), with ``hashlib`` and
``cryptography`` only, never with the code under test:

- key ID = SHA-256(name ‖ "\\n" ‖ 0x04 ‖ 32-byte Ed25519 public key)[:4];
- verifier key = name + "+" + hex(key ID) + "+" + base64(0x04 ‖ public key);
- signed message = "cosignature/v1\\n" + "time " + decimal T + "\\n" + checkpoint body;
- signature line = "— " + name + " " + base64(key ID ‖ u64 big-endian T ‖ Ed25519 signature).

Ed25519 signatures are deterministic (RFC 8032), so the whole line is a known answer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from casestore.ledger import notes, verify_proof

DATA = Path(__file__).resolve().parents[1] / "data"
NOTE = json.loads((DATA / "signed-note-vector.json").read_text())
WITNESS = "witness.example/w1"
SEED = hashlib.sha256(b"casestore cosignature test key").digest()
T = 1679315147  # the time of the specification's own example


def expected() -> dict[str, str]:
    """The cosigner key and signature line, built from the specification's text."""
    private = Ed25519PrivateKey.from_private_bytes(SEED)
    public = private.public_key().public_bytes_raw()
    key_id = hashlib.sha256(WITNESS.encode() + b"\n" + b"\x04" + public).digest()[:4]
    body = NOTE["checkpoint_body"]
    message = b"cosignature/v1\n" + b"time " + str(T).encode() + b"\n" + body.encode()
    signature = private.sign(message)
    raw = key_id + T.to_bytes(8, "big") + signature
    material = base64.b64encode(bytes([0x04]) + public).decode()
    return {
        "vkey": f"{WITNESS}+{key_id.hex()}+{material}",
        "line": f"\u2014 {WITNESS} {base64.b64encode(raw).decode()}\n",
        "plain_vkey": notes.SignerKey.from_seed(WITNESS, SEED).verifier_text(),
    }


def test_the_cosigner_key_and_line_are_the_specification_s() -> None:
    want = expected()
    key = notes.SignerKey.from_seed(WITNESS, SEED)
    assert key.cosigner_text() == want["vkey"]
    cosigned = notes.add_cosignature(NOTE["signed_note"], key, T)
    assert cosigned == NOTE["signed_note"] + want["line"]
    # the log's own (Go-checked) signature is untouched and still verifies
    assert verify_proof.signed_by(cosigned, verify_proof.VerifierKey.parse(NOTE["verifier_key"]))


def test_a_cosignature_verifies_with_its_key_in_either_form_and_reports_its_time() -> None:
    want = expected()
    cosigned = NOTE["signed_note"] + want["line"]
    for text in (want["vkey"], want["plain_vkey"]):
        found = verify_proof.cosigned_by(cosigned, verify_proof.VerifierKey.parse(text))
        assert found is not None and found.timestamp == T
        assert found.line() == want["line"]
    # it is no plain signed-note signature: a plain verifier of the witness sees none
    plain = verify_proof.VerifierKey.parse(want["plain_vkey"])
    assert not verify_proof.signed_by(cosigned, plain)


def tampered_time(line: str, timestamp: int) -> str:
    prefix, encoded = line.rstrip("\n").rsplit(" ", 1)
    raw = base64.b64decode(encoded)
    raw = raw[:4] + timestamp.to_bytes(8, "big") + raw[12:]
    return f"{prefix} {base64.b64encode(raw).decode()}\n"


def test_a_tampered_timestamp_fails() -> None:
    want = expected()
    for timestamp in (T + 1, T - 1, 0, 2**63 - 1, 2**64 - 1):
        note = NOTE["signed_note"] + tampered_time(want["line"], timestamp)
        for text in (want["vkey"], want["plain_vkey"]):
            assert verify_proof.cosigned_by(note, verify_proof.VerifierKey.parse(text)) is None


def test_a_tampered_checkpoint_fails_the_cosignature() -> None:
    want = expected()
    note = (NOTE["signed_note"] + want["line"]).replace("\n70\n", "\n71\n", 1)
    assert verify_proof.cosigned_by(note, verify_proof.VerifierKey.parse(want["vkey"])) is None


def test_the_specification_example_line_carries_its_time_after_the_key_id() -> None:
    """The layout (key ID, then the u64 time, then 64 signature bytes) read off the
    specification's example, whose signed message shows ``time 1679315147``."""
    example = (
        "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
        "qhf5nNo0xUe+mbIUBkBIfZ+qnA=="
    )
    raw = base64.b64decode(example)
    assert len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[4:12], "big") == T


def test_old_plain_cosignatures_stay_valid_for_a_type_1_witness_key_only() -> None:
    """Cosignatures stored before ``cosignature/v1`` are plain signed-note lines: kept
    forever in checkpoints and proof files, so a witness key in its plain (0x01) form
    still accepts them; its cosigner (0x04) form accepts ``cosignature/v1`` only."""
    want = expected()
    key = notes.SignerKey.from_seed(WITNESS, SEED)
    old = notes.add_signature(NOTE["signed_note"], key)
    found = verify_proof.cosigned_by(old, verify_proof.VerifierKey.parse(want["plain_vkey"]))
    assert found is not None and found.timestamp is None
    assert verify_proof.cosigned_by(old, verify_proof.VerifierKey.parse(want["vkey"])) is None


def test_the_stand_alone_verifier_checks_cosignatures(tmp_path: Path) -> None:
    """``verify_proof.py`` run as a script on a proof file whose checkpoint carries the
    known cosignature line: the right time is reported; a tampered time fails."""
    want = expected()
    script = Path(verify_proof.__file__)
    doc = {"format": "casestore-proof/v1", "checkpoint": NOTE["signed_note"] + want["line"]}

    def run(document: dict[str, object], *witness: str) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "proof.json"
        path.write_text(json.dumps(document))
        argv = [sys.executable, str(script), str(path), "--key", NOTE["verifier_key"]]
        for w in witness:
            argv += ["--witness", w]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)

    # no case: the proof is invalid for that, but the checkpoint's cosignature holds
    done = run(doc, want["vkey"])
    assert done.returncode == 1 and "checkpoint.cosignature" not in done.stdout, done.stdout
    assert done.stdout.splitlines()[0] == "case_id: missing"
    bad = {**doc, "checkpoint": NOTE["signed_note"] + tampered_time(want["line"], T + 60)}
    done = run(bad, want["vkey"])
    assert done.returncode == 1
    assert f"checkpoint.cosignature: no valid cosignature by witness {WITNESS}" in done.stdout
    done = run(doc, want["vkey"].replace(WITNESS, "witness.example/w2", 1))
    assert done.returncode == 2  # the key ID no longer matches the name


def test_keygen_witness_prints_a_private_key_and_its_cosigner_key() -> None:
    from typer.testing import CliRunner

    from casestore.cli import app as cli

    made = CliRunner().invoke(cli, ["keygen", "--witness", WITNESS])
    assert made.exit_code == 0, made.output
    private, cosigner = made.output.split()
    key = notes.SignerKey.parse(private)
    name, key_id, material = cosigner.split("+", 2)  # base64 may hold "+"
    raw = base64.b64decode(material)
    assert name == WITNESS and raw[0] == 0x04 and raw[1:] == key.public_bytes
    assert key_id == hashlib.sha256(WITNESS.encode() + b"\n" + raw).digest()[:4].hex()
    both = CliRunner().invoke(cli, ["keygen", "--witness", WITNESS, "--signing", "x"])
    assert both.exit_code == 2
