"""An export written by an older casestore imports into today's store: each line is read
through the one registry the stored events are read with (docs/events.md), and a line at a
class version that registry cannot upcast is refused by number, nothing of its case
appended.

The export below is written by hand as casestore wrote it before schema v2 (golden log
v1's shape): ``Case.Corrected`` at class version 1 names the amended fact ``field`` (v2
calls it ``fact``), its stored bytes carry no ``class_version`` (absent = 1), and no line
has the fields added later (``claimed_recorded_at``, ``import_batch``, the Art. 45 notice
fields). The expected events and views are written from the README's case view, not read
back from the store.
"""

from __future__ import annotations

import base64
from pathlib import Path
from string import Template
from typing import Any

import orjson
import pytest
from casestore.projections.engine.db import ViewDB
from casestore.projections.runtime.commands import rebuild_projection

from casestore.domain import Case, upcasters
from casestore.domain.evolution import SchemaRegistry
from casestore.domain.values import Party
from casestore.importer import import_jsonl
from casestore.store.application import CasestoreApp
from casestore.store.audit import export_lines
from tests.golden import replay

CASE = "7d1f6c52-0b4e-4c55-9a51-2f0e8d3a6b10"
NEWER = "c2a8e0f4-5b7d-4e19-8f3a-6d4c2b1e9a07"
CLERK = {"staff_id": "clerk-02-01", "role": "clerk", "name": "李红", "window": "W02"}


def b64(stored: str) -> str:
    return base64.b64encode(stored.encode()).decode()


def submitted(case_id: str, case_no: str) -> str:
    return Template(
        '{"position":1,"aggregate_id":"$id","version":1,"type":"Submitted",'
        '"topic":"casestore.domain.case:Case.Submitted","recorded_at":"2025-03-03T02:00:00+00:00",'
        '"data":{"actor":{"staff_id":"clerk-02-01","role":"clerk","name":"李红","window":"W02"},'
        '"agent":null,"applicant":{"name":"王小明","id_type":"resident_id",'
        '"id_number":"110101199003070011","phone":"13800000001","kind":"person","mandate":""},'
        '"appointment_id":"","bundle_id":null,"case_no":"$no","channel":"window",'
        '"extended_hours":false,"handling_region":"","item_code":"XK-001",'
        '"materials":["申请书"],"occurred_at":null,'
        '"originator_topic":"casestore.domain.case:Case","receiving_region":""},'
        '"stored_b64":"$stored"}'
    ).substitute(id=case_id, no=case_no, stored=b64(f'{{"case_no":"{case_no}"}}'))


ACCEPTED = Template(
    '{"position":3,"aggregate_id":"$id","version":2,"type":"Accepted",'
    '"topic":"casestore.domain.case:Case.Accepted","recorded_at":"2025-03-03T03:00:00+00:00",'
    '"data":{"actor":{"staff_id":"clerk-02-01","role":"clerk","name":"李红","window":"W02"},'
    '"limits":{"statutory_days":20,"promised_days":10,"case_type":"promised",'
    '"needs_survey":false,"survey_days":0,"joint":false,"pause_kinds":[],'
    '"catalogue_version":1},"notice_no":"SL-HAND-1","occurred_at":null,'
    '"promised_completion":"2025-03-17"},'
    '"stored_b64":"$stored"}'
).substitute(id=CASE, stored=b64('{"notice_no":"SL-HAND-1"}'))

#: Corrected as v1 stored it: ``field``, no ``class_version`` in the stored bytes.
CORRECTED_V1 = Template(
    '{"position":4,"aggregate_id":"$id","version":3,"type":"Corrected",'
    '"topic":"casestore.domain.case:Case.Corrected","recorded_at":"2025-03-04T01:00:00+00:00",'
    '"data":{"actor":{"staff_id":"clerk-02-01","role":"clerk","name":"李红","window":"W02"},'
    '"correct_value":"online","corrects_version":1,"field":"channel","occurred_at":null,'
    '"reason":"渠道登记错误","wrong_value":"window"},'
    '"stored_b64":"$stored"}'
).substitute(
    id=CASE, stored=b64('{"correct_value":"online","corrects_version":1,"field":"channel"}')
)


