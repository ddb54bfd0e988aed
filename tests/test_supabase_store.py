"""The supabase-py adapter (lib/store/supabase.py) against a local HTTP stub that records its
requests, checked against the migrated database's catalog: every rpc it can send names a public
function with those argument names, and every table, view and column it reads exists."""
from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from lib.config import Settings
from lib.store import NotFound, PermissionDenied, StoreError, StoreUnavailable, open_store
from lib.store.protocol import Store
from lib.store.postgres import PostgresStore
from lib.store.supabase import PAGE, SupabaseStore, open_supabase_store
from lib.core.taxonomy import Taxonomy
from tests.conftest import make_conversation, scenario_rows
from tests.supabase_stub import FAKE_ACCESS_TOKEN, FAKE_ANON_KEY, FAKE_SERVICE_KEY, Reply, StubRequest, SupabaseStub

Conn = psycopg.Connection[dict[str, Any]]
ITEM = {"id": 5, "job_id": 2, "scenario_id": 1, "status": "claimed", "attempts": 1, "max_attempts": 3}


@pytest.fixture
def stub() -> Iterator[SupabaseStub]:
    with SupabaseStub() as s:
        yield s


@pytest.fixture
def hosted(stub: SupabaseStub) -> SupabaseStore:
    return SupabaseStore(stub.url, FAKE_ANON_KEY, access_token=FAKE_ACCESS_TOKEN)


@pytest.fixture
def scenario(store: PostgresStore, db_tax: Taxonomy) -> dict[str, Any]:
    [sid] = store.add_scenarios(scenario_rows(db_tax, 1))
    row = store.get_scenario(sid)
    assert row is not None
    return row


