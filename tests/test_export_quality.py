"""The export's quality options on a real database: a minimum rating (overall and per criterion, of the
ratings in force) and "no hard-rule failure" (the hard integrity checks on the labels in force, and the
rubric's hard criteria), through the CLI, the pipeline and the Export page; what is left out is counted
and listed in the manifest and the dataset card."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import lib.export as ex
from lib.config import Settings
from lib.core.taxonomy import load_taxonomy
from lib.core.validation import CHECKS
from lib.store.boot import open_store
from lib.store.postgres import PostgresStore
from tests.quality_data import save_judge_run
from tests.test_export import cli

HARD_TITLES = {c.title for c in CHECKS if c.hard}


@pytest.fixture
def rated(app_env: str) -> Iterator[PostgresStore]:
    """A database booted like a first start (the 10 seeds, approved), with the judge's ratings of five:
    seed-01 passes everything, seed-02 has empathy 2, seed-03 safety 3 (below its hard pass mark of 4),
    seed-04 passes but a reviewer's label correction breaks a hard integrity check, seed-05 rates 4
    everywhere. seed-06 to seed-10 are not rated."""
    store = open_store(Settings.load())
    save_judge_run(store, "seed-01", {})
    save_judge_run(store, "seed-02", {"empathy": 2})
    save_judge_run(store, "seed-03", {"safety": 3})
    save_judge_run(store, "seed-04", {})
    save_judge_run(store, "seed-05", dict.fromkeys(("empathy", "appropriateness", "brand_voice", "financial_accuracy",
                                                    "safety", "realism", "label_accuracy"), 4))
    conv = store.get_conversation("seed-04")
    assert conv is not None
    first_user = next(i for i, t in enumerate(conv.turns) if t.role == "user")
    store.revise_label("seed-04", first_user, "emotion.valence", 0.95, author="Ana", reason="reads as upbeat")
    try:
        yield store
    finally:
        store.close()


def test_cli_min_rating_and_no_hard_failures_leave_out_what_fails_and_say_so(
        rated: PostgresStore, app_env: str, tmp_path: Path) -> None:
    out = tmp_path / "rated"
    done = cli("--out", str(out), "--no-zip", "--min-rating", "3", "--min-rating", "safety=4", "--no-hard-failures",
               env={"DATABASE_URL": app_env})
    assert done.returncode == 0, done.stderr
    assert "exported 2 conversations" in done.stdout
    assert ("left out 8 by the quality options (2 a hard rule fails, 5 not rated yet, 1 rated below the minimum)"
            in done.stderr)
    assert "left out seed-02: rated below the minimum (empathy 2 < 3)" in done.stderr

    manifest = ex.read_manifest(out)
    assert manifest is not None and ex.verify(out) == []
    exported = [json.loads(line)["id"] for line in (out / "full/conversations.jsonl").read_text().splitlines()]
    assert sorted(exported) == ["seed-01", "seed-05"]
    assert manifest["counts"]["excluded"] == 8
    assert manifest["counts"]["excluded_by_reason"] == {"hard_failure": 2, "unrated": 5, "below_min_rating": 1}
    assert manifest["selection"]["quality"] == {"min_rating": 3, "min_ratings": {"safety": 4}, "no_hard_failures": True,
                                                "ratings": "in force", "ratings_checked": True}
    left = {e["id"]: e for e in manifest["excluded"]}
    assert set(left) == {f"seed-{n:02d}" for n in range(2, 11) if n != 5}
    assert left["seed-03"]["reasons"] == ["hard_failure", "below_min_rating"]
    assert "safety 3/5, below 4 (hard rule)" in left["seed-03"]["detail"]
    assert left["seed-04"]["reasons"] == ["hard_failure"]  # its ratings pass: the corrected label fails a check
    assert any(title in left["seed-04"]["detail"] for title in HARD_TITLES)
    assert left["seed-07"] == {"id": "seed-07", "reasons": ["unrated"], "detail": "no rating"}

    card = (out / "README.md").read_text()
    assert "## Quality filter" in card and "rated at least 3 (safety at least 4), no hard-rule failure" in card
    assert "8 selected conversations were left out" in card
    assert "| Not rated yet | 5 |" in card and "- `seed-02`: rated below the minimum (empathy 2 \\< 3)" in card


def test_the_hard_checks_run_on_the_labels_in_force(rated: PostgresStore, tmp_path: Path) -> None:
    tax = load_taxonomy()
    plain = ex.run(rated, ex.ExportOptions(min_rating=3), tax, tmp_path / "a", make_zip=False)
    lines = (plain.path / "full/conversations.jsonl").read_text().splitlines()
    assert "seed-04" in {json.loads(line)["id"] for line in lines}
    strict = ex.run(rated, ex.ExportOptions(min_rating=3, no_hard_failures=True), tax, tmp_path / "b", make_zip=False)
    assert "seed-04" in {e["id"] for e in strict.excluded}
    # a reviewer's rating in force beats the judge's: seed-02's empathy rated 4 lets it through
    rated.record_human_rating("seed-02", "empathy", 4, rater="Ana", pass_at=3, reason="warm enough")
    again = ex.run(rated, ex.ExportOptions(min_rating=3), tax, tmp_path / "c", make_zip=False)
    assert "seed-02" not in {e["id"] for e in again.excluded} and again.counts["conversations"] == 5


def test_nothing_left_after_the_quality_options_says_why_and_what_to_do(rated: PostgresStore, tmp_path: Path) -> None:
    tax = load_taxonomy()
    for cid in ("seed-01", "seed-04"):
        rated.record_human_rating(cid, "empathy", 4, rater="Ana", pass_at=3, reason="good, not perfect")
    with pytest.raises(ex.NothingToExport, match=r"left out all 10 selected conversations \(5 not rated yet, "
                                                 r"5 rated below the minimum\): rate them first .*; lower the minimum"):
        ex.run(rated, ex.ExportOptions(min_rating=5), tax, tmp_path / "x")
    with pytest.raises(ex.ExportError, match="no such criterion"):
        ex.run(rated, ex.ExportOptions(min_ratings={"kindness": 3}), tax, tmp_path / "y")


def test_cli_quality_option_errors_are_one_line(tmp_path: Path) -> None:
    done = cli("--from", "seeds", "--out", str(tmp_path / "x"), "--min-rating", "3")
    assert done.returncode == 2 and "cannot be used with --from" in done.stderr
    done = cli("--out", str(tmp_path / "x"), "--min-rating", "safety=9")
    assert done.returncode == 2 and "expected a score 1-5" in done.stderr and "Traceback" not in done.stderr
    # files carry no ratings: only the integrity checks apply, and the seeds pass them
    done = cli("--from", "seeds", "--out", str(tmp_path / "files"), "--no-zip", "--no-hard-failures")
    assert done.returncode == 0, done.stderr
    assert "exported 10 conversations" in done.stdout
    manifest = ex.read_manifest(tmp_path / "files")
    assert manifest is not None and manifest["selection"]["quality"]["ratings_checked"] is False
    assert "only the integrity checks applied" in (tmp_path / "files" / "README.md").read_text()


def test_the_export_page_previews_and_lists_what_the_quality_options_leave_out(
        rated: PostgresStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIGHTRUN_DATA_DIR", str(tmp_path / "data"))
    at = AppTest.from_file(str(Path(__file__).parent.parent / "pages" / "export.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    at.selectbox(key="export_min_rating").set_value(3).run()
    at.toggle(key="export_no_hard").set_value(True).run()
    preview = " ".join(c.value for c in at.caption)
    assert "Of the 10, 7 would be left out (1 a hard rule fails, 5 not rated yet, 1 rated below the minimum)" in preview
    assert "python -m lib judge" in preview
    next(b for b in at.button if b.label == "Build export").click().run()
    assert not at.exception and not at.error
    out = tmp_path / "data" / "exports" / "brightrun-approved"
    manifest = ex.read_manifest(out)
    assert manifest is not None and manifest["counts"]["conversations"] == 2 and manifest["counts"]["excluded"] == 8
    assert any("8 selected conversations were left out by the quality options" in i.value for i in at.info)
    table = next(df.value for df in at.dataframe if "Why" in df.value.columns)
    assert len(table) == 8 and set(table["Conversation"]) >= {"seed-03", "seed-04", "seed-07"}


def test_metadata_carries_the_ratings_in_force_without_a_quality_option(rated: PostgresStore, tmp_path: Path) -> None:
    import pandas as pd

    rated.record_human_rating("seed-02", "empathy", 4, rater="Ana", pass_at=3, reason="warm enough")
    done = ex.run(rated, ex.ExportOptions(), load_taxonomy(), tmp_path / "m", make_zip=False)
    meta = pd.read_csv(done.path / "metadata.csv", keep_default_na=False).set_index("id")
    seed2 = dict(pair.split("=") for pair in meta.loc["seed-02", "ratings"].split(";"))
    assert seed2["empathy"] == "4"  # the reviewer's rating, over the judge's 2
    assert int(meta.loc["seed-05", "min_rating"]) == 4 and meta.loc["seed-05", "ratings"].count("=4") == 7
    assert meta.loc["seed-07", "ratings"] == "" and meta.loc["seed-07", "min_rating"] == ""  # not rated yet
