"""Every asset a page names loads, exactly as a browser asks for it (``?v=`` included).

The app refuses undeclared query parameters; the pages ask for ``/static/x.js?v=HASH``,
so a page whose assets answer 400 would show nothing at all while every JSON route still
works (it happened once: the browser tier caught it, this tier now does too).
"""

from __future__ import annotations

import re

import pytest

from tests.api.support import Api


@pytest.mark.parametrize("page", ["/", "/dashboard", "/query", "/query?case_no=XY20251009ABC123"])
def test_every_asset_a_page_names_loads(api: Api, page: str) -> None:
    r = api.get(page)
    assert r.status_code == 200
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text)
    assert assets, f"{page} names no static asset"
    for asset in assets:
        loaded = api.get(asset)
        assert loaded.status_code == 200, (asset, loaded.text[:200])
        assert loaded.content


def test_a_bad_version_is_refused_not_served(api: Api) -> None:
    assert api.get("/static/board.js", params={"v": "not hex!"}).status_code == 422
    assert api.get("/static/board.js", params={"w": "1"}).status_code == 400


def test_a_dashboard_link_with_a_token_still_opens_the_page(api: Api) -> None:
    r = api.get("/dashboard", params={"token": "x.y.z"})
    assert r.status_code == 200 and "x.y.z" not in r.text
