"""Settings: the data source, the model, the taxonomy and prompt browsers; never a secret."""
from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
SECRET = "fake-ak-test-0123456789abcdefghij-SECRET"


def all_text(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "caption", "metric", "success", "info", "code", "error", "warning", "dataframe"):
        for el in getattr(at, kind):
            parts.append(str(getattr(el, "value", "")))
    return "\n".join(parts)


def test_settings_show_the_setup_but_never_the_key(app_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    at = AppTest.from_file(str(ROOT / "pages" / "settings.py"), default_timeout=60).run()
    assert not at.exception
    assert any("Connected to **PostgreSQL**" in s.value for s in at.success)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["API key"] == "set" and metrics["Scenarios"] == "100"
    text = all_text(at)
    assert SECRET not in text and "sk-ant" not in text
    assert "claude-" in metrics["Model"]
    assert "tier1_template.md" in [o for o in at.selectbox[-1].options]
    # the judge is on with a key; the regeneration after a low rating is off, with what it would cost
    assert metrics["Rate each generated conversation"] == "on"
    assert metrics["Regenerate after a low rating"] == "off"
    expected = metrics["Expected regeneration cost"]
    assert expected.startswith("$0.") and expected != "$0.0000"
    assert any(f"would be added to each generated conversation's cost about {expected}" in c.value for c in at.caption)


def test_the_regeneration_setting_is_shown_on(app_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("BRIGHTRUN_REGENERATE_ON_LOW_RATING", "true")
    at = AppTest.from_file(str(ROOT / "pages" / "settings.py"), default_timeout=60).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Regenerate after a low rating"] == "on"
    assert any("10% of conversations are rated low, so the regeneration is added to" in c.value for c in at.caption)
    monkeypatch.setenv("BRIGHTRUN_JUDGE", "off")  # it needs the judge
    st.cache_resource.clear()  # the settings are read once per server
    at = AppTest.from_file(str(ROOT / "pages" / "settings.py"), default_timeout=60).run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rate each generated conversation"] == "off" and metrics["Regenerate after a low rating"] == "off"


def test_the_app_shows_the_sidebar_and_the_scenarios_first(app_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Scenarios"
    side = "\n".join(c.value for c in at.sidebar.caption)
    assert "100 scenarios" in side and "API key:** set" in side and SECRET not in side
    at.sidebar.text_input[0].input("Dana Reyes").run()
    assert at.session_state["br_reviewer"] == "Dana Reyes"


def test_settings_speak_in_peoples_words_not_column_names(app_env: str) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "settings.py"), default_timeout=60).run()
    assert not at.exception
    headers = [list(df.value.columns) for df in at.dataframe]
    assert ["What it sets", "Value", "Variable"] in headers
    prices = next(h for h in headers if "Model" in h and "Input" in h)
    assert "Cache write (5 min)" in prices and not any("_" in h for h in prices)
    rows = next(df.value for df in at.dataframe if "What it sets" in df.value.columns)
    model = rows[rows["Variable"] == "BRIGHTRUN_MODEL"].iloc[0]
    assert model["What it sets"] == "The Claude model used for generation"
    taxonomy = next(h for h in headers if "ID" in h and "Name" in h)
    assert not any("_" in h for h in taxonomy), taxonomy


def test_without_a_key_the_sidebar_says_generation_runs_as_a_demo_replay(
    app_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    st.cache_resource.clear()  # the settings are read once per server
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    side = "\n".join(c.value for c in at.sidebar.caption)
    assert "API key:** not set (generation runs as a demo replay of recorded conversations)" in side
