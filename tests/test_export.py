"""Export for training: every file is loaded the way its consumer loads it (pyarrow and pandas for
parquet, JSONL line by line with the roles checked, the dataset card's YAML parsed), the split's
properties, atomic replacement, bad input, secrets, the store methods and the CLI."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

import lib.export as ex
from lib.export import formats, parquet
from lib.core.models import Conversation
from lib.core.seeds import load_seeds
from lib.store.protocol import ExportRow
from lib.store.boot import SEEDS_DIR, import_seeds
from lib.store.postgres import PostgresStore
from lib.core.taxonomy import Taxonomy
from tests.conftest import ROOT, make_conversation, scenario_rows

FAKE_KEY = "fake-ak-api03-FAKE-export-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def seeds() -> list[Conversation]:
    return load_seeds().conversations


def seed_rows(seeds: list[Conversation]) -> list[ExportRow]:
    return ex.rows_from_conversations(seeds, scenario_ids=list(range(1, len(seeds) + 1)))


def export_seeds(tmp_path: Path, tax: Taxonomy, seeds: list[Conversation], **options: Any) -> ex.ExportResult:
    return ex.export(seed_rows(seeds), ex.ExportOptions(**options), tax, tmp_path / "out", source="seeds")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """As a trainer reads it: one JSON object per non-empty line."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            assert line.endswith("\n"), f"{path.name}: line {n} is not terminated"
            obj = json.loads(line)
            assert isinstance(obj, dict), f"{path.name}: line {n} is not an object"
            out.append(obj)
    return out


def check_alternation(roles: list[str], *, system: str, user: str, assistant: str) -> None:
    assert roles[0] == system and roles.count(system) == 1
    rest = roles[1:]
    assert rest and rest[0] == user and rest[-1] == assistant
    assert all(r == (user if i % 2 == 0 else assistant) for i, r in enumerate(rest)), roles


def card_header(text: str) -> dict[str, Any]:
    assert text.startswith("---\n")
    head, _, _ = text[4:].partition("\n---\n")
    return yaml.safe_load(head)


# what an export folder `out` leaves in its parent: the folder and the zip (links), the pointer to the
# generation in place, and that generation
EXPORT_LAYOUT = [".out.current", ".out.gen-*", "out", "out.zip"]


def layout(parent: Path) -> list[str]:
    return sorted(p.name.split("gen-")[0] + "gen-*" if ".gen-" in p.name else p.name for p in parent.iterdir())


