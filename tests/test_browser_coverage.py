"""A product lead on the Coverage page in a browser: the charts drawn, a PNG from the modebar, the
Planned view, and a plan previewed for the gaps (not added: the app is shared with other browser tests)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser_app import ROOT, next_frames, screenshot, settle

pytestmark = pytest.mark.browser

CHARTS = 11
ALL_DRAWN = ("() => { const c = document.querySelectorAll('[data-testid=\"stPlotlyChart\"]');"
             f" return c.length >= {CHARTS} && [...c].every(e => e.querySelector('.main-svg')); }}")
CHARTS_FIT = ("() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')].every(c => {"
              " const svg = c.querySelector('.main-svg');"
              " return svg && Math.abs(svg.getBoundingClientRect().width - c.getBoundingClientRect().width) < 2; })")


def whole_page(page: Any, name: str) -> Path:
    """Streamlit scrolls inside its own container, so a full-page screenshot needs a tall viewport."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1440, "height": min(int(height) + 100, 9000)})
    page.wait_for_function(CHARTS_FIT)  # plotly redraws when its container's width changes
    next_frames(page)
    path = screenshot(page, name)
    page.set_viewport_size({"width": 1440, "height": 1000})
    return path


def check_coverage_page(page: Any, url: str) -> None:
    page.goto(f"{url}/coverage")
    settle(page, timeout=90_000)  # the first visit of a server imports what the pages need
    page.get_by_role("heading", name="Coverage").first.wait_for()
    page.wait_for_function(ALL_DRAWN, timeout=30_000)
    page.get_by_text("targets are not met yet", exact=False).first.wait_for()
    assert page.get_by_role("radio", name="Approved only").is_checked()
    for title in ("Primary emotion of user turns", "Primary strategy of assistant replies", "Emotion × strategy",
                  "Persona × topic", "Emotional arc × tier", "Conversation length", "Status funnel", "Quality scores",
                  "Reviewer corrections by label"):
        assert page.locator(".gtitle", has_text=title).count() == 1, title

    # the modebar's camera button downloads the chart as a PNG
    camera = page.locator('[data-testid="stPlotlyChart"] .modebar-btn[data-title*="png" i]')
    assert camera.count() >= CHARTS
    page.locator('[data-testid="stPlotlyChart"]').first.hover()
    with page.expect_download(timeout=20_000) as download:
        camera.first.click()
    assert download.value.suggested_filename == "coverage-emotions-approved.png"
    whole_page(page, "coverage-01-approved")

    page.get_by_test_id("stRadioGroup").get_by_text("Planned", exact=True).click()
    settle(page)
    page.get_by_text("How planned counts are estimated.").wait_for()
    page.wait_for_function(ALL_DRAWN, timeout=30_000)
    whole_page(page, "coverage-02-planned")

    plan = page.get_by_role("button", name="Plan scenarios to fill these gaps")
    if not plan.count():  # other browser tests share this app: their data may leave nothing to plan
        page.get_by_text("every target that planning can fill is met", exact=False).wait_for()
        return
    plan.click()
    settle(page)
    page.get_by_text("Preview:", exact=False).first.wait_for()
    page.get_by_text("Once generated, they would meet", exact=False).wait_for()
    add = page.get_by_role("button", name="Add these", exact=False)
    add.wait_for()
    assert add.count() == 1
    add.scroll_into_view_if_needed()
    screenshot(page, "coverage-03-plan-preview")
    page.get_by_role("button", name="Discard the preview").click()
    page.get_by_role("button", name="Add these", exact=False).wait_for(state="detached", timeout=20_000)
    settle(page)


def test_coverage_charts_png_planned_view_and_gap_plan(page: Any, app_url: str) -> None:
    if "pages/coverage.py" not in (ROOT / "app.py").read_text(encoding="utf-8"):
        pytest.skip('the Coverage page is not in app.py yet: st.Page("pages/coverage.py", title="Coverage", '
                    'icon=":material/insights:", url_path="coverage")')
    check_coverage_page(page, app_url)
