"""A person's first minutes in a browser: the planned table, a filter, selecting rows, a conversation."""
from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser_app import grids_ready, screenshot, settle

pytestmark = pytest.mark.browser


def grid_click_row(page, row: int) -> None:
    """Tick a row's checkbox in the scenario grid (a canvas: click by position)."""
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    grids_ready(page)
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 * (row + 1) + 17)
    settle(page)


def choose_persona(page: Any, box: Any, name: str) -> None:
    """Pick a persona in the filter until the page shows it as an active filter: on a loaded machine a
    click on the open list can land while the page is still drawing, and the list closes without it."""
    for attempt in range(3):
        box.locator("input").click()
        page.get_by_role("option", name=name).click()
        page.keyboard.press("Escape")
        settle(page)
        try:
            page.get_by_text("Active filters").wait_for(timeout=10_000)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def test_filter_select_and_open_a_conversation(page, app_url: str) -> None:
    page.goto(app_url)
    settle(page, timeout=90_000)  # the first visit of a server imports what the pages need
    page.get_by_text("Showing 1–100 of 100 scenarios").wait_for()
    grids_ready(page)
    screenshot(page, "scenarios-01-table")  # the default columns fit a 1440 px screen beside the sidebar

    persona = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Persona")
    choose_persona(page, persona, "Recently widowed")
    page.wait_for_function("() => location.search.includes('persona=recently_widowed')", timeout=30_000)  # a link
    shown = page.get_by_text("Showing ").first.inner_text()
    assert shown.startswith("Showing 1–") and "(of 100 scenarios)" in shown

    grid_click_row(page, 0)
    grid_click_row(page, 1)
    page.get_by_text("2 selected").wait_for()
    page.get_by_text("#13 · Recently widowed").wait_for()  # the last row ticked opens its detail
    assert "scenario=13" in page.url, page.url  # the URL names the scenario shown, not the one before
    page.get_by_text("2 selected").scroll_into_view_if_needed()
    screenshot(page, "scenarios-02-filtered-selected")

    page.get_by_test_id("stBaseButton-secondary").filter(has_text="Clear all").click()
    settle(page)
    page.get_by_text("Showing 1–100 of 100 scenarios").wait_for()
    page.get_by_text("2 selected").wait_for()  # the selection survives a filter change

    # the scenario filters stay on the Scenarios page's URL
    choose_persona(page, persona, "Recently widowed")
    page.get_by_role("link", name="Review").click()
    settle(page)
    page.get_by_role("heading", name="Review").first.wait_for()
    assert "persona=" not in page.url and "scenario=" not in page.url, page.url
    page.get_by_role("link", name="Scenarios").click()
    settle(page)
    # back on Scenarios, its filters and URL come back (the app writes the URL as it draws: poll it)
    page.wait_for_function("() => location.search.includes('persona=recently_widowed')", timeout=30_000)

    # the seeds are approved conversations: open one through a shared link
    page.goto(f"{app_url}/?status=approved&scenario=1")
    settle(page)
    page.get_by_text("Showing 1–10 of 10 (of 100 scenarios)").wait_for()
    page.locator('[data-testid="stChatMessage"]').first.wait_for(timeout=20_000)
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stChatMessage\"]').length >= 10")
    page.get_by_text("Anxiety (", exact=False).first.wait_for()  # the user turn's emotion label
    page.get_by_text("#1 · Anxious first-time investor").scroll_into_view_if_needed()
    screenshot(page, "scenarios-03-conversation")