# ---- the seeds in every format ------------------------------------------------------------------
def test_the_seeds_export_to_every_format_and_each_loads_as_its_consumer_loads_it(
        tmp_path: Path, db_tax: Taxonomy, seeds: list[Conversation]) -> None:
    result = export_seeds(tmp_path, db_tax, seeds, eval_ratio=0.2, weights=True)
    out = result.path
    counts = result.counts
    assert counts["conversations"] == 10 and counts["train"] + counts["eval"] == 10
    assert counts["train"] == 8 and counts["eval"] == 2  # round(0.2 x 10 scenarios)
    by_id = {c.id: c for c in seeds}
    split_of: dict[str, str] = {}

    # full dataset format: every line validates as the model and is the seed with its split set
    lines = read_jsonl(out / "full/conversations.jsonl")
    assert len(lines) == 10
    for doc in lines:
        conv = Conversation.model_validate(doc)
        split_of[conv.id] = conv.training.split
        original = by_id[conv.id]
        assert conv.model_copy(update={"training": original.training}) == original
    assert json.loads((out / "full/conversations.json").read_text()) == lines

    # messages: system, then user/assistant alternating; a 0/1 weight on each assistant message
    suited = ex.suited_strategies(db_tax)
    for split in ("train", "eval"):
        records = read_jsonl(out / f"messages/{ex.SPLIT_NAMES[split]}.jsonl")
        assert len(records) == counts[split]
        for rec in records:
            assert list(rec) == ["id", "version", "messages"] and split_of[rec["id"]] == split
            assert rec["version"] == 1
            msgs = rec["messages"]
            check_alternation([m["role"] for m in msgs], system="system", user="user", assistant="assistant")
            assert all(isinstance(m["content"], str) and m["content"] for m in msgs)
            assert all(("weight" in m) == (m["role"] == "assistant") for m in msgs)
            assert {m["weight"] for m in msgs if m["role"] == "assistant"} <= {0, 1}
        conv_ids = [c for c, s in split_of.items() if s == split]
        assert len(conv_ids) == len(records)
    # weights follow the definition on the seed's labels in force
    seed = by_id["seed-09"]
    rec = next(r for s in ("train", "test") for r in read_jsonl(out / f"messages/{s}.jsonl")
               if r["id"] == seed.id)
    turns = seed.current_turns()
    expected = []
    for i in range(1, len(turns), 2):
        emotion = turns[i - 1].emotion
        fits = suited[emotion.primary] | suited.get(emotion.secondary or "", frozenset())
        expected.append(1 if turns[i].strategies.primary in fits else 0)
    assert [m["weight"] for m in rec["messages"] if m["role"] == "assistant"] == expected
    assert 0 in expected  # seed-09 has a turn whose strategy suits neither emotion

    # ShareGPT: conversations / from / value, system then human/gpt alternating
    for split in ("train", "eval"):
        for rec in read_jsonl(out / f"sharegpt/{ex.SPLIT_NAMES[split]}.jsonl"):
            assert set(rec) == {"id", "version", "conversations"} and split_of[rec["id"]] == split
            assert all(set(m) == ({"from", "value", "weight"} if m["from"] == "gpt" else {"from", "value"})
                       for m in rec["conversations"])
            check_alternation([m["from"] for m in rec["conversations"]], system="system", user="human", assistant="gpt")

    # Hugging Face layout: parquet per split, read with pyarrow and with pandas
    for split in ("train", "eval"):
        path = out / f"data/{ex.SPLIT_NAMES[split]}-00000-of-00001.parquet"
        table = pq.read_table(path)
        assert table.num_rows == counts[split]
        df = pd.read_parquet(path)
        assert len(df) == counts[split] and set(df["id"]) == {c for c, s in split_of.items() if s == split}
        for row in table.to_pylist():
            conv = by_id[row["id"]]
            check_alternation([m["role"] for m in row["messages"]], system="system", user="user", assistant="assistant")
            assert [m["content"] for m in row["messages"][1:]] == [t.text for t in conv.turns]
            assert [lab["emotion"] for lab in row["turn_labels"] if lab["role"] == "user"] == \
                [t.emotion.primary for t in conv.current_turns() if t.role == "user"]
            assert row["persona"] == conv.scenario.persona and row["emotional_arc"] == conv.scenario.emotional_arc
            assert row["topic_cluster"] == db_tax.cluster_of[conv.scenario.topic]
            assert row["review_status"] == "approved"

    # metadata CSV: one row per conversation, every dimension, scores and review status
    df = pd.read_csv(out / "metadata.csv", keep_default_na=False)
    assert len(df) == 10 and set(df["id"]) == set(by_id)
    for col in ("tier", "persona", "emotional_arc", "start_emotion", "topic", "topic_cluster", "intent", "tone",
                "outcome_type", "quality_score", "review_status", "split"):
        assert col in df.columns
    assert dict(zip(df["id"], df["split"])) == split_of
    assert set(df["review_status"]) == {"approved"}
    # in the order of the split files
    assert list(df[df["split"] == "train"]["id"]) == [r["id"] for r in read_jsonl(out / "sharegpt/train.jsonl")]

    # dataset card: YAML header with configs, splits, license and task categories
    card = (out / "README.md").read_text()
    header = card_header(card)
    assert header["license"] == "other" and header["task_categories"] == ["text-generation"]
    assert header["size_categories"] == ["n<1K"]
    default = next(c for c in header["configs"] if c.get("default"))
    assert default["config_name"] == "default"
    assert {d["split"] for d in default["data_files"]} == {"train", "test"}
    for config in header["configs"]:
        for data_file in config["data_files"]:
            assert (out / data_file["path"]).is_file()
    assert "dataset_info" not in header  # without features and sizes, datasets warns it is malformed
    assert header["license_link"] == "LICENSE.md" and (out / "LICENSE.md").is_file()
    # its description comes from the data
    names = {p.id: p.name for p in db_tax.personas}
    for conv in seeds:
        assert names[conv.scenario.persona] in card
    assert "| Anxiety | anxiety | 9 |" in card  # user turns per emotion
    assert "10 are hand-written seed conversations" in card
    assert "| Approved | 10 | 100.0% |" in card

    # manifest: counts, format versions, sha256 of every file, taxonomy version, the selection
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == result.manifest
    assert manifest["taxonomy"] == {"vertical": "financial_planning", "version": db_tax.vertical.version,
                                    "sha256": db_tax.sha256}
    assert manifest["selection"]["mode"] == "approved" and manifest["selection"]["review_statuses"] == ["approved"]
    assert manifest["formats"]["messages"]["version"] == "2"
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert sorted([f["path"] for f in manifest["files"]] + ["manifest.json"]) == on_disk
    for f in manifest["files"]:
        data = (out / f["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
    assert ex.verify(out) == []

    # the zip holds the same files
    assert result.zip_path is not None and result.zip_path == out.parent / "out.zip"
    with zipfile.ZipFile(result.zip_path) as zf:
        assert zf.testzip() is None
        assert sorted(n.removeprefix("out/") for n in zf.namelist()) == on_disk
        assert zf.read("out/messages/train.jsonl") == (out / "messages/train.jsonl").read_bytes()


def test_preview_shows_the_first_records_of_each_file(tmp_path: Path, db_tax: Taxonomy,
                                                      seeds: list[Conversation]) -> None:
    result = export_seeds(tmp_path, db_tax, seeds)
    shown = ex.preview(result.path, n=2)
    assert set(shown) == {f["path"] for f in result.manifest["files"]}
    assert len(shown["messages/train.jsonl"]) == 2 and shown["messages/train.jsonl"][0]["messages"][0]["role"] == "system"
    assert shown["full/conversations.json"] == shown["full/conversations.jsonl"]
    assert len(shown["data/train-00000-of-00001.parquet"]) == 2
    assert len(shown["metadata.csv"]) == 2 and shown["README.md"].startswith("---\n")


def test_without_an_eval_share_there_is_only_a_train_split(tmp_path: Path, db_tax: Taxonomy,
                                                           seeds: list[Conversation]) -> None:
    result = export_seeds(tmp_path, db_tax, seeds, eval_ratio=0, formats=["messages", "hf"])
    files = {f["path"] for f in result.manifest["files"]}
    assert files == {"messages/train.jsonl", "data/train-00000-of-00001.parquet", "README.md", "LICENSE.md",
                     "data/messages/train-00000-of-00001.parquet", "data/sharegpt/train-00000-of-00001.parquet",
                     "trainers/axolotl.yaml", "trainers/trl.yaml"}
    header = card_header((result.path / "README.md").read_text())
    assert [d["split"] for d in header["configs"][0]["data_files"]] == ["train"]


def test_the_same_data_and_seed_give_byte_identical_files(tmp_path: Path, db_tax: Taxonomy,
                                                          seeds: list[Conversation]) -> None:
    a = ex.export(seed_rows(seeds), ex.ExportOptions(seed=3, eval_ratio=0.3), db_tax, tmp_path / "a")
    b = ex.export(seed_rows(seeds), ex.ExportOptions(seed=3, eval_ratio=0.3), db_tax, tmp_path / "b")
    assert a.manifest["files"] == b.manifest["files"]
    c = ex.export(seed_rows(seeds), ex.ExportOptions(seed=4, eval_ratio=0.3), db_tax, tmp_path / "c")
    assert a.manifest["files"] != c.manifest["files"]


# ---- labels in force ---------------------------------------------------------------------------
def test_training_formats_carry_revised_labels_and_the_full_format_keeps_the_history(
        tmp_path: Path, db_tax: Taxonomy, seeds: list[Conversation]) -> None:
    conv = seeds[0].model_copy(deep=True)
    conv.revise(0, "emotion.primary", "shame", source="human_review", author="Dana", reason="more shame than fear")
    conv.revise(1, "strategies.primary", "boundary_referral", source="human_review", author="Dana")
    result = ex.export(ex.rows_from_conversations([conv]), ex.ExportOptions(eval_ratio=0, weights=True), db_tax,
                       tmp_path / "out")
    row = pq.read_table(result.path / "data/train-00000-of-00001.parquet").to_pylist()[0]
    labels = row["turn_labels"]
    assert labels[0]["emotion"] == "shame" and labels[1]["strategy"] == "boundary_referral"
    # boundary_referral suits neither shame nor confusion: no longer an approved target
    assert labels[1]["approved_target"] is False
    msgs = read_jsonl(result.path / "messages/train.jsonl")[0]["messages"]
    assert msgs[2]["weight"] == 0
    csv_row = pd.read_csv(result.path / "metadata.csv").iloc[0]
    assert csv_row["emotions"].split(";")[0] == "shame" and csv_row["label_revisions"] == 2
    full = Conversation.model_validate(read_jsonl(result.path / "full/conversations.jsonl")[0])
    assert full.turns[0].emotion.primary == seeds[0].turns[0].emotion.primary  # the first label stays
    assert [r.new_value for r in full.label_history] == ["shame", "boundary_referral"]
    assert full.current_turns()[0].emotion.primary == "shame"


def test_approved_target_definition(db_tax: Taxonomy) -> None:
    suited = ex.suited_strategies(db_tax)
    user = {"role": "user", "emotion": {"primary": "anxiety", "secondary": "hope"}}
    assert ex.approved_target(user, {"role": "assistant", "strategies": {"primary": "de_escalation"}}, suited)
    assert ex.approved_target(user, {"role": "assistant", "strategies": {"primary": "celebrating_progress"}}, suited)
    assert not ex.approved_target(user, {"role": "assistant", "strategies": {"primary": "boundary_referral"}}, suited)
    assert not ex.approved_target(None, {"role": "assistant", "strategies": {"primary": "de_escalation"}}, suited)
    assert ex.target_flags([user, {"role": "assistant", "strategies": {"primary": "normalizing"}}], suited) == [None, True]


# ---- the split ----------------------------------------------------------------------------------
def synthetic_strata(n_groups: int, seed: int = 0) -> dict[str, tuple[str, str]]:
    rng = random.Random(seed)
    arcs = [f"arc{i}" for i in range(11)]
    personas = [f"p{i}" for i in range(18)]
    return {f"scenario:{i}": (rng.choice(arcs), rng.choice(personas)) for i in range(n_groups)}


@pytest.mark.parametrize("ratio", [0.1, 0.2, 0.35])
def test_the_split_has_the_ratio_and_is_stratified_by_arc_and_persona(ratio: float) -> None:
    strata = synthetic_strata(3000)
    split = ex.split_groups(strata, ratio, seed=0)
    n_eval = sum(1 for s in split.values() if s == "eval")
    assert n_eval == round(ratio * len(strata))
    for index in (0, 1):  # arc, persona
        sizes = Counter(v[index] for v in strata.values())
        evals = Counter(strata[g][index] for g, s in split.items() if s == "eval")
        for key, size in sizes.items():
            assert abs(evals[key] - ratio * size) <= 2.5, (index, key, evals[key], ratio * size)
    joint_sizes = Counter(strata.values())
    joint_evals = Counter(strata[g] for g, s in split.items() if s == "eval")
    assert all(abs(joint_evals[k] - ratio * n) < 1.5 for k, n in joint_sizes.items())


def test_the_split_is_deterministic_and_does_not_depend_on_the_order() -> None:
    strata = synthetic_strata(500)
    first = ex.split_groups(strata, 0.15, seed=42)
    items = list(strata.items())
    random.Random(3).shuffle(items)
    assert ex.split_groups(dict(items), 0.15, seed=42) == first
    assert ex.split_groups(strata, 0.15, seed=43) != first


def test_the_split_keeps_versions_of_a_scenario_together(db_tax: Taxonomy, seeds: list[Conversation]) -> None:
    # 40 scenarios, each with 1-3 versions (copies of a seed with their own ids)
    rows, rng = [], random.Random(5)
    for sid in range(1, 41):
        for v in range(rng.randint(1, 3)):
            conv = seeds[sid % 10].model_copy(update={"id": f"s{sid}-v{v}"})
            rows.append(ExportRow(sid, v + 1, conv.model_dump_json(exclude={"training"}), {"split": None}))
    items, skipped = ex.prepare(rows)
    assert not skipped and len(items) == len(rows)
    groups = ex.assign_splits(items, 0.25, seed=9)
    splits_of = defaultdict(set)
    for item in items:
        splits_of[item.scenario_id].add(item.split)
    assert all(len(s) == 1 for s in splits_of.values())
    assert groups["eval"] == 10 and groups["train"] == 30


def test_a_split_set_on_the_conversation_is_kept() -> None:
    strata = synthetic_strata(100)
    pinned = {"scenario:1": "eval", "scenario:2": "train", "scenario:3": "eval"}
    split = ex.split_groups(strata, 0.1, seed=0, pinned=pinned)
    assert all(split[g] == s for g, s in pinned.items())
    assert sum(1 for s in split.values() if s == "eval") == 10


def test_a_tiny_selection_still_gets_both_splits_or_just_train() -> None:
    assert sorted(ex.split_groups({"a": ("x", "y"), "b": ("x", "y")}, 0.05, seed=0).values()) == ["eval", "train"]
    assert ex.split_groups({"a": ("x", "y")}, 0.3, seed=0) == {"a": "train"}
    assert set(ex.split_groups(synthetic_strata(10), 0, seed=0).values()) == {"train"}


# ---- writing: atomic, never over something else -------------------------------------------------
def test_a_failed_export_leaves_the_earlier_one_as_it_was(tmp_path: Path, db_tax: Taxonomy,
                                                          seeds: list[Conversation],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    first = export_seeds(tmp_path, db_tax, seeds)
    zip_bytes = first.zip_path.read_bytes()  # type: ignore[union-attr]

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(parquet, "tables", boom)
    with pytest.raises(OSError, match="No space left"):
        ex.export(seed_rows(seeds[:3]), ex.ExportOptions(), db_tax, tmp_path / "out")
    assert ex.verify(first.path) == [] and ex.read_manifest(first.path) == first.manifest
    assert first.zip_path.read_bytes() == zip_bytes  # type: ignore[union-attr]
    assert layout(tmp_path) == EXPORT_LAYOUT  # no temporary folder left behind

    monkeypatch.undo()
    second = ex.export(seed_rows(seeds[:3]), ex.ExportOptions(), db_tax, tmp_path / "out")
    assert second.counts["conversations"] == 3 and ex.verify(second.path) == []
    assert layout(tmp_path) == EXPORT_LAYOUT


def test_an_export_never_replaces_a_folder_that_is_not_an_export(tmp_path: Path, db_tax: Taxonomy,
                                                                 seeds: list[Conversation]) -> None:
    precious = tmp_path / "out"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    with pytest.raises(ex.ExportError, match="not an earlier export"):
        export_seeds(tmp_path, db_tax, seeds)
    assert (precious / "thesis.txt").read_text() == "years of work"


# ---- bad input ----------------------------------------------------------------------------------
def test_conversations_no_chat_format_can_hold_are_skipped_with_the_reason(
        tmp_path: Path, db_tax: Taxonomy, seeds: list[Conversation]) -> None:
    doc = json.loads(seeds[1].model_dump_json())
    doc["id"] = "two-users"
    doc["turns"] = [doc["turns"][0], doc["turns"][2], *doc["turns"][3:]]
    bad = ExportRow(99, 1, json.dumps({k: v for k, v in doc.items() if k != "training"}), {})
    broken = ExportRow(98, 1, "{not json", {})
    result = ex.export([*seed_rows(seeds[:2]), bad, broken], ex.ExportOptions(eval_ratio=0), db_tax,
                       tmp_path / "out")
    assert result.counts["conversations"] == 2 and result.counts["skipped"] == 2
    reasons = {s["id"]: s["reason"] for s in result.manifest["skipped"]}
    assert "roles must alternate" in reasons["two-users"]
    assert "not valid JSON" in reasons["scenario #98"]
    with pytest.raises(ex.NothingToExport, match="roles must alternate"):
        ex.export([bad], ex.ExportOptions(), db_tax, tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_nothing_matched_says_why_and_which_filter_to_change(db_tax: Taxonomy) -> None:
    approved = ex.ExportOptions()
    assert "no conversations yet" in ex.explain_empty(approved, db_tax, {}, 0)
    msg = ex.explain_empty(approved, db_tax, {"unreviewed": 4, "needs_edit": 1}, 5)
    assert "5 conversations (1 needs edit, 4 not reviewed), but none is approved" in msg and "All generated" in msg
    custom = ex.ExportOptions(selection="custom", filters={"persona": ["anxious_planner"], "tier": ["edge_case"]})
    msg = ex.explain_empty(custom, db_tax, {}, 12)
    assert "No conversation matches the filters (Persona: Anxious planner; Tier: Edge case)" in msg
    assert "out of 12 conversations" in msg and "Remove a filter value" in msg
    assert "--filter" in ex.explain_empty(custom, db_tax, {}, 12, cli=True)


def test_options_are_checked_against_the_taxonomy(db_tax: Taxonomy) -> None:
    with pytest.raises(ex.ExportError, match="filter persona: unknown persona 'space_pirate'"):
        ex.check_options(ex.ExportOptions(selection="custom", filters={"persona": ["space_pirate"]}), db_tax)
    with pytest.raises(ValueError, match="unknown filter 'colour'"):
        ex.ExportOptions(selection="custom", filters={"colour": ["red"]})
    with pytest.raises(ValueError, match="at least one format"):
        ex.ExportOptions(formats=[])
    with pytest.raises(ValueError):
        ex.ExportOptions(eval_ratio=0.9)
    assert ex.ExportOptions(selection="all").statuses() == ["unreviewed", "approved", "needs_edit"]
    assert ex.ExportOptions(selection="approved", filters={"tier": ["template"]}).active_filters() == {}


def test_a_spreadsheet_formula_in_a_cell_is_defused() -> None:
    assert formats._cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert formats._cell("-0.4") == "'-0.4" and formats._cell(-0.4) == -0.4 and formats._cell(None) == ""


# ---- secrets ------------------------------------------------------------------------------------
def test_no_secret_in_any_exported_file(tmp_path: Path, db_tax: Taxonomy, seeds: list[Conversation],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret-db-password@db.example.com:5432/app")
    result = export_seeds(tmp_path, db_tax, seeds, weights=True)
    for path in [*result.path.rglob("*"), result.zip_path]:
        if path.is_file():
            data = path.read_bytes()
            assert FAKE_KEY.encode() not in data and b"s3cret-db-password" not in data, path
    with zipfile.ZipFile(result.zip_path) as zf:  # type: ignore[arg-type]
        for name in zf.namelist():
            assert FAKE_KEY.encode() not in zf.read(name)


def test_a_conversation_holding_a_secret_is_never_exported(tmp_path: Path, db_tax: Taxonomy,
                                                           seeds: list[Conversation],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    leaky = seeds[0].model_copy(deep=True)
    leaky.provenance.parameters = {"debug": f"key={FAKE_KEY}"}
    with pytest.raises(ex.ExportError, match="seed-01 contains the value of ANTHROPIC_API_KEY"):
        ex.export(ex.rows_from_conversations([leaky, seeds[1]]), ex.ExportOptions(), db_tax, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ex.ExportError, match="README.md would contain the value of ANTHROPIC_API_KEY"):
        ex.export(ex.rows_from_conversations(seeds[:2]), ex.ExportOptions(name=FAKE_KEY), db_tax, tmp_path / "out")


# ---- the store ----------------------------------------------------------------------------------
def fill(store: PostgresStore, tax: Taxonomy) -> list[dict[str, Any]]:
    """8 scenarios: 6 with a conversation (one regenerated), reviewed in every way."""
    ids = store.add_scenarios(scenario_rows(tax, 8), plan_batch="t")
    scns = store.list_scenarios({"ids": ids})
    for n, s in enumerate(scns[:6]):
        store.save_generated(make_conversation(s, f"c{n}-v1"), scenario_id=s["id"])
    store.save_generated(make_conversation(scns[0], "c0-v2", turns=6), scenario_id=scns[0]["id"])
    store.record_review("c0-v2", "approved", reviewer="Dana")
    store.record_review("c1-v1", "approved", reviewer="Dana")
    store.record_review("c2-v1", "rejected", reviewer="Dana", reason_code="off_voice")
    store.record_review("c3-v1", "needs_edit", reviewer="Dana")
    store.revise_label("c1-v1", 0, "emotion.primary", "shame", author="Dana")
    return store.list_scenarios({"ids": ids})


def test_export_conversations_reads_current_versions_by_filter_and_review_status(
        store: PostgresStore, db_tax: Taxonomy) -> None:
    scns = fill(store, db_tax)
    rows = store.export_conversations({}, None)
    assert [json.loads(r.document)["id"] for r in rows] == ["c0-v2", "c1-v1", "c2-v1", "c3-v1", "c4-v1", "c5-v1"]
    assert [r.scenario_id for r in rows] == [s["id"] for s in scns[:6]] and rows[0].version == 2
    doc = json.loads(rows[1].document)
    assert "training" not in doc and rows[1].training == {"split": None, "use_as_seed_example": False}
    stored = store.get_conversation("c1-v1")
    assert Conversation.model_validate({**doc, "training": rows[1].training}) == stored
    assert [r.scenario_id for r in store.export_conversations({}, ["approved"])] == [scns[0]["id"], scns[1]["id"]]
    persona = scns[1]["persona"]
    got = store.export_conversations({"persona": [persona]}, ["approved", "unreviewed"])
    assert {r.scenario_id for r in got} == {s["id"] for s in scns[:6] if s["persona"] == persona
                                            and s["review_status"] in ("approved", "unreviewed")}
    assert len(store.export_conversations({}, None, limit=2)) == 2
    assert store.export_counts() == {"approved": 2, "needs_edit": 1, "rejected": 1, "unreviewed": 2}
    assert store.export_counts({"persona": [scns[2]["persona"]]}).get("rejected") == 1
    assert store.export_counts({"persona": ["nobody"]}) == {}


def test_run_exports_from_the_store_with_the_labels_in_force(store: PostgresStore, db_tax: Taxonomy,
                                                            tmp_path: Path) -> None:
    fill(store, db_tax)
    result = ex.run(store, ex.ExportOptions(selection="all", eval_ratio=0), db_tax, tmp_path / "all")
    ids = [r["id"] for r in pq.read_table(result.path / "data/train-00000-of-00001.parquet").to_pylist()]
    assert sorted(ids) == ["c0-v2", "c1-v1", "c3-v1", "c4-v1", "c5-v1"]  # current versions, rejected left out
    labels = pd.read_csv(result.path / "metadata.csv").set_index("id")
    assert labels.loc["c1-v1", "emotions"].split(";")[0] == "shame"
    assert labels.loc["c0-v2", "version"] == 2 and labels.loc["c3-v1", "review_status"] == "needs_edit"
    assert result.manifest["source"] == "postgres database"

    with pytest.raises(ex.NothingToExport, match="No conversation matches the filters"):
        ex.run(store, ex.ExportOptions(selection="custom", filters={"persona": ["anxious_planner"],
                                                                    "tier": ["edge_case"]}), db_tax, tmp_path / "x")
    custom = ex.ExportOptions(selection="custom", filters={"tier": ["template"]}, review_statuses=["rejected"],
                              eval_ratio=0)
    assert ex.run(store, custom, db_tax, tmp_path / "rejected").counts["conversations"] == 1


def test_the_seeds_in_the_database_export_as_approved(store: PostgresStore, db_tax: Taxonomy,
                                                      tmp_path: Path) -> None:
    imported, problems = import_seeds(store, SEEDS_DIR, db_tax)
    assert len(imported) == 10 and not problems
    result = ex.run(store, ex.ExportOptions(), db_tax, tmp_path / "seeds")
    assert result.counts["conversations"] == 10 and result.counts["eval"] == 1
    assert ex.verify(result.path) == []
    for split, name in ex.SPLIT_NAMES.items():
        assert pq.read_table(result.path / f"data/{name}-00000-of-00001.parquet").num_rows == result.counts[split]
        assert len(read_jsonl(result.path / f"messages/{name}.jsonl")) == result.counts[split]
    for doc in read_jsonl(result.path / "full/conversations.jsonl"):
        Conversation.model_validate(doc)
    assert all(r.scenario_id for r in store.export_conversations({}, ["approved"]))


def test_nothing_to_export_from_an_empty_database(store: PostgresStore, db_tax: Taxonomy, tmp_path: Path) -> None:
    with pytest.raises(ex.NothingToExport, match="no conversations yet"):
        ex.run(store, ex.ExportOptions(), db_tax, tmp_path / "x")
    store.add_scenarios(scenario_rows(db_tax, 1))
    scn = store.list_scenarios()[0]
    store.save_generated(make_conversation(scn, "only"), scenario_id=scn["id"])
    with pytest.raises(ex.NothingToExport, match="There is 1 conversation \\(1 not reviewed\\), but none is approved"):
        ex.run(store, ex.ExportOptions(), db_tax, tmp_path / "x")


# ---- the CLI ------------------------------------------------------------------------------------
def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DATABASE_URL", "BRIGHTRUN_"))}
    return subprocess.run([sys.executable, "-m", "lib.export", *args], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=180)


def test_cli_exports_files_with_the_page_options(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    done = cli("--from", "seeds", "--out", str(out), "--selection", "custom", "--filter",
               "tier=template,scenario", "--formats", "messages,hf,csv", "--eval-ratio", "0.25", "--seed", "7",
               "--weights", "--license", "cc-by-4.0", "--preview", "1", env={"ANTHROPIC_API_KEY": FAKE_KEY})
    assert done.returncode == 0, done.stderr
    assert "exported 7 conversations" in done.stdout and "== messages/train.jsonl" in done.stdout
    manifest = ex.read_manifest(out)
    assert manifest is not None and manifest["selection"]["filters"] == {"tier": ["template", "scenario"]}
    assert manifest["split"]["seed"] == 7 and manifest["options"]["weights"] is True
    assert card_header((out / "README.md").read_text())["license"] == "cc-by-4.0"
    assert (tmp_path / "cli.zip").is_file() and ex.verify(out) == []
    for path in out.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes()


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    done = cli("--from", "seeds", "--out", str(tmp_path / "x"), "--selection", "custom", "--filter", "persona=nobody")
    assert done.returncode == 1 and done.stderr.strip().count("\n") == 0
    assert "unknown persona 'nobody'" in done.stderr and "Traceback" not in done.stderr
    done = cli("--from", "seeds", "--out", str(tmp_path / "x"), "--selection", "custom", "--filter",
               "persona=anxious_planner", "--filter", "tier=edge_case")
    assert done.returncode == 3 and "No conversation matches the filters" in done.stderr and "--filter" in done.stderr
    done = cli("--from", "seeds", "--eval-ratio", "0.8")
    assert done.returncode == 2 and "eval-ratio" in done.stderr
    done = cli("--from", "seeds", "--filter", "tier=template")
    assert done.returncode == 2 and "--selection custom" in done.stderr
    done = cli("--from", str(tmp_path / "missing"))
    assert done.returncode == 1 and "no such file or folder" in done.stderr


def test_cli_reads_the_database(fresh_dsn: str, tmp_path: Path) -> None:
    out = tmp_path / "db"
    done = cli("--out", str(out), "--no-zip", env={"DATABASE_URL": fresh_dsn})
    assert done.returncode == 0, done.stderr
    assert "exported 10 conversations" in done.stdout  # the seeds, imported as the database starts
    assert not (tmp_path / "db.zip").exists()
    rows = list(csv.DictReader(io.StringIO((out / "metadata.csv").read_text())))
    assert len(rows) == 10 and all(r["scenario_id"] for r in rows)


def test_a_revision_that_does_not_fit_its_turn_skips_the_conversation(db_tax: Taxonomy,
                                                                      seeds: list[Conversation]) -> None:
    doc = json.loads(seeds[0].model_dump_json(exclude={"training"}))
    doc["label_history"] = [{"turn": 1, "field": "emotion.primary", "new_value": "shame", "source": "automated",
                             "author": "x", "at": "2025-01-01T00:00:00Z"}]
    items, skipped = ex.prepare([ExportRow(1, 1, json.dumps(doc), {})])
    assert not items and skipped == [{"id": "seed-01",
                                      "reason": "a revision of emotion.primary points at turn 1, the assistant's"}]


def test_load_files_names_the_bad_file_and_line(tmp_path: Path, seeds: list[Conversation]) -> None:
    good = seeds[0].model_dump_json()
    (tmp_path / "a.jsonl").write_text(good + "\n" + '{"id": "x"}\n')
    with pytest.raises(ex.ExportError, match=r"a.jsonl: line 2: dataset: Field required"):
        ex.load_files(tmp_path)
    (tmp_path / "a.jsonl").write_text(good + "\n")
    assert [json.loads(r.document)["id"] for r in ex.load_files(tmp_path)] == ["seed-01"]


def test_nothing_left_after_all_but_rejected_says_how_to_take_them(db_tax: Taxonomy) -> None:
    msg = ex.explain_empty(ex.ExportOptions(selection="all"), db_tax, {"rejected": 3}, 3)
    assert "There are 3 conversations (3 rejected)" in msg and "'Custom filter' with the Rejected status" in msg


def test_cli_leaves_demo_replays_out_unless_asked(tmp_path: Path) -> None:
    from lib.core.vocabulary import DEMO_MODEL

    source = tmp_path / "conversations"
    source.mkdir()
    for n, path in enumerate(sorted((ROOT / "seeds").glob("seed-*.json"))[:3]):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if n == 0:  # one of the three as a demo replay stored it
            doc["provenance"]["model"] = DEMO_MODEL
        (source / path.name).write_text(json.dumps(doc), encoding="utf-8")
    without = cli("--from", str(source), "--out", str(tmp_path / "without"), "--no-zip")
    assert without.returncode == 0, without.stderr
    assert "exported 2 conversations" in without.stdout
    with_demo = cli("--from", str(source), "--out", str(tmp_path / "with"), "--no-zip", "--include-demo")
    assert with_demo.returncode == 0, with_demo.stderr
    assert "exported 3 conversations" in with_demo.stdout
