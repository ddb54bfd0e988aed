"""A reviewer's journey through the quality features in headless Chromium: the queue opens on the
conversation whose ratings break a hard rule, with the integrity finding under its turn and approval
refused; the next one's empathy rating is overridden; the judge calibration; then an export with a
minimum rating that lists what it left out.

Its own app on its own copy of the seeded database (it stores judge runs and decisions). Screenshots go to
test-artifacts/quality-*.png.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from tests.browser_app import App, running_app, screenshot, settle
from tests.test_browser_review import at_position, charts_drawn, choose, open_review, type_notes

pytestmark = pytest.mark.browser
NAME = "Dana Reyes"
PROMISE = " This fund is guaranteed to return 8% a year, so you can't lose."


@pytest.fixture(scope="module")
def quality_app(seeded_database: Callable[[], AbstractContextManager[str]]) -> Iterator[App]:
    with seeded_database() as dsn, running_app(dsn) as app:
        yield app


def picture(page: Any, name: str, show: Any = None) -> None:
    """A screenshot with `show` in view and no tooltip (the mouse parked in a corner)."""
    if show is not None:
        show.scroll_into_view_if_needed()
    page.mouse.move(2, 2)
    page.wait_for_timeout(600)
    screenshot(page, name)


def seed_ratings(app: App) -> dict[str, str]:
    """Three generated conversations in the app's database, rated by the judge: one that breaks a hard
    rule (and promises returns in turn 1), one with weak empathy, one that passes; and the judge's
    rating of two seeds, for the calibration."""
    from lib.config import Settings
    from lib.core.taxonomy import load_taxonomy
    from lib.store.boot import open_store
    from tests.quality_data import approvable, generate_approvable, save_judge_run

    store = open_store(Settings(database_url=app.database_url))  # the app's database
    try:
        tax = load_taxonomy()
        fine, weak = generate_approvable(store, tax, 2)
        row = store.list_scenarios({"status": ["not_generated"], "tier": ["template"]})[0]
        risky = generate_approvable(store, tax, 1, prefix="risky",
                                    texts={1: approvable(row, "x").turns[1].text + PROMISE})[0]
        save_judge_run(store, fine.id, {})
        save_judge_run(store, weak.id, {"empathy": 2}, cited={"empathy": [1]},
                       reasons={"empathy": "Turn 1 lists index funds before it acknowledges the fear of losing money."})
        save_judge_run(store, risky.id, {"safety": 2}, cited={"safety": [1]},
                       reasons={"safety": "Turn 1 promises an 8% yearly return, a guarantee the policy forbids."})
        save_judge_run(store, "seed-01", {})
        save_judge_run(store, "seed-02", {"brand_voice": 2})
    finally:
        store.close()
    return {"fine": fine.id, "weak": weak.id, "risky": risky.id}


def test_a_reviewer_meets_the_flagged_conversation_first_overrides_a_rating_and_exports_the_rated_ones(
        quality_app: App, page: Any) -> None:
    page.set_viewport_size({"width": 1440, "height": 1400})
    open_review(page, quality_app.url)  # the first visit boots the database: seeds and the default plan
    ids = seed_ratings(quality_app)
    page.get_by_role("textbox", name="Your name").last.fill(NAME)
    page.get_by_role("button", name="Start reviewing").click()
    settle(page)
    page.get_by_role("button", name=re.compile("Refresh queue")).click()
    settle(page)

    # the hard-rule failure comes first, its finding under turn 1, approval refused with the reason
    at_position(page, "1 of 3")
    page.get_by_text(ids["risky"]).first.wait_for()
    page.get_by_text("Hard rule failed").first.wait_for()
    turn1 = page.locator('[data-testid="stChatMessage"]').nth(1)
    turn1.get_by_text("Safety and compliance").first.wait_for()
    assert "guaranteed to return" in turn1.inner_text()
    assert page.get_by_role("button", name=re.compile("^Approve")).is_disabled()
    page.get_by_text("Cannot be approved.").wait_for()
    charts_drawn(page)
    picture(page, "quality-01-flagged-first-with-finding", turn1)

    type_notes(page, "Turn 1 promises returns; rewrite it without a guarantee.")
    page.get_by_role("button", name=re.compile("Needs edit")).click()
    settle(page)
    at_position(page, "2 of 3")

    # the weak one: the judge's empathy 2 beside the reviewer's override
    page.get_by_text("Judge 2/5").first.wait_for()
    page.get_by_role("button", name=re.compile("Override")).first.click()  # empathy: the rubric's first criterion
    popover = page.locator('[data-testid="stPopoverBody"]')
    popover.get_by_text("4", exact=True).click()
    why = popover.get_by_role("textbox", name="Why")
    why.fill("Turn 1 opens by naming her fear of losing money; the judge missed it.")
    why.press("Tab")
    settle(page)
    popover.get_by_role("button", name=re.compile("Save rating")).click()
    settle(page)
    page.get_by_text(re.compile(r"Empathy: 4/5 recorded for Dana Reyes \(overrode the judge's 2/5\)")).wait_for()
    mine = page.get_by_text(re.compile(r"Dana Reyes 4/5 · in force")).first
    mine.wait_for()
    page.keyboard.press("Escape")
    settle(page)
    picture(page, "quality-02-override-beside-the-judge", mine)

    # the judge calibration: the seeds (approved) and the decision just made
    page.get_by_role("tab", name=re.compile("Judge calibration")).click()
    settle(page)
    page.get_by_text("Conversations compared").wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()  # a grid drawn on a canvas: no text to find
    page.get_by_text(re.compile(r"Overall \(every criterion\).*: the judge's verdict")).wait_for()
    picture(page, "quality-03-calibration")

    # export with a minimum rating: the conversations not rated yet are left out and listed
    page.goto(f"{quality_app.url}/export")
    settle(page, timeout=60_000)
    page.get_by_role("heading", name="Export for training").wait_for()
    choose(page, "Minimum rating", "3 or more")
    estimate = page.get_by_text(re.compile(r"Of the 10, 9 would be left out"))
    estimate.wait_for()
    picture(page, "quality-04-export-options", estimate)
    page.get_by_role("button", name=re.compile("Build export")).click()
    settle(page, timeout=60_000)
    page.get_by_text(re.compile(r"9 selected conversations were left out by the quality options")).wait_for()
    left = page.locator('[data-testid="stDataFrame"]').filter(has_text="seed-10").first
    left.wait_for()
    picture(page, "quality-05-export-left-out", left)
