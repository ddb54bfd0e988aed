"""Settings: env wins over secrets.toml, secrets never show, the store mode follows what is set."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from lib.config import ROOT, ConfigError, Settings, safe_dsn_label, secret_values, settings_table


def write_secrets(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_env_wins_over_secrets_and_empty_counts_as_unset(tmp_path: Path) -> None:
    secrets = write_secrets(tmp_path, 'BRIGHTRUN_MODEL = "from-secrets"\nBRIGHTRUN_CONCURRENCY = 3\n'
                                      'ANTHROPIC_API_KEY = "fake-ak-from-secrets"\n[connections.x]\nurl = "ignored"\n')
    s = Settings.load(env={"BRIGHTRUN_MODEL": "from-env", "ANTHROPIC_API_KEY": ""}, secrets_file=secrets)
    assert s.model == "from-env"
    assert s.concurrency == 3
    assert s.anthropic_api_key is not None and s.anthropic_api_key.get_secret_value() == "fake-ak-from-secrets"
    assert s.has_api_key


def test_defaults_give_the_embedded_store_in_dot_data(tmp_path: Path) -> None:
    s = Settings.load(env={}, secrets_file=tmp_path / "missing.toml")
    assert s.store_mode == "embedded"
    assert s.data_dir == ROOT / ".data"
    assert not s.has_api_key and s.concurrency == 8
    assert Settings.load(env={"SUPABASE_URL": "https://x.supabase.co"}, secrets_file=None).store_mode == "supabase"
    both = Settings.load(env={"SUPABASE_URL": "https://x.supabase.co", "DATABASE_URL": "postgresql://h/db"},
                         secrets_file=None)
    assert both.store_mode == "postgres"


def test_secrets_never_appear_in_repr_or_str() -> None:
    s = Settings(anthropic_api_key="fake-ak-very-secret", database_url="postgresql://u:pw-secret@db.example.com:5432/app",
                 supabase_key="eyJ-secret")
    for text in (repr(s), str(s), s.model_dump_json()):
        assert "very-secret" not in text and "pw-secret" not in text and "eyJ-secret" not in text
    assert s.database_label() == "postgresql://u@db.example.com:5432/app"


def test_a_bad_setting_names_its_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError,
                       match="environment variable BRIGHTRUN_CONCURRENCY: Input should be a valid integer"):
        Settings.load(env={"BRIGHTRUN_CONCURRENCY": "many"}, secrets_file=None)
    secrets = write_secrets(tmp_path, "BRIGHTRUN_CONCURRENCY = 0\n")
    with pytest.raises(ConfigError, match=r"BRIGHTRUN_CONCURRENCY in .*secrets.toml: Input should be greater"):
        Settings.load(env={}, secrets_file=secrets)
    broken = write_secrets(tmp_path, "this is = = not toml")
    with pytest.raises(ConfigError, match=r"secrets\.toml: not valid TOML \(.*at line 1.*\); fix the file there"):
        Settings.load(env={}, secrets_file=broken)


@pytest.mark.parametrize(("dsn", "label"), [
    ("postgresql://postgres:pw@db.abc.supabase.co:5432/postgres?sslmode=require",
     "postgresql://postgres@db.abc.supabase.co:5432/postgres"),
    ("postgres://localhost/app", "postgres://localhost/app"),
    ("host=db.example.com port=5432 dbname=app user=me password=pw",
     "host=db.example.com port=5432 dbname=app user=me"),
    ("postgresql://u:pw@h:notaport/db", "postgresql://u@h/db"),
])
def test_safe_dsn_label_never_shows_a_password(dsn: str, label: str) -> None:
    assert safe_dsn_label(dsn) == label


def test_settings_built_in_code_read_neither_the_environment_nor_secrets(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # A test or benchmark that asks for an embedded store must not land on a DATABASE_URL someone exported.
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw@db.example.com/app")
    monkeypatch.setattr("lib.config.SECRETS_FILE", write_secrets(tmp_path, 'SUPABASE_URL = "https://x.supabase.co"\n'))
    assert Settings(data_dir=tmp_path).store_mode == "embedded"
    assert Settings.load().store_mode == "postgres"


def test_every_secret_is_found_even_when_another_setting_is_invalid(tmp_path: Path) -> None:
    secrets = write_secrets(tmp_path, 'SUPABASE_SERVICE_ROLE_KEY = "service-from-file"\n'
                                      'SUPABASE_KEY = "anon-from-file"\nBRIGHTRUN_CONCURRENCY = 0\n')
    dsn = "postgresql://u:pw@h/db"
    env = {"ANTHROPIC_API_KEY": " sk-from-env ", "DATABASE_URL": dsn, "SUPABASE_KEY": "anon-from-env",
           "BRIGHTRUN_MODEL": "not a secret"}
    assert secret_values(env=env, secrets_file=secrets) == {
        "ANTHROPIC_API_KEY": "sk-from-env", "DATABASE_URL": dsn, "SUPABASE_KEY": "anon-from-env",
        "SUPABASE_SERVICE_ROLE_KEY": "service-from-file"}
    broken = write_secrets(tmp_path, "this is = = not toml")
    assert secret_values(env=env, secrets_file=broken)["ANTHROPIC_API_KEY"] == "sk-from-env"


def test_the_readme_configuration_table_is_the_settings_model() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    assert table == settings_table(), ("README.md's Configuration table differs from lib/config.py's Settings: "
                                       "replace it with the output of `python -m lib.config`")


def test_only_lib_config_reads_the_environment() -> None:
    reads_env = re.compile(r"\bos\.environ\b|\bgetenv\(|from os import [^\n]*\benviron\b")
    files = [ROOT / "app.py", *sorted((ROOT / "lib").rglob("*.py")), *sorted((ROOT / "pages").rglob("*.py"))]
    readers = [str(p.relative_to(ROOT)) for p in files
               if p != ROOT / "lib" / "config.py" and reads_env.search(p.read_text(encoding="utf-8"))]
    assert not readers, f"read settings through lib.config.Settings, not os.environ: {readers}"


def test_the_secrets_example_names_every_setting() -> None:
    from lib.config import Settings

    example = (ROOT / ".streamlit" / "secrets.toml.example").read_text(encoding="utf-8")
    names = [str(f.validation_alias) for f in Settings.model_fields.values()]
    assert [n for n in names if f"{n} = " not in example] == []
