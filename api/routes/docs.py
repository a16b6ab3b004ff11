"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) with their assets served by the application.

FastAPI's defaults load both from a public CDN, which a bureau intranet cannot reach. The
JavaScript and CSS come from the ``fastapi-offline`` distribution (files only: its
``FastAPIOffline`` class is not used) and are served here under ``/docs-assets/``; the
pages are FastAPI's own HTML pointed at them. Nothing is fetched from elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import fastapi_offline
from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)
ASSETS: Final = Path(fastapi_offline.__file__).resolve().parent / "static"
_FILES: Final = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="casestore API",
        swagger_js_url="/docs-assets/swagger-ui-bundle.js",
        swagger_css_url="/docs-assets/swagger-ui.css",
        swagger_favicon_url="/docs-assets/favicon.png",
    )


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="casestore API",
        redoc_js_url="/docs-assets/redoc.standalone.js",
        redoc_favicon_url="/docs-assets/favicon.png",
        with_google_fonts=False,
    )


@router.get("/docs-assets/{name}")
async def asset(name: str) -> FileResponse:
    kind = _FILES.get(name)  # a fixed list: no path from the request reaches the disk
    if kind is None:
        raise HTTPException(404)
    return FileResponse(
        ASSETS / name, media_type=kind, headers={"Cache-Control": "public, max-age=86400"}
    )
