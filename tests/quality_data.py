"""Data for the Review and Export tests of the quality features: conversations that pass every hard
integrity check (so they can be approved), and judge runs stored as the judge runner stores them
(public.save_judge_result), with the scores, cited turns and label findings a test chooses."""
from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from lib.core.models import Conversation
from lib.core.rubric import default_rubric
from lib.core.taxonomy import Taxonomy
from lib.core.validation import check_conversation
from lib.store.postgres import PostgresStore

ROOT = Path(__file__).resolve().parent.parent
JUDGE_MODEL = "claude-judge-test"


def approvable(row: Mapping[str, Any], conv_id: str, *, quality_score: int = 8) -> Conversation:
    """A generated conversation for a v_scenarios row with seed-01's turns and labels (which pass the
    hard checks), the row's dimensions, a model, tokens and cost."""
    doc = json.loads(next((ROOT / "seeds").glob("seed-01*.json")).read_text(encoding="utf-8"))
    doc.update(id=conv_id, scenario={k: row[k] for k in ("tier", "persona", "emotional_arc", "topic", "intent", "tone",
                                                          "outcome_type", "context_id", "context")},
               quality={"score": quality_score}, review={"status": "unreviewed"}, label_history=[], training={})
    doc["provenance"] = {"source": "generated", "model": "claude-test", "cost_usd": 0.01,
                         "usage": {"input_tokens": 100, "output_tokens": 50}}
    return Conversation.model_validate(doc)


def generate_approvable(store: PostgresStore, tax: Taxonomy, n: int, prefix: str = "gen", *,
                        texts: Mapping[int, str] | None = None) -> list[Conversation]:
    """Save n approvable conversations for planned template-tier scenarios, skipping a scenario whose
    rules need what seed-01 lacks (a crisis arc's referral). texts: turn -> a text to put there instead
    (which may fail a check)."""
    out: list[Conversation] = []
    for row in store.list_scenarios({"status": ["not_generated"], "tier": ["template"]}):
        conv = approvable(row, f"{prefix}-{len(out)}")
        if check_conversation(conv, tax).hard_failures:
            continue
        if texts:
            doc = conv.model_dump(mode="json")
            for idx, text in texts.items():
                doc["turns"][idx]["text"] = text
            conv = Conversation.model_validate(doc)
        store.save_generated(conv, scenario_id=row["id"])
        out.append(conv)
        if len(out) == n:
            break
    assert len(out) == n, f"only {len(out)} scenarios take an approvable conversation"
    return out


def save_judge_run(store: PostgresStore, conversation_id: str, scores: Mapping[str, int], *,
                   cited: Mapping[str, Sequence[int]] | None = None, reasons: Mapping[str, str] | None = None,
                   findings: Sequence[Mapping[str, Any]] = (), request_id: str | None = None) -> dict[str, Any]:
    """One judge run through public.save_judge_result: every rubric criterion rated (5 unless `scores`
    says otherwise), with its pass mark and hardness from the rubric, and one log row."""
    rubric = default_rubric()
    ratings = [{"criterion": c.id, "score": int(scores.get(c.id, 5)),
                "reason": (reasons or {}).get(c.id, f"{c.name}: as the anchors describe a {scores.get(c.id, 5)}."),
                "cited_turns": list((cited or {}).get(c.id, [])), "pass_at": c.pass_at, "hard": c.hard}
               for c in rubric.criteria]
    rid = request_id or f"req_{uuid.uuid4().hex[:16]}"
    logs = [{"purpose": "judge", "outcome": "ok", "model": JUDGE_MODEL, "attempt": 1, "input_tokens": 5000,
             "output_tokens": 600, "cost_usd": 0.024, "duration_ms": 900, "request_id": rid,
             "parameters": {"conversation_id": conversation_id}}]
    with store.connection("save a judge run") as conn:
        row = conn.execute(
            "select public.save_judge_result(p_conversation_id => %(cid)s, p_rater => %(rater)s, "
            "p_prompt_name => 'judge_system', p_prompt_version => '1', p_prompt_sha256 => %(sha)s, "
            "p_rubric_id => %(rubric)s, p_rubric_version => %(version)s, p_ratings => %(ratings)s, "
            "p_findings => %(findings)s, p_logs => %(logs)s) as saved",
            {"cid": conversation_id, "rater": JUDGE_MODEL, "sha": "0" * 64, "rubric": rubric.id,
             "version": rubric.version, "ratings": Jsonb(ratings), "findings": Jsonb(list(findings)),
             "logs": Jsonb(logs)}).fetchone()
    assert row is not None
    return dict(row["saved"])