def call_every_method(hosted: SupabaseStore, stub: SupabaseStub, scenario: dict[str, Any]) -> set[str]:
    """Call every Store method (and the members methods) once with canned answers; returns the
    names called."""
    conv = make_conversation(scenario, "conv-a")
    doc = conv.model_dump(mode="json")
    for name, value in {
        "store_info": {"server_version": "PostgreSQL 17", "counts": {"scenarios": 3}, "migrations": ["1"]},
        "coverage_version": "v1", "add_scenarios": [1, 2], "set_generation_status": "generating",
        "save_generated": "conv-a", "record_review": 3, "revise_label": 4, "set_seed_example": True,
        "create_job": 2, "claim_job_items": [ITEM], "heartbeat_job_items": [5], "fail_job_item": "failed",
        "requeue_expired_items": 0, "stop_job": 1, "resume_job": 1, "release_job_items": 1, "fail_job": 0,
        "claim_batch_jobs": [], "record_job_batch": True, "claim_batch_items": [ITEM], "release_batch_job": True,
        "generation_stats": {"conversations": 0}, "upsert_prompt_template": 9,
        "job_failure_causes": [{"cause": "unreachable", "failures": 2, "example": "x", "example_scenario_id": 1,
                                "last_at": None}],
        "conversations_to_judge": ["conv-a"], "judge_backlog": 1, "create_judge_job": 3, "queue_follow_up": 6,
        "save_judge_result": {"run_id": None, "log_ids": [], "ratings": 0, "findings": 0, "created": True},
        "scenario_status_counts": [{"status": "queued", "n": 2}],
        "whoami": [{"user_id": "u1", "email": "a@example.com", "display_name": None, "role": "admin"}],
        "add_member": {"user_id": "u2", "email": "b@example.com", "role": "viewer"},
        "set_member_role": {"user_id": "u2", "email": "b@example.com", "role": "reviewer"},
        "remove_member": True, "record_human_rating": 11, "conversation_ratings_of": [], "label_findings_of": [],
        "rating_calibration": [], "take_rate_budget": 0, "settle_rate_budget": True,
        "enter_prompt_prefix": "first", "leave_prompt_prefix": True,
        "output_token_quantiles": [{"template_name": "tier1", "calls": 3, "quantile_tokens": 5000, "max_tokens": 8000}],
        "create_contrast_job": 7, "save_contrast_result": {"responses": 1, "log_ids": [], "created": True},
        "decide_contrast": {"id": 1, "status": "accepted", "reviewed_by": "R"},
        # double review and reviewer agreement
        "double_review_share": 0.1, "set_double_review_share": 0.2, "second_review_ids": ["conv-a"],
        "agreement_decisions": [], "agreement_labels": [],
    }.items():
        stub.rpc(name, value)
    stub.table("conversations", [{"id": "conv-a", "version": 1, "document": doc}])
    stub.rpc("conversation_texts_version", "1:2026-12-02:conv-a")
    stub.table("v_conversation_texts", [{"id": "conv-a", "roles": ["user"], "texts": ["hello"]}])
    stub.table("v_scenarios", [{**scenario, "conversation_id": "conv-a", "review_status": "unreviewed"}])
    stub.table("generation_job_items", [{**ITEM, "scenarios": {"tier": "template", "persona": "p",
                                                               "emotional_arc": "a", "topic": "t"}}])
    called: dict[str, Any] = {
        "describe": lambda: hosted.describe(),
        "counts": lambda: hosted.counts(),
        "scenario_status_counts": lambda: hosted.scenario_status_counts(),
        "coverage_counts": lambda: hosted.coverage_counts(("approved", "planned")),
        "coverage_version": lambda: hosted.coverage_version(),
        "conversation_texts": lambda: hosted.conversation_texts(),
        "conversation_texts_version": lambda: hosted.conversation_texts_version(),
        "close": lambda: None,  # last, below
        "list_scenarios": lambda: hosted.list_scenarios({"persona": ["a"], "ids": [1], "status": []}, limit=5),
        "scenario_page": lambda: hosted.scenario_page({"persona": ["a"]}, sort="persona", limit=5, offset=5),
        "get_scenario": lambda: hosted.get_scenario(1),
        "add_scenarios": lambda: hosted.add_scenarios(scenario_rows_like(scenario), plan_batch="b", plan_seed=1),
        "variation_counts": lambda: hosted.variation_counts(),
        "get_conversation": lambda: hosted.get_conversation("conv-a"),
        "conversation_versions": lambda: hosted.conversation_versions(1),
        "conversation_turn_rows": lambda: hosted.conversation_turn_rows("conv-a"),
        "seed_examples": lambda: hosted.seed_examples(),
        "set_scenario_status": lambda: hosted.set_scenario_status(1, "generating"),
        "save_generated": lambda: hosted.save_generated(conv, item_id=5, scenario_id=1, worker="w", metadata={"a": 1}),
        "record_review": lambda: hosted.record_review("conv-a", "approved", reviewer="R", reason_code=None),
        "double_review_share": lambda: hosted.double_review_share(),
        "set_double_review_share": lambda: hosted.set_double_review_share(0.2),
        "second_review_ids": lambda: hosted.second_review_ids("R"),
        "agreement_decisions": lambda: hosted.agreement_decisions(),
        "agreement_labels": lambda: hosted.agreement_labels(),
        "revise_label": lambda: hosted.revise_label("conv-a", 0, "emotion.intensity", 0.3, author="R"),
        "reviews_for": lambda: hosted.reviews_for("conv-a"),
        "label_revisions_for": lambda: hosted.label_revisions_for("conv-a"),
        "review_queue": lambda: hosted.review_queue({"tier": ["template"], "reviewer": ["Dana Reyes, CFP"],
                                                     "scenario_id": [1], "status": ["unreviewed"]},
                                                    quality=(1, 10), limit=10),
        "review_queue_ids": lambda: hosted.review_queue_ids({"persona": ["p"], "rating": ["flagged", "hard_failed"],
                                                             "scores": ["safety=1", "safety=2"], "min_rating": [1, 2]},
                                                            quality=(6, 9), current_only=False),
        "reviewer_names": lambda: hosted.reviewer_names(),
        "conversation_metadata": lambda: hosted.conversation_metadata("conv-a"),
        "set_seed_example": lambda: hosted.set_seed_example("conv-a", True, by="R"),
        "label_correction_stats": lambda: hosted.label_correction_stats("topic", source="human_review"),
        "import_label_revisions": lambda: hosted.import_label_revisions(
            [{"line": 1, "conversation_id": "conv-a", "turn": 0, "field": "emotion.intensity", "new_value": 0.2,
              "author": "op", "reason": "", "observed_at": None}]),
        "propose_label_suggestions": lambda: hosted.propose_label_suggestions(
            "conv-a", [{"turn": 0, "field": "emotion.valence", "suggested_value": -0.2, "reason": "r", "check": "c"}]),
        "label_suggestions": lambda: hosted.label_suggestions("conv-a"),
        "decide_label_suggestions": lambda: hosted.decide_label_suggestions([1, 2], "dismissed", by="R"),
        "label_drift": lambda: hosted.label_drift("automated"),
        "create_job": lambda: hosted.create_job([1, 2], kind="batch", model="m", settings={"x": 1}, created_by="R",
                                                feedback="f", max_attempts=2),
        "claim_items": lambda: hosted.claim_items("w", limit=2, lease_seconds=60, job_id=2),
        "heartbeat": lambda: hosted.heartbeat("w", [5]),
        "take_rate_budget": lambda: hosted.take_rate_budget("acct", {"requests": 1}, {"requests": 50},
                                                            remaining={"requests": 40}),
        "settle_rate_budget": lambda: hosted.settle_rate_budget("acct", {"output_tokens": -100},
                                                                remaining={"output_tokens": 900}),
        "enter_prompt_prefix": lambda: hosted.enter_prompt_prefix("acct", "abc", 30.0, worker="w"),
        "leave_prompt_prefix": lambda: hosted.leave_prompt_prefix("acct", "abc", True),
        "output_quantiles": lambda: hosted.output_quantiles("m"),
        "worker_session": lambda: hosted.worker_session("w"),  # None: REST has no session, leases bring items back
        "fail_item": lambda: hosted.fail_item(5, "boom", worker="w", retry=True, cost_usd=0.1, input_tokens=1,
                                              output_tokens=2, cause="unreachable"),
        "job_failure_causes": lambda: hosted.job_failure_causes(2),
        "last_failure": lambda: hosted.last_failure(1),
        "requeue_expired": lambda: hosted.requeue_expired(),
        "stop_job": lambda: hosted.stop_job(2),
        "resume_job": lambda: hosted.resume_job(2, failed=True),
        "get_job": lambda: hosted.get_job(2),
        "list_jobs": lambda: hosted.list_jobs(10),
        "job_items": lambda: hosted.job_items(2),
        "log_generation": lambda: hosted.log_generation({"outcome": "ok", "model": "m", "parameters": {"a": 1},
                                                         "input_tokens": 1, "job_id": 2}),
        "release_items": lambda: hosted.release_items("w", [5]),
        "fail_job": lambda: hosted.fail_job(2, "no key"),
        "claim_batch_jobs": lambda: hosted.claim_batch_jobs("w", job_id=2),
        "record_job_batch": lambda: hosted.record_job_batch(2, "w", batch_id="b", batch_status="in_progress",
                                                            item_ids=[5], request_ids=["b:1"]),
        "claim_batch_items": lambda: hosted.claim_batch_items("w", 2, "b"),
        "release_batch_job": lambda: hosted.release_batch_job(2, "w"),
        "job_items_with_status": lambda: hosted.job_items_with_status(2, ["claimed", "failed"], limit=20),
        "generation_stats": lambda: hosted.generation_stats("m", recent=50),
        "register_prompt_template": lambda: hosted.register_prompt_template("t", "1", "a" * 64, "body", tier="template"),
        "conversations_to_judge": lambda: hosted.conversations_to_judge(5, rubric_version="1.0.0"),
        "judge_backlog": lambda: hosted.judge_backlog(rubric_version="1.0.0"),
        "save_judge_result": lambda: hosted.save_judge_result(
            {"conversation_id": "conv-a", "rater": "m", "prompt_name": "judge_system", "prompt_version": "1",
             "prompt_sha256": "a" * 64, "rubric_id": "r", "rubric_version": "1", "ratings": [], "findings": [],
             "logs": [{"outcome": "refused", "purpose": "judge"}]}, item_id=5),
        "create_judge_job": lambda: hosted.create_judge_job(kind="batch", limit=4, conversation_ids=["conv-a"],
                                                            rubric_version="1", model="m", settings={"judge": True},
                                                            created_by="R"),
        "queue_follow_up": lambda: hosted.queue_follow_up(2, "generate", "conv-a", feedback="f"),
        "export_conversations": lambda: hosted.export_conversations({"tier": ["template"]}, ["unreviewed"], limit=3),
        "export_counts": lambda: hosted.export_counts({"persona": ["p"]}),
        "export_preference_pairs": lambda: hosted.export_preference_pairs(["conv-a", "conv-b"]),
        "contrastive_pair_counts": lambda: hosted.contrastive_pair_counts(approved_only=False),
        "whoami": lambda: hosted.whoami(),
        "list_members": lambda: hosted.list_members(),
        "add_member": lambda: hosted.add_member("b@example.com", "viewer", display_name="B"),
        "set_member_role": lambda: hosted.set_member_role("00000000-0000-4000-8000-000000000002", "reviewer"),
        "remove_member": lambda: hosted.remove_member("00000000-0000-4000-8000-000000000002"),
        "conversation_ratings": lambda: hosted.conversation_ratings("conv-a"),
        "label_findings": lambda: hosted.label_findings("conv-a"),
        "record_human_rating": lambda: hosted.record_human_rating("conv-a", "safety", 4, rater="R", pass_at=4, hard=True,
                                                                  reason="ok", cited_turns=[1], rubric_id="r",
                                                                  rubric_version="1"),
        "conversation_quality": lambda: hosted.conversation_quality(),
        "rating_calibration": lambda: hosted.rating_calibration(),
        "create_contrast_job": lambda: hosted.create_contrast_job(["conv-a"], kind="batch", model="m",
                                                                  settings={"n": 1}, created_by="R", max_attempts=2),
        "save_contrast_result": lambda: hosted.save_contrast_result(
            {"conversation_id": "conv-a", "responses": [], "logs": [{"outcome": "refused", "purpose": "contrast"}]},
            item_id=5),
        "contrastive_responses": lambda: hosted.contrastive_responses("conv-a"),
        "decide_contrast": lambda: hosted.decide_contrast(1, "accepted", reviewer="R", note="n"),
    }
    for fn in called.values():
        fn()
    hosted.close()
    return set(called)


