"""The quality migration on the real PostgreSQL: saving a judge's run, human ratings in force over the
judge's, the flag view (the same as lib.core.rubric's), the reads, RLS, and the judge run on stored
conversations through the fake Anthropic server."""
from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from lib.core.models import AssistantTurn, Conversation
from lib.core.rubric import default_rubric
from lib.core.taxonomy import Taxonomy
from lib.generation import judge_cli
from lib.generation.judge import JudgeResult, ajudge_conversation
from lib.generation.llm import LLMClient, LLMSettings
from lib.store.postgres import PostgresStore
from tests.conftest import add_member, as_role
from tests.fake_anthropic import FakeAnthropic

Conn = psycopg.Connection[dict[str, Any]]
ROOT = Path(__file__).resolve().parent.parent
PROMISE = " This fund is guaranteed to return 8% a year, so you can't lose."


@pytest.fixture
def rstore(seeded: PostgresStore) -> PostgresStore:
    """The store with the seed conversations: the judge's calls are Store methods (lib/store/calls/)."""
    return seeded


def ratings_of(conn: Conn, conversation_id: str) -> list[dict[str, Any]]:
    return conn.execute("select * from public.conversation_ratings_of(p_conversation_id => %(id)s::text)",
                        {"id": conversation_id}).fetchall()


@pytest.fixture
def fake(db_tax: Taxonomy) -> Any:
    with FakeAnthropic(db_tax) as server:
        yield server


def run_judge(fake: FakeAnthropic, tax: Taxonomy, conv: Conversation) -> JudgeResult:
    async def go() -> JudgeResult:
        async with LLMClient(LLMSettings(api_key=fake.api_key, base_url=fake.url, max_retries=0)) as llm:
            return await ajudge_conversation(conv, llm=llm, tax=tax)
    return asyncio.run(go())


def quality(conn: Conn, cid: str) -> dict[str, Any] | None:
    return conn.execute("select * from public.v_conversation_quality where conversation_id = %(id)s",
                        {"id": cid}).fetchone()


def human(conn: Conn, cid: str, criterion: str, score: int, **kw: Any) -> int:
    c = default_rubric().criterion(criterion)
    return conn.execute(
        "select public.record_human_rating(p_conversation_id => %(id)s, p_criterion => %(c)s, p_score => %(s)s, "
        "p_rater => 'Dana', p_pass_at => %(p)s, p_hard => %(h)s, p_reason => %(r)s) as id",
        {"id": cid, "c": criterion, "s": score, "p": c.pass_at, "h": c.hard, "r": kw.get("reason", "")}
    ).fetchone()["id"]


def test_a_judge_run_is_saved_in_one_call_and_the_view_flags_it_as_the_rubric_does(
        rstore: PostgresStore, conn: Conn, fake: FakeAnthropic, db_tax: Taxonomy) -> None:
    seed = rstore.get_conversation("seed-02")
    assert seed is not None
    for t in seed.turns:  # the stored conversation itself makes the promise
        if isinstance(t, AssistantTurn):
            t.text += PROMISE
            break
    result = run_judge(fake, db_tax, seed)
    assert result.ok and result.flagged
    saved = rstore.save_judge_result(result.to_record([fake.api_key]))
    assert saved["created"] and saved["ratings"] == 7 and len(saved["log_ids"]) == 1

    log = conn.execute("select * from public.generation_logs where id = %(id)s", {"id": saved["log_ids"][0]}).fetchone()
    assert (log["purpose"], log["outcome"], log["template_name"]) == ("judge", "ok", "judge_system")
    assert log["input_tokens"] == result.usage.input_tokens and float(log["cost_usd"]) == round(result.cost_usd, 6)
    assert log["parameters"]["conversation_id"] == "seed-02" and log["scenario_id"] is not None

    q = quality(conn, "seed-02")
    assessment = result.assessment
    assert q is not None
    assert (q["flagged"], q["hard_failed"], q["min_score"]) == (True, True, 1)
    assert q["flag_reasons"] == assessment.reasons == result.flag_reasons
    assert q["scores"] == result.scores and q["judge_model"] == "claude-sonnet-5-5" and not q["human_rated"]

    rows = ratings_of(conn, "seed-02")
    safety = next(r for r in rows if r["criterion"] == "safety")
    assert safety["source"] == "judge" and safety["in_force"] and safety["cited_turns"] == [1]
    assert safety["pass_at"] == 4 and safety["hard"] and safety["generation_log_id"] == saved["log_ids"][0]
    assert {r["prompt_name"] for r in rows} == {"judge_system"}

    # saving the same run again (a retry after a lost reply) changes nothing
    again = rstore.save_judge_result(result.to_record())
    assert not again["created"] and again["run_id"] == saved["run_id"]
    assert conn.execute("select count(*) as n from public.conversation_ratings").fetchone()["n"] == 7


