"""Near-duplicates across the dataset (lib/core/similarity.py): conversations that are and are not
near-duplicates, the clusters and their newest member, the diversity figures per cell, the export
option that drops the repeats, and the clusters on the Coverage and Review pages."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import lib.export as ex
from lib.core import similarity
from lib.core.checks.repetition import no_empty_or_duplicate
from lib.core.models import Conversation
from lib.core.taxonomy import Taxonomy
from lib.coverage import diversity
from lib.store.postgres import PostgresStore
from tests.quality_data import generate_approvable
from tests.test_page_review import store  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parent.parent


def _doc(conv: Conversation, when: str, cid: str | None = None) -> similarity.Doc:
    return similarity.Doc(cid or conv.id, when, tuple(t.text for t in conv.turns))


def _reworded(text: str, n: int) -> str:
    """The text with every n-th word changed: a regeneration that kept the sentences."""
    words = text.split()
    return " ".join(w + "s" if i % n == 0 else w for i, w in enumerate(words))


@pytest.fixture
def rule(tax: Taxonomy) -> similarity.Rule:
    return similarity.Rule.of(tax.targets.quality)


@pytest.fixture
def seed_docs(seeds: dict[str, Conversation]) -> list[similarity.Doc]:
    return [_doc(c, f"2026-01-{n:02d}") for n, c in enumerate(sorted(seeds.values(), key=lambda c: c.id), 1)]


def test_different_conversations_are_not_near_duplicates(
    seed_docs: list[similarity.Doc], rule: similarity.Rule
) -> None:
    assert similarity.clusters(seed_docs, rule) == []


def test_a_reworded_copy_clusters_with_its_original_and_the_newest_is_flagged(
    seed_docs: list[similarity.Doc], rule: similarity.Rule
) -> None:
    original = seed_docs[0]
    copy = similarity.Doc("copy", "2026-03-01", tuple(_reworded(t, 12) for t in original.turns))
    [cluster] = similarity.clusters([*seed_docs, copy], rule)
    assert cluster.members == (original.id, "copy")
    assert cluster.newest == "copy" and cluster.kept == original.id and cluster.repeats == ("copy",)
    assert 0.5 <= cluster.similarity < 1 and cluster.shared_turns == len(original.turns)


def test_heavier_rewording_is_not_a_near_duplicate(seed_docs: list[similarity.Doc], rule: similarity.Rule) -> None:
    original = seed_docs[0]
    rewritten = similarity.Doc("rewritten", "2026-03-01", tuple(_reworded(t, 2) for t in original.turns))
    assert similarity.clusters([*seed_docs, rewritten], rule) == []


def test_half_the_turns_copied_links_two_conversations_one_turn_does_not(
    seed_docs: list[similarity.Doc], rule: similarity.Rule
) -> None:
    a = seed_docs[1]
    rng = random.Random(5)
    vocab = sorted({w for d in seed_docs for t in d.turns for w in t.split()})

    def filler(n: int) -> tuple[str, ...]:
        return tuple(" ".join(rng.choices(vocab, k=50)) for _ in range(n))

    k = len(a.turns) // 2
    half = similarity.Doc("half", "2026-03-01", a.turns[:k] + filler(len(a.turns) - k))
    one = similarity.Doc("one", "2026-03-02", a.turns[:1] + filler(len(a.turns) - 1))
    found = similarity.clusters([*seed_docs, half, one], rule)
    assert [c.members for c in found] == [(a.id, "half")]
    assert found[0].links[0].shared_turns == k and found[0].similarity < 0.6


def test_the_search_finds_one_copy_among_many(rule: similarity.Rule, seeds: dict[str, Conversation]) -> None:
    rng = random.Random(3)
    vocab = sorted({w for c in seeds.values() for t in c.turns for w in t.text.split()})
    docs = [
        similarity.Doc(f"c{n}", f"{n:04d}", tuple(" ".join(rng.choices(vocab, k=60)) for _ in range(8)))
        for n in range(300)
    ]
    docs.append(similarity.Doc("late", "9999", tuple(_reworded(t, 9) for t in docs[123].turns)))
    assert [c.members for c in similarity.clusters(docs, rule)] == [("c123", "late")]


def test_the_quality_gate_and_the_dataset_search_apply_one_rule(
    seeds: dict[str, Conversation], tax: Taxonomy, rule: similarity.Rule
) -> None:
    conv = next(iter(seeds.values())).model_copy(deep=True)
    conv.turns[2].text = _reworded(conv.turns[0].text, 12)
    gate = no_empty_or_duplicate(conv, conv.current_turns(), tax)
    sets = [similarity.shingles(t.text, rule.k) for t in conv.turns]
    found = similarity.near_pairs(sets, rule)
    assert gate.fraction < 1 and [(m.i, m.j) for m in found] == [(0, 2)]
    assert any("repeats turn 0" in f.message for f in gate.findings)


def test_diversity_figures_show_a_templated_cell(seeds: dict[str, Conversation], tax: Taxonomy) -> None:
    one, other = sorted(seeds.values(), key=lambda c: c.id)[:2]

    def row(conv: Conversation, cid: str, persona: str) -> dict:
        return {
            "id": cid,
            "created_at": cid,
            "review_status": "approved",
            "tier": "template",
            "persona": persona,
            "emotional_arc": "a",
            "topic": "t",
            "roles": [t.role for t in conv.turns],
            "texts": [t.text for t in conv.turns],
        }

    persona_a, persona_b = tax.personas[0].id, tax.personas[1].id
    rows = [
        row(one, "x1", persona_a),
        row(one, "x2", persona_a),
        row(one, "y1", persona_b),
        row(other, "y2", persona_b),
    ]
    frame = diversity.figures(diversity.profiles(rows, tax), tax, "persona").set_index("cell")
    templated, varied = frame.loc[tax.personas[0].name], frame.loc[tax.personas[1].name]
    assert templated["mean_similarity"] == 1.0 and varied["mean_similarity"] < 0.15
    assert templated["distinct_2"] < varied["distinct_2"]
    assert templated["top_opening"] == similarity.opening(one.turns[0].text)
    assert templated["opening_share"] > varied["opening_share"]
    assert list(diversity.in_scope(rows, "approved")) == rows


def test_the_export_can_leave_out_the_repeats(seeds: dict[str, Conversation], db_tax: Taxonomy, tmp_path: Path) -> None:
    convs = sorted(seeds.values(), key=lambda c: c.id)
    copy = convs[0].model_copy(deep=True)
    copy.id = "seed-01-again"
    copy.provenance.created_at = convs[0].provenance.created_at.replace(year=2030)
    rows = ex.rows_from_conversations([*convs, copy])
    kept_all = ex.export(rows, ex.ExportOptions(eval_ratio=0), db_tax, tmp_path / "all")
    assert kept_all.counts["conversations"] == 11 and not kept_all.excluded
    result = ex.export(rows, ex.ExportOptions(eval_ratio=0, no_near_duplicates=True), db_tax, tmp_path / "dedup")
    assert result.counts["conversations"] == 10
    assert result.excluded == [
        {"id": "seed-01-again", "reasons": ["near_duplicate"], "detail": f"repeats {convs[0].id}"}
    ]
    assert "near-duplicate of an earlier conversation" in (tmp_path / "dedup" / "README.md").read_text().lower()


# ---- on the pages (store: the pages' database, the Review page tests' fixture) ---------------------------
def test_coverage_lists_the_cluster_and_review_flags_its_newest(store: PostgresStore, db_tax: Taxonomy) -> None:
    before = store.conversation_texts_version()
    [copy] = generate_approvable(store, db_tax, 1, "dup")  # seed-01's turns, for another scenario
    after = store.conversation_texts_version()
    assert before != after
    texts = store.conversation_texts()
    assert len(texts) == 11 and copy.id in {r["id"] for r in texts}
    assert next(r for r in texts if r["id"] == copy.id)["texts"] == [t.text for t in copy.turns]

    at = AppTest.from_file(str(ROOT / "pages" / "coverage.py"), default_timeout=90)
    at.session_state["br_coverage_scope"] = "generated"
    at.run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Near-duplicate clusters"] == "1" and metrics["Conversations that repeat an earlier one"] == "1"
    clusters = next(d for d in at.dataframe if d.key == "br_coverage_clusters" or "newest" in d.value.columns).value
    assert list(clusters["newest"]) == [copy.id] and clusters["size"].iloc[0] == 2
    diversity_table = next(d for d in at.dataframe if "distinct_2" in d.value.columns).value
    assert diversity_table["conversations"].sum() == 11

    at.session_state["br_coverage_scope"] = "approved"  # the copy is not approved: nothing to repeat
    at.run()
    assert {m.label: m.value for m in at.metric}["Near-duplicate clusters"] == "0"

    review = AppTest.from_file(str(ROOT / "pages" / "review.py"), default_timeout=60)
    review.session_state["br_reviewer"] = "Ana Reviewer"
    review.session_state["br_review_current"] = copy.id
    review.run()
    assert not review.exception, review.exception
    assert any("Near-duplicate: the newest of 2" in w.value for w in review.warning)
    assert any(b.label.startswith("Open seed-01") for b in review.button)

    store.record_review(copy.id, "needs_edit", reviewer="Ana Reviewer", notes="too close to seed-01")
    assert store.conversation_texts_version() == after  # a decision does not make Review search again


def test_a_streamed_export_drops_a_repeat_read_in_another_batch(
    store: PostgresStore, db_tax: Taxonomy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the copy's scenario comes after every seed's, so in batches of two it is read long after seed-01
    [copy] = generate_approvable(store, db_tax, 1, "dup")
    monkeypatch.setattr("lib.export.select.BATCH", 2)
    options = ex.ExportOptions(selection="all", eval_ratio=0, no_near_duplicates=True)
    result = ex.run(store, options, db_tax, tmp_path / "out", make_zip=False)
    assert result.counts["conversations"] == 10
    assert [(e["id"], e["reasons"]) for e in result.excluded] == [(copy.id, ["near_duplicate"])]
    kept = ex.run(
        store, options.model_copy(update={"no_near_duplicates": False}), db_tax, tmp_path / "all", make_zip=False
    )
    assert kept.counts["conversations"] == 11
