"""The Export page under AppTest, on a database booted like a first start (10 approved seeds, 90
scenarios): counts, the explanation when nothing matches, building, the preview and the download."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

import lib.export as ex
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "export.py")
FAKE_KEY = "fake-ak-api03-FAKE-page-test-key-0123456789abcdef"


@pytest.fixture
def page_env(app_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """app_env, with the exports (BRIGHTRUN_DATA_DIR/exports) in a temporary folder. DATABASE_URL
    wins over the data dir for the database, so only the exports move."""
    monkeypatch.setenv("BRIGHTRUN_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data" / "exports"


def run_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str):  # noqa: ANN201
    return next(b for b in at.button if b.label == label)


def test_the_page_exports_the_approved_seeds_and_previews_them(page_env: Path) -> None:
    at = run_page()
    assert at.radio(key="export_selection").value == "approved"
    assert "**10** conversations match (10 approved), out of 10." in [i.value for i in at.info]
    build = button(at, "Build export")
    assert not build.disabled
    at = build.click().run()
    assert not at.exception and not at.error
    out = page_env / "brightrun-approved"
    manifest = ex.read_manifest(out)
    assert manifest is not None and manifest["counts"]["conversations"] == 10
    assert ex.verify(out) == [] and (page_env / "brightrun-approved.zip").is_file()
    assert any("Exported 10 conversations" in s.value for s in at.success)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Conversations"] == "10" and int(metrics["Train"]) + int(metrics["Eval"]) == 10
    # the preview: the first records of each file, JSON shown as JSON (text, never HTML)
    assert len(at.tabs) == len(manifest["files"])
    assert len(at.json) >= 3 * 3
    first = json.loads(at.json[0].value)
    assert first["format_version"] == "1.0"
    assert any(c.value.startswith("---\n") for c in at.code)  # the dataset card
    assert pq.read_table(out / "data/train-00000-of-00001.parquet").num_rows == manifest["counts"]["train"]
    assert at.session_state["br_export_dir"] == str(out)


def test_a_custom_filter_that_matches_nothing_says_why_and_disables_the_button(page_env: Path) -> None:
    at = run_page()
    at.radio(key="export_selection").set_value("custom").run()
    at.multiselect(key="export_filter_persona").set_value(["anxious_planner"]).run()
    at.multiselect(key="export_filter_tier").set_value(["template"]).run()
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "No conversation matches the filters (Persona: Anxious planner; Tier: Template-driven)" in warnings
    assert "Remove a filter value in the custom filter above" in warnings
    assert button(at, "Build export").disabled
    # widening the filter finds the seed (anxious_planner's seed is a tier-2 scenario)
    at.multiselect(key="export_filter_tier").set_value(["scenario"]).run()
    assert "**1** conversation matches (1 approved), out of 10." in [i.value for i in at.info]


def test_all_generated_with_only_some_formats_and_weights(page_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    at = run_page()
    at.radio(key="export_selection").set_value("all").run()
    for fid in ("full_json", "sharegpt", "csv"):
        at.checkbox(key=f"export_format_{fid}").uncheck()
    at.toggle(key="export_weights").set_value(True)
    at.slider(key="export_eval_ratio").set_value(0.3)
    at.number_input(key="export_seed").set_value(5)
    at.checkbox(key="export_zip").uncheck()
    at.text_input(key="export_card_name").input("demo-set")
    at = at.run()
    at = button(at, "Build export").click().run()
    assert not at.exception and not at.error
    out = page_env / "brightrun-all"
    manifest = ex.read_manifest(out)
    assert manifest is not None
    assert manifest["options"]["formats"] == ["full_jsonl", "messages", "hf"] and manifest["options"]["weights"]
    assert manifest["split"] == {**manifest["split"], "eval_ratio": 0.3, "seed": 5}
    assert manifest["counts"]["eval"] == 3 and manifest["dataset"]["name"] == "demo-set"
    assert not (page_env / "brightrun-all.zip").exists()
    assert any("No zip was built" in c.value for c in at.caption)
    lines = (out / "messages/train.jsonl").read_text().splitlines()
    assert all("weight" in m for line in lines for m in json.loads(line)["messages"] if m["role"] == "assistant")
    for path in out.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes()


def test_no_format_chosen_disables_the_button(page_env: Path) -> None:
    at = run_page()
    for fid in ex.FORMATS:
        at.checkbox(key=f"export_format_{fid}").uncheck()
    at = at.run()
    assert button(at, "Build export").disabled
    assert "Choose at least one format." in [c.value for c in at.caption]


def test_an_export_folder_holding_other_files_is_refused_with_a_clear_error(page_env: Path) -> None:
    folder = page_env / "brightrun-approved"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    at = run_page()
    at = button(at, "Build export").click().run()
    assert not at.exception
    assert "not an earlier export" in at.error[0].value
    assert (folder / "notes.txt").read_text() == "mine"


def test_peek_shows_the_first_records_before_building(page_env: Path) -> None:
    at = run_page()
    at.toggle(key="export_weights").set_value(True)
    at.toggle(key="export_peek").set_value(True)
    at = at.run()
    assert not at.exception
    records = [json.loads(j.value) for j in at.json]
    assert len(records) == 3
    for rec in records:
        roles = [m["role"] for m in rec["messages"]]
        assert roles[0] == "system" and roles[1] == "user" and roles[-1] == "assistant"
        assert all(m["weight"] in (0, 1) for m in rec["messages"] if m["role"] == "assistant")
    assert not page_env.exists()  # nothing written yet
