"""Regression: the first visitor of a fresh server who opens a page's own URL (a shared link) got
the page without app.py (Streamlit's legacy pages/ mode: file names in the sidebar, no sidebar
status, no name field). They must get the app, on the page they asked for, with its parameters."""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from tests.browser_app import running_app, screenshot, settle

pytestmark = pytest.mark.browser


def assert_inside_the_app(page) -> None:
    page.get_by_test_id("stSidebarUserContent").get_by_text("Your name").wait_for()  # app.py's sidebar
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Scenarios" in nav and "scenarios" not in nav.split()  # app.py's titles, not file names


def test_a_shared_link_to_a_page_opens_it_inside_the_app_with_its_parameters(page) -> None:
    # A fresh server (nobody has opened "/" yet) on nothing configured: the one browser journey
    # that also starts and boots the embedded database, as a first run on a new machine does.
    with running_app(database_url=None) as app:
        page.goto(f"{app.url}/review?conversation=seed-02")
        settle(page, timeout=90_000)
        page.get_by_text("Scenario #2").first.wait_for(timeout=60_000)  # the link's conversation is open
        assert "conversation=seed-02" in page.url
        assert_inside_the_app(page)
        page.goto(f"{app.url}/settings")
        settle(page, timeout=90_000)
        page.get_by_role("heading", name="Settings").wait_for(timeout=60_000)
        assert_inside_the_app(page)
        assert page.url.rstrip("/").endswith("/settings")
        screenshot(page, "deep-link-settings")


def test_a_shared_link_to_the_scenarios_opens_the_app_with_its_filters(
        page, seeded_database: Callable[[], AbstractContextManager[str]]) -> None:
    with seeded_database() as dsn, running_app(dsn) as app:  # a fresh server on a seeded database
        page.goto(f"{app.url}/scenarios?status=approved&scenario=1")
        settle(page, timeout=90_000)
        page.get_by_text("Showing 1–10 of 10 (of 100 scenarios)").wait_for(timeout=60_000)  # the link's filter
        page.get_by_text("#1 · Anxious first-time investor").wait_for()  # the link's scenario
        assert_inside_the_app(page)
        assert "status=approved" in page.url and "scenario=1" in page.url
        screenshot(page, "deep-link-scenarios")
        # Regression: once the app runs, /scenarios (the default page, served at "/") said "Page not found".
        page.goto(f"{app.url}/scenarios?status=rejected")
        settle(page, timeout=90_000)
        page.get_by_text("Showing 0 of 100 scenarios").wait_for(timeout=60_000)
        assert page.get_by_text("Page not found").count() == 0
        assert_inside_the_app(page)
