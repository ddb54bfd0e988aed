"""SupabaseStore: the Store protocol over a Supabase project's HTTP API (supabase-py).

Hosted mode (issue 10). Every write calls the same SQL function PostgresStore calls, through
`rpc()` with the same named p_* arguments; reads select from the same tables and v_* views. So
the behaviour (and every role check) is the database's, tested once on a real PostgreSQL.

Who the requests run as:
- the anon key alone (no one signed in): PostgREST's `anon` role, which may read and do nothing;
- a user's access token (`access_token=`, from lib/auth.py's sign-in): `authenticated`, and the
  RLS policies and the functions' role checks apply to that user's row in `members`;
- the service-role key (the worker, from the server's secrets only): `service_role`.

PostgREST returns at most `max-rows` rows per request (1,000 on Supabase), so every read that
may be long is paged with an ORDER BY and Range, as `_all()` does.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

from lib.core.models import Conversation, RevisionSource
from lib.store.protocol import (
    LABEL_STATS_GROUPS, REVIEW_FILTERS, SCENARIO_FILTERS, BootReport, Decision, ExportRow, InvalidInput, JobItem,
    JobKind, NotFound, PermissionDenied, StoreError, StoreInfo, StoreKind, StoreUnavailable,
)

log = logging.getLogger(__name__)

PAGE = 1000  # Supabase's default max-rows
ID_CHUNK = 200  # ids per `in.(...)` filter: keeps the URL well under proxies' limits
SCENARIO_FIELDS: tuple[str, ...] = (
    "tier", "persona", "emotional_arc", "topic", "intent", "tone", "outcome_type", "context_id", "context")
LOG_COLUMNS: frozenset[str] = frozenset({
    "job_id", "item_id", "scenario_id", "attempt", "purpose", "outcome", "model", "template_name",
    "template_version", "template_sha256", "parameters", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "cost_usd", "duration_ms", "http_status", "request_id", "error", "raw_response",
    "stop_reason"})
JOB_ITEM_SCENARIO = "scenarios(tier,persona,emotional_arc,topic)"

T = TypeVar("T")


def supabase_label(url: str) -> str:
    """The project's host, safe to show (a URL holds no secret, but keep it short)."""
    try:
        host = urlsplit(url).hostname or url
    except ValueError:
        host = "a Supabase project"
    return f"Supabase ({host})"


