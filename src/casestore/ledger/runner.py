"""Starting and stopping the ledger's worker thread beside the projection workers."""

from __future__ import annotations

import logging
import threading

from casestore.ledger.config import LedgerConfig
from casestore.ledger.store import LedgerStore
from casestore.ledger.workers import LedgerThread, Signer
from casestore.store.application import CasestoreApp

log = logging.getLogger("casestore.ledger")


class LedgerRunner:
    """The tree worker and signer of one process.

    It polls (every ``poll_interval`` seconds) rather than waking on each commit: one
    transaction per interval keeps the tree off the writers' way (on SQLite a tree batch
    takes the database's single write lock), and the interval only adds to the merge
    delay, which the signing cadence dominates anyway."""

    def __init__(
        self, app: CasestoreApp, config: LedgerConfig, *, poll_interval: float = 1.0
    ) -> None:
        self.app = app
        self.store = LedgerStore(app.db_url)
        signer = (
            Signer(self.store, config.key, config.origin, config.cadence)
            if config.key is not None
            else None
        )
        self.stop_event = threading.Event()
        self.thread = LedgerThread(self.store, signer, self.stop_event, poll_interval=poll_interval)
        if signer is None:
            log.warning("no CASESTORE_SIGNING_KEY: the tree grows but no checkpoint is signed")

    def start(self) -> LedgerRunner:
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout)
        self.store.close()