def test_a_human_rating_is_in_force_over_the_judge_and_stays_so(rstore: PostgresStore, conn: Conn,
                                                                 fake: FakeAnthropic, db_tax: Taxonomy) -> None:
    conv = rstore.get_conversation("seed-03")
    assert conv is not None
    conv.turns[1].text += PROMISE
    rstore.save_judge_result(run_judge(fake, db_tax, conv).to_record())
    assert quality(conn, "seed-03")["flagged"]

    human(conn, "seed-03", "safety", 5, reason="The promise was quoted back as a myth; it is fine.")
    q = quality(conn, "seed-03")
    assert q["human_rated"] and q["scores"]["safety"] == 5
    # the judge's other ratings still count; only safety is the person's
    assert q["flagged"] == bool(q["flag_reasons"]) and not q["hard_failed"]

    # a new judge run does not replace the person's rating
    fake.clear_cache()
    rstore.save_judge_result(run_judge(fake, db_tax, conv).to_record())
    q = quality(conn, "seed-03")
    assert q["scores"]["safety"] == 5 and not q["hard_failed"]
    rows = ratings_of(conn, "seed-03")
    assert sum(r["in_force"] for r in rows) == 7 and len(rows) == 15
    assert [r["source"] for r in rows if r["criterion"] == "safety" and r["in_force"]] == ["human"]
    # and the person can lower a score: the flag follows the rating in force
    human(conn, "seed-03", "empathy", 1)
    q = quality(conn, "seed-03")
    assert q["flagged"] and "empathy 1/5, below 3" in q["flag_reasons"]


def test_conversations_to_judge_are_the_current_ones_without_a_judge_rating(
        rstore: PostgresStore, conn: Conn, fake: FakeAnthropic, db_tax: Taxonomy) -> None:
    todo = rstore.conversations_to_judge(100)
    assert len(todo) == 10 and "seed-01" in todo
    assert rstore.conversations_to_judge(3) == todo[:3]
    seed = rstore.get_conversation("seed-01")
    assert seed is not None
    rstore.save_judge_result(run_judge(fake, db_tax, seed).to_record())
    assert "seed-01" not in rstore.conversations_to_judge(100, rubric_version="1.0.0")
    assert "seed-01" in rstore.conversations_to_judge(100, rubric_version="2.0.0")  # a new rubric: again
    # a run without a verdict is logged, and the conversation stays to be judged
    fake.default = "refusal"
    failed = run_judge(fake, db_tax, rstore.get_conversation("seed-05"))
    saved = rstore.save_judge_result(failed.to_record())
    assert saved["ratings"] == 0 and saved["run_id"] is None and len(saved["log_ids"]) == 1
    assert "seed-05" in rstore.conversations_to_judge(100)
    assert conn.execute("select outcome from public.generation_logs where id = %(id)s",
                        {"id": saved["log_ids"][0]}).fetchone()["outcome"] == "refused"


def test_a_bad_run_saves_nothing_and_says_why(rstore: PostgresStore, conn: Conn, fake: FakeAnthropic,
                                               db_tax: Taxonomy) -> None:
    seed = rstore.get_conversation("seed-01")
    assert seed is not None
    record = run_judge(fake, db_tax, seed).to_record()
    record["ratings"][0]["cited_turns"] = [0, 40]
    with pytest.raises(Exception, match="cites turn.*has 10 turns"):
        rstore.save_judge_result(record)
    record = run_judge(fake, db_tax, seed).to_record()
    record["ratings"][2]["score"] = 7
    with pytest.raises(Exception, match="conversation_ratings_score_check"):
        rstore.save_judge_result(record)
    counts = conn.execute("select (select count(*) from public.conversation_ratings) as r, "
                          "(select count(*) from public.generation_logs) as l").fetchone()
    assert counts == {"r": 0, "l": 0}  # the log rows went with the failed transaction
    with pytest.raises(Exception, match="does not exist"):
        rstore.save_judge_result({**record, "conversation_id": "nope"})


def test_findings_are_saved_with_their_run_and_typed(rstore: PostgresStore, conn: Conn, fake: FakeAnthropic,
                                                     db_tax: Taxonomy) -> None:
    conv = rstore.get_conversation("seed-03")
    assert conv is not None
    result = run_judge(fake, db_tax, conv)
    assert result.findings  # the fake reads 'thank you, that helps' labelled confusion as relief
    saved = rstore.save_judge_result(result.to_record())
    rows = conn.execute("select * from public.label_findings_of(p_conversation_id => 'seed-03')").fetchall()
    assert saved["findings"] == len(rows) == len(result.findings)
    assert [(r["turn_idx"], r["field"], r["current_value"], r["suggested_value"], r["latest_run"]) for r in rows] == [
        (f.turn, f.field, f.current_value, f.suggested_value, True) for f in result.findings]


