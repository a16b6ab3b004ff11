"""What an ``Idempotency-Key`` is bound to: who asks, which command, on what, with what body.

A retry carries the same key and the same request, and gets the first outcome back. The
same key on anything else — another staff member, another command (another HTTP
route), another case or bundle, another body — is refused (``idempotency-key-reused``),
never answered with the first outcome: that once returned the case-number index as if
it were a case. The fingerprint is SHA-256 over a canonical JSON rendering of
``(command class, staff id, every field but the actor and the key)``; the staff
member's name, role or window as the token carries them are not part of it, so a
retry with a refreshed token still matches.
"""

from __future__ import annotations

import dataclasses
import hashlib

import orjson

from casestore.plain import to_plain
from casestore.service.commands import Command


def command_fingerprint(command: Command) -> str:
    """``sha256:<hex>`` of the request ``command`` stands for (see the module docstring)."""
    fields = {
        f.name: to_plain(getattr(command, f.name))
        for f in dataclasses.fields(command)
        if f.name not in ("actor", "idempotency_key")
    }
    document = {
        "command": type(command).__name__,
        "staff": command.actor.staff_id,
        "fields": fields,
    }
    digest = hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS))
    return "sha256:" + digest.hexdigest()
