"""A reviewer accepts suggested label corrections in headless Chromium: the judge's suggestion under its turn
accepted (an 'automated' revision in the reviewer's name, shown in the turn's history); a suggestion made for
a value someone revised since shown stale, with Accept off; the integrity check's suggestion accepted with
Accept all, and the stale one dismissed with Dismiss all; then the label analytics and drift by source.

Its own app on its own copy of the seeded database. Screenshots go to test-artifacts/suggestions-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from tests.browser_app import App, next_frames, running_app, screenshot, settle
from tests.test_browser_review import charts_drawn, choose, open_review

pytestmark = pytest.mark.browser
NAME = "Dana Reyes"


@pytest.fixture(scope="module")
def suggestions_app(seeded_database: Callable[[], AbstractContextManager[str]]) -> Iterator[App]:
    with seeded_database() as dsn, running_app(dsn) as app:
        yield app


def seed_suggestions(app: App) -> str:
    """A generated conversation (seed-01's turns) the judge rated with two label findings (turn 0's emotion,
    turn 2's intensity), whose turn 2 intensity a colleague revised since, and whose turn 4 secondary emotion
    was set equal to its primary (what the integrity check mends)."""
    from lib.config import Settings
    from lib.core.taxonomy import load_taxonomy
    from lib.store.boot import open_store
    from tests.quality_data import generate_approvable, save_judge_run

    store = open_store(Settings(database_url=app.database_url))
    try:
        [conv] = generate_approvable(store, load_taxonomy(), 1, prefix="sugg")
        save_judge_run(
            store,
            conv.id,
            {"label_accuracy": 2},
            cited={"label_accuracy": [0, 2]},
            findings=[
                {
                    "turn": 0,
                    "field": "emotion.primary",
                    "current_value": "anxiety",
                    "suggested_value": "overwhelm",
                    "reason": "She lists too many worries at once.",
                },
                {
                    "turn": 2,
                    "field": "emotion.intensity",
                    "current_value": 0.6,
                    "suggested_value": 0.4,
                    "reason": "Calmer after the first answer.",
                },
            ],
        )
        store.revise_label(conv.id, 2, "emotion.intensity", 0.5, author="Bo Lindqvist", reason="in between")
        store.revise_label(conv.id, 4, "emotion.secondary", "curiosity", author="Bo Lindqvist", reason="")
    finally:
        store.close()
    return conv.id


def revisions(app: App, conversation_id: str) -> list[tuple[int, str, Any, str, str]]:
    from lib.store.postgres import PostgresStore

    store = PostgresStore(app.database_url, min_size=1, max_size=1)
    try:
        return [
            (r["turn_idx"], r["field"], r["new_value"], r["source"], r["author"])
            for r in store.label_revisions_for(conversation_id)
        ]
    finally:
        store.close()


def turn(page: Any, idx: int) -> Any:
    return page.locator('[data-testid="stChatMessage"]').nth(idx)


def test_a_reviewer_accepts_and_dismisses_suggested_corrections(suggestions_app: App, page: Any) -> None:
    page.set_viewport_size({"width": 1440, "height": 1500})
    open_review(page, suggestions_app.url)  # the first visit boots the database
    cid = seed_suggestions(suggestions_app)
    open_review(page, suggestions_app.url, f"?conversation={cid}")
    page.get_by_role("textbox", name="Your name").last.fill(NAME)
    page.get_by_role("button", name="Start reviewing").click()
    settle(page)

    # the judge's suggestion under turn 0, the stale one under turn 2, the check's under turn 4
    turn(page, 0).get_by_text("Emotion: Anxiety → Overwhelm").wait_for()
    stale = turn(page, 2)
    stale.get_by_text("The label was revised since: it is 0.50 now.").wait_for()
    assert stale.get_by_role("button", name=re.compile("Accept$")).is_disabled()
    turn(page, 4).get_by_text("Secondary emotion: Curiosity → (none)").wait_for()
    panel = page.get_by_text("Suggested corrections")
    panel.wait_for()
    page.get_by_role("button", name=re.compile(r"Accept all \(2\)")).wait_for()
    screenshot(page, "suggestions-01-open")

    turn(page, 0).get_by_role("button", name=re.compile("Accept$")).click()
    settle(page)
    page.get_by_text(
        re.compile(r"Turn 0: Emotion: Anxiety → Overwhelm, as the judge suggested, recorded for Dana")
    ).wait_for()
    turn(page, 0).get_by_text(re.compile(r"Anxiety → Overwhelm · Dana Reyes \(Automated\)")).wait_for()
    # the new family has no 'fear': the check suggests no sub-emotion until someone picks one of overwhelm's
    turn(page, 0).get_by_text("Sub-emotion: fear → (none)").wait_for()
    screenshot(page, "suggestions-02-accepted")

    page.get_by_role("button", name=re.compile(r"Accept all \(2\)")).click()  # the stale one is left out
    settle(page)
    page.get_by_text("Accepted 2 suggested corrections, recorded for Dana Reyes.").wait_for()
    page.get_by_role("button", name=re.compile(r"Dismiss all \(1\)")).click()
    settle(page)
    page.get_by_text(re.compile(r"Turn 2: dismissed the suggestion; the label stays 0.50")).wait_for()
    page.get_by_text(re.compile(r"Decided \(4\)")).click()
    settle(page)
    page.get_by_text("Suggested corrections").scroll_into_view_if_needed()
    screenshot(page, "suggestions-03-decided")

    # the analytics count them by source, and the drift shows who corrected what
    page.get_by_role("tab", name=re.compile("Label analytics")).click()
    settle(page)
    page.get_by_text("Label drift").wait_for()
    charts_drawn(page)
    page.set_viewport_size({"width": 1440, "height": 2600})  # the analytics and the drift in one picture
    settle(page)
    charts_drawn(page)
    next_frames(page)
    screenshot(page, "suggestions-04-label-drift")
    choose(page, "Source", "Automated")
    page.get_by_text("Most corrected label", exact=True).wait_for()
    table = page.locator('[data-testid="stDataFrame"]').first
    table.wait_for()
    assert page.get_by_role("tab", name=re.compile("Label analytics")).get_attribute("aria-selected") == "true"

    assert revisions(suggestions_app, cid) == [
        (2, "emotion.intensity", 0.5, "human_review", "Bo Lindqvist"),
        (4, "emotion.secondary", "curiosity", "human_review", "Bo Lindqvist"),
        (0, "emotion.primary", "overwhelm", "automated", NAME),
        (0, "emotion.sub_emotion", None, "automated", NAME),
        (4, "emotion.secondary", None, "automated", NAME),
    ]