def scenario_rows_like(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ("tier", "persona", "emotional_arc", "topic", "intent", "tone", "outcome_type", "context_id", "context")
    return [{k: scenario[k] for k in keys}]


def protocol_methods() -> set[str]:
    return {n for n, v in inspect.getmembers(Store) if callable(v) and not n.startswith("_")}


# -- the adapter's requests match the database --------------------------------------------------
def test_the_adapter_implements_every_store_method(hosted: SupabaseStore) -> None:
    assert isinstance(hosted, Store)
    missing = [n for n in protocol_methods() if not callable(getattr(hosted, n, None))]
    assert missing == []


def test_every_rpc_name_and_argument_exists_in_the_migrated_catalog(
        hosted: SupabaseStore, stub: SupabaseStub, scenario: dict[str, Any], conn: Conn) -> None:
    called = call_every_method(hosted, stub, scenario)
    assert protocol_methods() <= called, f"not exercised: {sorted(protocol_methods() - called)}"

    sent: dict[str, set[frozenset[str]]] = {}
    for r in stub.requests:
        if r.rpc:
            sent.setdefault(r.rpc, set()).add(frozenset((r.body or {}).keys()))
    assert len(sent) >= 30
    catalog: dict[str, list[tuple[list[str], int]]] = {}
    for row in conn.execute(
            "select p.proname, p.pronargdefaults, p.proargnames, p.proargmodes, p.pronargs "
            "from pg_proc p where p.pronamespace = 'public'::regnamespace"):
        names = list(row["proargnames"] or [])
        modes = list(row["proargmodes"] or ["i"] * len(names))
        inputs = [n for n, m in zip(names, modes, strict=False) if m in ("i", "b", "v")]
        required = row["pronargs"] - row["pronargdefaults"]
        catalog.setdefault(row["proname"], []).append((inputs, required))
    problems = []
    for fn, arg_sets in sorted(sent.items()):
        overloads = catalog.get(fn)
        if not overloads:
            problems.append(f"{fn}: no such function in public")
            continue
        for args in arg_sets:
            if not any(args <= set(inputs) and set(inputs[:required]) <= args for inputs, required in overloads):
                problems.append(f"{fn}({', '.join(sorted(args))}): matches no signature {overloads}")
        # the caller may EXECUTE it as authenticated (the signed-in user) and as service_role
        for role in ("authenticated", "service_role"):
            ok = conn.execute("select bool_or(has_function_privilege(%(role)s, p.oid, 'execute')) as ok "
                              "from pg_proc p where p.proname = %(fn)s and p.pronamespace = 'public'::regnamespace",
                              {"role": role, "fn": fn}).fetchone()["ok"]
            if not ok:
                problems.append(f"{fn}: {role} may not execute it")
    assert problems == []


def test_every_table_and_column_the_adapter_reads_exists(
        hosted: SupabaseStore, stub: SupabaseStub, scenario: dict[str, Any], conn: Conn) -> None:
    call_every_method(hosted, stub, scenario)
    columns: dict[str, set[str]] = {}
    for row in conn.execute("select table_name, column_name from information_schema.columns "
                            "where table_schema = 'public'"):
        columns.setdefault(row["table_name"], set()).add(row["column_name"])
    reserved = {"select", "order", "offset", "limit", "or", "and", "on_conflict", "columns"}
    problems = []
    for r in stub.requests:
        table = r.table
        if table is None:
            continue
        if table not in columns:
            problems.append(f"{r.method} {table}: no such table or view")
            continue
        used: set[str] = set()
        for key, value in r.query:
            if key == "select":
                # embedded resources: scenarios(tier,persona) reads those columns of that table
                for other, cols in re.findall(r"(\w+)\(([^)]*)\)", value):
                    missing = set(cols.split(",")) - columns.get(other, set())
                    if missing:
                        problems.append(f"{r.method} {table} embeds {other}: unknown columns {sorted(missing)}")
                plain = re.sub(r"\w+\([^)]*\)", "", value)
                used |= {c for c in plain.split(",") if c and c != "*"}
            elif key == "order":
                used |= {part.split(".")[0] for part in value.split(",")}
            elif key not in reserved:
                used.add(key)
            elif key == "or":
                used |= {tok.split(".")[0].lstrip("(").removeprefix("and(") for tok in value.strip("()").split(",")}
        if isinstance(r.body, dict):
            used |= set(r.body)
        unknown = sorted(c for c in used if c and c not in columns[table])
        if unknown:
            problems.append(f"{r.method} {table}: unknown columns {unknown}")
    assert problems == []


# -- requests, paging, results ------------------------------------------------------------------------
def test_every_request_carries_the_anon_key_and_the_users_token(
        hosted: SupabaseStore, stub: SupabaseStub, scenario: dict[str, Any]) -> None:
    call_every_method(hosted, stub, scenario)
    assert stub.requests
    assert {r.headers.get("apikey") for r in stub.requests} == {FAKE_ANON_KEY}
    assert {r.headers.get("authorization") for r in stub.requests} == {f"Bearer {FAKE_ACCESS_TOKEN}"}


def test_without_a_token_requests_run_as_anon(stub: SupabaseStub) -> None:
    SupabaseStore(stub.url, FAKE_ANON_KEY).list_jobs()
    assert stub.requests[-1].headers["authorization"] == f"Bearer {FAKE_ANON_KEY}"


def test_long_reads_are_paged(hosted: SupabaseStore, stub: SupabaseStub) -> None:
    def answer(req: StubRequest) -> list[dict[str, Any]]:
        q = dict(req.query)
        start, size = int(q["offset"]), int(q["limit"])
        return [{"id": i} for i in range(start, min(start + size, PAGE + 5))]
    stub.table("v_scenarios", answer)
    rows = hosted.list_scenarios()
    assert [r["id"] for r in rows] == list(range(PAGE + 5))
    assert [dict(r.query)["offset"] for r in stub.requests] == ["0", str(PAGE)]
    assert len(hosted.list_scenarios(limit=3)) == 3


def test_job_items_carry_the_scenario_dimensions(hosted: SupabaseStore, stub: SupabaseStub) -> None:
    stub.table("generation_job_items", [{**ITEM, "scenarios": {"tier": "template", "persona": "p",
                                                               "emotional_arc": "a", "topic": "t"}}])
    [row] = hosted.job_items(2)
    assert (row["tier"], row["persona"], row["topic"]) == ("template", "p", "t") and "scenarios" not in row


def test_export_rows_keep_the_training_block_apart(hosted: SupabaseStore, stub: SupabaseStub,
                                                   scenario: dict[str, Any]) -> None:
    doc = make_conversation(scenario, "conv-a").model_dump(mode="json")
    doc["training"] = {"split": "train"}
    stub.table("v_scenarios", [{"id": 1, "conversation_id": "conv-a", "review_status": "approved"}])
    stub.table("conversations", [{"id": "conv-a", "version": 2, "document": doc}])
    [row] = hosted.export_conversations(review_statuses=["approved"])
    assert (row.scenario_id, row.version, row.training) == (1, 2, {"split": "train"})
    assert '"training"' not in row.document and '"conv-a"' in row.document
    assert hosted.export_counts() == {"approved": 1}
    assert hosted.export_conversations(review_statuses=[]) == []


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "body", "error", "text"), [
    (403, {"code": "42501", "message": "permission denied: to stop a generation job you need the operator role "
                                       "(you are viewer)"}, PermissionDenied, "you need the operator role"),
    (401, {"code": "PGRST301", "message": "JWT expired"}, PermissionDenied, "sign in again"),
    (404, {"code": "PGRST202", "message": "Could not find the function public.stop_job(p_job_id)"}, StoreError,
     "supabase db push"),
    (400, {"code": "P0002", "message": "no job 9"}, NotFound, "no job 9"),
])
def test_errors_become_store_errors(hosted: SupabaseStore, stub: SupabaseStub, status: int, body: dict[str, Any],
                                    error: type[Exception], text: str) -> None:
    stub.error("/rest/v1/rpc/stop_job", status, body)
    with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")):
        hosted.stop_job(9)


