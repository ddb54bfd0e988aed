"""Regression: the first visitor of a fresh server who opens a page's own URL (a shared link) got
the page without app.py (Streamlit's legacy pages/ mode: file names in the sidebar, no sidebar
status, no name field). They must get the app, on the page they asked for."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.conftest import screenshot, settle, start_app, stop_embedded_dir

pytestmark = pytest.mark.browser


def test_a_shared_link_to_a_page_opens_it_inside_the_app_with_its_parameters(page) -> None:
    data = Path(tempfile.mkdtemp(prefix="brightrun-deeplink-"))
    proc, url = start_app(data / "data")  # a fresh server: nobody has opened "/" yet
    try:
        page.goto(f"{url}/review?conversation=seed-02")
        settle(page, timeout=90_000)
        page.get_by_text("Scenario #2").first.wait_for(timeout=60_000)  # the link's conversation is open
        assert "conversation=seed-02" in page.url
        page.goto(f"{url}/settings")
        settle(page, timeout=90_000)
        page.get_by_role("heading", name="Settings").wait_for(timeout=60_000)
        page.get_by_text("Your name").wait_for()  # app.py's sidebar is there
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Scenarios" in nav and "scenarios" not in nav.split()  # app.py's titles, not file names
        assert page.url.rstrip("/").endswith("/settings")
        screenshot(page, "deep-link-settings")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        stop_embedded_dir(data / "data")
        shutil.rmtree(data, ignore_errors=True)
