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


@router.get("/surveys/list", summary="踏勘清单: the items that need a site survey")
async def survey_list(state: StateDep) -> dict[str, Any]:
    """The survey list the bureau publishes (列出踏勘清单): each item needing a site survey,
    what is inspected (``survey_needs``) and in how many working days (``survey_days``),
    so both are told to the applicant once (一次性告知踏勘需求和踏勘时限); the conclusion
    is one joint three-party conclusion (三方联合踏勘结论一次下)."""

    def load() -> dict[str, Any]:
        rows = []
        for code in state.service.item_codes():
            spec = state.service.item(code, fresh=True).spec
            if spec.get("needs_survey"):
                rows.append(
                    {
                        "code": code,
                        "name": spec.get("name", ""),
                        "survey_days": spec.get("survey_days", 0),
                        "survey_needs": list(spec.get("survey_needs", [])),
                        "statutory_days": spec.get("statutory_days"),
                        "legal_basis": spec.get("legal_basis", ""),
                    }
                )
        return {"count": len(rows), "items": rows}

    result: dict[str, Any] = await run_in_threadpool(load)
    return result


@router.get("/items/{code}", responses={404: {"description": "no such item"}}, summary="One item")
async def get_item(
    code: Annotated[str, Path(min_length=1, max_length=64)], state: StateDep
) -> dict[str, Any]:
    """One item as now in force."""
    item = await run_in_threadpool(lambda: state.service.item(code, fresh=True))
    return _item_view(item)
