"""The read side's port onto the event log: what projections need from the write side.

The read side tails the log with its own SQL (``logsource``) and never imports the write
side's application, store or recorders. What it needs from them — where the log is, which
table, how to undo encryption at rest, and a hook to be woken by this process's commits —
is this protocol. The store (``casestore.store.application.CasestoreApp``) satisfies it;
the composition root (``casestore.bootstrap``, the CLI's verbs) opens the store and hands
it to the runtime, so every process reads the log with the settings it was started with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

CommitListener = Callable[[int], None]
"""Called with the last position of each commit made by this process."""


class EventLog(Protocol):
    """The event log as the read side sees it (see the module docstring)."""

    @property
    def db_url(self) -> str: ...

    @property
    def backend(self) -> str:
        """``"postgres"`` or ``"sqlite"``."""
        ...

    @property
    def events_table(self) -> str:
        """The table holding the log (SQL identifier)."""
        ...

    def unwrapper(
        self, *, personal: bool | frozenset[str] = True
    ) -> Callable[[list[bytes]], Callable[[bytes], bytes] | None]:
        """A factory, called once per batch with the batch's stored states, of how to turn
        stored bytes back into the encoded event (legacy decryption, decompression,
        personal-field tokens opened with the keys the batch names, or left sealed when
        not ``personal``, or opened only in the fields named by a set of field names);
        the factory answers ``None`` when the states are stored as encoded."""
        ...

    def add_commit_listener(self, listener: CommitListener) -> None: ...

    def remove_commit_listener(self, listener: CommitListener) -> None:
        """Forget ``listener`` (no error if it was not added)."""
        ...

    def close(self) -> None: ...
