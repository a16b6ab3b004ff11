"""Every ``CASESTORE_*`` variable, read and validated in one place (pydantic-settings).

A process reads its configuration once, at its composition root
(:mod:`casestore.bootstrap`): ``load_settings()`` takes the environment, the optional
``*_FILE`` variants of the secrets and a secrets directory, validates all of it and
either returns one frozen :class:`Settings` or raises :class:`SettingsError` whose
message names every bad variable (the CLI prints it and exits 2, SPEC §12). No other
module reads ``os.environ`` for a ``CASESTORE_*`` name.

Secrets (``CASESTORE_SECRET``, ``CASESTORE_CIPHER_KEY``, ``CASESTORE_SIGNING_KEY``,
``CASESTORE_QUERY_PEPPER``) are :class:`~pydantic.SecretStr`: never printed, never in a
``repr``. Each can come from the variable itself, from ``CASESTORE_<NAME>_FILE`` (a file
holding it), or from a file named ``casestore_<name>`` in the secrets directory
(``CASESTORE_SECRETS_DIR``, else systemd's ``$CREDENTIALS_DIRECTORY`` — so
``LoadCredential=casestore_secret:/etc/casestore/secret`` just works). Setting both a
variable and its ``_FILE`` is refused as ambiguous.

Fields for names other parts of wave 2 use (SPEC §9 signing key and checkpoints, §10
OIDC, pepper, trusted proxies, §5 read database) are declared here already, optional,
so those parts read them from the same object.

(A little over 400 lines: this is the one settings object, and every CASESTORE_* variable
is validated here, beside the others it depends on.)
"""

from __future__ import annotations

import contextvars
import difflib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    IPvAnyNetwork,
    NonNegativeInt,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from casestore.domain.values import BUREAU_TZ
from casestore.identity import BadConfiguration, OidcConfig, check_secret
from casestore.querycode import QueryPeppers
from casestore.store.config import DEFAULT_DB, check_database_url
from casestore.timelimits.calendar import Overrides
from casestore.timelimits.config import ClockConfig
from casestore.timelimits.supervision_config import SupervisionConfig

PREFIX = "CASESTORE_"
SECRET_FIELDS = ("secret", "cipher_key", "signing_key", "query_pepper")
CLOCK_FIELDS = (
    "yellow_threshold",
    "acceptance_days",
    "delivery_days",
    "bad_review_days",
    "follow_up_days",
    "enquiry_days",
    "default_statutory_days",
    "joint_statutory_days",
    "after_hours_next_day",
    "close_of_business",
    "office_closes",
)
SUPERVISION_FIELDS = (
    "backdate_seconds",
    "completion_gap_seconds",
    "supplement_notices_allowed",
    "seal_engraving_price_fen",
    "mailing_price_fen",
    "copying_price_fen",
)
#: ``CASESTORE_*`` names that are not product settings (the test harness's server).
FOREIGN = frozenset({"CASESTORE_TEST_PG"})

_environ: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "casestore_environ", default=None
)


class SettingsError(ValueError):
    """The configuration is unusable; ``str()`` names each bad variable and why."""


