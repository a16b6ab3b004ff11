"""The errors of per-subject data keys (``subjectkeys``, ``keyguard``, ``fieldcrypt``).

KeyUnavailable      a data key destroyed (forgotten) or not in this key table
 └── KeysStale      found by the group commit: nothing of the request was written;
      │             its append is sealed again from the key table
      ├── KeysGone  sealed under keys destroyed since they were remembered
      └── KeysTaken a new key made for a subject that has a live key by then
"""

from __future__ import annotations

__all__ = ["KeyUnavailable", "KeysGone", "KeysStale", "KeysTaken"]


class KeyUnavailable(Exception):
    """A data key that is destroyed (forgotten) or not in this key table."""

    def __init__(self, message: str, *, destroyed: bool = False) -> None:
        super().__init__(message)
        self.destroyed = destroyed


class KeysStale(KeyUnavailable):
    """Found by the group commit: what a request was sealed under is no longer right.
    Nothing of the request was written; the rest of its batch is committed anew."""


class KeysGone(KeysStale):
    """Found by the group commit: events were sealed under keys destroyed (or never
    written) by the time of their commit. Nothing of the request was written."""

    def __init__(self, key_ids: set[str]) -> None:
        super().__init__(
            f"sealed under data keys destroyed before the commit: {', '.join(sorted(key_ids))}",
            destroyed=True,
        )
        self.key_ids = frozenset(key_ids)


class KeysTaken(KeysStale):
    """Found by the group commit: a request brought a new data key for subjects (by
    ref) that have a live key by then — made by another process, or by an earlier
    process this one has not read. Nothing of the request was written; its append is
    sealed again under the live key, read from the table."""

    def __init__(self, refs: set[str]) -> None:
        super().__init__(f"a new data key for subjects with a live key: {', '.join(sorted(refs))}")
        self.refs = frozenset(refs)
