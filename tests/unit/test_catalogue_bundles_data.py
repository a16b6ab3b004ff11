"""The shipped catalogue's 一件事 bundles (issue 17, demo data: "22 bundles", after the
seed report's 22 high-frequency 一件事 packages): each is a valid definition packaging
at least two distinct items of the catalogue, with the joint-handling limit."""

from __future__ import annotations

import json
from typing import Any

from casestore.domain.catalogue import check_bundle_spec
from casestore.simulate import CATALOGUE

#: 行政许可法 Art. 26: handled jointly or centrally, no longer than 45 (working) days.
JOINT_LIMIT = 45


def _catalogue() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    return data


def test_the_catalogue_offers_22_bundles_yjs_001_to_022() -> None:
    codes = [b["code"] for b in _catalogue()["bundles"]]
    assert codes == [f"YJS-{n:03d}" for n in range(1, 23)]


def test_every_bundle_is_valid_and_packages_distinct_existing_items() -> None:
    data = _catalogue()
    items = {i["code"]: i for i in data["items"]}
    names = set()
    for bundle in data["bundles"]:
        spec = {k: v for k, v in bundle.items() if k != "code"}
        check_bundle_spec(spec)  # raises on a bad definition
        assert len(set(bundle["items"])) == len(bundle["items"]) >= 2
        assert set(bundle["items"]) <= set(items), bundle["code"]
        assert bundle["name"].endswith("一件事")
        names.add(bundle["name"])
        assert bundle["statutory_days"] == JOINT_LIMIT
        # promised no looser than the law, no tighter than its slowest item's promise
        slowest = max(items[c]["promised_days"] for c in bundle["items"])
        assert slowest <= bundle["promised_days"] <= JOINT_LIMIT, bundle["code"]
    assert len(names) == 22
    assert "开办餐馆一件事" in names and "农村建房一件事" in names
