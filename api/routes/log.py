"""The verifiable log over HTTP (SPEC §9): checkpoints, proofs, cosignatures, case proofs.

Checkpoints and Merkle proofs are public (they reveal hashes only; anyone may audit);
a case proof carries the case's stored events, so staff need a token and an applicant
the case number and query code (``GET /public/cases/{case_no}/proof``, in ``public``).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from casestore.domain.errors import InvalidCommand
from casestore.ledger import proofs
from casestore.ledger.store import LedgerStore

from ..deps import ApiState, StaffDep, StateDep
from ..problems import ApiProblem

router = APIRouter(tags=["verifiable log"])
Size = Annotated[int, Query(ge=1, le=2**62)]
_MAX_NOTE = 16_384
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"description": "not signed or grown yet"}}


def ledger(state: ApiState) -> LedgerStore:
    if state.ledger is None:
        state.ledger = LedgerStore(state.db_url, cache_nodes=True)
    return state.ledger


@router.get(
    "/log/checkpoint",
    response_class=PlainTextResponse,
    responses=_ERRORS,
    summary="The latest signed checkpoint, with the witnesses' cosignatures",
)
async def latest_checkpoint(state: StateDep) -> PlainTextResponse:
    """A C2SP signed note (``text/plain``): origin, tree size, root hash, signature lines."""
    note = await run_in_threadpool(lambda: proofs.latest_note(ledger(state)))
    return PlainTextResponse(note)


@router.get("/log/checkpoints", summary="Every checkpoint signed after a tree size")
async def checkpoints_after(
    state: StateDep,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Checkpoints in tree-size order, each with its cosignatures."""

    def read() -> dict[str, Any]:
        store = ledger(state)
        return {
            "checkpoints": [
                {
                    "tree_size": c.tree_size,
                    "root_hash": proofs.b64([c.root_hash])[0],
                    "note": proofs.served_note(store, c),
                }
                for c in store.checkpoints_after(after, limit)
            ]
        }

    result: dict[str, Any] = await run_in_threadpool(read)
    return result


@router.get("/log/inclusion", responses=_ERRORS, summary="RFC 9162 inclusion proof")
async def inclusion(
    state: StateDep, position: Annotated[int, Query(ge=1, le=2**62)], size: Size
) -> dict[str, Any]:
    """The audit path of the event at ``position`` (leaf ``position - 1``), bottom-up."""
    path = await run_in_threadpool(proofs.inclusion, ledger(state), position, size)
    return {"position": position, "leaf_index": position - 1, "size": size,
            "proof": proofs.b64(path)}  # fmt: skip


@router.get("/log/consistency", responses=_ERRORS, summary="RFC 9162 consistency proof")
async def consistency(
    state: StateDep,
    first: Annotated[int, Query(alias="from", ge=0, le=2**62)],
    second: Annotated[int, Query(alias="to", ge=1, le=2**62)],
) -> dict[str, Any]:
    """The proof that the tree of ``from`` leaves is a prefix of the tree of ``to``."""
    path = await run_in_threadpool(proofs.consistency, ledger(state), first, second)
    return {"from": first, "to": second, "proof": proofs.b64(path)}


@router.post(
    "/log/cosignatures",
    status_code=201,
    responses={422: {"description": "not a cosignature by a known witness"}},
    summary="A witness hands in its cosignature of a checkpoint",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/plain": {"schema": {"type": "string", "maxLength": _MAX_NOTE}}},
        }
    },
)
async def cosign(state: StateDep, request: Request) -> dict[str, Any]:
    """The checkpoint note with the witness's signature line added (``text/plain``).

    Only witnesses listed in ``CASESTORE_WITNESS_KEYS`` are kept.
    """
    body = await request.body()
    if len(body) > _MAX_NOTE:
        raise InvalidCommand("a cosigned checkpoint note is at most 16 KiB")
    try:
        raw = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidCommand("the note is not UTF-8 text") from None

    def keep() -> dict[str, Any]:
        for witness in state.witnesses:
            try:
                size = proofs.receive_cosignature(ledger(state), raw, witness)
            except InvalidCommand:
                continue
            return {"tree_size": size, "witness": witness.name}
        raise ApiProblem(
            "invalid-command", "the note carries no valid signature by a witness this log knows"
        )

    result: dict[str, Any] = await run_in_threadpool(keep)
    return result


@router.get(
    "/cases/{case_id}/proof",
    responses={**_ERRORS, 401: {"description": "no valid bearer token"}},
    summary="A case proof (casestore-proof/v1) to verify offline",
    tags=["cases"],
)
async def case_proof(case_id: UUID, actor: StaffDep, state: StateDep) -> dict[str, Any]:
    """Every event of the case the latest checkpoint covers, with inclusion paths."""

    def build() -> dict[str, Any]:
        case = state.service.case(case_id)
        return proofs.case_proof(ledger(state), case_id, case.case_no)

    result: dict[str, Any] = await run_in_threadpool(build)
    return result