class SupabaseStore:
    """The Store on a Supabase project's REST API. Thread-safe (httpx clients are)."""

    def __init__(self, url: str, key: str, *, access_token: str | None = None, timeout: float = 30.0,
                 kind: StoreKind = "supabase", label: str | None = None, client: Any = None) -> None:
        self.kind: StoreKind = kind
        self.url = url
        self.label = label or supabase_label(url)
        self.boot: BootReport | None = None
        self.signed_in = access_token is not None
        if client is None:
            from supabase import ClientOptions, create_client
            from supabase import SupabaseException

            headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
            options = ClientOptions(headers=headers, postgrest_client_timeout=timeout, auto_refresh_token=False,
                                    persist_session=False)
            try:
                client = create_client(url, key, options=options)
            except SupabaseException as exc:
                raise StoreUnavailable(f"SUPABASE_URL or SUPABASE_KEY is not usable ({exc.message}); expected "
                                       "https://<project>.supabase.co and the project's anon key") from None
        self._client = client

    # -- plumbing -------------------------------------------------------------------------------
    def close(self) -> None:
        pg = getattr(self._client, "_postgrest", None)
        session = getattr(pg, "session", None)
        if session is not None:
            try:
                session.close()
            except Exception:  # closing is best effort
                pass

    def _run(self, action: str, build: Callable[[], Any]) -> Any:
        with _translate(action):
            return build().execute().data

    def _rpc(self, action: str, fn: str, params: Mapping[str, Any] | None = None) -> Any:
        """A function's result: a scalar, a row (dict) or rows (list), as PostgREST returns it."""
        body = {k: _json(v) for k, v in (params or {}).items()}
        return self._run(action, lambda: self._client.rpc(fn, body))

    def _rpc_rows(self, action: str, fn: str, params: Mapping[str, Any] | None = None,
                  order: Sequence[str] = ()) -> list[dict[str, Any]]:
        """A set-returning function's rows, paged (ordered by `order` so pages do not overlap)."""
        body = {k: _json(v) for k, v in (params or {}).items()}

        def page(start: int) -> list[dict[str, Any]]:
            def build() -> Any:
                q = self._client.rpc(fn, body)
                for col in order:
                    q = q.order(col, nullsfirst=True)
                return q.range(start, start + PAGE - 1)
            return list(self._run(action, build) or [])
        return _paged(page) if order else list(self._rpc(action, fn, params) or [])

    def _select(self, table: str, columns: str = "*") -> Any:
        return self._client.table(table).select(columns)

    def _all(self, action: str, table: str, columns: str = "*", *, where: Callable[[Any], Any] = lambda q: q,
             order: Sequence[tuple[str, bool]] = (("id", False),), limit: int | None = None) -> list[dict[str, Any]]:
        """Every row of a query, `PAGE` at a time. order: (column, descending) pairs."""
        def page(start: int) -> list[dict[str, Any]]:
            size = PAGE if limit is None else min(PAGE, limit - start)
            if size <= 0:
                return []

            def build() -> Any:
                q = where(self._select(table, columns))
                for col, desc in order:
                    q = q.order(col, desc=desc)
                return q.range(start, start + size - 1)
            return list(self._run(action, build) or [])
        rows = _paged(page)
        return rows if limit is None else rows[:limit]

    def _first(self, action: str, table: str, columns: str = "*", *,
               where: Callable[[Any], Any] = lambda q: q) -> dict[str, Any] | None:
        rows = self._run(action, lambda: where(self._select(table, columns)).limit(1))
        return rows[0] if rows else None

    # -- the store itself -----------------------------------------------------------------------
    def _info(self) -> dict[str, Any]:
        return self._rpc("describe the database", "store_info") or {}

    def counts(self) -> dict[str, int]:
        return {k: int(v) for k, v in (self._info().get("counts") or {}).items()}

    def scenario_status_counts(self) -> dict[str, int]:
        rows = self._rpc_rows("count scenarios by status", "scenario_status_counts")
        return {r["status"]: int(r["n"]) for r in rows}

    def coverage_counts(self, scopes: Sequence[str] = ("approved", "generated", "planned"), *, min_turns: int,
                        max_turns: int) -> list[dict[str, Any]]:
        scopes = [scopes] if isinstance(scopes, str) else list(scopes)
        return self._rpc_rows(f"count the coverage ({', '.join(scopes)})", "coverage_counts",
                              {"p_scopes": scopes, "p_min_turns": int(min_turns), "p_max_turns": int(max_turns)},
                              order=("scope", "section", "a", "b", "c"))

    def coverage_version(self) -> str:
        return str(self._rpc("read the coverage version", "coverage_version"))

    def describe(self) -> StoreInfo:
        info = self._info()
        return StoreInfo(kind=self.kind, label=self.label, server_version=str(info.get("server_version", "")),
                         counts={k: int(v) for k, v in (info.get("counts") or {}).items()},
                         migrations=[str(m) for m in info.get("migrations") or []], boot=self.boot)

    # -- members and the signed-in user (hosted mode) ---------------------------------------------
    def whoami(self) -> dict[str, Any]:
        """user_id, email, display_name and role of the caller (role None: not a member)."""
        rows = self._rpc("read who you are", "whoami")
        row = rows[0] if isinstance(rows, list) and rows else rows if isinstance(rows, dict) else {}
        return dict(row)

    def list_members(self) -> list[dict[str, Any]]:
        return self._all("list the members", "members", order=(("email", False),))

    def add_member(self, email: str, role: str = "viewer", *, user_id: str | None = None,
                   display_name: str | None = None) -> dict[str, Any]:
        return _row(self._rpc(f"add {email} as {role}", "add_member",
                              {"p_email": email, "p_role": role, "p_user_id": user_id,
                               "p_display_name": display_name}))

    def set_member_role(self, user_id: str, role: str) -> dict[str, Any]:
        return _row(self._rpc(f"make the member {role}", "set_member_role", {"p_user_id": user_id, "p_role": role}))

    def remove_member(self, user_id: str) -> bool:
        return bool(self._rpc("remove the member", "remove_member", {"p_user_id": user_id}))

    # -- scenarios ------------------------------------------------------------------------------
    def list_scenarios(self, filters: Mapping[str, Sequence[str | int]] | None = None,
                       limit: int | None = None) -> list[dict[str, Any]]:
        where = _filters(filters, SCENARIO_FILTERS, "scenario", int_keys=("ids",))
        return self._all("list scenarios", "v_scenarios", where=where, limit=limit)

    def get_scenario(self, scenario_id: int) -> dict[str, Any] | None:
        return self._first("read a scenario", "v_scenarios", where=lambda q: q.eq("id", int(scenario_id)))

    def add_scenarios(self, rows: Sequence[Mapping[str, Any]], *, plan_batch: str | None = None,
                      plan_seed: int | None = None, origin: str = "planned",
                      created_by: str | None = None) -> list[int]:
        if not rows:
            return []
        payload = [{k: row.get(k) for k in SCENARIO_FIELDS} for row in rows]
        found = self._rpc("add scenarios", "add_scenarios",
                          {"p_rows": payload, "p_plan_batch": plan_batch, "p_plan_seed": plan_seed,
                           "p_origin": origin, "p_created_by": created_by})
        return [_scalar(r) for r in found or []]

    # -- conversations --------------------------------------------------------------------------
    def get_conversation(self, conversation_id: str) -> Conversation | None:
        row = self._first("read a conversation", "conversations", "document",
                          where=lambda q: q.eq("id", conversation_id))
        return None if row is None else Conversation.model_validate(row["document"])

    def conversation_versions(self, scenario_id: int) -> list[Conversation]:
        rows = self._all("read the versions of a conversation", "conversations", "document,version,id",
                         where=lambda q: q.eq("scenario_id", int(scenario_id)), order=(("version", True),))
        return [Conversation.model_validate(r["document"]) for r in rows]

    def conversation_turn_rows(self, conversation_id: str) -> list[dict[str, Any]]:
        return self._all("read the turns of a conversation", "conversation_turns",
                         where=lambda q: q.eq("conversation_id", conversation_id), order=(("idx", False),))

    def seed_examples(self) -> list[Conversation]:
        rows = self._all("read the seed examples", "conversations", "id,document",
                         where=lambda q: q.eq("use_as_seed_example", True).eq("is_current", True))
        return [Conversation.model_validate(r["document"]) for r in rows]

    def set_scenario_status(self, scenario_id: int, status: str | None) -> str:
        return self._rpc(f"set the status of scenario #{scenario_id}", "set_generation_status",
                         {"p_scenario_id": int(scenario_id), "p_status": status})

    def save_generated(self, conversation: Conversation, *, item_id: int | None = None,
                       scenario_id: int | None = None, worker: str | None = None,
                       metadata: Mapping[str, Any] | None = None) -> str:
        return self._rpc(f"save conversation {conversation.id}", "save_generated",
                         {"p_conversation": conversation.model_dump(mode="json"), "p_item_id": item_id,
                          "p_scenario_id": scenario_id, "p_worker": worker, "p_metadata": dict(metadata or {})})

    # -- review ---------------------------------------------------------------------------------
    def record_review(self, conversation_id: str, decision: Decision, *, reviewer: str,
                      reason_code: str | None = None, notes: str = "") -> int:
        return int(self._rpc(f"record a review of {conversation_id}", "record_review",
                             {"p_conversation_id": conversation_id, "p_decision": decision, "p_reviewer": reviewer,
                              "p_reason_code": reason_code, "p_notes": notes}))

    def revise_label(self, conversation_id: str, turn: int, field: str, new_value: Any, *, author: str,
                     reason: str = "", source: RevisionSource = "human_review") -> int | None:
        found = self._rpc(f"revise {field} of turn {turn} of {conversation_id}", "revise_label",
                          {"p_conversation_id": conversation_id, "p_turn": int(turn), "p_field": field,
                           "p_new_value": new_value, "p_author": author, "p_reason": reason, "p_source": source})
        return None if found is None else int(found)

    def reviews_for(self, conversation_id: str) -> list[dict[str, Any]]:
        return self._all("read reviews", "reviews", where=lambda q: q.eq("conversation_id", conversation_id),
                         order=(("created_at", False), ("id", False)))

    def label_revisions_for(self, conversation_id: str) -> list[dict[str, Any]]:
        return self._all("read label revisions", "label_revisions",
                         where=lambda q: q.eq("conversation_id", conversation_id),
                         order=(("created_at", False), ("id", False)))

    def review_queue(self, filters: Mapping[str, Sequence[str | int]] | None = None, *,
                     quality: tuple[float, float] | None = None, current_only: bool = True,
                     limit: int | None = None) -> list[dict[str, Any]]:
        return self._all("read the review queue", "v_review_queue",
                         where=_review_where(filters, quality, current_only),
                         order=(("created_at", False), ("id", False)), limit=limit)

    def review_queue_ids(self, filters: Mapping[str, Sequence[str | int]] | None = None, *,
                         quality: tuple[float, float] | None = None, current_only: bool = True) -> list[str]:
        rows = self._all("read the review queue", "v_review_queue", "id,created_at",
                         where=_review_where(filters, quality, current_only),
                         order=(("created_at", False), ("id", False)))
        return [r["id"] for r in rows]

    def reviewer_names(self) -> list[str]:
        rows = self._all("list the reviewers", "reviews", "id,reviewer")
        return sorted({r["reviewer"] for r in rows})

    def conversation_metadata(self, conversation_id: str) -> dict[str, Any]:
        rows = self._all("read the metadata of a conversation", "conversation_metadata", "key,value",
                         where=lambda q: q.eq("conversation_id", conversation_id), order=(("key", False),))
        return {r["key"]: r["value"] for r in rows}

    def set_seed_example(self, conversation_id: str, value: bool, *, by: str) -> bool:
        return bool(self._rpc(
            f"mark {conversation_id} as a seed example" if value else f"unmark {conversation_id} as a seed example",
            "set_seed_example", {"p_conversation_id": conversation_id, "p_value": bool(value), "p_by": by}))

    def label_correction_stats(self, by: str | None = None, *, source: str | None = None) -> list[dict[str, Any]]:
        if by is not None and by not in LABEL_STATS_GROUPS:
            raise InvalidInput(f"label analytics can be grouped by {', '.join(LABEL_STATS_GROUPS)}, not {by!r}")
        # ordered as the function orders them; its rows are few (distinct corrections), one page
        return list(self._rpc("read the label analytics", "label_correction_stats",
                              {"p_by": by, "p_source": source}) or [])

    # -- generation jobs ------------------------------------------------------------------------
    def create_job(self, scenario_ids: Sequence[int], *, kind: JobKind = "realtime", model: str | None = None,
                   settings: Mapping[str, Any] | None = None, created_by: str | None = None,
                   feedback: str | None = None, max_attempts: int = 3) -> int:
        return int(self._rpc("create a generation job", "create_job",
                             {"p_scenario_ids": [int(i) for i in scenario_ids], "p_kind": kind, "p_model": model,
                              "p_settings": dict(settings or {}), "p_created_by": created_by,
                              "p_feedback": feedback, "p_max_attempts": int(max_attempts)}))

    def claim_items(self, worker: str, *, limit: int = 1, lease_seconds: int = 300,
                    job_id: int | None = None) -> list[JobItem]:
        rows = self._rpc("claim job items", "claim_job_items",
                         {"p_worker": worker, "p_limit": int(limit), "p_lease_seconds": int(lease_seconds),
                          "p_job_id": job_id})
        return [JobItem.model_validate(r) for r in rows or []]

    def heartbeat(self, worker: str, item_ids: Sequence[int], *, lease_seconds: int = 300) -> list[int]:
        held = self._rpc("send a heartbeat", "heartbeat_job_items",
                         {"p_worker": worker, "p_item_ids": [int(i) for i in item_ids],
                          "p_lease_seconds": int(lease_seconds)})
        return [int(i) for i in held or []]

    def fail_item(self, item_id: int, error: str, *, worker: str | None = None, retry: bool = False,
                  cost_usd: float = 0.0, input_tokens: int = 0, output_tokens: int = 0) -> str:
        return self._rpc(f"report job item {item_id} failed", "fail_job_item",
                         {"p_item_id": int(item_id), "p_error": error, "p_worker": worker, "p_retry": bool(retry),
                          "p_cost_usd": float(cost_usd), "p_input_tokens": int(input_tokens),
                          "p_output_tokens": int(output_tokens)})

    def requeue_expired(self) -> int:
        return int(self._rpc("requeue expired job items", "requeue_expired_items") or 0)

    def stop_job(self, job_id: int) -> int:
        return int(self._rpc(f"stop job {job_id}", "stop_job", {"p_job_id": int(job_id)}) or 0)

    def resume_job(self, job_id: int, *, failed: bool = False) -> int:
        return int(self._rpc(f"resume job {job_id}", "resume_job", {"p_job_id": int(job_id),
                                                                     "p_failed": bool(failed)}) or 0)

    def get_job(self, job_id: int) -> dict[str, Any] | None:
        return self._first("read a job", "v_generation_jobs", where=lambda q: q.eq("id", int(job_id)))

    def list_jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        return self._all("list jobs", "v_generation_jobs", order=(("id", True),), limit=limit)

    def job_items(self, job_id: int) -> list[dict[str, Any]]:
        rows = self._all("list job items", "generation_job_items", f"*,{JOB_ITEM_SCENARIO}",
                         where=lambda q: q.eq("job_id", int(job_id)))
        return [_flatten_scenario(r) for r in rows]

    def job_items_with_status(self, job_id: int, statuses: Sequence[str], *, limit: int = 200) -> list[dict[str, Any]]:
        rows = self._all("list job items", "generation_job_items", f"*,{JOB_ITEM_SCENARIO}",
                         where=lambda q: q.eq("job_id", int(job_id)).in_("status", [str(s) for s in statuses]),
                         order=(("updated_at", True), ("id", True)), limit=limit)
        return [_flatten_scenario(r) for r in rows]

    def log_generation(self, row: Mapping[str, Any]) -> int:
        unknown = sorted(set(row) - LOG_COLUMNS)
        if unknown:
            raise InvalidInput(f"generation log: unknown column {unknown[0]!r}; expected some of {', '.join(sorted(LOG_COLUMNS))}")
        if "outcome" not in row:
            raise InvalidInput("generation log: the outcome is missing")
        body = {k: _json(v) for k, v in row.items()}
        found = self._run("write a generation log row", lambda: self._client.table("generation_logs").insert(body))
        return int(found[0]["id"])

    # -- the generation runner --------------------------------------------------------------------
    def release_items(self, worker: str, item_ids: Sequence[int]) -> int:
        return int(self._rpc("give back job items", "release_job_items",
                             {"p_worker": worker, "p_item_ids": [int(i) for i in item_ids]}) or 0)

    def fail_job(self, job_id: int, error: str) -> int:
        return int(self._rpc(f"stop job {job_id}", "fail_job", {"p_job_id": int(job_id), "p_error": error}) or 0)

    def claim_batch_jobs(self, worker: str, *, lease_seconds: int = 120, job_id: int | None = None,
                         limit: int = 10) -> list[dict[str, Any]]:
        return list(self._rpc("lease batch jobs", "claim_batch_jobs",
                              {"p_worker": worker, "p_lease_seconds": int(lease_seconds), "p_job_id": job_id,
                               "p_limit": int(limit)}) or [])

    def record_job_batch(self, job_id: int, worker: str, *, batch_id: str | None = None,
                         batch_status: str | None = None, item_ids: Sequence[int] = (),
                         request_ids: Sequence[str | None] = ()) -> bool:
        return bool(self._rpc(f"record the batch of job {job_id}", "record_job_batch",
                              {"p_job_id": int(job_id), "p_worker": worker, "p_batch_id": batch_id,
                               "p_batch_status": batch_status, "p_item_ids": [int(i) for i in item_ids],
                               "p_request_ids": list(request_ids)}))

    def claim_batch_items(self, worker: str, job_id: int, batch_id: str, *, limit: int = 1000,
                          lease_seconds: int = 300) -> list[JobItem]:
        rows = self._rpc(f"claim the items of batch {batch_id}", "claim_batch_items",
                         {"p_worker": worker, "p_job_id": int(job_id), "p_batch_id": batch_id, "p_limit": int(limit),
                          "p_lease_seconds": int(lease_seconds)})
        return [JobItem.model_validate(r) for r in rows or []]

    def release_batch_job(self, job_id: int, worker: str) -> bool:
        return bool(self._rpc(f"release batch job {job_id}", "release_batch_job",
                              {"p_job_id": int(job_id), "p_worker": worker}))

    def generation_stats(self, model: str | None = None, *, recent: int = 200) -> dict[str, Any]:
        return dict(self._rpc("read the generation averages", "generation_stats",
                              {"p_model": model, "p_recent": int(recent)}) or {})

    def register_prompt_template(self, name: str, version: str, sha256: str, body: str,
                                 tier: str | None = None) -> int:
        return int(self._rpc(f"record prompt template {name} {version}", "upsert_prompt_template",
                             {"p_name": name, "p_version": version, "p_sha256": sha256, "p_body": body,
                              "p_tier": tier}))

    # -- export ---------------------------------------------------------------------------------
    def _export_scenarios(self, filters: Mapping[str, Sequence[str | int]] | None,
                          review_statuses: Sequence[str] | None, limit: int | None) -> list[dict[str, Any]]:
        base = _filters(filters, SCENARIO_FILTERS, "scenario", int_keys=("ids",))

        def where(q: Any) -> Any:
            q = base(q).not_.is_("conversation_id", "null")
            if review_statuses is not None:
                q = q.in_("review_status", [str(s) for s in review_statuses])
            return q
        return self._all("read the conversations to export", "v_scenarios", "id,conversation_id,review_status",
                         where=where, limit=limit)

    def export_conversations(self, filters: Mapping[str, Sequence[str | int]] | None = None,
                             review_statuses: Sequence[str] | None = None,
                             limit: int | None = None) -> list[ExportRow]:
        if review_statuses is not None and not list(review_statuses):
            return []
        scenarios = self._export_scenarios(filters, review_statuses, limit)
        docs: dict[str, dict[str, Any]] = {}
        ids = [s["conversation_id"] for s in scenarios]
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start:start + ID_CHUNK]
            for r in self._all("read the conversations to export", "conversations", "id,version,document",
                               where=lambda q, chunk=chunk: q.in_("id", chunk)):
                docs[r["id"]] = r
        out: list[ExportRow] = []
        for s in scenarios:
            r = docs.get(s["conversation_id"])
            if r is None:  # replaced between the two reads: the next export has it
                continue
            document = dict(r["document"])
            training = document.pop("training", None) or {}
            out.append(ExportRow(s["id"], int(r["version"]), json.dumps(document, ensure_ascii=False), training))
        return out

    def export_counts(self, filters: Mapping[str, Sequence[str | int]] | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self._export_scenarios(filters, None, None):
            counts[s["review_status"]] = counts.get(s["review_status"], 0) + 1
        return dict(sorted(counts.items()))


# -- helpers --------------------------------------------------------------------------------------
def _paged(page: Callable[[int], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        rows = page(len(out))
        out.extend(rows)
        if len(rows) < PAGE:
            return out


def _json(value: Any) -> Any:
    """A value as JSON for a request body (tuples as lists, pydantic models dumped)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, tuple):
        return list(value)
    return value


def _scalar(value: Any) -> Any:
    """A set-returning function's row with one column, or the value itself."""
    if isinstance(value, dict):
        return next(iter(value.values())) if len(value) == 1 else value.get("id")
    return value


def _row(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return dict(value[0]) if value else {}
    return dict(value or {})


def _flatten_scenario(row: dict[str, Any]) -> dict[str, Any]:
    scn = row.pop("scenarios", None) or {}
    return {**row, **{k: scn.get(k) for k in ("tier", "persona", "emotional_arc", "topic")}}


def _filters(filters: Mapping[str, Sequence[str | int]] | None, allowed: Mapping[str, str], what: str,
             int_keys: Sequence[str] = ()) -> Callable[[Any], Any]:
    """The PostgREST filters for SCENARIO_FILTERS / REVIEW_FILTERS (OR within a key, AND across)."""
    checked: list[tuple[str, str, list[Any]]] = []
    for key, values in (filters or {}).items():
        column = allowed.get(key)
        if column is None:
            raise InvalidInput(f"unknown {what} filter {key!r}; expected one of {', '.join(allowed)}")
        if not values:
            continue
        if key in int_keys:
            try:
                vals: list[Any] = [int(v) for v in values]
            except (TypeError, ValueError):
                raise InvalidInput(f"{what} ids must be numbers, got {list(values)!r}") from None
        else:
            vals = [str(v) for v in values]
        checked.append((key, column, vals))

    def where(q: Any) -> Any:
        for key, column, vals in checked:
            # an array literal with each name quoted: names hold commas and spaces ("Dana Reyes, CFP")
            q = q.filter(column, "ov", _pg_array(vals)) if key == "reviewer" else q.in_(column, vals)
        return q
    return where


def _pg_array(values: Sequence[str]) -> str:
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def _review_where(filters: Mapping[str, Sequence[str | int]] | None, quality: tuple[float, float] | None,
                  current_only: bool) -> Callable[[Any], Any]:
    base = _filters(filters, REVIEW_FILTERS, "review queue", int_keys=("scenario_id",))

    def where(q: Any) -> Any:
        q = base(q)
        if current_only:
            q = q.eq("is_current", True)
        if quality is not None:
            low, high = float(quality[0]), float(quality[1])
            if (low, high) == (1.0, 10.0):  # no score yet: only the full range lets it through
                q = q.or_(f"quality_score.is.null,and(quality_score.gte.{low},quality_score.lte.{high})")
            else:
                q = q.gte("quality_score", low).lte("quality_score", high)
        return q
    return where


def _message(exc: Any) -> str:
    msg = str(getattr(exc, "message", None) or exc).strip() or type(exc).__name__
    details = getattr(exc, "details", None)
    hint = getattr(exc, "hint", None)
    if details:
        msg += f" ({details})"
    if hint:
        msg += f". {hint}"
    return msg


@contextmanager
def _translate(action: str) -> Iterator[None]:
    """PostgREST and HTTP errors -> the StoreError subclass a caller can act on, with one clear line.
    Database errors carry their SQLSTATE in `code`, PostgREST's own errors a PGRSTnnn code."""
    import httpx
    from postgrest.exceptions import APIError

    try:
        yield
    except APIError as exc:
        code = str(exc.code or "")
        msg = _message(exc)
        if code == "42501":
            raise PermissionDenied(msg) from None
        if code in ("PGRST301", "PGRST302", "PGRST303") or "JWT" in msg:
            raise PermissionDenied(f"your sign-in has expired or is not valid ({msg}); sign in again") from None
        if code == "P0002" or code == "PGRST116":
            raise NotFound(msg) from None
        if code in ("PGRST202", "PGRST205", "42883", "42P01"):
            raise StoreError(f"cannot {action}: the database lacks what this version of the app needs ({msg}); "
                             "apply the migrations with `supabase db push`") from None
        if code.startswith(("22", "23")) or code in ("P0001", "PGRST204"):
            raise InvalidInput(f"cannot {action}: {msg}") from None
        if code.startswith("40"):
            raise StoreError(f"cannot {action} now: it collided with another change ({msg}); try again") from None
        raise StoreError(f"cannot {action}: {msg}") from None
    except httpx.HTTPError as exc:
        raise StoreUnavailable(f"cannot reach the Supabase project to {action}: {type(exc).__name__} "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}".rstrip()
                               + "; check SUPABASE_URL and the network, then try again") from None
    except StoreError:
        raise
    except ValueError as exc:  # a response that is not what PostgREST sends (a proxy's error page)
        raise StoreUnavailable(f"the Supabase project answered something unexpected to {action} ({exc}); "
                               "check SUPABASE_URL") from None


def open_supabase_store(settings: Any, *, access_token: str | None = None, service: bool = False,
                        check: bool | None = None) -> SupabaseStore:
    """The hosted-mode store (SUPABASE_URL set, DATABASE_URL not). No migrations and no boot here:
    a hosted project's schema is applied with `supabase db push`.
    - service=False: the anon key (SUPABASE_KEY), as the signed-in user when access_token is given;
      without SUPABASE_KEY (a worker machine) the service-role key is used instead.
    - service=True: the service-role key (SUPABASE_SERVICE_ROLE_KEY), for the worker only.
    check: call store_info() once so a missing migration or a wrong key fails here (default: for
    the service role only; the anon key may read nothing)."""
    url = (settings.supabase_url or "").strip()
    anon = settings.supabase_key.get_secret_value() if settings.supabase_key is not None else ""
    secret = settings.supabase_service_key.get_secret_value() if settings.supabase_service_key is not None else ""
    if not url:
        raise StoreUnavailable("SUPABASE_URL is not set; set it to https://<project>.supabase.co")
    if service or not anon:
        if not secret:
            raise StoreUnavailable(
                "SUPABASE_URL is set but SUPABASE_KEY is not: set SUPABASE_KEY to the project's anon key (Project "
                "settings > API) for the app, and SUPABASE_SERVICE_ROLE_KEY (or DATABASE_URL) for a worker"
                if not service else
                "the worker needs SUPABASE_SERVICE_ROLE_KEY (Project settings > API > service_role) or DATABASE_URL "
                "in the server's secrets")
        key, access_token, as_service = secret, None, True
    else:
        key, as_service = anon, False
    store = SupabaseStore(url, key, access_token=access_token)
    if check if check is not None else as_service:
        store.describe()
    return store
