"""The verifiable log's configuration: origin, signing key and checkpoint cadence (SPEC §9).

``CASESTORE_LOG_ORIGIN`` (default ``casestore.local/log``), ``CASESTORE_SIGNING_KEY`` or
``CASESTORE_SIGNING_KEY_FILE`` (a ``PRIVATE+KEY+...`` line from ``casestore keygen
--signing NAME``), ``CASESTORE_CHECKPOINT_SECONDS`` (default 10) and
``CASESTORE_CHECKPOINT_EVENTS`` (unset: time only), and ``CASESTORE_WITNESS_KEYS``: the
verifier keys of the witnesses whose cosignatures ``POST /log/cosignatures`` accepts
(separated by spaces or commas). Without a signing key the tree still grows but no
checkpoint is signed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from casestore.domain.errors import InvalidCommand
from casestore.ledger.notes import SignerKey, VerifierKey
from casestore.ledger.workers import Cadence

DEFAULT_ORIGIN = "casestore.local/log"


@dataclass(frozen=True)
class LedgerConfig:
    origin: str = DEFAULT_ORIGIN
    key: SignerKey | None = None
    cadence: Cadence = field(default_factory=Cadence)
    witnesses: tuple[VerifierKey, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LedgerConfig:
        """Read and check the variables; a bad one is an :class:`InvalidCommand`."""
        env = os.environ if env is None else env
        text = env.get("CASESTORE_SIGNING_KEY", "").strip()
        path = env.get("CASESTORE_SIGNING_KEY_FILE", "").strip()
        if text and path:
            raise InvalidCommand(
                "set CASESTORE_SIGNING_KEY or CASESTORE_SIGNING_KEY_FILE, not both"
            )
        if path:
            try:
                text = Path(path).read_text(encoding="utf-8").strip()
            except OSError as e:
                raise InvalidCommand(f"CASESTORE_SIGNING_KEY_FILE: cannot read {path}: {e}") from e
        try:
            key = SignerKey.parse(text) if text else None
        except ValueError as e:
            raise InvalidCommand(f"CASESTORE_SIGNING_KEY: {e}") from None
        origin = env.get("CASESTORE_LOG_ORIGIN", "").strip() or DEFAULT_ORIGIN
        if key is not None and key.name != origin:
            raise InvalidCommand(
                f"the signing key is named {key.name!r} but the log origin is {origin!r}: "
                "name the key after the origin (casestore keygen --signing ORIGIN)"
            )
        cadence = Cadence(_number(env, "SECONDS", 10), _events(env))
        return cls(origin, key, cadence, _witnesses(env.get("CASESTORE_WITNESS_KEYS", "")))


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(f"CASESTORE_CHECKPOINT_{name}", "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise InvalidCommand(f"CASESTORE_CHECKPOINT_{name} is not a number: {raw!r}") from None
    if not 0 < value <= 86_400:
        raise InvalidCommand(f"CASESTORE_CHECKPOINT_{name} must be in (0, 86400]")
    return value


def _events(env: Mapping[str, str]) -> int | None:
    raw = env.get("CASESTORE_CHECKPOINT_EVENTS", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000_000:
        raise InvalidCommand("CASESTORE_CHECKPOINT_EVENTS must be a whole number 1..10000000")
    return int(raw)


def _witnesses(raw: str) -> tuple[VerifierKey, ...]:
    try:
        return tuple(VerifierKey.parse(k) for k in raw.replace(",", " ").split())
    except ValueError as e:
        raise InvalidCommand(f"CASESTORE_WITNESS_KEYS: {e}") from None
