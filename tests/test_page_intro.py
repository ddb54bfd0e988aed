"""A first visit: the overview above the first page, once; what the browser remembers (a cookie)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


def app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def welcome(at: AppTest) -> bool:
    return any("Welcome to Bright Run" in m.value for m in at.markdown)


def scripts(at: AppTest) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


def test_a_new_visitor_sees_the_overview_once_and_can_close_it(app_env: str) -> None:
    at = app()
    assert welcome(at) and at.title[0].value == "Scenarios"  # above the table, not instead of it
    assert "brightrun_overview_seen" in scripts(at)  # shown: the browser remembers it for the next visit
    assert sum("· Plan" in m.value or "· Export" in m.value for m in at.markdown) == 2
    assert [m.value for m in at.markdown if " · " in m.value][-2:] == ["**5 · Quality**", "**6 · Export**"]
    next(b for b in at.button if b.label == "Got it").click().run()
    assert not welcome(at)


def test_a_returning_visitor_goes_straight_to_work(app_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lib.ui.cookies.read", lambda name: "1" if name == "brightrun_overview_seen" else "")
    at = app()
    assert not welcome(at) and at.title[0].value == "Scenarios"


def test_the_remembered_name_comes_back_and_cannot_break_out_of_its_script(
        app_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = "Dana</script><img src=x onerror=alert(1)>"
    monkeypatch.setattr("lib.ui.cookies.read", lambda name: hostile if name == "brightrun_reviewer" else "1")
    at = app()
    assert at.session_state["br_reviewer"] == hostile  # the name this browser remembers, on the first run
    written = scripts(at)
    assert "brightrun_reviewer" in written and "</script><img" not in written and "\\u003c/script>" in written
    at.sidebar.text_input[0].input("").run()  # emptied: the browser forgets it
    assert "max-age=0" in scripts(at)
