"""Double review in headless Chromium: a second reviewer opens Review, is offered the conversation another
reviewer decided on, sees it blind (no first decision, the labels as generated) and decides; then the
Quality page shows the agreement figures, the chart over time and the disagreements.

Its own app on its own copy of the seeded database (it records decisions). Screenshots go to
test-artifacts/double-review-*.png.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
import re
from typing import Any

import pytest

from tests.browser_app import App, running_app, screenshot, settle
from tests.test_browser_review import charts_drawn, open_review

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def double_app(seeded_database: Callable[[], AbstractContextManager[str]]) -> Iterator[App]:
    with seeded_database() as dsn, running_app(dsn) as app:
        yield app


def first_reviews(app: App) -> list[str]:
    """Two generated conversations, every one sent to a second reviewer: Ana corrects a label of the
    first and sends it back; Ana and Ben both decide on the second, differently."""
    from lib.config import Settings
    from lib.core.taxonomy import load_taxonomy
    from lib.store.boot import open_store
    from tests.quality_data import generate_approvable

    store = open_store(Settings(database_url=app.database_url))
    try:
        store.set_double_review_share(1.0)
        first, second = generate_approvable(store, load_taxonomy(), 2, "dbl")
        store.revise_label(first.id, 0, "emotion.primary", "shame", author="Ana", reason="reads as shame")
        store.record_review(first.id, "needs_edit", reviewer="Ana", notes="turn 0 is shame")
        store.record_review(second.id, "approved", reviewer="Ana")
        store.record_review(second.id, "rejected", reviewer="Ben", reason_code="off_voice")
        return [first.id, second.id]
    finally:
        store.close()


def reviews_of(app: App, conversation_id: str) -> list[tuple[str, str]]:
    from lib.config import Settings
    from lib.store.boot import open_store

    store = open_store(Settings(database_url=app.database_url))
    try:
        return [(r["reviewer"], r["decision"]) for r in store.reviews_for(conversation_id)]
    finally:
        store.close()


def test_a_second_reviewer_decides_blind_and_the_quality_page_shows_agreement(double_app: App, page: Any) -> None:
    first, _ = first_reviews(double_app)
    page.context.add_cookies([{"name": "brightrun_reviewer", "value": "Ben", "domain": "127.0.0.1", "path": "/"}])
    page.set_viewport_size({"width": 1440, "height": 1300})
    open_review(page, double_app.url)
    page.get_by_text("You are the second reviewer of this conversation", exact=False).wait_for(timeout=30_000)
    screenshot(page, "double-review-01-blind")
    assert page.get_by_text(re.compile(r"Second review$")).count() == 1  # the badge, in place of the status
    assert page.get_by_role("tab", name="Decisions (0)").count() == 1
    assert page.get_by_text("Anxiety", exact=True).count() >= 1 and page.get_by_text("Shame", exact=True).count() == 0
    charts_drawn(page)
    screenshot(page, "double-review-01-blind")

    # Ana's hidden correction fails a hard check: the labels in force cannot be approved
    assert page.get_by_role("button", name=re.compile("Approve")).is_disabled()
    page.get_by_role("button", name=re.compile("Needs edit")).click()
    settle(page)
    page.get_by_text(re.compile(r"Needs edit: scenario #\d+ \(dbl-0\), recorded for Ben")).wait_for()
    assert reviews_of(double_app, first) == [("Ana", "needs_edit"), ("Ben", "needs_edit")]

    page.goto(f"{double_app.url}/quality")
    settle(page, timeout=90_000)
    page.get_by_role("heading", name="Quality").first.wait_for(timeout=60_000)
    page.get_by_text("Agreement per field").wait_for()
    page.get_by_text("Disagreements").wait_for()
    charts_drawn(page)
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1440, "height": min(int(height) + 100, 6000)})
    page.wait_for_timeout(800)
    screenshot(page, "double-review-02-quality")
