"""The practice command routes share one shape (``api/routes/commandroute.py``): for
windows, enquiries and awards alike, a creation is 201 with ``Location`` and ``ETag``, a
retried key replays (``Idempotent-Replayed``, nothing appended), a stale ``If-Match`` is
412 naming the current version, a command on an unknown id is 404, and each answer names
its own id field. Status codes and problem types written by hand from the README."""

from __future__ import annotations

from typing import Any

from tests.api.support import Api

KINDS: list[dict[str, Any]] = [
    {
        "create": (
            "/windows",
            "admin",
            {"code": "G01", "name": "绿色通道", "window_type": "green_channel"},
        ),
        "id": "window_id",
        "location": lambda made: "/windows/G01",
        "update": (
            "/windows/G01/revise",
            "admin",
            {"name": "招商窗口", "window_type": "green_channel"},
        ),
        "missing": "/windows/NOPE/revise",
    },
    {
        "create": ("/enquiries", "clerk", {"kind": "request", "topic": "停车"}),
        "id": "enquiry_id",
        "location": lambda made: f"/enquiries/{made['enquiry_id']}",
        "update": ("/enquiries/{id}/answer", "clerk", {"answer": "已答复"}),
        "missing": "/enquiries/00000000-0000-4000-8000-000000000000/answer",
    },
    {
        "create": (
            "/awards",
            "clerk",
            {"kind": "silk_banner", "recipient_kind": "window", "recipient": "W01"},
        ),
        "id": "award_id",
        "location": lambda made: f"/awards/{made['award_id']}",
        "update": ("/awards/{id}/revoke", "admin", {"reason": "误录"}),
        "missing": "/awards/00000000-0000-4000-8000-000000000000/revoke",
    },
]


def test_every_practice_command_route_has_the_same_shape(api: Api) -> None:
    for kind in KINDS:
        url, role, body = kind["create"]
        r = api.post(url, role, json=body, headers={"Idempotency-Key": f"k-{url}"})
        assert r.status_code == 201, (url, r.text)
        made = r.json()
        assert set(made) == {kind["id"], "version", "position", "duplicate"}
        assert made["duplicate"] is False and made["position"] == api.head()
        assert r.headers["Location"] == kind["location"](made)
        assert r.headers["ETag"] == f'"{made["version"]}"'
        head = api.head()
        again = api.post(url, role, json=body, headers={"Idempotency-Key": f"k-{url}"})
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json()[kind["id"]] == made[kind["id"]] and api.head() == head

        url, role, body = kind["update"]
        url = url.format(id=made[kind["id"]])
        stale = api.post(url, role, json=body, headers={"If-Match": '"99"'})
        assert stale.status_code == 412, (url, stale.text)
        assert stale.json()["type"].endswith("/precondition-failed")
        assert stale.json()["current_version"] == made["version"] and api.head() == head
        done = api.post(url, role, json=body, headers={"If-Match": f'"{made["version"]}"'})
        assert done.status_code == 200, (url, done.text)
        assert done.json()[kind["id"]] == made[kind["id"]]
        assert done.json()["version"] == made["version"] + 1
        assert done.headers["ETag"] == f'"{made["version"] + 1}"'
        missing = api.post(kind["missing"], role, json=body)
        assert missing.status_code == 404, (kind["missing"], missing.text)
        assert missing.json()["type"].endswith("/not-found")
