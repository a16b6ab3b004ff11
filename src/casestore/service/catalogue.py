"""The catalogue (事项目录) in the log: items and 一件事 bundle definitions.

``casestore catalogue load FILE`` publishes what is new and revises what changed, in
one transaction; every process reads items and bundle definitions from the log, so a
served process knows a bundle that another process loaded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from eventsourcing.domain import Aggregate

from casestore.domain import BundleDefinition, InvalidCommand, Item, NotFound
from casestore.domain.catalogue import bundle_definition_id, item_id
from casestore.service.commands import LoadCatalogue
from casestore.store.application import CasestoreApp

Entry = TypeVar("Entry", Item, BundleDefinition)
ITEM_PUBLISHED = "casestore.domain.catalogue:Item.Published"


class CatalogueMixin:
    """``LoadCatalogue`` for :class:`~casestore.service.CaseService`."""

    app: CasestoreApp
    clock: Callable[[], datetime]

    def _load_catalogue(self, command: LoadCatalogue) -> dict[str, dict[str, int]]:
        """Counts per kind (``items``, ``bundles``): published, revised, unchanged."""
        changed: list[Aggregate] = []
        items = self._publish(Item, item_id, Item.publish, command.items, command, changed)
        known = {str(raw.get("code")) for raw in command.items}
        for raw in command.bundles:
            for code in raw.get("items", []):
                if code not in known:
                    try:
                        self.app.get(Item, item_id(str(code)))
                    except NotFound:
                        raise InvalidCommand(
                            f"bundle {raw.get('code')} names unknown item {code}"
                        ) from None
        bundles = self._publish(
            BundleDefinition,
            bundle_definition_id,
            BundleDefinition.publish,
            command.bundles,
            command,
            changed,
        )
        if changed:
            self.app.append(*changed, idempotency_key=command.idempotency_key)
        return {"items": items, "bundles": bundles}

    def _publish(
        self,
        cls: type[Entry],
        id_of: Callable[[str], Any],
        publish: Callable[..., Entry],
        entries: Any,
        command: LoadCatalogue,
        changed: list[Aggregate],
    ) -> dict[str, int]:
        counts = {"published": 0, "revised": 0, "unchanged": 0}
        for raw in entries:
            if not isinstance(raw, Mapping) or not isinstance(raw.get("code"), str):
                raise InvalidCommand("every catalogue entry is an object with a 'code'")
            code = raw["code"]
            spec = {k: v for k, v in raw.items() if k != "code"}
            try:
                entry = self.app.get(cls, id_of(code))
            except NotFound:
                changed.append(publish(code=code, spec=spec, actor=command.actor, at=self.clock()))
                counts["published"] += 1
                continue
            if all(entry.spec.get(k) == v for k, v in spec.items()):
                counts["unchanged"] += 1
                continue
            entry.revise(changes=spec, reason=command.reason, actor=command.actor, at=self.clock())
            changed.append(entry)
            counts["revised"] += 1
        return counts


class CatalogueCodes:
    """Every published item code, found by scanning the log once, then incrementally."""

    def __init__(self, app: CasestoreApp) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._position = 0
        self._codes: set[str] = set()

    def codes(self) -> list[str]:
        with self._lock:
            for row in self._app.log.iter_log(self._position):
                self._position = row.position
                if row.topic == ITEM_PUBLISHED:
                    self._codes.add(self._app.decode(row).code)
            return sorted(self._codes)
