"""The preference set of an export: accepted contrastive responses as prompt / chosen / rejected pairs that
`datasets` loads by the card's config, in the split of their conversation, never a failed response in a
supervised file, and only accepted pairs of current, selected conversations."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
import yaml
from streamlit.testing.v1 import AppTest

import lib.export as ex
from lib.core.taxonomy import Taxonomy
from lib.export import preference
from lib.store.boot import SEEDS_DIR, import_seeds
from lib.store.postgres import PostgresStore
from tests.conftest import add_member, as_role, make_conversation
from tests.test_page_export import PAGE, page_env  # noqa: F401  (the page's fixture)
from tests.test_export_consumers import load_every_config, trl_chat_problems, trl_conversational

pytest.importorskip("datasets")

Conn = psycopg.Connection[dict[str, Any]]
KINDS = ("premature_advice", "minimising", "false_reassurance")


def contrast(conn: Conn, conversation_id: str, turn_idx: int, kind: str, text: str, status: str = "accepted") -> None:
    """A contrastive response as the contrastive job and the reviewer's decision leave it."""
    reviewed = status != "proposed"
    conn.execute(
        "insert into public.contrastive_responses (conversation_id, turn_idx, failure_kind, text, why, status, "
        "reviewed_by, reviewed_at, model) values (%(c)s, %(t)s, %(k)s, %(x)s, %(w)s, %(s)s, %(by)s, "
        "case when %(r)s then now() end, 'claude-test')",
        {
            "c": conversation_id,
            "t": turn_idx,
            "k": kind,
            "x": text,
            "w": f"Why {kind} fails here.",
            "s": status,
            "by": "Dana" if reviewed else None,
            "r": reviewed,
        },
    )


def failed(conversation_id: str, turn_idx: int, kind: str) -> str:
    return f"FAILED {kind} answer to {conversation_id} at turn {turn_idx}: calm down, it is nothing."


@pytest.fixture
def paired(store: PostgresStore, conn: Conn, db_tax: Taxonomy) -> dict[str, Any]:
    """The ten approved seeds, an accepted pair on turns 1 and 3 of each; a proposed and a rejected pair;
    and a seed regenerated (its new version approved) whose old version keeps an accepted pair."""
    imported, problems = import_seeds(store, SEEDS_DIR, db_tax)
    assert len(imported) == 10 and not problems
    ids = sorted(imported)
    accepted = []
    for n, cid in enumerate(ids):
        for turn in (1, 3):
            kind = KINDS[(n + turn) % len(KINDS)]
            contrast(conn, cid, turn, kind, failed(cid, turn, kind))
            accepted.append(failed(cid, turn, kind))
    left_out = [failed(ids[0], 5, "lecturing"), failed(ids[1], 5, "over_referral")]
    contrast(conn, ids[0], 5, "lecturing", left_out[0], status="proposed")
    contrast(conn, ids[1], 5, "over_referral", left_out[1], status="rejected")
    # regenerate the last seed: the new version is approved, the old one's pair is left behind
    old = ids[-1]
    scenario_id = conn.execute("select scenario_id from public.conversations where id = %s", (old,)).fetchone()
    scenario = store.get_scenario(scenario_id["scenario_id"])
    assert scenario is not None
    store.save_generated(make_conversation(scenario, "regen-v2"), scenario_id=scenario["id"])
    store.record_review("regen-v2", "approved", reviewer="Dana")
    stale = [t for t in accepted if f" to {old} " in t]
    return {"accepted": [t for t in accepted if t not in stale], "left_out": left_out + stale, "ids": ids, "old": old}


