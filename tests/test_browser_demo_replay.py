"""A demo without a key, in a browser: the Generate page starts a demo replay, the same progress follows it
to the end, and the scenarios it generated show their conversations with a "Demo replay" badge; Review's
contrastive turns are written by the replay too, badged, and accepted like any pair."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from tests.browser_app import next_frames, running_app, screenshot, settle
from tests.test_browser_contrast import accept, ask_for_failed_turns, first_pair
from tests.test_browser_scenarios import grid_click_row

pytestmark = pytest.mark.browser


def test_a_demo_replay_runs_without_a_key_and_is_marked(
    page, seeded_database: Callable[[], AbstractContextManager[str]]
) -> None:
    with seeded_database() as dsn, running_app(dsn, {"ANTHROPIC_API_KEY": ""}) as app:
        page.goto(f"{app.url}/generate")
        settle(page, timeout=90_000)  # the first visit of a server imports what the pages need
        page.get_by_text("Generation needs an Anthropic API key").wait_for()
        page.get_by_label("Scenarios to replay").fill("3")
        page.keyboard.press("Enter")
        settle(page)
        page.get_by_role("button", name="Start a demo replay").click()
        settle(page)
        page.get_by_text("3 scenarios queued for a demo replay").wait_for()
        page.get_by_text("Demo replay: generate 3 conversations").first.wait_for()
        page.get_by_text("conversations", exact=False).first.wait_for()
        screenshot(page, "demo-01-replaying")
        page.get_by_text("3 of 3 conversations").wait_for(timeout=60_000)  # the panel follows it; no reload
        page.get_by_role("cell", name="Completed", exact=True).wait_for(timeout=10_000)
        settle(page)
        next_frames(page)
        screenshot(page, "demo-02-done")

        page.goto(f"{app.url}/?status=generated")
        settle(page)
        page.get_by_text("Showing 1–3 of 3 (of 100 scenarios)").wait_for()
        grid_click_row(page, 0)
        badge = page.get_by_text("Demo replay", exact=True).first
        badge.wait_for()
        badge.scroll_into_view_if_needed()
        next_frames(page)
        screenshot(page, "demo-03-scenario-badge")


def test_contrastive_turns_without_a_key_are_a_demo_replay_with_badged_pairs(
    page, seeded_database: Callable[[], AbstractContextManager[str]]
) -> None:
    with seeded_database() as dsn, running_app(dsn, {"ANTHROPIC_API_KEY": ""}) as app:
        ask_for_failed_turns(page, app.url)
        page.get_by_text("so this is a demo replay", exact=False).wait_for(timeout=20_000)
        screenshot(page, "demo-04-contrast-asked")
        pair = first_pair(page)
        pair.get_by_text("Demo replay").first.wait_for()
        screenshot(page, "demo-05-contrast-pairs")
        accept(page, pair)
        screenshot(page, "demo-06-contrast-accepted")
