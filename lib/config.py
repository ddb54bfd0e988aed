"""The app's settings: one pydantic-settings model over the environment and .streamlit/secrets.toml.

`Settings.load()` reads them: an environment variable wins over the same name in secrets.toml, and a
blank value counts as unset. `Settings(...)` holds exactly the values it is given and reads nothing,
so a test or benchmark that asks for an embedded store never lands on a DATABASE_URL someone exported.

Secrets (the API keys, and DATABASE_URL, which holds a password) are pydantic SecretStr: they never
appear in repr(), str() or a log line. Read them with `.get_secret_value()` where they are used.
This is the only module that reads os.environ; `python -m lib.config` prints the README's table.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from lib.core import files
from lib.core.redaction import dsn_password, remember

ROOT = Path(__file__).resolve().parent.parent
SECRETS_FILE = ROOT / ".streamlit" / "secrets.toml"
PRICES_FILE = ROOT / "config" / "prices.yaml"
# Claude Sonnet 4.5 (the spec's model) reaches end-of-life on 2026-11-30; Sonnet 5.5 is its recommended
# replacement. tests/test_llm.py checks it is the newest Sonnet config/prices.yaml prices.
DEFAULT_MODEL = "claude-sonnet-5-5"
DEFAULT_MAX_TOKENS = 16_000  # a 16-turn conversation with sentence functions is ~8k output tokens

StoreMode = Literal["embedded", "postgres", "supabase"]


class ConfigError(ValueError):
    """A setting that cannot be used, phrased as one line naming the setting and its source."""


# The variables of one Settings.load(), for the sources below; unset while Settings(...) is built directly.
_loading: ContextVar[tuple[dict[str, str], dict[str, str]] | None] = ContextVar("brightrun_settings", default=None)


class _Variables(PydanticBaseSettingsSource):
    """Values by variable name (the environment, or secrets.toml's top-level keys) for the fields
    whose variable they name."""

    def __init__(self, settings_cls: type[BaseSettings], which: Literal["env", "secrets"]) -> None:
        super().__init__(settings_cls)
        loading = _loading.get()
        self.values: dict[str, str] = {} if loading is None else loading[0 if which == "env" else 1]

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        name = str(field.validation_alias)
        return self.values.get(name), name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, name, _ = self.get_field_value(field, field_name)
            if value is not None:
                found[name] = value
        return found


class Settings(BaseSettings):
    """Every setting the app reads. The alias of a field is its environment variable (and its key in
    .streamlit/secrets.toml); its description is the README's "what it does"."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias="ANTHROPIC_API_KEY",
        description="Claude API key. Without it, generation is disabled and everything else works",
    )
    anthropic_base_url: str | None = Field(
        default=None,
        validation_alias="ANTHROPIC_BASE_URL",
        description="any Anthropic-compatible endpoint (a proxy, a local model server, the tests' fake server); "
        "unset means Anthropic's API",
    )
    model: str = Field(
        default=DEFAULT_MODEL, validation_alias="BRIGHTRUN_MODEL", description="the Claude model used for generation"
    )
    max_tokens: int = Field(
        default=DEFAULT_MAX_TOKENS,
        ge=1,
        validation_alias="BRIGHTRUN_MAX_TOKENS",
        description="output tokens one generation request may use; a cut-off answer is retried once with more room",
    )
    concurrency: int = Field(
        default=8,
        ge=1,
        le=256,
        validation_alias="BRIGHTRUN_CONCURRENCY",
        description="upper bound of concurrent requests per worker (1 to 256)",
    )
    judge: bool | None = Field(
        default=None,
        validation_alias="BRIGHTRUN_JUDGE",
        description="rate every generated conversation with the quality judge right after it is stored "
        "(tokens and cost shown apart on the Generate page); unset means on when ANTHROPIC_API_KEY is set",
    )
    regenerate_on_low_rating: bool = Field(
        default=False,
        validation_alias="BRIGHTRUN_REGENERATE_ON_LOW_RATING",
        description="when the judge rates a generated conversation below a pass mark, generate it once more with "
        "the judge's reasons as feedback (one automatic regeneration per scenario at most; needs the judge)",
    )
    prices_file: Path = Field(
        default=PRICES_FILE,
        validation_alias="BRIGHTRUN_PRICES_FILE",
        description="the Claude price table (USD per million tokens) behind every cost figure; "
        "relative to the project root",
    )
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="any PostgreSQL, a Supabase project's connection string included; it wins over SUPABASE_URL",
    )
    supabase_url: str | None = Field(
        default=None,
        validation_alias="SUPABASE_URL",
        description='hosted mode on Supabase: people sign in (see "Deploying on Supabase")',
    )
    supabase_key: SecretStr | None = Field(
        default=None, validation_alias="SUPABASE_KEY", description="hosted mode: the project's anon key"
    )
    supabase_service_key: SecretStr | None = Field(
        default=None,
        validation_alias="SUPABASE_SERVICE_ROLE_KEY",
        description="hosted mode: the key the server's worker uses; server secrets only, never sent to a browser",
    )
    data_dir: Path = Field(
        default=Path(".data"),
        validate_default=True,
        validation_alias="BRIGHTRUN_DATA_DIR",
        description="where the embedded PostgreSQL keeps its data, and exports go; relative to the project root",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The first source that has a value wins.
        return init_settings, _Variables(settings_cls, "env"), _Variables(settings_cls, "secrets")

    def model_post_init(self, context: Any, /) -> None:
        # Every secret this process is given is masked wherever text is stored, logged or shown.
        values = [getattr(self, f).get_secret_value() for f in SECRET_FIELDS if getattr(self, f) is not None]
        if self.database_url is not None:
            values.append(dsn_password(self.database_url.get_secret_value()) or "")
        remember(*values)

    @field_validator("data_dir", "prices_file")
    @classmethod
    def _anchor_path(cls, value: Path) -> Path:
        # Relative to the project, not the working directory, so `streamlit run` from anywhere
        # and `python -m lib db` share one embedded database.
        value = value.expanduser()
        return value if value.is_absolute() else ROOT / value

    @property
    def store_mode(self) -> StoreMode:
        """DATABASE_URL wins (the worker uses it in hosted mode too), then Supabase, else embedded."""
        if self.database_url is not None:
            return "postgres"
        if self.supabase_url:
            return "supabase"
        return "embedded"

    @property
    def has_api_key(self) -> bool:
        return self.anthropic_api_key is not None and bool(self.anthropic_api_key.get_secret_value())

    @property
    def judge_on(self) -> bool:
        """Is every generated conversation rated right after it is stored (BRIGHTRUN_JUDGE)?"""
        return self.has_api_key and self.judge is not False

    @property
    def regenerate_on_low_rating_on(self) -> bool:
        """Does a low rating trigger its one regeneration (it needs the judge to run)?"""
        return self.judge_on and self.regenerate_on_low_rating

    def display_rows(self) -> list[dict[str, str]]:
        """Each setting with its variable name and a value safe to show: secrets only say set / not set."""
        rows = []
        for field, name in ENV_NAMES.items():
            value = getattr(self, field)
            if field == "database_url":
                shown = self.database_label() or "not set"
            elif field in SECRET_FIELDS:
                shown = "set" if value is not None and value.get_secret_value() else "not set"
            else:
                shown = "not set" if value in (None, "") else str(value)
            rows.append({"Setting": name, "Value": shown})
        return rows

    def database_label(self) -> str:
        """Where DATABASE_URL points, safe to show: the password is never part of it."""
        if self.database_url is None:
            return ""
        return safe_dsn_label(self.database_url.get_secret_value())

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, secrets_file: Path | bool | None = True) -> Settings:
        """Environment variables win over secrets.toml; blank values count as unset.
        env: None = os.environ. secrets_file: True = .streamlit/secrets.toml (looked up now, so tests
        can move it), None or False = none."""
        path = _secrets_path(secrets_file)
        from_env = _set_values(os.environ if env is None else env)
        from_file = _set_values(_read_secrets(path)) if path is not None else {}
        token = _loading.set((from_env, from_file))
        try:
            return cls()
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0]) if err["loc"] else "?"
            where, advice = name, f"set {name} to a valid value"
            if name in from_env:
                where, advice = f"environment variable {name}", f"change or unset {name}"
            elif name in from_file:
                where, advice = f"{name} in {path}", f"change it in {path}"
            raise ConfigError(f"{where}: {err['msg']}; {advice}") from None
        finally:
            _loading.reset(token)


