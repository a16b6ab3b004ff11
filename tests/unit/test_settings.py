"""One settings object: every CASESTORE_* variable validated in one place (README table)."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from ipaddress import ip_network
from pathlib import Path

import pytest

from casestore.settings import Settings, SettingsError, known_names, load_settings
from casestore.store.config import eventsourcing_env

README = Path(__file__).resolve().parents[2] / "README.md"
KEY = base64.b64encode(bytes(range(32))).decode()
SECRET = "hunter2-hunter2-hunter2-hunter2-hunter2"  # SPEC §10: at least 32 bytes
PEPPER = "k1:" + base64.urlsafe_b64encode(bytes(range(100, 132))).decode()


def test_defaults_when_nothing_is_set() -> None:
    s = load_settings({})
    assert s.db == "sqlite:///./casestore.db"
    assert s.read_db is None and s.views_url() == s.db
    assert s.secret is None and s.secret_value() == ""
    assert s.log_origin == "casestore.local/log"  # SPEC §9 default
    assert s.trusted_proxies == ()
    assert s.clock().yellow_threshold == 1 and s.supervision().backdate_seconds == 86_400


def test_given_values_win_over_the_environment() -> None:
    s = load_settings({"CASESTORE_DB": "sqlite:///a.db"}, db="sqlite:///b.db")
    assert s.db == "sqlite:///b.db"


def test_secrets_never_show_in_repr_or_errors() -> None:
    s = load_settings({"CASESTORE_SECRET": SECRET, "CASESTORE_CIPHER_KEY": KEY})
    assert "hunter2" not in repr(s) and KEY not in repr(s)
    assert s.secret_value() == SECRET and s.cipher_key_value() == KEY
    with pytest.raises(SettingsError) as caught:
        load_settings({"CASESTORE_CIPHER_KEY": "c2VjcmV0LXZhbHVl"})  # base64 of 12 bytes
    assert "16, 24 or 32 bytes" in str(caught.value)
    assert "c2VjcmV0LXZhbHVl" not in str(caught.value)


def test_every_bad_variable_is_named_at_once() -> None:
    env = {
        "CASESTORE_DB": "mysql://db/x",
        "CASESTORE_DB_POOL_SIZE": "0",
        "CASESTORE_CLOCK_YELLOW_THRESHOLD": "-1",
        "CASESTORE_TRUSTED_PROXIES": "10.0.0.0/8,not-a-network",
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    text = str(caught.value)
    for name in (
        "CASESTORE_DB:",
        "CASESTORE_DB_POOL_SIZE:",
        "CASESTORE_CLOCK_YELLOW_THRESHOLD:",
        "CASESTORE_TRUSTED_PROXIES",
    ):
        assert name in text, text
    assert "mysql" in text  # the scheme is named, not the whole URL


def test_a_misspelt_variable_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"CASESTORE_SECRTE \(did you mean CASESTORE_SECRET"):
        load_settings({"CASESTORE_SECRTE": "x"})
    with pytest.raises(SettingsError, match="CASESTORE_CLOCK_YELLOW_TRESHOLD"):
        load_settings({"CASESTORE_CLOCK_YELLOW_TRESHOLD": "2"})
    load_settings({"CASESTORE_TEST_PG": "postgresql://h/db"})  # the test harness's own
    load_settings({"CASESTORE_SOMETHING_ELSE": "1"})  # far from every setting: not ours


def test_secret_from_a_file_and_from_the_secrets_directory(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("from-a-file-" + "f" * 32 + "\n", encoding="utf-8")
    from_file = load_settings({"CASESTORE_SECRET_FILE": str(path)}).secret_value()
    assert from_file == "from-a-file-" + "f" * 32
    with pytest.raises(SettingsError, match="both set"):
        load_settings({"CASESTORE_SECRET_FILE": str(path), "CASESTORE_SECRET": "x"})
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings({"CASESTORE_SIGNING_KEY_FILE": str(tmp_path / "missing")})
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "casestore_query_pepper").write_text(PEPPER + "\n", encoding="utf-8")
    (creds / "casestore_secret").write_text("secret-from-systemd-" + "s" * 32, encoding="utf-8")
    s = load_settings({"CREDENTIALS_DIRECTORY": str(creds)})  # systemd LoadCredential=
    assert s.query_pepper is not None
    assert s.query_pepper.get_secret_value() == PEPPER
    assert s.secret_value() == "secret-from-systemd-" + "s" * 32
    env_wins = "env-wins-" + "e" * 32
    s = load_settings({"CASESTORE_SECRETS_DIR": str(creds), "CASESTORE_SECRET": env_wins})
    assert s.secret_value() == env_wins
    with pytest.raises(SettingsError, match="not a directory"):
        load_settings({"CASESTORE_SECRETS_DIR": str(tmp_path / "nowhere")})


def test_identity_and_personal_data_settings_are_checked_at_start() -> None:
    """SPEC §10: the secret has 32+ bytes, the pepper is KID:BASE64 of 32+ bytes, the
    identity provider's issuer, audience and JWKS come together; all named at once."""
    bad = {
        "CASESTORE_SECRET": "x",
        "CASESTORE_QUERY_PEPPER": "k1:c2hvcnQ",
        "CASESTORE_OIDC_ISSUER": "https://idp.example/",
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(bad)
    text = str(caught.value)
    assert "at least 32 bytes" in text and "x" * 2 not in text
    good = {
        "CASESTORE_SECRET": SECRET,
        "CASESTORE_QUERY_PEPPER": PEPPER,
        "CASESTORE_OIDC_ISSUER": "https://idp.example/",
        "CASESTORE_OIDC_AUDIENCE": "casestore",
        "CASESTORE_OIDC_JWKS": "/etc/casestore/jwks.json",
        "CASESTORE_ACCESS_TRAIL": "off",
    }
    s = load_settings(good)
    oidc = s.oidc()
    assert oidc is not None and oidc.issuer == "https://idp.example/"
    assert oidc.staff_claim == "sub"  # CASESTORE_OIDC_STAFF_CLAIM's default
    peppers = s.peppers()
    assert peppers is not None and peppers.current.kid == "k1"
    assert s.access_trail is False
    assert load_settings({}).oidc() is None and load_settings({}).peppers() is None
    for name, value in (
        ("CASESTORE_QUERY_PEPPER", "k1:c2hvcnQ"),
        ("CASESTORE_OIDC_AUDIENCE", "casestore"),
    ):
        with pytest.raises(SettingsError, match=name.removeprefix("CASESTORE_")):
            load_settings({name: value})


def test_trusted_proxies_are_networks() -> None:
    s = load_settings({"CASESTORE_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1 ,::1"})
    assert s.trusted_proxies == (
        ip_network("10.0.0.0/8"),
        ip_network("127.0.0.1/32"),
        ip_network("::1/128"),
    )


def test_postgres_url_keeps_every_libpq_parameter() -> None:
    url = (
        "postgresql://app:p%40ss@db1:5432,db2:5433/cases"
        "?sslmode=verify-full&sslrootcert=/etc/ca.pem&target_session_attrs=read-write"
    )
    env = eventsourcing_env(load_settings({}, db=url).db)
    conninfo = env["CASESTORE_CONNINFO"]
    for part in ("sslmode=verify-full", "sslrootcert=/etc/ca.pem", "target_session_attrs"):
        assert part in conninfo
    assert env["POSTGRES_HOST"] == "db1,db2" and env["POSTGRES_PASSWORD"] == "p@ss"
    with pytest.raises(SettingsError, match="CASESTORE_DB: not a valid PostgreSQL URL"):
        load_settings({"CASESTORE_DB": "postgresql://h/db?sslmode"})


def test_every_variable_is_in_the_readme_table() -> None:
    text = README.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(CASESTORE_[A-Z_]+)`", text, flags=re.M))
    assert set(known_names()) - documented == set()
    assert len(known_names()) == len(Settings.model_fields)


def test_the_cli_exits_2_naming_the_variable(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "CASESTORE_LEDGER_INTERVAL": "zero", "HOME": str(tmp_path)}
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("casestore")),
            "digest",
            "--db",
            f"sqlite:///{tmp_path}/x.db",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "CASESTORE_LEDGER_INTERVAL" in done.stderr and "Traceback" not in done.stderr


def test_the_verifiable_log_reads_its_part_of_the_settings() -> None:
    from casestore.domain.errors import InvalidCommand
    from casestore.ledger.config import LedgerConfig
    from casestore.ledger.notes import SignerKey

    key = SignerKey.generate("bureau.example/log")
    witness = SignerKey.generate("witness.example")
    config = LedgerConfig.from_settings(
        load_settings(
            {
                "CASESTORE_SIGNING_KEY": key.private_text(),
                "CASESTORE_LOG_ORIGIN": "bureau.example/log",
                "CASESTORE_CHECKPOINT_SECONDS": "2.5",
                "CASESTORE_CHECKPOINT_EVENTS": "100",
                "CASESTORE_WITNESS_KEYS": witness.verifier_text(),
            }
        )
    )
    assert config.origin == "bureau.example/log" and config.key is not None
    assert config.cadence.seconds == 2.5 and config.cadence.events == 100
    assert [w.name for w in config.witnesses] == ["witness.example"]
    with pytest.raises(SettingsError, match="CASESTORE_CHECKPOINT_SECONDS"):
        load_settings({"CASESTORE_CHECKPOINT_SECONDS": "0"})
    with pytest.raises(SettingsError, match="CASESTORE_CHECKPOINT_EVENTS"):
        load_settings({"CASESTORE_CHECKPOINT_EVENTS": "0"})
    misnamed = load_settings({"CASESTORE_SIGNING_KEY": key.private_text()})
    with pytest.raises(InvalidCommand, match="origin"):
        LedgerConfig.from_settings(misnamed)


def test_the_earliest_business_day_is_a_setting_bounded_and_applied_at_start() -> None:
    from datetime import datetime

    from casestore.bootstrap import settings_for
    from casestore.domain import values
    from casestore.domain.errors import InvalidCommand

    now = datetime(2026, 1, 5, 9, 0, tzinfo=values.BUREAU_TZ)
    old = datetime(1985, 6, 1, 9, 0, tzinfo=values.BUREAU_TZ)
    with pytest.raises(SettingsError, match="CASESTORE_EARLIEST_BUSINESS_DAY"):
        load_settings({"CASESTORE_EARLIEST_BUSINESS_DAY": "1900-01-01"})
    before = values.EARLIEST_BUSINESS_TIME
    try:
        settings_for(load_settings({"CASESTORE_EARLIEST_BUSINESS_DAY": "1980-01-01"}))
        assert values.check_business_time(old, now) == old
        settings_for(load_settings({}))
        with pytest.raises(InvalidCommand, match="1990-01-01"):
            values.check_business_time(old, now)
    finally:
        values.configure_earliest(before)
