"""Bad files: the price table, secrets.toml, the taxonomy, the seeds and the data folder each fail in
one line that names the file and the line or key, with advice that fits the cause; the worker says
in the log and on the Generate page why it did not start; the Settings page shows no traceback."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from lib.config import ConfigError, Settings
from lib.core.seeds import load_seeds
from lib.core.taxonomy import TaxonomyError, load_taxonomy
from lib.generation.pricing import PriceError, load_prices
from lib.store.protocol import StoreUnavailable

ROOT = Path(__file__).resolve().parent.parent
GARBAGE_YAML = "models:\n  claude-x: {input: 3, output: [15\n"  # the ScannerError / ParserError of a bad edit


def one_line(message: str) -> str:
    assert "\n" not in message and "Traceback" not in message and len(message) < 400, message
    return message


def deny_reading(monkeypatch: pytest.MonkeyPatch, victim: Path) -> None:
    """This user may not read `victim` (tests run as root, which chmod does not stop)."""
    real = Path.read_text

    def read_text(self: Path, *args: Any, **kwargs: Any) -> str:
        if self == victim:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)
    monkeypatch.setattr(Path, "read_text", read_text)


# -- the price table ------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "where", "expected"), [
    (GARBAGE_YAML, "line 3", "not valid YAML"),
    ("just words", "models", "not a mapping"),
    ("models: {claude-x: 3}", "models.claude-x", "not a mapping"),
    ("models: {claude-x: {input: 3}}", "models.claude-x.output", "missing"),
    ("models: {claude-x: {input: cheap, output: 1, cache_write_5m: 1, cache_write_1h: 1, cache_read: 1}}",
     "models.claude-x.input", "not a number"),
    ("batch_discount: 2\nmodels: {}", "batch_discount", "out of range"),
])
def test_a_bad_price_table_names_the_file_and_the_key(tmp_path: Path, text: str, where: str, expected: str) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PriceError) as exc:
        load_prices(path)
    message = one_line(str(exc.value))
    assert message.startswith(f"{path}: {where}") and expected in message


def test_an_unreadable_file_gets_advice_for_its_cause_not_deletion(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("models: {}", encoding="utf-8")
    deny_reading(monkeypatch, path)
    with pytest.raises(PriceError) as exc:
        load_prices(path)
    message = one_line(str(exc.value))
    assert "permission denied" in message and "chmod u+r" in message and "BRIGHTRUN_PRICES_FILE" in message
    assert "delete" not in message and "remove" not in message
    with pytest.raises(PriceError, match=r"it does not exist\); create it, or set BRIGHTRUN_PRICES_FILE"):
        load_prices(tmp_path / "gone.yaml")
    with pytest.raises(PriceError, match=r"config/gone.yaml: .*restore it \(git checkout -- config/gone.yaml\)"):
        load_prices(ROOT / "config" / "gone.yaml")


# -- secrets.toml, the taxonomy, the seeds ----------------------------------------------------------
def test_a_bad_secrets_file_names_the_line_and_never_the_value(tmp_path: Path) -> None:
    path = tmp_path / "secrets.toml"
    path.write_text('BRIGHTRUN_MODEL = "x"\nANTHROPIC_API_KEY = fake-unquoted-secret-value\n', encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        Settings.load(env={}, secrets_file=path)
    message = one_line(str(exc.value))
    assert str(path) in message and "line 2" in message and "not valid TOML" in message
    assert "unquoted-secret" not in message


def test_a_bad_taxonomy_file_says_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "taxonomy"
    shutil.copytree(ROOT / "taxonomy", folder)
    (folder / "arcs.yaml").write_text(GARBAGE_YAML, encoding="utf-8")
    with pytest.raises(TaxonomyError) as exc:
        load_taxonomy(folder)
    assert "arcs.yaml: line 3: not valid YAML" in one_line(str(exc.value))
    shutil.copy(ROOT / "taxonomy" / "arcs.yaml", folder / "arcs.yaml")
    deny_reading(monkeypatch, folder / "personas.yaml")
    with pytest.raises(TaxonomyError) as exc:
        load_taxonomy(folder)
    message = one_line(str(exc.value))
    assert "personas.yaml: cannot read it (permission denied)" in message and "chmod u+r" in message


def test_a_bad_seed_is_skipped_with_its_line_and_the_rest_load(tmp_path: Path) -> None:
    for p in sorted((ROOT / "seeds").glob("*.json"))[:2]:
        shutil.copy(p, tmp_path / p.name)
    (tmp_path / "zz-broken.json").write_text('{"id": "x",\n  "turns": [', encoding="utf-8")
    (tmp_path / "zz-latin1.json").write_bytes('{"id": "caf\xe9"}'.encode("latin-1"))
    loaded = load_seeds(tmp_path)
    assert len(loaded.conversations) == 2
    broken, latin = loaded.errors
    assert one_line(broken).startswith(f"{tmp_path.name}/zz-broken.json: skipped, not valid JSON (")
    assert "line 2" in broken
    assert "is not UTF-8 text; save the file as UTF-8" in one_line(latin)


# -- the data folder ------------------------------------------------------------------------------------
def test_a_read_only_data_folder_says_so_and_never_says_delete(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from lib.store import embedded

    data = tmp_path / "data"
    (data / "pgdata").mkdir(parents=True)
    monkeypatch.setattr(embedded.os, "access", lambda path, mode: Path(path) != data)
    for _ in range(2):  # the second try (a later page) says the same, never an AssertionError
        with pytest.raises(StoreUnavailable) as exc:
            embedded.start_embedded(data)
        message = one_line(str(exc.value))
        assert "is read-only for this user" in message and "chmod -R u+w" in message
        assert "BRIGHTRUN_DATA_DIR" in message and "delete" not in message


def test_a_server_that_fails_to_start_is_tried_afresh_next_time(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from pgserver.postgres_server import PostgresServer

    from lib.store import embedded

    data = tmp_path / "data"

    def refuse(self: Any) -> None:
        raise PermissionError(13, "Permission denied", str(self.pgdata / "postmaster.pid"))
    monkeypatch.setattr(PostgresServer, "ensure_pgdata_inited", lambda self: None)
    monkeypatch.setattr(PostgresServer, "ensure_postgres_running", refuse)
    for _ in range(2):
        with pytest.raises(StoreUnavailable, match="is read-only for this user"):
            embedded.start_embedded(data, keep_running=False)
    assert (data / "pgdata").resolve() not in PostgresServer._instances


# -- the worker and the pages ---------------------------------------------------------------------------
def test_the_worker_says_why_it_did_not_start_in_the_log_and_on_the_generate_page(
        app_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(GARBAGE_YAML, encoding="utf-8")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-ak-test-0123456789abcdef")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("BRIGHTRUN_PRICES_FILE", str(prices))
    st.cache_resource.clear()
    caplog.set_level(logging.ERROR)
    at = AppTest.from_file(str(ROOT / "pages" / "generate.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    [error] = [e.value for e in at.error if "did not start" in e.value]
    assert "prices.yaml: line 3: not valid YAML" in error.replace("\\", "") and "reload this page" in error
    logged = [r.getMessage() for r in caplog.records if "did not start" in r.getMessage()]
    assert len(logged) == 1 and "prices.yaml: line 3" in logged[0]

    settings_page = AppTest.from_file(str(ROOT / "pages" / "settings.py"), default_timeout=60).run()
    assert not settings_page.exception, settings_page.exception
    assert any("The price table cannot be used" in e.value and "line 3" in e.value for e in settings_page.error)

    prices.write_text((ROOT / "config" / "prices.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    at.run()  # fixed: the next run starts the worker, no restart needed
    assert not at.exception, at.exception
    assert not [e for e in at.error if "did not start" in e.value]
    st.cache_resource.clear()  # stops the worker thread
