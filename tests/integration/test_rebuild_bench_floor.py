"""``python -m casestore.bench.rebuild --floor`` on a small log: the read side's floor
(the log read into events with no projection, then with each actor decoded) is measured
beside the raw scan and a projection's rebuild, and the floor is read to the head."""

from __future__ import annotations

from pathlib import Path

from casestore.bench.rebuild import measure_rebuild, read_floor
from casestore.projections.runtime.logsource import LogSource

from casestore.store.application import CasestoreApp


def test_the_floor_reads_every_event_and_is_reported_beside_a_rebuild(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'floor.db'}"
    result = measure_rebuild(url, 400, names=("audit",), floor=True)
    events = result["events"]
    assert events >= 400
    floor = result["floor"]
    for label in ("events", "events_and_actor"):
        low, high = floor[label]["ratio_range"]
        assert 0 < low <= floor[label]["ratio_to_raw_scan"] <= high
        assert floor[label]["events_per_s"] > 0
    assert result["projections"]["audit"]["ratio_to_raw_scan"] > 0
    app = CasestoreApp(url)
    source = LogSource(app)
    try:  # every event is read, each once: count them the way read_floor pages them
        read = sum(len(p) for p in source.pages(0, 64, personal=False))
        assert read == events == app.log.head()[0]
        assert read_floor(source, 64, actor=True) > 0
    finally:
        source.close()
        app.close()
