"""One Settings object from environment variables and .streamlit/secrets.toml (env wins).

Secrets (the API keys, and DATABASE_URL, which holds a password) are pydantic SecretStr: they
never appear in repr(), str() or a log line. Read them with `.get_secret_value()` where they are
used, nowhere else.
"""
from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SECRETS_FILE = ROOT / ".streamlit" / "secrets.toml"
DEFAULT_MODEL = "claude-sonnet-5-5"  # lib.generation.llm.DEFAULT_MODEL: Sonnet 4.5 reaches end-of-life on 2026-11-30

# setting -> environment variable (and key in secrets.toml)
ENV_NAMES: dict[str, str] = {
    "database_url": "DATABASE_URL",
    "supabase_url": "SUPABASE_URL",
    "supabase_key": "SUPABASE_KEY",
    # hosted mode: the service-role key, for the worker only (server secrets; never sent to a browser)
    "supabase_service_key": "SUPABASE_SERVICE_ROLE_KEY",
    "data_dir": "BRIGHTRUN_DATA_DIR",
    "anthropic_api_key": "ANTHROPIC_API_KEY",
    "anthropic_base_url": "ANTHROPIC_BASE_URL",
    "model": "BRIGHTRUN_MODEL",
    "concurrency": "BRIGHTRUN_CONCURRENCY",
}

StoreMode = Literal["embedded", "postgres", "supabase"]


class ConfigError(ValueError):
    """A setting that cannot be used, phrased as one line naming the setting and its source."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: SecretStr | None = None
    supabase_url: str | None = None
    supabase_key: SecretStr | None = None
    supabase_service_key: SecretStr | None = None
    data_dir: Path = Field(default=Path(".data"), validate_default=True, description="Embedded PostgreSQL data; relative to the project root.")
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    model: str = DEFAULT_MODEL
    concurrency: int = Field(default=8, ge=1, le=256)

    @field_validator("data_dir")
    @classmethod
    def _anchor_data_dir(cls, value: Path) -> Path:
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

    def display_rows(self) -> list[dict[str, str]]:
        """Each setting with its variable name and a value safe to show: secrets only say set / not set."""
        rows = []
        for field, name in ENV_NAMES.items():
            value = getattr(self, field)
            if field == "database_url":
                shown = self.database_label() or "not set"
            elif isinstance(value, SecretStr) or field.endswith("_key"):
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
    def load(cls, env: Mapping[str, str] | None = None, secrets_file: Path | None | bool = True) -> Settings:
        """Environment variables win over secrets.toml; empty values count as unset.
        secrets_file: True = .streamlit/secrets.toml (looked up now, so tests can move it), None = none."""
        env = os.environ if env is None else env
        if secrets_file is True:
            secrets_file = SECRETS_FILE
        secrets = _read_secrets(secrets_file) if isinstance(secrets_file, Path) else {}
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for field, name in ENV_NAMES.items():
            if env.get(name, "").strip():
                values[field], sources[field] = env[name].strip(), f"environment variable {name}"
            elif name in secrets and str(secrets[name]).strip():
                values[field], sources[field] = str(secrets[name]).strip(), f"{name} in {secrets_file}"
        try:
            return cls(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = str(err["loc"][0]) if err["loc"] else "?"
            where = sources.get(field, field)
            raise ConfigError(f"{where}: {err['msg']}") from None


def _read_secrets(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc}); fix the file or remove it") from None
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
