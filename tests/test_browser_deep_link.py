"""Regression: the first visitor of a fresh server who opens a page's own URL (a shared link) got
the page without app.py (Streamlit's legacy pages/ mode: file names in the sidebar, no sidebar
status, no name field). They must get the app, on the page they asked for, with its parameters."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import screenshot, settle, start_app, stop_embedded_dir

pytestmark = pytest.mark.browser


@pytest.fixture
def fresh_url() -> Iterator[str]:
    """A fresh server: nobody has opened any page of it yet."""
    data = Path(tempfile.mkdtemp(prefix="brightrun-deeplink-"))
    proc, url = start_app(data / "data")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        stop_embedded_dir(data / "data")
        shutil.rmtree(data, ignore_errors=True)


def assert_inside_the_app(page) -> None:
    page.get_by_test_id("stSidebarUserContent").get_by_text("Your name").wait_for()  # app.py's sidebar
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Scenarios" in nav and "scenarios" not in nav.split()  # app.py's titles, not file names


def test_a_shared_link_to_a_page_opens_it_inside_the_app_with_its_parameters(page, fresh_url: str) -> None:
    page.goto(f"{fresh_url}/review?conversation=seed-02")
    settle(page, timeout=90_000)
    page.get_by_text("Scenario #2").first.wait_for(timeout=60_000)  # the link's conversation is open
    assert "conversation=seed-02" in page.url
    assert_inside_the_app(page)
    page.goto(f"{fresh_url}/settings")
    settle(page, timeout=90_000)
    page.get_by_role("heading", name="Settings").wait_for(timeout=60_000)
    assert_inside_the_app(page)
    assert page.url.rstrip("/").endswith("/settings")
    screenshot(page, "deep-link-settings")


def test_a_shared_link_to_the_scenarios_opens_the_app_with_its_filters(page, fresh_url: str) -> None:
    page.goto(f"{fresh_url}/scenarios?status=approved&scenario=1")
    settle(page, timeout=90_000)
    page.get_by_text("Showing 10 of 90 scenarios").wait_for(timeout=60_000)  # the link's filter
    page.get_by_text("#1 · Anxious first-time investor").wait_for()  # the link's scenario
    assert_inside_the_app(page)
    assert "status=approved" in page.url and "scenario=1" in page.url
    screenshot(page, "deep-link-scenarios")
