"""Hostile text from data is shown as the characters it is, in every widget: a seed and a generated
conversation with markdown and HTML in every string field (turns, labels, names, notes, reasons,
scenario fields) are opened on the Review and Scenarios pages in Chromium, and no image, link,
HTML element or request to the hostile host results. Screenshots: test-artifacts/hostile-*.png."""
from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from lib.core.models import Conversation
from lib.store.postgres import PostgresStore
from tests.browser_app import App, running_app, screenshot, settle
from tests.conftest import make_conversation

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
HOST = "evil.example"
HOSTILE = (f'![x](http://{HOST}/md.png) <img src="http://{HOST}/html.png"> [l](http://{HOST}/l) '
           f'http://{HOST}/bare www.{HOST} mail@{HOST} <b id="hostile-b">b</b> <script>window.hostile=1</script> '
           '**strong** $x^2$')
KEEP = {("id",), ("provenance", "created_at"), ("provenance", "source"), ("review", "reviewed_at"),
        ("review", "status"), ("scenario", "tier"),
        # taxonomy ids the database holds to its tables (foreign keys)
        ("turns", "emotion", "primary"), ("turns", "emotion", "secondary"), ("turns", "strategies", "primary"),
        ("turns", "strategies", "supporting")}


def hostile(doc: dict[str, Any], conv_id: str) -> dict[str, Any]:
    """The document with HOSTILE in every string field the format accepts it in."""
    out = copy.deepcopy(doc)

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in list(items):
            here = (*path, key)
            if isinstance(value, str):
                named = tuple(k for k in here if not isinstance(k, int))
                if named in KEEP or named[-1] == "role" or (named[0] == "scenario" and value.isidentifier()):
                    continue  # the database checks the scenario's taxonomy ids (add_scenarios)
                # names and sub-emotions are held to their length limits (check constraints): the first 100
                # characters still carry the image, the HTML and the link
                short = named[-1] in ("sub_emotion", "reviewer", "author", "rater", "created_by")
                node[key] = HOSTILE[:100] if short else HOSTILE
                try:
                    Conversation.model_validate(out)
                except ValueError:
                    node[key] = value
            else:
                walk(value, here)
    walk(out, ())
    out["id"] = conv_id
    return out


@pytest.fixture(scope="module")
def hostile_app(seeded_database: Callable[[], AbstractContextManager[str]]) -> Iterator[tuple[App, int]]:
    seed = json.loads(next((ROOT / "seeds").glob("seed-01*.json")).read_text(encoding="utf-8"))
    with seeded_database() as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("select public.import_seed(p_conversation => %(doc)s)",
                         {"doc": Jsonb(hostile(seed, "seed-hostile"))})
        store = PostgresStore(dsn, min_size=1, max_size=1)
        try:
            [scenario] = store.list_scenarios({"status": ["not_generated"]})[:1]
            generated = hostile(make_conversation(scenario, "x", turns=6).model_dump(mode="json"), "gen-hostile")
            store.save_generated(Conversation.model_validate(generated), scenario_id=scenario["id"])
            store.record_review("gen-hostile", "needs_edit", reviewer=HOSTILE[:90], notes=HOSTILE)
            store.revise_label("gen-hostile", 0, "emotion.intensity", 0.5, author=HOSTILE[:90], reason=HOSTILE,
                               source="human_review")
            others = [r["id"] for r in store.list_scenarios({"status": ["not_generated"]})[:2]]
            store.create_job(others, created_by=HOSTILE[:90])
            [item] = store.claim_items("w", limit=1)
            store.fail_item(item.id, HOSTILE, worker="w")  # an endpoint's words in a failure reason
        finally:
            store.close()
        with running_app(dsn) as app:
            yield app, scenario["id"]


def assert_inert(page: Any, requests: list[str], where: str) -> None:
    found = page.evaluate(
        """host => ({
            images: [...document.querySelectorAll('img')].map(i => i.src).filter(s => s.includes(host)),
            links: [...document.querySelectorAll('a')].map(a => a.href).filter(s => s.includes(host)),
            bold: document.querySelectorAll('#hostile-b').length,
            scripts: [...document.querySelectorAll('script')].filter(s => s.textContent.includes('hostile')).length,
            flag: window.hostile === 1,
            math: [...document.querySelectorAll('.katex')].length,
            shown: document.body.innerText.includes(host),
        })""", HOST)
    assert found["shown"], f"{where}: the hostile text is not shown at all"
    assert found == {"images": [], "links": [], "bold": 0, "scripts": 0, "flag": False, "math": 0,
                     "shown": True}, where
    assert [u for u in requests if HOST in u] == [], where


def test_hostile_text_renders_as_text_on_every_page(hostile_app: tuple[App, int], page: Any) -> None:
    app, scenario_id = hostile_app
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    for name, path in [("review-seed", "/review?conversation=seed-hostile"),
                       ("review-generated", "/review?conversation=gen-hostile"),
                       ("scenarios", f"/?scenario={scenario_id}"),
                       ("generate", "/generate")]:
        page.goto(app.url + path)
        settle(page, timeout=90_000)
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=30_000)
        page.wait_for_timeout(500)  # images and fonts a page asked for have started loading
        screenshot(page, f"hostile-{name}")
        assert_inert(page, requests, name)
        if name != "generate":
            turn = page.locator('[data-testid="stChatMessage"]').first
            turn.wait_for(timeout=30_000)
            turn.screenshot(path=str(screenshot(page, f"hostile-{name}-turn")))
