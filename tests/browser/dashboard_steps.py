"""Steps shared by the dashboard tests: sign in and wait until every panel has loaded."""

from __future__ import annotations

from typing import Any

from .conftest import LiveServer


def wait_loaded(page: Any, after: int = 0) -> int:
    """Wait for a completed load newer than ``after``; returns its number."""
    page.wait_for_function(
        f"() => Number(document.body.dataset.loaded || 0) > {after}", timeout=60_000
    )
    loaded: int = page.evaluate("() => Number(document.body.dataset.loaded)")
    return loaded


def sign_in(page: Any, bearer: str, purpose: str = "浏览器测试") -> None:
    page.fill("#token", bearer)
    page.fill("#purpose", purpose)
    page.click("#login")
    wait_loaded(page)


def open_dashboard(page: Any, server: LiveServer, bearer: str) -> None:
    server.wait_for_projections()  # the board tests' commands are in every view
    page.goto(server.url + "/dashboard")
    sign_in(page, bearer)


def kpi(page: Any, name: str) -> str:
    text: str = page.locator(f'[data-kpi="{name}"] .n').inner_text()
    return text
