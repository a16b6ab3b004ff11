"""The demo's key path is the SQLite file's path plus ``.signing-key``, printed with one
leading slash: ``sqlite:////abs/file.db`` (the usual absolute URL) once printed
``//abs/file.db.signing-key`` because POSIX paths keep exactly two leading slashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from casestore.ledger.demokey import demo_key_path, demo_signing_key
from casestore.settings import load_settings
from casestore.store.config import sqlite_name


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("sqlite:////srv/bureau/casestore.db", "/srv/bureau/casestore.db"),
        ("sqlite://///srv/bureau/casestore.db", "/srv/bureau/casestore.db"),
        ("sqlite:///srv/bureau/casestore.db", "/srv/bureau/casestore.db"),
        ("sqlite:///./casestore.db", "casestore.db"),
        ("sqlite:///:memory:", "file:casestore?mode=memory&cache=shared"),
    ],
)
def test_sqlite_names_have_one_leading_slash(url: str, name: str) -> None:
    assert sqlite_name(url) == name


def test_the_demo_prints_its_key_path_without_a_double_slash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"  # four slashes: how users (and tests) write it
    assert db.startswith("sqlite:////")
    settings = load_settings({}, db=db)
    expected = f"{tmp_path}/demo.db.signing-key"
    assert str(demo_key_path(settings)) == expected
    demo_signing_key(settings)
    printed = capsys.readouterr().err
    assert f"signing key in {expected};" in printed
    assert "//" not in printed.split("signing key in ", 1)[1].split(";", 1)[0]
    assert (tmp_path / "demo.db.signing-key").exists()
