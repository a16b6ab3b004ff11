"""The item catalogue (事项目录): public, as published and revised in the log."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from casestore.domain import Item, item_id
from casestore.store.application import CasestoreApp
from casestore.store.transcoder import to_plain

from ..deps import StateDep

router = APIRouter(tags=["catalogue"])
_ITEM_TOPIC = "casestore.domain.catalogue:Item.Published"


class ItemCodes:
    """Every published item code, found by scanning the log once, then incrementally."""

    def __init__(self, store: CasestoreApp) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._position = 0
        self._codes: set[str] = set()

    def codes(self) -> list[str]:
        with self._lock:
            for row in self._store.log.iter_log(self._position):
                self._position = row.position
                if row.topic == _ITEM_TOPIC:
                    self._codes.add(self._store.decode(row).code)
            return sorted(self._codes)


def _item_view(item: Item) -> dict[str, Any]:
    return {
        "code": item.code,
        "version": item.version,
        "revised_at": item.modified_on.isoformat(),
        **to_plain(item.spec),
    }


@router.get("/items", summary="Every published approval item")
async def list_items(state: StateDep) -> list[dict[str, Any]]:
    """Codes, names, legal and promised limits, materials, as now in force."""

    def load() -> list[dict[str, Any]]:
        return [_item_view(state.store.get(Item, item_id(c))) for c in state.items.codes()]

    result: list[dict[str, Any]] = await run_in_threadpool(load)
    return result


@router.get("/items/{code}", responses={404: {"description": "no such item"}}, summary="One item")
async def get_item(
    code: Annotated[str, Path(min_length=1, max_length=64)], state: StateDep
) -> dict[str, Any]:
    """One item as now in force."""
    item = await run_in_threadpool(state.store.get, Item, item_id(code))
    return _item_view(item)