def correction_at(case_id: str, class_version: int) -> str:
    """A Corrected line whose stored bytes say ``class_version`` (one this casestore
    cannot read: written by a newer one)."""
    return Template(
        '{"position":9,"aggregate_id":"$id","version":2,"type":"Corrected",'
        '"topic":"casestore.domain.case:Case.Corrected","recorded_at":"2025-03-04T01:00:00+00:00",'
        '"data":{"actor":{"staff_id":"clerk-02-01","role":"clerk","name":"李红","window":"W02"},'
        '"correct_value":"online","corrects_version":1,"fact":"channel","occurred_at":null,'
        '"reason":"渠道登记错误","wrong_value":"window"},'
        '"stored_b64":"$stored"}'
    ).substitute(id=case_id, stored=b64(f'{{"class_version":{class_version},"fact":"channel"}}'))


def imported(url: str) -> list[dict[str, Any]]:
    """Every event of the store as ``export`` writes it, the import batch's own left out."""
    app = CasestoreApp(url)
    try:
        lines = [orjson.loads(line) for line in export_lines(app)]
    finally:
        app.close()
    return [line for line in lines if ":ImportBatch." not in line["topic"]]


def status_rows(url: str) -> dict[str, dict[str, Any]]:
    store = CasestoreApp(url)
    try:
        rebuild_projection(store, "case_status", quiet=True)
    finally:
        store.close()
    db = ViewDB(url)
    try:
        rows = db.rows("SELECT case_id, channel, stage, corrected FROM case_status")
    finally:
        db.close()
    return {str(r["case_id"]): r for r in rows}


def test_a_pre_v2_export_imports_through_the_registry(tmp_path: Path) -> None:
    path = tmp_path / "before-v2.jsonl"
    path.write_text(
        "\n".join([submitted(CASE, "HAND-1"), ACCEPTED, CORRECTED_V1]) + "\n", encoding="utf-8"
    )
    url = f"sqlite:///{tmp_path}/today.db"
    report = import_jsonl(url, path, progress=False)
    assert report.ok, report.error_lines()
    assert (report.events, report.cases) == (4, 1)  # three lines and the case's number

    events = imported(url)
    corrected = [e for e in events if e["type"] == "Corrected"]
    assert len(corrected) == 1
    data = corrected[0]["data"]
    assert data["fact"] == "channel" and "field" not in data  # read as v2 ...
    assert (data["wrong_value"], data["correct_value"], data["corrects_version"]) == (
        "window",
        "online",
        1,
    )
    stored = orjson.loads(base64.b64decode(corrected[0]["stored_b64"]))
    assert stored["class_version"] == 2 and stored["fact"] == "channel"  # ... stored as v2
    assert "field" not in stored
    assert [(e["type"], e["version"]) for e in events if e["aggregate_id"] == CASE] == [
        ("Submitted", 1),
        ("Accepted", 2),
        ("Corrected", 3),
    ]

    row = status_rows(url)[CASE]
    assert row["channel"] == "online"  # the corrected channel, marked with the correction
    assert orjson.loads(row["corrected"]) == {"channel": {"version": 3, "shown": True}}
    assert row["stage"] == "accepted"


def test_an_explicit_class_version_on_a_hand_written_line(tmp_path: Path) -> None:
    """A legacy line without stored bytes names its class version itself."""
    line = orjson.loads(CORRECTED_V1)
    del line["stored_b64"]
    line["class_version"] = 1
    path = tmp_path / "legacy.jsonl"
    path.write_bytes(
        "\n".join([submitted(CASE, "HAND-1"), ACCEPTED]).encode() + b"\n" + orjson.dumps(line)
    )
    url = f"sqlite:///{tmp_path}/today.db"
    assert import_jsonl(url, path, progress=False).ok
    app = CasestoreApp(url)
    try:
        (event,) = [e for _, e in app.iter_events() if isinstance(e, Case.Corrected)]
        assert event.fact == "channel" and event.correct_value == "online"
    finally:
        app.close()