def test_ratings_are_history(rstore: PostgresStore, conn: Conn) -> None:
    human(conn, "seed-01", "empathy", 4)
    with pytest.raises(psycopg.errors.RestrictViolation):
        conn.execute("update public.conversation_ratings set score = 5")
    with pytest.raises(psycopg.errors.RestrictViolation):
        conn.execute("delete from public.conversation_ratings")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="score from 1 to 5"):
        human(conn, "seed-01", "empathy", 0)


def test_who_may_read_and_write_ratings(rstore: PostgresStore, conn: Conn, fake: FakeAnthropic,
                                        db_tax: Taxonomy) -> None:
    seed = rstore.get_conversation("seed-01")
    assert seed is not None
    record = run_judge(fake, db_tax, seed).to_record()
    viewer, reviewer, operator = (add_member(conn, r) for r in ("viewer", "reviewer", "operator"))
    save = ("select public.save_judge_result(p_conversation_id => 'seed-01', p_rater => 'm', p_prompt_name => 'p', "
            "p_prompt_version => '1', p_prompt_sha256 => %(sha)s, p_rubric_id => 'r', p_rubric_version => '1', "
            "p_ratings => %(ratings)s) as saved")
    params = {"sha": record["prompt_sha256"], "ratings": Jsonb(record["ratings"])}
    rate = ("select public.record_human_rating(p_conversation_id => 'seed-01', p_criterion => 'empathy', "
            "p_score => 4, p_rater => 'R', p_pass_at => 3) as id")
    for uid in (viewer, reviewer):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="operator role"), \
                as_role(conn, "authenticated", uid):
            conn.execute(save, params)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="reviewer role"), \
            as_role(conn, "authenticated", viewer):
        conn.execute(rate)
    with as_role(conn, "authenticated", operator):
        assert conn.execute(save, params).fetchone()["saved"]["ratings"] == 7
    with as_role(conn, "authenticated", reviewer):
        conn.execute(rate)
        rater_id = conn.execute("select rater_id from public.conversation_ratings where source = 'human'").fetchone()
        assert rater_id["rater_id"] == reviewer
    with as_role(conn, "authenticated", viewer):
        assert len(conn.execute("select * from public.conversation_ratings").fetchall()) == 8
        assert conn.execute("select flagged from public.v_conversation_quality").fetchone() == {"flagged": False}
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into public.conversation_ratings (conversation_id, run_id, source, criterion, score, "
                         "pass_at, rater) values ('seed-01', %(u)s, 'human', 'empathy', 5, 3, 'x')", {"u": uuid.uuid4()})
    with as_role(conn, "authenticated", uuid.uuid4()):  # signed in, not a member
        assert conn.execute("select * from public.conversation_ratings").fetchall() == []
    for relation in ("conversation_ratings", "conversation_label_findings", "v_conversation_quality"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), as_role(conn, "anon"):
            conn.execute(f"select * from public.{relation}")


def test_the_cli_rates_what_is_not_rated_yet_in_a_rating_job(rstore: PostgresStore, conn: Conn, fake: FakeAnthropic,
                                                              db_dsn: str, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    for name in list(os.environ):
        if name.startswith(("ANTHROPIC_", "BRIGHTRUN_", "SUPABASE_", "DATABASE_URL")):
            monkeypatch.delenv(name)
    monkeypatch.setattr("lib.config.SECRETS_FILE", ROOT / "tests" / "no-secrets.toml")
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake.api_key)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    monkeypatch.setattr("lib.store.open_store", lambda settings: PostgresStore(db_dsn, min_size=1, max_size=4))

    assert judge_cli.main(["--limit", "4", "--concurrency", "3"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("job #") and "rating 4 conversations (realtime)" in lines[0]
    assert len(lines) == 5 and all(line.startswith(f"[{n}/4] seed-") for n, line in enumerate(lines[1:], 1))
    assert "4 rated, 0 flagged, 0 without a verdict; 4 requests" in err
    [job] = rstore.list_jobs(1)
    assert (job["task"], job["status"], job["succeeded_items"], job["created_by"]) == (
        "judge", "completed", 4, "python -m lib judge")
    assert conn.execute("select count(distinct conversation_id) as n from public.v_conversation_quality"
                        ).fetchone()["n"] == 4
    assert conn.execute("select count(*) as n from public.prompt_templates where name like 'judge%%'"
                        ).fetchone()["n"] == 3
    # the rest, through the Message Batches API
    assert judge_cli.main(["--batch", "--batch-poll", "0.1"]) == 0
    out, err = capsys.readouterr()
    assert "rating 6 conversations (batch)" in out and "6 rated" in err
    assert len(rstore.conversations_to_judge(100)) == 0 and len(fake.message_requests()) == 4
    assert judge_cli.main([]) == 0
    assert "every current conversation has a judge rating" in capsys.readouterr().err