ENV_NAMES: dict[str, str] = {field: str(info.validation_alias) for field, info in Settings.model_fields.items()}
SECRET_FIELDS: frozenset[str] = frozenset(
    field for field, info in Settings.model_fields.items() if SecretStr in (info.annotation, *get_args(info.annotation))
)


def secret_values(env: Mapping[str, str] | None = None, secrets_file: Path | bool | None = True) -> dict[str, str]:
    """Each secret setting that is set, by variable name, as written (the environment wins). Read
    without validating, so an invalid setting elsewhere hides no secret from a check for leaks."""
    from_env = _set_values(os.environ if env is None else env)
    path = _secrets_path(secrets_file)
    try:
        from_file = _set_values(_read_secrets(path)) if path is not None else {}
    except ConfigError:
        from_file = {}
    found = {}
    for field in SECRET_FIELDS:
        name = ENV_NAMES[field]
        value = from_env.get(name) or from_file.get(name)
        if value:
            found[name] = value
    return found


def settings_table() -> str:
    """The README's "Configuration" table, from the model."""
    lines = ["| name | default | what it does |", "|---|---|---|"]
    for field, info in Settings.model_fields.items():
        value = info.default
        if isinstance(value, Path) and value.is_relative_to(ROOT):
            value = value.relative_to(ROOT)
        default = "unset" if value is None else f"`{value}`"
        doc = info.description or ""
        if field in SECRET_FIELDS:
            doc += ". Never shown or logged"
        lines.append(f"| `{ENV_NAMES[field]}` | {default} | {doc} |")
    return "\n".join(lines)


