"""Variation sets: the planner (lib/core/variation_sets.py), the scenarios linked to their source in the
database, and their generation against the fake Anthropic server (prompt, provenance, checks)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import psycopg
import pytest

from lib.core.checks.labels import intensity_follows_arc
from lib.core.models import Conversation
from lib.core.seeds import load_seeds
from lib.core.taxonomy import Taxonomy, load_taxonomy
from lib.core.validation import check_conversation
from lib.core.variation_sets import VariationSetError, plan_variations, shifted_curve, start_band, variation_of
from lib.generation.engine import generate_one
from lib.generation.variation_jobs import make_variations
from lib.store.postgres import PostgresStore
from lib.store.protocol import StoreError
from tests.fake_anthropic import FakeAnthropic
from tests.test_generation_db import settings_for


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def seeds() -> dict[str, Conversation]:
    return {c.id: c for c in load_seeds().conversations}


# -- the planner ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("vary", "field"), [("topic", "topic"), ("persona", "persona"), ("tone", "tone"), ("outcome", "outcome_type")]
)
def test_each_variation_differs_from_the_source_in_the_asked_dimension_only(
    vary: str, field: str, tax: Taxonomy, seeds: dict[str, Conversation]
) -> None:
    source = seeds["seed-06"]
    plan = plan_variations(source, [vary], 12, tax, seed=3)
    assert len(plan.rows) == 12
    kept = {k: v for k, v in source.scenario.model_dump().items() if k != field}
    for row in plan.rows:
        assert row[field] != getattr(source.scenario, field)
        assert {k: row[k] for k in kept} == kept
        assert row["source_conversation_id"] == "seed-06"
        assert row["variation"]["vary"] == [vary]
        assert row["variation"]["from"] == {vary: getattr(source.scenario, field)}
        assert row["variation"]["to"] == {vary: row[field]}


def test_values_are_spread_evenly_and_the_plan_is_reproducible(tax: Taxonomy, seeds: dict[str, Conversation]) -> None:
    source = seeds["seed-01"]
    plan = plan_variations(source, ["topic"], 20, tax, seed=7)
    counts = Counter(r["topic"] for r in plan.rows)
    assert len(counts) == plan.alternatives == 9 and plan.repeats
    assert max(counts.values()) - min(counts.values()) <= 1
    assert plan_variations(source, ["topic"], 20, tax, seed=7).rows == plan.rows
    assert plan_variations(source, ["topic"], 20, tax, seed=8).rows != plan.rows


def test_a_mix_changes_every_asked_dimension_within_the_plausibility_rules(
    tax: Taxonomy, seeds: dict[str, Conversation]
) -> None:
    from lib.core.plausibility import row_problems

    source = seeds["seed-08"]
    clusters = {c.id: [t.id for t in c.topics] for c in tax.topic_clusters}
    plan = plan_variations(source, ["topic", "persona"], 30, tax, seed=1)
    assert len({(r["topic"], r["persona"]) for r in plan.rows}) == 30
    for row in plan.rows:
        assert row["topic"] != source.scenario.topic and row["persona"] != source.scenario.persona
        assert row_problems(tax.plausibility, row, clusters) == []


def test_an_intensity_band_variation_records_the_band_and_moves_the_curve(
    tax: Taxonomy, seeds: dict[str, Conversation]
) -> None:
    source = seeds["seed-01"]
    emotion, band = start_band(source, tax)
    assert band is not None
    plan = plan_variations(source, ["intensity"], 4, tax)
    assert {r["variation"]["to"]["intensity"] for r in plan.rows} == {"low", "medium", "high"} - {band.label}
    for row in plan.rows:
        assert {k: row[k] for k in source.scenario.model_dump()} == source.scenario.model_dump()
        record = row["variation"]
        assert record["emotion"] == emotion and record["from"] == {"intensity": band.label}
        lo, hi = record["band"]
        arc = tax.by_id("arcs")[source.scenario.emotional_arc]
        assert lo <= shifted_curve(arc.intensity_curve, record)[0] <= hi
    assert shifted_curve([0.8, 0.5, 0.1], {"band": [0.0, 0.39]}) == [0.195, 0.0, 0.0]
    assert shifted_curve([0.8, 0.5], None) == [0.8, 0.5]


@pytest.mark.parametrize(
    ("sid", "vary", "says"),
    [
        ("seed-04", ["outcome"], "plausibility.arc_fit.crisis_to_referral allows only the source's outcome"),
        ("seed-04", ["persona"], "context"),
        ("seed-04", ["topic"], "plausibility.arc_topics.crisis_to_referral"),
    ],
)
def test_a_request_the_rules_cannot_fill_is_refused_with_the_rule(
    sid: str, vary: list[str], says: str, tax: Taxonomy, seeds: dict[str, Conversation]
) -> None:
    with pytest.raises(VariationSetError, match="vary something else") as err:
        plan_variations(seeds[sid], vary, 5, tax)
    assert says in str(err.value)


def test_bad_requests_say_what_to_ask_instead(tax: Taxonomy, seeds: dict[str, Conversation]) -> None:
    source = seeds["seed-01"]
    with pytest.raises(VariationSetError, match="choose what varies from topic, persona"):
        plan_variations(source, ["colour"], 5, tax)
    with pytest.raises(VariationSetError, match="ask for 1 to 100 variations"):
        plan_variations(source, ["topic"], 101, tax)
    unreviewed = source.model_copy(update={"review": source.review.model_copy(update={"status": "needs_edit"})})
    with pytest.raises(VariationSetError, match="needs edit; approve it before"):
        plan_variations(unreviewed, ["topic"], 5, tax)


# -- the database ----------------------------------------------------------------------------------------
def test_add_scenarios_links_variations_and_refuses_what_is_not_one(seeded: PostgresStore, db_tax: Taxonomy) -> None:
    conv = seeded.get_conversation("seed-01")
    assert conv is not None
    rows = plan_variations(conv, ["topic"], 3, db_tax).rows
    ids = seeded.add_scenarios(rows, origin="variation", plan_batch="variations of seed-01")
    page = seeded.scenario_page({"source": ["seed-01"]})
    assert page.total == 3 and [r["id"] for r in page.rows] == ids
    assert {r["origin"] for r in page.rows} == {"variation"}
    assert page.rows[0]["variation"]["from"] == {"topic": "first_portfolio"}
    assert seeded.variation_counts() == [
        {"source_conversation_id": "seed-01", "planned": 3, "generated": 0, "approved": 0}
    ]
    with pytest.raises(StoreError, match="only a variation"):
        seeded.add_scenarios(rows)
    plain = [{k: v for k, v in rows[0].items() if k != "variation"}]
    with pytest.raises(StoreError, match="needs its variation record"):
        seeded.add_scenarios(plain, origin="variation")
    seeded.record_review("seed-02", "needs_edit", reviewer="Dana", notes="tone")
    other = [{**rows[0], "source_conversation_id": "seed-02"}]
    with pytest.raises(StoreError, match="seed-02 is needs edit; only an approved conversation is varied"):
        seeded.add_scenarios(other, origin="variation")


def test_a_variation_set_of_five_is_generated_stored_and_linked(
    seeded: PostgresStore, conn: psycopg.Connection, fake: FakeAnthropic, db_tax: Taxonomy
) -> None:
    made = make_variations(seeded, ["seed-01"], ["topic"], 5, db_tax, seed=11, start=False)
    assert len(made.scenario_ids) == 5 and made.job_id is None
    source = seeded.get_conversation("seed-01")
    assert source is not None
    for sid in made.scenario_ids:
        result = generate_one(seeded, sid, settings=settings_for(fake), tax=db_tax)
        assert result.ok, result.reason
        conv = seeded.get_conversation(result.conversation_id or "")
        assert conv is not None
        row = seeded.get_scenario(sid) or {}
        assert row["source_conversation_id"] == "seed-01" and row["conversation_id"] == conv.id
        assert conv.scenario.topic == row["topic"] != source.scenario.topic
        record = variation_of(conv) or {}
        assert record["source_conversation_id"] == "seed-01" and record["to"] == {"topic": row["topic"]}
        assert len(conv.turns) == len(source.turns)
        topic = db_tax.by_id("topics")[row["topic"]]
        assert any(k in " ".join(t.text for t in conv.turns) for k in topic.keywords)
        assert check_conversation(conv, db_tax).passed
    prompt = fake.message_requests()[-1].body["messages"][0]["content"]
    assert "<source_id>seed-01</source_id>" in prompt
    assert f"<target_turns>{len(source.turns)}</target_turns>" in prompt
    assert "[0] user (anxiety" in prompt and "[1] assistant (" in prompt
    assert "Topic: first_portfolio → " in prompt
    assert seeded.variation_counts()[0]["generated"] == 5
    used = conn.execute("select count(*) as n from public.prompt_templates where name = 'variation'").fetchone()
    assert used is not None and used["n"] == 1


def test_an_intensity_variation_follows_its_band_and_passes_the_intensity_check(
    seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy
) -> None:
    made = make_variations(seeded, ["seed-01"], ["intensity"], 2, db_tax, start=False)
    for sid in made.scenario_ids:
        result = generate_one(seeded, sid, settings=settings_for(fake), tax=db_tax)
        assert result.ok, result.reason
        conv = seeded.get_conversation(result.conversation_id or "")
        assert conv is not None
        lo, hi = (variation_of(conv) or {})["band"]
        assert lo <= conv.arc.start.intensity <= hi
        assert intensity_follows_arc(conv, conv.turns, db_tax).findings == ()
        # without its variation record the same turns would break the source arc's curve
        plain = conv.model_copy(update={"provenance": conv.provenance.model_copy(update={"parameters": {}})})
        assert intensity_follows_arc(plain, plain.turns, db_tax).findings


def test_make_variations_starts_one_job_for_the_set(seeded: PostgresStore, db_tax: Taxonomy) -> None:
    made = make_variations(seeded, ["seed-01", "seed-06"], ["tone"], 3, db_tax, created_by="Ana")
    assert made.job_id is not None and made.queued == 6
    job: dict[str, Any] = seeded.get_job(made.job_id) or {}
    assert job["settings"]["requested_from"] == "variations"
    with pytest.raises(VariationSetError, match="there is no conversation nope"):
        make_variations(seeded, ["nope"], ["tone"], 3, db_tax)


# -- the command line ------------------------------------------------------------------------------------
def test_the_command_line_plans_adds_and_starts_variations(
        seeded_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import os
    from pathlib import Path

    from lib.__main__ import main

    for name in list(os.environ):
        if name.startswith(("ANTHROPIC_", "BRIGHTRUN_", "SUPABASE_")):
            monkeypatch.delenv(name)
    monkeypatch.setattr("lib.config.SECRETS_FILE", Path(__file__).parent / "no-secrets.toml")
    monkeypatch.setenv("DATABASE_URL", seeded_dsn)
    assert main(["variations", "seed-01", "--vary", "topic,tone", "--n", "3", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.startswith("seed-01: Topic: First portfolio → ") for line in lines)
    assert all("; Tone: Professional → " in line for line in lines)
    assert main(["variations", "seed-01", "seed-08", "--n", "2", "--no-start"]) == 0
    assert capsys.readouterr().out.startswith("added 4 variation scenarios (#")
    assert main(["variations", "seed-04", "--vary", "outcome"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: conversation seed-04 cannot vary its outcome") and err.count("\n") == 1
    store = PostgresStore(seeded_dsn, min_size=1, max_size=1)
    try:
        assert {r["source_conversation_id"]: r["planned"] for r in store.variation_counts()} == {
            "seed-01": 2, "seed-08": 2}
    finally:
        store.close()


def test_a_variation_set_goes_through_message_batches_with_its_source(
        seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy) -> None:
    from tests.test_worker import make_worker, run_until_idle

    sent: dict[str, dict[str, Any]] = {}

    def behaviour(custom_id: str, params: dict[str, Any]) -> str:
        sent[custom_id] = params
        return "valid"

    fake.batch_behaviour = behaviour
    made = make_variations(seeded, ["seed-06"], ["persona"], 3, db_tax, mode="batch")
    run_until_idle(make_worker(seeded, fake, db_tax))
    assert len(sent) == 3 and not fake.message_requests()
    assert all("<source_id>seed-06</source_id>" in str(p["messages"][0]["content"]) for p in sent.values())
    for sid in made.scenario_ids:
        row = seeded.get_scenario(sid) or {}
        conv = seeded.get_conversation(row["conversation_id"])
        assert conv is not None and conv.scenario.persona == row["persona"] != "recent_retiree"
        assert (variation_of(conv) or {})["source_conversation_id"] == "seed-06"


@pytest.mark.parametrize(("intensity", "band"), [(0.395, "low"), (0.4, "medium"), (0.7, "high")])
def test_the_source_band_is_the_band_review_shows(intensity: float, band: str) -> None:
    """One rule for the band an intensity is in: a variation of the intensity band starts from the band the
    reviewer sees (a value between one band's max and the next one's min is in the lower band)."""
    from lib.review.text import intensity_band

    tax = load_taxonomy()
    seed = load_seeds().conversations[0]
    conv = seed.model_copy(
        update={"arc": seed.arc.model_copy(update={"start": seed.arc.start.model_copy(update={"intensity": intensity})})}
    )
    emotion, found = start_band(conv, tax)
    assert found is not None and found.label == band
    assert intensity_band(tax.by_id("emotions")[emotion], intensity) == band
