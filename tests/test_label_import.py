"""Operators' label corrections imported from a file (python -m lib import-revisions): checked in full before
anything is written, a bad line named with its number, a good file written as operator_realtime revisions
that show in the turn's history, the document's label_history and the label analytics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lib.core.taxonomy import Taxonomy
from lib.review import analytics, operator_import
from lib.review.operator_import import ImportFileError, import_file
from lib.store.postgres import PostgresStore
from lib.store.protocol import InvalidInput
from tests.conftest import add_member, as_role, make_conversation, scenario_rows


@pytest.fixture
def conv(store: PostgresStore, db_tax: Taxonomy) -> dict[str, Any]:
    [sid] = store.add_scenarios(scenario_rows(db_tax, 1))
    scn = store.get_scenario(sid)
    assert scn is not None
    store.save_generated(make_conversation(scn, "conv-op"), scenario_id=sid)
    other = next(e for e in db_tax.emotions if e.id != scn["start_emotion"])
    return {"id": "conv-op", "scenario": sid, "other": other}


def good_lines(conv: dict[str, Any]) -> list[dict[str, Any]]:
    other = conv["other"]
    return [
        {
            "conversation": conv["id"],
            "turn": 0,
            "field": "emotion.primary",
            "new_value": other.id,
            "author": "op-jane",
            "reason": "customer sounded " + other.id,
            "at": "2026-11-30T10:00:00Z",
        },
        # the sub-emotion of the family the line before sets
        {
            "conversation": conv["id"],
            "turn": 0,
            "field": "emotion.sub_emotion",
            "new_value": other.sub_emotions[0],
            "author": "op-jane",
            "reason": "",
        },
        {
            "scenario": conv["scenario"],
            "turn": 1,
            "field": "strategies.supporting",
            "new_value": ["normalizing"],
            "author": "op-raj",
            "reason": "already in force",
        },
        {
            "scenario": conv["scenario"],
            "turn": 2,
            "field": "emotion.intensity",
            "new_value": 0.35,
            "author": "op-raj",
            "reason": "calmer",
        },
    ]


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def write_csv(path: Path, lines: list[dict[str, Any]]) -> Path:
    cols = list(operator_import.COLUMNS)
    out = [",".join(cols)]
    for x in lines:
        cells = []
        for c in cols:
            v = x.get(c, "")
            v = ";".join(v) if isinstance(v, list) else str(v)
            cells.append('"' + v.replace('"', '""') + '"' if "," in v or '"' in v else v)
        out.append(",".join(cells))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("writer", [write_jsonl, write_csv], ids=["jsonl", "csv"])
@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ({"turn": 9}, "has no turn 9"),
        ({"turn": 1}, "is an assistant turn: it has no emotion.intensity"),
        ({"new_value": 1.5}, "must be between 0 and 1, not 1.5"),
        ({"new_value": "lots"}, "must be a number"),
        ({"conversation": "nope"}, "there is no conversation 'nope'"),
        ({"field": "emotion.mood"}, "unknown label field 'emotion.mood'"),
        ({"author": ""}, "author"),
        (
            {"field": "emotion.secondary", "new_value": "sadness"},
            "unknown emotion 'sadness' for emotion.secondary; expected one of anxiety, shame, frustration",
        ),
    ],
)
def test_one_bad_line_writes_nothing_and_is_named(
    store: PostgresStore,
    db_tax: Taxonomy,
    conv: dict[str, Any],
    tmp_path: Path,
    writer: Any,
    bad: dict[str, Any],
    problem: str,
) -> None:
    lines = good_lines(conv)
    lines[3] = {**lines[3], **bad}
    if "conversation" in bad:
        lines[3].pop("scenario")
    path = writer(tmp_path / ("c.jsonl" if writer is write_jsonl else "c.csv"), lines)
    report = import_file(store, db_tax, path)
    line_no = 4 if writer is write_jsonl else 5  # the CSV's header is line 1
    assert len(report.problems) == 1 and report.problems[0].startswith(f"line {line_no}: ")
    assert problem in report.problems[0]
    assert store.label_revisions_for(conv["id"]) == []


def test_sub_emotion_of_another_family_and_unknown_strategy_are_named(
    store: PostgresStore, db_tax: Taxonomy, conv: dict[str, Any], tmp_path: Path
) -> None:
    lines = good_lines(conv)
    lines[1]["new_value"] = "not_a_kind"
    lines[2]["new_value"] = ["normalizing", "mind_reading"]
    report = import_file(store, db_tax, write_jsonl(tmp_path / "c.jsonl", lines))
    assert [p.split(":")[0] for p in report.problems] == ["line 2", "line 3"]
    assert f"for the {conv['other'].id} emotion" in report.problems[0]
    assert "unknown supporting strategy 'mind_reading'; expected one of empathic_validation, normalizing" in (
        report.problems[1]
    )


@pytest.mark.parametrize("writer", [write_jsonl, write_csv], ids=["jsonl", "csv"])
def test_a_good_file_imports_as_operator_revisions_in_history_and_analytics(
    store: PostgresStore, db_tax: Taxonomy, conv: dict[str, Any], tmp_path: Path, writer: Any
) -> None:
    path = writer(tmp_path / ("c.jsonl" if writer is write_jsonl else "c.csv"), good_lines(conv))
    report = import_file(store, db_tax, path)
    assert report.ok and (report.lines, report.conversations, report.written, report.unchanged) == (4, 1, 3, 1)

    revs = store.label_revisions_for(conv["id"])
    assert [(r["turn_idx"], r["field"], r["source"], r["author"]) for r in revs] == [
        (0, "emotion.primary", "operator_realtime", "op-jane"),
        (0, "emotion.sub_emotion", "operator_realtime", "op-jane"),
        (2, "emotion.intensity", "operator_realtime", "op-raj"),
    ]
    assert revs[0]["observed_at"].isoformat().startswith("2026-11-30T10:00:00")
    assert revs[2]["observed_at"] is None
    doc = store.get_conversation(conv["id"])
    assert doc is not None and [h.source for h in doc.label_history] == ["operator_realtime"] * 3
    assert doc.current_value(0, "emotion.primary") == conv["other"].id
    assert doc.current_value(2, "emotion.intensity") == pytest.approx(0.35)

    assert analytics.label_analytics(store, db_tax, source="human_review").empty
    by_operator = analytics.label_analytics(store, db_tax, source="operator_realtime")
    assert by_operator["Times"].sum() == 3


def test_a_reviewer_cannot_import_and_an_operator_can(
    store: PostgresStore, conn: psycopg.Connection[dict[str, Any]], conv: dict[str, Any]
) -> None:
    row = {
        "line": 1,
        "conversation_id": conv["id"],
        "turn": 2,
        "field": "emotion.intensity",
        "new_value": 0.2,
        "author": "op-jane",
        "reason": "",
        "observed_at": None,
    }
    call = "select public.import_label_revisions(p_rows => %(rows)s::jsonb) as r"
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="you need the operator role"),
        as_role(conn, "authenticated", add_member(conn, "reviewer")),
    ):
        conn.execute(call, {"rows": json.dumps([row])})
    with as_role(conn, "authenticated", add_member(conn, "operator")):
        counts = conn.execute(call, {"rows": json.dumps([row])}).fetchone()["r"]
    assert counts == {"written": 1, "unchanged": 0, "conversations": 1}
    [rev] = store.label_revisions_for(conv["id"])
    assert (rev["source"], rev["author"]) == ("operator_realtime", "op-jane") and rev["author_id"] is not None


def test_the_database_refuses_a_bad_row_by_its_line_and_keeps_the_good_ones_out(
    store: PostgresStore, conv: dict[str, Any]
) -> None:
    rows = [
        {
            "line": 3,
            "conversation_id": conv["id"],
            "turn": 2,
            "field": "emotion.intensity",
            "new_value": 0.2,
            "author": "op",
            "reason": "",
        },
        {
            "line": 7,
            "conversation_id": conv["id"],
            "turn": 0,
            "field": "emotion.primary",
            "new_value": "nope",
            "author": "op",
            "reason": "",
        },
    ]
    with pytest.raises(InvalidInput, match="line 7: unknown emotion 'nope'"):
        store.import_label_revisions(rows)
    assert store.label_revisions_for(conv["id"]) == []


def test_a_file_that_is_not_corrections_is_one_clear_error(
    store: PostgresStore, db_tax: Taxonomy, tmp_path: Path
) -> None:
    with pytest.raises(ImportFileError, match=r"expected a \.jsonl or \.csv"):
        import_file(store, db_tax, tmp_path / "c.txt")
    bad = tmp_path / "c.csv"
    bad.write_text("conversation,turn,colour\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="line 1: unknown column 'colour'"):
        import_file(store, db_tax, bad)
    broken = tmp_path / "c.jsonl"
    broken.write_text('{"conversation": "x"\n', encoding="utf-8")
    assert import_file(store, db_tax, broken).problems[0].startswith("line 1: not valid JSON")


def test_the_cli_prints_the_bad_line_and_the_counts(
    store: PostgresStore,
    db_tax: Taxonomy,
    conv: dict[str, Any],
    tmp_path: Path,
    db_dsn: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_dsn)
    lines = good_lines(conv)
    lines[2]["turn"] = 40
    bad = write_jsonl(tmp_path / "bad.jsonl", lines)
    assert operator_import.main([str(bad)]) == 1
    err = capsys.readouterr().err
    assert "line 3: conversation conv-op has no turn 40" in err and "nothing was written" in err
    good = write_jsonl(tmp_path / "good.jsonl", good_lines(conv))
    assert operator_import.main([str(good), "--dry-run"]) == 0
    assert "4 corrections of 1 conversations are valid (dry run)" in capsys.readouterr().out
    assert store.label_revisions_for(conv["id"]) == []
    assert operator_import.main([str(good)]) == 0
    assert (
        "4 corrections of 1 conversations imported as operator_realtime revisions: 3 written" in capsys.readouterr().out
    )


def test_a_family_changed_by_scenario_holds_for_a_later_line_naming_the_conversation(
    store: PostgresStore, db_tax: Taxonomy, conv: dict[str, Any], tmp_path: Path
) -> None:
    lines = good_lines(conv)[:2]  # the primary emotion, then a sub-emotion of the new family
    lines[0] = {**{k: v for k, v in lines[0].items() if k != "conversation"}, "scenario": conv["scenario"]}
    report = import_file(store, db_tax, write_jsonl(tmp_path / "c.jsonl", lines))
    assert report.problems == []
    assert [r["field"] for r in store.label_revisions_for(conv["id"])] == ["emotion.primary", "emotion.sub_emotion"]
