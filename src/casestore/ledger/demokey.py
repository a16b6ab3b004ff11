"""The demo's signing key for the verifiable log (``casestore demo``, README "The demo signs too").

Made once, named after ``CASESTORE_LOG_ORIGIN`` (as the signer requires), kept beside the
SQLite file (``<db file>.signing-key``; ``./casestore-demo.signing-key`` for PostgreSQL)
readable by its owner only, and reused by the next demo on that database so that every
checkpoint it signed verifies with one verifier key.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pydantic import SecretStr

from casestore.ledger.notes import SignerKey
from casestore.settings import Settings
from casestore.store.config import backend_of, sqlite_name


def demo_key_path(settings: Settings) -> Path:
    """Where the demo keeps the log's signing key: beside the SQLite file, else here."""
    if backend_of(settings.db) == "sqlite":
        name = sqlite_name(settings.db)
        if "memory" not in name and not name.startswith("file:"):
            return Path(name + ".signing-key")
    return Path("casestore-demo.signing-key")


def demo_signing_key(settings: Settings) -> Settings:
    """Settings with a signing key for the demo's log, so its checkpoints are signed.

    The key is made once (named after ``CASESTORE_LOG_ORIGIN``, as the signer requires)
    and kept in a file readable by its owner only, so the checkpoints of every demo run
    on the same database verify with the same verifier key.
    """
    path = demo_key_path(settings)
    if path.exists():
        key = SignerKey.parse(path.read_text(encoding="ascii"))
        made = False
    else:
        key = SignerKey.generate(settings.log_origin.strip())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key.private_text() + "\n")
        made = True
    print(
        f"casestore demo: {'generated' if made else 'using'} the log's signing key in {path}; "
        f"checkpoints are signed every {settings.checkpoint_seconds or 10:g} s. Verifier key:\n"
        f"  {key.verifier_text()}\n"
        f"  casestore proof CASE_NO -o case.json && "
        f"casestore proof verify case.json --key '{key.verifier_text()}'",
        file=sys.stderr,
    )
    return settings.model_copy(update={"signing_key": SecretStr(key.private_text())})
