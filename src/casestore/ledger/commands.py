"""The verifiable log's CLI verbs: ``checkpoint``, ``proof``, ``witness`` (SPEC §9).

``keygen --signing`` and ``verify --checkpoint`` extend verbs of :mod:`casestore.cli`
and call :func:`keygen_signing` and :func:`verify_checkpoint_file` from here.
Exit codes as everywhere (SPEC §12): 0 valid, 1 invalid, 2 usage, 3 cannot read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer

from casestore.domain.errors import CasestoreError

if TYPE_CHECKING:
    from casestore.settings import Settings

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $CASESTORE_DB or sqlite:///./casestore.db)"),
]


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _settings(db: str | None) -> Settings:
    """The validated settings (``--db`` wins), or exit 2 naming every bad variable."""
    from casestore.settings import SettingsError, load_settings

    try:
        return load_settings(db=db)
    except SettingsError as e:
        raise _fail(f"casestore: {e}", 2) from None


def keygen_signing(name: str, *, witness: bool = False) -> None:
    """Print a new Ed25519 signing key and its verifier key in signed-note format (for a
    witness: its C2SP ``cosignature/v1`` cosigner key, type 0x04)."""
    from casestore.ledger.notes import SignerKey

    try:
        key = SignerKey.generate(name)
    except ValueError as e:
        raise _fail(str(e), 2) from None
    typer.echo(key.private_text())
    typer.echo(key.cosigner_text() if witness else key.verifier_text())


def checkpoint(db: DbOpt = None) -> None:
    """Grow the tree to the end of the log, sign a checkpoint now and print it."""
    from casestore.ledger.config import LedgerConfig
    from casestore.ledger.proofs import latest_note
    from casestore.ledger.store import LedgerStore
    from casestore.ledger.workers import Signer, TreeWorker

    settings = _settings(db)
    config = LedgerConfig.from_settings(settings)
    if config.key is None:
        raise _fail("set CASESTORE_SIGNING_KEY (or _FILE) to sign checkpoints", 2)
    store = LedgerStore(settings.db)
    try:
        TreeWorker(store).catch_up()
        Signer(store, config.key, config.origin, config.cadence).sign_now()
        typer.echo(latest_note(store), nl=False)
    finally:
        store.close()


def proof(
    args: Annotated[list[str], typer.Argument(help="CASE (id or number), or: verify FILE")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write here")] = None,
    key: Annotated[str | None, typer.Option("--key", help="the log's verifier key")] = None,
    witness: Annotated[
        list[str] | None, typer.Option("--witness", help="a witness's verifier key (repeatable)")
    ] = None,
    db: DbOpt = None,
) -> None:
    """``proof CASE -o FILE`` writes a case proof; ``proof verify FILE --key VKEY`` checks one.

    Verification needs no database: it recomputes each event hash from the stored bytes,
    each leaf, the root from each inclusion path, and checks the signatures.
    """
    if args[0] == "verify":
        if len(args) != 2 or key is None:
            raise _fail("usage: casestore proof verify FILE --key VKEY [--witness VKEY]...", 2)
        from casestore.ledger.verify_proof import main as verify_main

        argv = [args[1], "--key", key, *(a for w in witness or [] for a in ("--witness", w))]
        raise typer.Exit(verify_main(argv))
    if len(args) != 1:
        raise _fail("usage: casestore proof CASE -o FILE", 2)
    document = _case_proof(_settings(db).db, args[0])
    text = json.dumps(document, ensure_ascii=False, indent=1) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}: {len(document['events'])} event(s) of {document['case_no']}")


def _case_proof(url: str, case: str) -> dict[str, Any]:
    from casestore.domain import Case
    from casestore.ledger.proofs import case_proof
    from casestore.ledger.store import LedgerStore
    from casestore.service import CaseService
    from casestore.store.application import CasestoreApp

    app = CasestoreApp(url)
    store = LedgerStore(url)
    try:
        try:
            case_id = UUID(case)
        except ValueError:
            case_id = CaseService(app).find_case_no(case)
        found = app.get(Case, case_id)
        return case_proof(store, case_id, found.case_no)
    except CasestoreError as e:
        raise _fail(e.message, 1) from None
    finally:
        store.close()
        app.close()


def witness(
    url: Annotated[str, typer.Option("--url", help="the log's base URL")],
    log_key: Annotated[str, typer.Option("--log-key", help="the log's verifier key")],
    state: Annotated[Path, typer.Option("--state", help="where this witness keeps its state")],
    key: Annotated[str | None, typer.Option("--key", help="this witness's private key")] = None,
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help="a file holding it (a systemd credential): not in argv"),
    ] = None,
) -> None:
    """Cosign the log's latest checkpoint if it extends the last one cosigned; exit 1 if not."""
    from casestore.ledger.notes import SignerKey
    from casestore.ledger.verify_proof import VerifierKey
    from casestore.ledger.witness import WitnessError, witness_once

    if (key is None) == (key_file is None):
        raise _fail("give one of --key and --key-file", 2)
    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise _fail(f"--key-file: {e}", 2) from None
    assert key is not None
    try:
        vkey, skey = VerifierKey.parse(log_key), SignerKey.parse(key)
    except ValueError as e:
        raise _fail(f"bad key: {e}", 2) from None
    try:
        outcome = witness_once(url, vkey, skey, state)
    except WitnessError as e:
        raise _fail(str(e), 3) from None
    if outcome.status == "inconsistent":
        typer.echo(f"INCONSISTENT: {outcome.message}; evidence kept in {outcome.evidence}")
        raise typer.Exit(1)
    typer.echo(f"{outcome.status.upper()}: {outcome.message}")


def verify_checkpoint_file(url: str, file: Path, key: str) -> bool:
    """``verify --checkpoint FILE --key VKEY``: print the outcome; whether it holds."""
    from casestore.ledger.audit import verify_checkpoint
    from casestore.ledger.store import LedgerStore
    from casestore.ledger.verify_proof import VerifierKey

    try:
        vkey = VerifierKey.parse(key)
    except ValueError as e:
        raise _fail(f"bad key: {e}", 2) from None
    try:
        note = file.read_text(encoding="utf-8")
    except OSError as e:
        raise _fail(f"cannot read {file}: {e}", 3) from None
    store = LedgerStore(url)
    try:
        check = verify_checkpoint(store, note, vkey)
    finally:
        store.close()
    typer.echo(("CHECKPOINT OK: " if check.ok else "CHECKPOINT MISMATCH: ") + check.message)
    return check.ok


def register(app: typer.Typer) -> None:
    app.command()(checkpoint)
    app.command()(proof)
    app.command()(witness)