class _MappingEnvSource(EnvSettingsSource):
    """The environment source, over a given mapping instead of ``os.environ``."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        given = _environ.get()
        if given is None:
            return super()._load_env_vars()
        return parse_env_vars(given, self.case_sensitive, self.env_ignore_empty, None)


class Settings(BaseSettings):
    """The validated configuration of one casestore process (see the README's table)."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        env_ignore_empty=True,
        hide_input_in_errors=True,
    )

    # -- databases -----------------------------------------------------------------------
    db: str = DEFAULT_DB
    read_db: str | None = None
    db_pool_size: int = Field(8, ge=1, le=256)
    db_pre_ping: bool = True
    db_connect_timeout: int = Field(5, ge=1, le=600)
    #: Seconds a command may wait queued for the group commit, behind a write the database
    #: has not finished, before it leaves the queue unwritten (503 ``unavailable``).
    commit_queue_wait: float = Field(30.0, gt=0, le=600)
    # -- secrets (each also as *_FILE or a file in the secrets directory) ----------------
    secrets_dir: Path | None = None
    secret: SecretStr | None = None
    secret_file: Path | None = None
    cipher_key: SecretStr | None = None
    cipher_key_file: Path | None = None
    signing_key: SecretStr | None = None
    signing_key_file: Path | None = None
    query_pepper: SecretStr | None = None
    query_pepper_file: Path | None = None
    # -- clocks, supervision thresholds, calendar ---------------------------------------
    clock_config: Path | None = None
    clock_yellow_threshold: NonNegativeInt | None = None
    clock_acceptance_days: NonNegativeInt | None = None
    clock_delivery_days: NonNegativeInt | None = None
    clock_bad_review_days: NonNegativeInt | None = None
    clock_follow_up_days: NonNegativeInt | None = None
    clock_enquiry_days: NonNegativeInt | None = None
    clock_default_statutory_days: NonNegativeInt | None = None
    clock_joint_statutory_days: NonNegativeInt | None = None
    clock_after_hours_next_day: bool | None = None
    clock_close_of_business: bool | None = None
    clock_office_closes: str | None = None
    supervision_config: Path | None = None
    supervision_backdate_seconds: NonNegativeInt | None = None
    supervision_completion_gap_seconds: NonNegativeInt | None = None
    supervision_supplement_notices_allowed: NonNegativeInt | None = None
    supervision_seal_engraving_price_fen: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    supervision_mailing_price_fen: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    supervision_copying_price_fen: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    calendar_overrides: Path | None = None
    #: The earliest business day a command or import may claim (``occurred_at``),
    #: bureau local time; older paper records need an earlier one (from 1949-10-01).
    earliest_business_day: date = Field(
        date(1990, 1, 1), ge=date(1949, 10, 1), le=date(2099, 12, 31)
    )
    ledger_interval: PositiveInt | None = None
    # -- SPEC §9 verifiable log ------------------------------------------------------------
    log_origin: str = Field("casestore.local/log", min_length=1, max_length=200)
    checkpoint_seconds: float | None = Field(None, gt=0, le=86_400)
    checkpoint_events: int | None = Field(None, ge=1, le=10_000_000)
    witness_keys: str | None = Field(None, max_length=100_000)
    # -- SPEC §10 identity and personal data ---------------------------------------------
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks: str | None = None
    oidc_staff_claim: str | None = Field(None, min_length=1, max_length=100)
    #: Open public board streams (``/board/stream``) per client address, and in all.
    board_streams_per_client: int = Field(32, ge=1, le=1000)
    board_streams_total: int = Field(512, ge=1, le=100_000)
    #: The largest request body the API reads (413 beyond; api/bodylimit.py says why the
    #: floor is 576 KiB: the costliest spelling of the largest body a schema accepts).
    max_body_bytes: int = Field(1_048_576, ge=589_824, le=16_777_216)
    trusted_proxies: Annotated[tuple[IPvAnyNetwork, ...], NoDecode] = ()
    #: ``off`` stops appending ``AccessRecorded`` (only to measure what the trail costs).
    access_trail: bool = True
    # -- operations ----------------------------------------------------------------------
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # -- benchmarks ----------------------------------------------------------------------
    bench_pg: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # No .env file: configuration comes from the process, as systemd hands it over.
        return init_settings, _MappingEnvSource(settings_cls), file_secret_settings

    @field_validator("db", "read_db", "bench_pg")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or value == "off":
            return value
        return check_database_url(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _files_and_derived(self) -> Settings:
        for name in SECRET_FIELDS:
            path: Path | None = getattr(self, f"{name}_file")
            if path is None:
                continue
            if getattr(self, name) is not None:
                raise ValueError(
                    f"{PREFIX}{name.upper()} and {PREFIX}{name.upper()}_FILE are both set; set one"
                )
            try:
                text = path.read_text(encoding="utf-8").strip()
            except OSError as e:
                raise ValueError(f"{PREFIX}{name.upper()}_FILE: cannot read {path}: {e}") from e
            if not text:
                raise ValueError(f"{PREFIX}{name.upper()}_FILE: {path} is empty")
            object.__setattr__(self, name, SecretStr(text))
        key = self.cipher_key.get_secret_value() if self.cipher_key else ""
        if key:
            _check_cipher_key(key)
        secret = self.secret_value()
        if secret:
            try:
                check_secret(secret)
            except BadConfiguration as e:
                raise ValueError(e.message) from None
        self.peppers()
        self.oidc()
        # Read the named files now, so a bad one stops the process at start.
        self.clock()
        self.supervision()
        self.overrides()
        return self

    # -- derived values ------------------------------------------------------------------

    def clock(self) -> ClockConfig:
        """Clock thresholds: defaults, then ``CASESTORE_CLOCK_CONFIG``, then each variable."""
        base = ClockConfig.from_json(self.clock_config) if self.clock_config else ClockConfig()
        return base.with_values(self._prefixed("clock_", CLOCK_FIELDS))

    def supervision(self) -> SupervisionConfig:
        """Supervision thresholds: defaults, then the JSON file, then each variable."""
        path = self.supervision_config
        base = SupervisionConfig.from_json(path) if path else SupervisionConfig()
        return base.with_values(self._prefixed("supervision_", SUPERVISION_FIELDS))

    def overrides(self) -> Overrides:
        """Calendar overrides: ``CASESTORE_CALENDAR_OVERRIDES``, else the packaged file."""
        if self.calendar_overrides is not None:
            return Overrides.load(self.calendar_overrides)
        return Overrides.packaged()

    def earliest_business_time(self) -> datetime:
        """The start of ``earliest_business_day`` in the bureau's time zone."""
        return datetime.combine(self.earliest_business_day, time(0), BUREAU_TZ)

    def secret_value(self) -> str:
        """The token signing secret, or ``""`` when none is configured."""
        return self.secret.get_secret_value() if self.secret else ""

    def peppers(self) -> QueryPeppers | None:
        """The query-code peppers (``CASESTORE_QUERY_PEPPER``: ``KID:BASE64[,...]``)."""
        value = self.query_pepper.get_secret_value() if self.query_pepper else ""
        if not value:
            return None
        try:
            return QueryPeppers.parse(value)
        except BadConfiguration as e:
            raise ValueError(e.message) from None

    def oidc(self) -> OidcConfig | None:
        """The identity provider: issuer, audience and JWKS together, or none of them."""
        given = (self.oidc_issuer, self.oidc_audience, self.oidc_jwks)
        if not any(given):
            return None
        if not all(given):
            raise ValueError(
                f"{PREFIX}OIDC_ISSUER, {PREFIX}OIDC_AUDIENCE and {PREFIX}OIDC_JWKS go together"
            )
        assert self.oidc_issuer and self.oidc_audience and self.oidc_jwks
        return OidcConfig(
            self.oidc_issuer,
            self.oidc_audience,
            self.oidc_jwks,
            staff_claim=self.oidc_staff_claim or "sub",
        )

    def cipher_key_value(self) -> str:
        """The AES key for encryption at rest, or ``""``."""
        return self.cipher_key.get_secret_value() if self.cipher_key else ""

    def views_url(self) -> str:
        """Where the read side's views are read (``CASESTORE_READ_DB``, else ``db``)."""
        return self.read_db or self.db

    def with_overrides(self, *, secret: str | None = None, read_db: str | None = None) -> Settings:
        """A copy with a secret or read database given in code (tests, embedding), checked
        as the variables would be."""
        update: dict[str, Any] = {}
        if secret is not None:
            update["secret"] = SecretStr(secret)
        if read_db is not None:
            try:
                update["read_db"] = check_database_url(read_db)
            except ValueError as e:
                raise SettingsError(f"{PREFIX}READ_DB: {e}") from None
        return self.model_copy(update=update) if update else self

    def _prefixed(self, prefix: str, names: tuple[str, ...]) -> dict[str, Any]:
        values = {name: getattr(self, prefix + name) for name in names}
        return {name: value for name, value in values.items() if value is not None}


def _check_cipher_key(key: str) -> None:
    import base64
    import binascii

    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"{PREFIX}CIPHER_KEY is not base64 (make one with `casestore keygen`)"
        ) from None
    if len(raw) not in (16, 24, 32):
        raise ValueError(f"{PREFIX}CIPHER_KEY must decode to 16, 24 or 32 bytes, not {len(raw)}")