@pytest.mark.parametrize("version", [3, 9])
def test_a_class_version_the_registry_cannot_upcast_is_refused(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "newer.jsonl"
    path.write_text(
        "\n".join(
            [
                submitted(CASE, "HAND-1"),
                ACCEPTED,
                CORRECTED_V1,
                submitted(NEWER, "HAND-2"),
                correction_at(NEWER, version),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path}/today.db"
    report = import_jsonl(url, path, progress=False)
    assert not report.ok
    assert report.error_lines() == [
        f"line 5: Case.Corrected at class version {version} is newer than this casestore "
        "reads (it upcasts Case.Corrected up to version 2): written by a newer casestore?",
        f"line 4: {NEWER}: none of its 2 events imported (bad line 5)",
    ]
    events = imported(url)
    assert not [e for e in events if e["aggregate_id"] == NEWER]  # nothing of that case
    assert not [e for e in events if e["data"].get("case_no") == "HAND-2"]  # nor its number
    assert NEWER not in status_rows(url)
    assert {e["aggregate_id"] for e in events if e["type"] == "Submitted"} == {CASE}


def test_stored_bytes_that_are_not_an_event_are_refused(tmp_path: Path) -> None:
    line = orjson.loads(CORRECTED_V1)
    line["stored_b64"] = "not base64!"
    path = tmp_path / "broken.jsonl"
    path.write_bytes(
        "\n".join([submitted(CASE, "HAND-1"), ACCEPTED]).encode() + b"\n" + orjson.dumps(line)
    )
    report = import_jsonl(f"sqlite:///{tmp_path}/today.db", path, progress=False)
    assert report.error_lines()[0] == "line 3: stored_b64 is not base64"
    assert imported(f"sqlite:///{tmp_path}/today.db") == []  # nothing of the case


def test_golden_log_v1_an_export_of_casestore_before_v2_imports_whole(tmp_path: Path) -> None:
    """The real pre-v2 export (tests/golden/v1, written by schema v1): every line imports,
    its correction read as v2."""
    source = replay.HERE / "v1" / "log.jsonl"
    url = f"sqlite:///{tmp_path}/today.db"
    report = import_jsonl(url, source, progress=False)
    assert report.ok, report.error_lines()[:5]
    lines = source.read_bytes().splitlines()
    assert report.events == len(lines) == 941
    (corrected,) = [e for e in imported(url) if e["type"] == "Corrected"]
    assert corrected["data"]["fact"] == "applicant.phone"
    assert corrected["data"]["correct_value"] == "18870873388"


def test_a_value_object_of_an_old_line_is_stepped_up_before_it_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial Party v2 (declared as tests/integration/test_evolution.py declares its
    changes) calls the applicant's phone ``phone`` where v1 said ``mobile``: a v1 export
    line (its stored Party carries no version: 1) imports with the phone in place, through
    the registry's value upcaster, before ``Party(**fields)`` is built."""
    line = orjson.loads(submitted(CASE, "HAND-1"))
    applicant = line["data"]["applicant"]
    applicant["mobile"] = applicant.pop("phone")
    stored = {"applicant": {"__value__": "Party", "fields": applicant}, "case_no": "HAND-1"}
    line["stored_b64"] = base64.b64encode(orjson.dumps(stored)).decode()
    path = tmp_path / "party-v1.jsonl"
    path.write_bytes(orjson.dumps(line) + b"\n")

    refused = import_jsonl(f"sqlite:///{tmp_path}/without.db", path, progress=False)
    assert "unknown fields ['mobile']" in refused.error_lines()[0]  # today's Party: no mobile

    def party_v2(r: SchemaRegistry) -> None:
        r.value_step("Party", 1, lambda fields: fields.update(phone=fields.pop("mobile")))

    upcasters.registry()  # today's, built before the class version is patched
    monkeypatch.setattr(Party, "class_version", 2, raising=False)
    url = f"sqlite:///{tmp_path}/with.db"
    with upcasters.trial(party_v2):
        report = import_jsonl(url, path, progress=False)
    assert report.ok, report.error_lines()
    app = CasestoreApp(url)  # read back with today's registry: the stored Party has phone
    try:
        (event,) = [e for _, e in app.iter_events() if isinstance(e, Case.Submitted)]
    finally:
        app.close()
    assert event.applicant.phone == "13800000001" and event.applicant.name == "王小明"
