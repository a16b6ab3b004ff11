"""The item catalogue (事项目录): public, as published and revised in the log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from casestore.domain import Item
from casestore.plain import to_plain

from ..deps import StateDep

router = APIRouter(tags=["catalogue"])


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
        return [_item_view(state.service.item(c, fresh=True)) for c in state.service.item_codes()]

    result: list[dict[str, Any]] = await run_in_threadpool(load)
    return result


@router.get("/items/{code}", responses={404: {"description": "no such item"}}, summary="One item")
async def get_item(
    code: Annotated[str, Path(min_length=1, max_length=64)], state: StateDep
) -> dict[str, Any]:
    """One item as now in force."""
    item = await run_in_threadpool(lambda: state.service.item(code, fresh=True))
    return _item_view(item)