def known_names() -> list[str]:
    """Every ``CASESTORE_*`` variable the settings read, in declaration order."""
    return [PREFIX + name.upper() for name in Settings.model_fields]


@contextmanager
def _reading(environ: Mapping[str, str] | None) -> Iterator[None]:
    token = _environ.set(environ)
    try:
        yield
    finally:
        _environ.reset(token)


def load_settings(environ: Mapping[str, str] | None = None, **given: Any) -> Settings:
    """Read and validate the configuration (``environ`` defaults to the process's).

    ``given`` values (the CLI's ``--db``, a test's URL) win over the environment. A
    ``CASESTORE_*`` name that is no setting but close to one (``CASESTORE_SECRTE``) is
    refused as a misspelling.
    """
    env = os.environ if environ is None else environ
    misspelt = _misspelt(env)
    if misspelt:
        raise SettingsError(
            "unknown configuration variable(s): "
            + ", ".join(f"{name} (did you mean {meant}?)" for name, meant in misspelt)
            + " (see the README's table of CASESTORE_* variables)"
        )
    secrets_dir = env.get(PREFIX + "SECRETS_DIR") or env.get("CREDENTIALS_DIRECTORY") or None
    if secrets_dir and not Path(secrets_dir).is_dir():
        raise SettingsError(f"{PREFIX}SECRETS_DIR: {secrets_dir} is not a directory")
    given = {k: v for k, v in given.items() if v is not None}
    try:
        with _reading(environ):
            build: Any = Settings  # pydantic-settings' init-only ``_secrets_dir`` is untyped
            settings: Settings = build(_secrets_dir=secrets_dir, **given)
            return settings
    except ValidationError as e:
        raise SettingsError(_describe(e)) from None


def _misspelt(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """``CASESTORE_*`` names that are not settings but close to one: (name, the setting).

    A misspelt name must not silently leave a default in force. Names far from every
    setting are left alone: other tools may share the prefix."""
    known = {name.removeprefix(PREFIX) for name in known_names()}
    found = []
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in FOREIGN:
            continue
        rest = upper.removeprefix(PREFIX)
        if rest in known:
            continue
        close = difflib.get_close_matches(rest, known, n=1, cutoff=0.8)
        if close:
            found.append((name, PREFIX + close[0]))
    return found


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{PREFIX}{where.upper()}: {message}" if where else message)
    return "invalid configuration:\n  " + "\n  ".join(lines)
