"""``/docs`` and ``/redoc`` work on an intranet: every asset they load is served by the
application itself (issue 16 item 4)."""

from __future__ import annotations

import re

from tests.api.support import Api


def test_docs_and_redoc_load_only_local_assets(api: Api) -> None:
    for page in ("/docs", "/redoc"):
        r = api.get(page, role=None)
        assert r.status_code == 200, r.text
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", r.text)
        urls += re.findall(r"url: ['\"]([^'\"]+)['\"]", r.text)
        assert urls, r.text
        assert [u for u in urls if "//" in u] == [], urls  # nothing from another host
        for url in urls:
            asset = api.get(url, role=None)
            assert asset.status_code == 200, url
            assert len(asset.content) > 1000 or url == "/openapi.json"
    assert "SwaggerUIBundle" in api.get("/docs-assets/swagger-ui-bundle.js").text[:200_000]
    assert api.get("/docs-assets/../pyproject.toml").status_code == 404
    assert api.get("/docs-assets/nothing.js").status_code == 404
