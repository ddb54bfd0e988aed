"""The overview page summarises the seed dataset from the files."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "home.py")


def test_overview_summarises_the_seeds() -> None:
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Seed conversations"] == "10"
    assert int(metrics["Turns"]) >= 80
    table = at.dataframe[0].value
    assert len(table) == 10 and set(table["Quality"]) == {10}
    assert "Elena Morales" in " ".join(c.value for c in at.caption)
