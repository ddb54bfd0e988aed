"""A new visitor's first minute in a browser: the overview above the table, closed with one click;
the next visit opens straight on the work. Screenshots go to test-artifacts/intro-*.png."""
from __future__ import annotations

from typing import Any

import pytest

from tests.browser_app import grids_ready, screenshot, settle

pytestmark = pytest.mark.browser
# plotly's "hover" modebar keeps its buttons (.modebar-group) transparent until the pointer is on the chart
MODEBAR_SHOWS = ("() => getComputedStyle(document.querySelector('[data-testid=\"stPlotlyChart\"] .modebar-group'))"
                 ".opacity === '{opacity}'")


def test_the_overview_greets_a_new_visitor_once(browser: Any, app_url: str) -> None:
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})  # no cookie: a first visit
    page = ctx.new_page()
    from tests.browser_app import ScriptRuns, _runs

    runs = _runs[page] = ScriptRuns()
    page.on("websocket", runs.watch)
    try:
        page.goto(app_url)
        settle(page, timeout=90_000)
        page.get_by_text("Welcome to Bright Run Training Data Studio").wait_for()
        page.get_by_text("The demo data:").wait_for()
        grids_ready(page)
        screenshot(page, "intro-01-first-visit")
        page.get_by_role("button", name="Got it").click()
        settle(page)
        page.get_by_text("Welcome to Bright Run Training Data Studio").wait_for(state="detached")
        page.reload()  # a returning visitor: straight to the table
        settle(page, timeout=60_000)
        page.get_by_text("Showing 1–").first.wait_for()
        assert page.get_by_text("Welcome to Bright Run Training Data Studio").count() == 0
        # chart toolbars stay out of the way until the pointer is on a chart (About's seed chart)
        page.goto(f"{app_url}/about")
        settle(page)
        chart = page.locator('[data-testid="stPlotlyChart"]').first
        chart.locator(".main-svg").first.wait_for(timeout=30_000)
        page.mouse.move(5, 5)
        page.wait_for_function(MODEBAR_SHOWS.format(opacity="0"), timeout=5_000)
        chart.hover()
        page.wait_for_function(MODEBAR_SHOWS.format(opacity="1"), timeout=5_000)
        screenshot(page, "intro-02-about-chart-hover")
    finally:
        ctx.close()
