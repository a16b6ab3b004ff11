"""The deployment files in ``deploy/`` (issue 16 item 4): units that systemd accepts, with
credentials as files, restart policies and a sandbox; no secret written in any of them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
CASESTORE = Path(sys.executable).parent / "casestore"
SANDBOX = ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
           "CapabilityBoundingSet=", "SystemCallFilter=@system-service")  # fmt: skip


def test_every_service_is_sandboxed_and_takes_secrets_as_credentials() -> None:
    assert {u.name for u in UNITS} >= {
        "casestore-api@.service", "casestore-projector@.service", "casestore-signer.service",
        "casestore-witness.service", "casestore-migrate.service",
    }  # fmt: skip
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8")
        lines = set(text.splitlines())
        assert [s for s in SANDBOX if s not in lines] == [], unit.name
        assert "User=root" not in text
        # Secrets only as credentials handed over as files, never inline.
        assert not re.search(r"CASESTORE_(SECRET|SIGNING_KEY|CIPHER_KEY|QUERY_PEPPER)=", text)
        assert not re.search(r"postgresql://[^@\s]*:[^@\s]*@", text)  # no password in a URL
        for name in re.findall(r"Environment=\w+_FILE=%d/(\w+)", text):
            assert f"LoadCredential={name}:" in text, (unit.name, name)
    for name in ("casestore-api@.service", "casestore-projector@.service"):
        text = (DEPLOY / "systemd" / name).read_text(encoding="utf-8")
        assert "Restart=on-failure" in text and "RestartPreventExitStatus=2" in text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    for source in (DEPLOY / "systemd").iterdir():
        if source.suffix not in (".service", ".timer", ".target"):
            continue
        # Templates are verified as an instance; ExecStart must name an existing binary.
        name = source.name.replace("@.", "@8001.")
        text = source.read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace("/opt/casestore/bin/casestore", str(CASESTORE)))
    files = sorted(str(p) for p in tmp_path.iterdir())
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *files],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    findings = [line for line in (done.stdout + done.stderr).splitlines() if str(tmp_path) in line]
    assert done.returncode == 0 and findings == [], done.stdout + done.stderr