def _secrets_path(secrets_file: Path | bool | None) -> Path | None:
    if secrets_file is True:
        return SECRETS_FILE
    return secrets_file if isinstance(secrets_file, Path) else None


def _set_values(variables: Mapping[str, Any]) -> dict[str, str]:
    """The settings' variables that have a non-blank value, stripped."""
    found = {}
    for name in ENV_NAMES.values():
        value = str(variables.get(name, "")).strip()
        if value:
            found[name] = value
    return found


def _read_secrets(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(files.read_text(path))
    except files.FileProblem as exc:
        raise ConfigError(str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        # "Invalid value (at line 3, column 7)": the line is in the message, never the value itself
        problem = str(exc)
        line = getattr(exc, "lineno", None)
        raise ConfigError(files.syntax_error(path, "TOML", line, problem)) from None
    return {k: v for k, v in data.items() if not isinstance(v, dict)}


def safe_dsn_label(dsn: str) -> str:
    """postgresql://user:secret@host:5432/db?x -> postgresql://user@host:5432/db (no password, no query)."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "a PostgreSQL connection string"
    if parts.scheme not in ("postgres", "postgresql"):
        # key=value DSNs: keep only host, port, dbname and user
        keep = [kv for kv in dsn.split() if kv.split("=", 1)[0] in ("host", "port", "dbname", "user")]
        return " ".join(keep) or "a PostgreSQL connection string"
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    user = f"{parts.username}@" if parts.username else ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed port: show none rather than fail while reporting
        port = ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


if __name__ == "__main__":
    print(settings_table())
