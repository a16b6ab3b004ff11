"""The verifiable log's configuration: origin, signing key and checkpoint cadence (SPEC §9).

``CASESTORE_LOG_ORIGIN`` (default ``casestore.local/log``), ``CASESTORE_SIGNING_KEY`` or
``CASESTORE_SIGNING_KEY_FILE`` (a ``PRIVATE+KEY+...`` line from ``casestore keygen
--signing NAME``), ``CASESTORE_CHECKPOINT_SECONDS`` (default 10) and
``CASESTORE_CHECKPOINT_EVENTS`` (unset: time only), and ``CASESTORE_WITNESS_KEYS``: the
verifier keys of the witnesses whose cosignatures ``POST /log/cosignatures`` accepts
(separated by spaces or commas). Without a signing key the tree still grows but no
checkpoint is signed. The values come from :class:`casestore.settings.Settings` (which
bounds the cadence: seconds in (0, 86400], events 1..10,000,000); this module reads no
environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from casestore.domain.errors import InvalidCommand
from casestore.ledger.notes import SignerKey, VerifierKey
from casestore.ledger.workers import Cadence

if TYPE_CHECKING:
    from casestore.settings import Settings

DEFAULT_ORIGIN = "casestore.local/log"


@dataclass(frozen=True)
class LedgerConfig:
    origin: str = DEFAULT_ORIGIN
    key: SignerKey | None = None
    cadence: Cadence = field(default_factory=Cadence)
    witnesses: tuple[VerifierKey, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> LedgerConfig:
        """The verifiable log's part of the process's settings; a bad value is an
        :class:`InvalidCommand` (the CLI exits 2)."""
        text = settings.signing_key.get_secret_value().strip() if settings.signing_key else ""
        try:
            key = SignerKey.parse(text) if text else None
        except ValueError as e:
            raise InvalidCommand(f"CASESTORE_SIGNING_KEY: {e}") from None
        origin = settings.log_origin.strip() or DEFAULT_ORIGIN
        if key is not None and key.name != origin:
            raise InvalidCommand(
                f"the signing key is named {key.name!r} but the log origin is {origin!r}: "
                "name the key after the origin (casestore keygen --signing ORIGIN)"
            )
        cadence = Cadence(settings.checkpoint_seconds or 10, settings.checkpoint_events)
        return cls(origin, key, cadence, _witnesses(settings.witness_keys or ""))


def _witnesses(raw: str) -> tuple[VerifierKey, ...]:
    try:
        return tuple(VerifierKey.parse(k) for k in raw.replace(",", " ").split())
    except ValueError as e:
        raise InvalidCommand(f"CASESTORE_WITNESS_KEYS: {e}") from None
