"""Contrastive pairs on Coverage: the emotion x failure kind grid against failures.yaml's target (on fixture
rows), public.contrastive_pair_counts (the emotion answered, accepted pairs of current conversations only),
and the page's section under AppTest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from streamlit.testing.v1 import AppTest

import lib.coverage as coverage
from lib.core.taxonomy import Taxonomy
from lib.coverage.shortfall import GAP_COLUMNS
from lib.store.boot import SEEDS_DIR, import_seeds
from lib.store.postgres import PostgresStore
from tests.conftest import make_conversation
from tests.test_export_preference import contrast

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "coverage.py")


def cell(frame: Any, emotion: str, kind: str) -> Any:
    return frame[(frame["emotion"] == emotion) & (frame["failure_kind"] == kind)].iloc[0]


def suited_pair(tax: Taxonomy) -> tuple[str, str, str]:
    """A failure kind, an emotion it suits and one it does not."""
    kind = tax.failures.kinds[0]
    other = next(e.id for e in tax.emotions if e.id not in kind.suits)
    return kind.id, kind.suits[0], other


def test_only_cells_a_failure_suits_have_a_target_and_the_rest_still_count(db_tax: Taxonomy) -> None:
    kind, suits, other = suited_pair(db_tax)
    target = db_tax.failures.target_pairs_per_emotion
    rows = [
        {"emotion": suits, "failure_kind": kind, "n": 1},
        {"emotion": suits, "failure_kind": kind, "n": 1},  # the same cell twice adds up
        {"emotion": other, "failure_kind": kind, "n": 4},
        {"emotion": suits, "failure_kind": "retired_kind", "n": 2},
    ]
    frame = coverage.pair_frame(rows, db_tax)
    assert len(frame) == len(db_tax.emotions) * (len(db_tax.failures.kinds) + 1)
    assert (cell(frame, suits, kind)["count"], cell(frame, suits, kind)["target"]) == (2, target)
    assert (cell(frame, other, kind)["count"], cell(frame, other, kind)["target"]) == (4, 0)
    retired = cell(frame, suits, "retired_kind")
    assert (retired["count"], retired["target"], retired["kind_name"]) == (2, 0, "retired_kind")
    cells = sum(len(k.suits) for k in db_tax.failures.kinds)
    assert coverage.pair_summary(frame) == (0, cells)

    gaps = coverage.pair_gaps(frame)
    assert list(gaps.columns) == GAP_COLUMNS and len(gaps) == cells
    assert not gaps["plannable"].any() and set(gaps["kind"]) == {"pair"}
    mine = gaps[gaps["id"] == f"{suits}:{kind}"].iloc[0]
    assert (mine["count"], mine["short_by"]) == (2, target - 2)
    assert gaps["short_by"].is_monotonic_decreasing
    assert f"{other}:{kind}" not in set(gaps["id"])  # no target, never a gap however few

    full = coverage.pair_frame([{"emotion": suits, "failure_kind": kind, "n": target}], db_tax)
    assert coverage.pair_summary(full) == (1, cells)
    assert f"{suits}:{kind}" not in set(coverage.pair_gaps(full)["id"])


def test_the_chart_shows_count_over_target_where_a_failure_suits_and_blank_elsewhere(db_tax: Taxonomy) -> None:
    kind, suits, other = suited_pair(db_tax)
    names = db_tax.names("emotions")
    frame = coverage.pair_frame([{"emotion": suits, "failure_kind": kind, "n": 2}], db_tax)
    fig = coverage.pair_figure(frame, subtitle="test")
    trace = fig.data[0]
    rows = list(dict.fromkeys(frame["emotion_name"]))
    col = list(dict.fromkeys(frame["kind_name"])).index(db_tax.failures.by_id[kind].name)
    target = db_tax.failures.target_pairs_per_emotion
    assert trace.text[rows.index(names[suits])][col] == f"2/{target}"
    assert trace.text[rows.index(names[other])][col] == "" and trace.z[rows.index(names[other])][col] is None
    assert "not a target" in trace.hovertext[rows.index(names[other])][col]
    assert not fig.layout.annotations  # something counted
    empty = coverage.pair_figure(coverage.pair_frame([], db_tax), subtitle="test")
    assert empty.layout.annotations[0].text == "No accepted contrastive pairs in this view yet"


def test_pair_counts_take_the_emotion_answered_and_accepted_pairs_of_current_conversations(
    store: PostgresStore, conn: psycopg.Connection[dict[str, Any]], db_tax: Taxonomy
) -> None:
    imported, _ = import_seeds(store, SEEDS_DIR, db_tax)
    first, second = sorted(imported)[:2]
    emotion_at = {
        (r["conversation_id"], r["idx"]): r["emotion_primary"]
        for r in conn.execute("select conversation_id, idx, emotion_primary from public.conversation_turns")
    }
    contrast(conn, first, 1, "minimising", "Accepted one.")
    contrast(conn, first, 3, "minimising", "Accepted two.")
    contrast(conn, second, 1, "lecturing", "Proposed.", status="proposed")
    contrast(conn, second, 3, "lecturing", "Rejected.", status="rejected")
    want: dict[tuple[str, str], int] = {}
    for idx in (0, 2):
        key = (emotion_at[(first, idx)], "minimising")
        want[key] = want.get(key, 0) + 1
    got = {(r["emotion"], r["failure_kind"]): r["n"] for r in store.contrastive_pair_counts()}
    assert got == want

    # needs edit: out of the approved view, in the view of everything not rejected
    store.record_review(first, "needs_edit", reviewer="Dana")
    assert store.contrastive_pair_counts() == []
    assert {(r["emotion"], r["failure_kind"]): r["n"] for r in store.contrastive_pair_counts(False)} == want
    # regenerated: the old version's pairs no longer count
    scenario_id = conn.execute("select scenario_id from public.conversations where id = %s", (first,)).fetchone()
    scenario = store.get_scenario(scenario_id["scenario_id"])
    assert scenario is not None
    store.save_generated(make_conversation(scenario, "regen-v2"), scenario_id=scenario["id"])
    assert store.contrastive_pair_counts(False) == []


@pytest.fixture
def paired_app(app_env: str, db_tax: Taxonomy) -> str:
    """The first start's seeds with one accepted pair of a failure on a turn whose emotion it suits."""
    with psycopg.connect(app_env, row_factory=dict_row, autocommit=True) as conn:
        turn = conn.execute(
            "select t.conversation_id, t.idx, t.emotion_primary from public.conversation_turns t "
            "join public.conversations c on c.id = t.conversation_id and c.review_status = 'approved' "
            "where t.role = 'user' and t.emotion_primary = any(%s) order by 1, 2 limit 1",
            ([e for k in db_tax.failures.kinds[:1] for e in k.suits],),
        ).fetchone()
        contrast(conn, turn["conversation_id"], turn["idx"] + 1, db_tax.failures.kinds[0].id, "Accepted failure.")
    return f"{db_tax.names('emotions')[turn['emotion_primary']]} · {db_tax.failures.kinds[0].name}"


def test_the_coverage_page_shows_the_pairs_against_their_targets(paired_app: str, db_tax: Taxonomy) -> None:
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    assert not at.exception and not at.error
    assert any(h.value == "Contrastive pairs" for h in at.subheader)
    m = {x.label: x.value for x in at.metric}
    cells = sum(len(k.suits) for k in db_tax.failures.kinds)
    assert m["Accepted pairs"] == "1" and m["Cells at target"] == f"0 of {cells}"
    charts = at.get("plotly_chart")
    assert len(charts) == len(coverage.FIGURES) + 1
    short = next(d.value for d in at.dataframe if "how" in d.value.columns and "kind_name" not in d.value.columns)
    assert len(short) == cells
    mine = short[short["name"] == paired_app].iloc[0]
    assert (mine["count"], mine["target"]) == (1, db_tax.failures.target_pairs_per_emotion)