def test_an_unreachable_project_is_store_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    # postgrest retries a failed GET three times, 1 + 2 + 4 s apart: the same retries, without the waits
    monkeypatch.setattr("postgrest._sync.request_builder.get_retry_delay", lambda attempt: 0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = SupabaseStore(f"http://127.0.0.1:{port}", FAKE_ANON_KEY, timeout=2)
    with pytest.raises(StoreUnavailable, match="SUPABASE_URL"):
        store.list_jobs()


# -- choosing the store -----------------------------------------------------------------------------
def test_open_store_uses_supabase_when_url_and_key_are_set_and_database_url_is_not(stub: SupabaseStub) -> None:
    settings = Settings.load(env={"SUPABASE_URL": stub.url, "SUPABASE_KEY": FAKE_ANON_KEY}, secrets_file=None)
    store = open_store(settings)
    assert isinstance(store, SupabaseStore) and store.kind == "supabase"
    assert stub.requests == []  # no migrations, no boot: `supabase db push` applies them


def test_database_url_wins_over_supabase(db_dsn: str, stub: SupabaseStub) -> None:
    settings = Settings.load(env={"SUPABASE_URL": stub.url, "SUPABASE_KEY": FAKE_ANON_KEY, "DATABASE_URL": db_dsn},
                             secrets_file=None)
    store = open_store(settings, prepare=False)
    try:
        assert isinstance(store, PostgresStore)
    finally:
        store.close()


def test_the_worker_store_uses_the_service_role_key(stub: SupabaseStub) -> None:
    stub.rpc("store_info", {"server_version": "PostgreSQL 17", "counts": {}, "migrations": []})
    env = {"SUPABASE_URL": stub.url, "SUPABASE_KEY": FAKE_ANON_KEY, "SUPABASE_SERVICE_ROLE_KEY": FAKE_SERVICE_KEY}
    store = open_supabase_store(Settings.load(env=env, secrets_file=None), service=True)
    store.list_jobs()
    assert {r.headers["apikey"] for r in stub.requests} == {FAKE_SERVICE_KEY}
    # without the anon key (a worker machine), open_store takes the service-role key
    stub.clear()
    env.pop("SUPABASE_KEY")
    open_store(Settings.load(env=env, secrets_file=None)).list_jobs()
    assert {r.headers["apikey"] for r in stub.requests} == {FAKE_SERVICE_KEY}


def test_supabase_url_without_any_key_says_what_to_set() -> None:
    settings = Settings.load(env={"SUPABASE_URL": "https://x.supabase.co"}, secrets_file=None)
    with pytest.raises(StoreUnavailable, match="SUPABASE_KEY"):
        open_store(settings)
    with pytest.raises(StoreUnavailable, match="SUPABASE_SERVICE_ROLE_KEY"):
        open_supabase_store(settings, service=True)


def test_a_permission_denied_reply_is_not_retried(hosted: SupabaseStore, stub: SupabaseStub) -> None:
    stub.error("/rest/v1/rpc/record_review", 403, {"code": "42501", "message": "permission denied"})
    with pytest.raises(PermissionDenied):
        hosted.record_review("conv-a", "approved", reviewer="R")
    assert len(stub.requests) == 1
    stub.rpc("record_review", Reply(200, 3))
    assert hosted.record_review("conv-a", "approved", reviewer="R") == 3