def sft_texts(folder: Path) -> dict[str, str]:
    """Every supervised file of an export (all but the preference files) as text: parquet read back."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel.startswith(("preference/", "data/preference/")) or rel == preference.NEGATIVES:
            continue
        if path.suffix == ".parquet":
            out[rel] = json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False, default=str)
        else:
            out[rel] = path.read_text(encoding="utf-8")
    return out


def test_the_preference_config_loads_with_datasets_as_conversations(
    store: PostgresStore, paired: dict[str, Any], db_tax: Taxonomy, tmp_path: Path
) -> None:
    result = ex.run(store, ex.ExportOptions(eval_ratio=0.3), db_tax, tmp_path / "out")
    loaded = load_every_config(result.path, tmp_path / "cache")  # fails on any warning
    assert set(loaded) == {"default", "messages", "sharegpt", "preference"}
    pairs = loaded["preference"]
    assert set(pairs) == {"train", "test"}
    assert pairs["train"].column_names == list(preference.COLUMNS)
    rows = [r for split in pairs.values() for r in split]
    assert sorted(r["rejected"][0]["content"] for r in rows) == sorted(paired["accepted"])
    for row in rows:
        assert trl_conversational(row)
        assert row["prompt"][0]["role"] == "system" and row["prompt"][-1]["role"] == "user"
        assert trl_chat_problems(row["prompt"] + row["chosen"]) == []
        assert trl_chat_problems(row["prompt"] + row["rejected"]) == []
        assert len(row["chosen"]) == len(row["rejected"]) == 1 and row["chosen"] != row["rejected"]
        assert row["failure_kind"] in KINDS and row["why"] == f"Why {row['failure_kind']} fails here."
        assert len(row["prompt"]) == row["turn_idx"] + 1  # the system message and the turns before
    c = result.counts
    assert c["preference_pairs"] == len(rows) == c["preference_train"] + c["preference_eval"]
    assert sum(c["preference_by_failure_kind"].values()) == len(rows)
    card = (result.path / "README.md").read_text()
    assert "## Preference pairs" in card and "trl dpo --config trainers/trl_dpo.yaml" in card
    dpo = yaml.safe_load((result.path / "trainers/trl_dpo.yaml").read_text())
    assert dpo["dataset_config"] == "preference" and dpo["dataset_test_split"] == "test"
    assert ex.verify(result.path) == []


def test_the_chosen_turn_and_prompt_are_the_conversations_own(
    store: PostgresStore, paired: dict[str, Any], db_tax: Taxonomy, tmp_path: Path
) -> None:
    result = ex.run(store, ex.ExportOptions(eval_ratio=0), db_tax, tmp_path / "out")
    messages = {r["id"]: r["messages"] for r in map(json.loads, (result.path / "messages/train.jsonl").open())}
    pairs = [json.loads(line) for line in (result.path / "preference/train.jsonl").open()]
    assert pairs
    for pair in pairs:
        conv = messages[pair["id"]]  # the system message then the turns: turn i is message i + 1
        assert pair["prompt"] == conv[: pair["turn_idx"] + 1]
        assert pair["chosen"] == [conv[pair["turn_idx"] + 1]]


def test_no_failed_response_is_in_any_supervised_file(
    store: PostgresStore, paired: dict[str, Any], db_tax: Taxonomy, tmp_path: Path
) -> None:
    result = ex.run(store, ex.ExportOptions(eval_ratio=0.3), db_tax, tmp_path / "out")
    files = sft_texts(result.path)
    assert {
        "messages/train.jsonl",
        "sharegpt/train.jsonl",
        "data/train-00000-of-00001.parquet",
        "full/conversations.jsonl",
        "full/conversations.json",
        "metadata.csv",
        "README.md",
    } <= set(files)
    for text in paired["accepted"]:
        assert not [rel for rel, body in files.items() if text in body], text
    # where they are: the preference files and the marked negatives of the full format
    negatives = [json.loads(line) for line in (result.path / preference.NEGATIVES).open()]
    assert sorted(n["text"] for n in negatives) == sorted(paired["accepted"])
    assert all(n["negative_example"] is True and n["review"]["status"] == "accepted" for n in negatives)
    listed = {f["path"]: f["format"] for f in result.manifest["files"]}
    assert listed[preference.NEGATIVES] == "negatives" and listed["preference/train.jsonl"] == "preference"


def test_a_conversations_pairs_all_go_to_its_split(
    store: PostgresStore, paired: dict[str, Any], db_tax: Taxonomy, tmp_path: Path
) -> None:
    result = ex.run(store, ex.ExportOptions(eval_ratio=0.3, seed=3), db_tax, tmp_path / "out")
    split_of = {}
    for split in ("train", "test"):
        for line in (result.path / f"messages/{split}.jsonl").open():
            split_of[json.loads(line)["id"]] = split
    seen = set()
    for split in ("train", "test"):
        for row in pq.read_table(result.path / f"data/preference/{split}-00000-of-00001.parquet").to_pylist():
            assert split_of[row["id"]] == split, row["id"]
            seen.add(split)
    assert seen == {"train", "test"}
    negatives = [json.loads(line) for line in (result.path / preference.NEGATIVES).open()]
    assert all({"train": "train", "eval": "test"}[n["split"]] == split_of[n["conversation_id"]] for n in negatives)


def test_only_accepted_pairs_of_current_selected_conversations_are_read(
    store: PostgresStore, paired: dict[str, Any], db_tax: Taxonomy, tmp_path: Path
) -> None:
    rows = store.export_preference_pairs(paired["ids"])
    assert sorted(r["rejected"] for r in rows) == sorted(paired["accepted"])
    assert store.export_preference_pairs([paired["old"]]) == []  # a version a regeneration replaced
    assert store.export_preference_pairs([]) == []
    result = ex.run(store, ex.ExportOptions(eval_ratio=0), db_tax, tmp_path / "out")
    exported = (result.path / "preference/train.jsonl").read_text()
    for text in paired["left_out"]:  # proposed, rejected, and the replaced version's
        assert text not in exported
    assert "regen-v2" in (result.path / "messages/train.jsonl").read_text()
    # a conversation the selection leaves out takes its pairs with it
    custom = ex.ExportOptions(
        selection="custom", filters={"persona": [paired_persona(store, paired["ids"][0])]}, eval_ratio=0
    )
    some = ex.run(store, custom, db_tax, tmp_path / "some")
    ids = {json.loads(line)["id"] for line in (some.path / "messages/train.jsonl").open()}
    got = {json.loads(line)["id"] for line in (some.path / "preference/train.jsonl").open()}
    assert got and got <= ids and len(ids) < len(paired["ids"])


def paired_persona(store: PostgresStore, conversation_id: str) -> str:
    conv = store.get_conversation(conversation_id)
    assert conv is not None
    return conv.scenario.persona


def test_without_the_parquet_layout_the_jsonl_preference_config_loads(
    store: PostgresStore, paired: dict[str, Any], db_tax: Taxonomy, tmp_path: Path
) -> None:
    result = ex.run(store, ex.ExportOptions(eval_ratio=0.3, formats=["messages", "csv"]), db_tax, tmp_path / "out")
    loaded = load_every_config(result.path, tmp_path / "cache")
    assert set(loaded) == {"messages", "preference"}
    assert sum(d.num_rows for d in loaded["preference"].values()) == len(paired["accepted"])
    assert not (result.path / "trainers/trl_dpo.yaml").exists() and not (result.path / "data").exists()
    assert not (result.path / preference.NEGATIVES).exists()  # no full format chosen


def test_an_export_without_accepted_pairs_has_no_preference_set(
    store: PostgresStore, conn: Conn, db_tax: Taxonomy, tmp_path: Path
) -> None:
    imported, _ = import_seeds(store, SEEDS_DIR, db_tax)
    contrast(conn, imported[0], 1, "minimising", "Proposed only.", status="proposed")
    result = ex.run(store, ex.ExportOptions(), db_tax, tmp_path / "out")
    assert not (result.path / "preference").exists() and not (result.path / "data/preference").exists()
    assert (
        result.counts["preference_pairs"] == 0 and "## Preference pairs" not in (result.path / "README.md").read_text()
    )


def test_the_export_page_shows_the_pair_count_before_and_after_building(page_env: Path, app_env: str) -> None:
    with psycopg.connect(app_env, autocommit=True) as conn:
        contrast(conn, "seed-01", 1, "minimising", failed("seed-01", 1, "minimising"))  # type: ignore[arg-type]
        contrast(conn, "seed-02", 1, "lecturing", "Not reviewed yet.", status="proposed")  # type: ignore[arg-type]
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception and not at.error
    assert any(
        "Preference set: **1** accepted contrastive pair of approved conversations" in c.value for c in at.caption
    )
    at = next(b for b in at.button if b.label == "Build export").click().run()
    assert not at.exception and not at.error
    assert any(i.value.startswith("**1 preference pair** (train ") for i in at.info)
    manifest = ex.read_manifest(page_env / "brightrun-approved")
    assert manifest is not None and manifest["counts"]["preference_pairs"] == 1
    kinds = {f["path"]: f["format"] for f in manifest["files"]}
    assert kinds[preference.NEGATIVES] == "negatives"  # the page names it (FILE_KINDS) without an error


def test_hosted_a_member_reads_the_pairs_and_anon_cannot(conn: Conn, paired: dict[str, Any]) -> None:
    viewer, outsider = add_member(conn, "viewer"), uuid.uuid4()
    call = "select count(*) as n from public.export_preference_pairs(%(ids)s)"
    counts = "select count(*) as n from public.contrastive_pair_counts()"
    with as_role(conn, "authenticated", viewer):
        assert conn.execute(call, {"ids": paired["ids"]}).fetchone()["n"] == len(paired["accepted"])
        assert conn.execute(counts).fetchone()["n"] > 0
    with as_role(conn, "authenticated", outsider):  # signed in, not a member: row level security shows nothing
        assert conn.execute(call, {"ids": paired["ids"]}).fetchone()["n"] == 0
    for sql_ in (call, counts):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), as_role(conn, "anon"):
            conn.execute(sql_, {"ids": paired["ids"]} if "%(ids)s" in sql_ else None)


def test_an_earlier_exports_full_folder_reads_back_without_its_negative_examples(
    store: PostgresStore, paired: dict[str, Any], db_tax: Taxonomy, tmp_path: Path
) -> None:
    result = ex.run(store, ex.ExportOptions(eval_ratio=0, formats=["full_jsonl"]), db_tax, tmp_path / "out")
    assert (result.path / preference.NEGATIVES).is_file()
    items, skipped = ex.select_from_files(result.path / "full", ex.ExportOptions(), db_tax)
    assert sorted(i.id for i in items) == sorted({*paired["ids"], "regen-v2"} - {paired["old"]}) and not skipped
    assert preference.is_negative('{"negative_example": true}') and not preference.is_negative('{"id": "x"')


def test_the_export_page_says_how_to_get_a_preference_set_when_there_is_none(page_env: Path, app_env: str) -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception and not at.error
    assert any(c.value.startswith("Preference set: none yet. In Review, **Contrastive turns**") for c in at.caption)
