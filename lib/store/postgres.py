"""PostgresStore: the Store protocol on psycopg 3 with a connection pool.

Used for the embedded database and for DATABASE_URL (any PostgreSQL, a Supabase project's
connection string included). Every write goes through a SQL function of supabase/migrations/;
reads use the tables and the v_* views. SQL parameters are always named.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.numeric import FloatLoader
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from lib.config import safe_dsn_label
from lib.core.models import Conversation, RevisionSource
from lib.store.protocol import (
    SCENARIO_FILTERS, BootReport, Decision, InvalidInput, JobItem, JobKind, NotFound, PermissionDenied, StoreError,
    StoreInfo, StoreKind, StoreUnavailable,
)
from lib.store.protocol import LABEL_STATS_GROUPS, REVIEW_FILTERS
from lib.store.protocol import ExportRow

COUNTED_TABLES: tuple[str, ...] = (
    "scenarios", "conversations", "conversation_turns", "reviews", "label_revisions", "generation_jobs",
    "generation_job_items", "generation_logs", "prompt_templates", "members")

SCENARIO_FIELDS: tuple[str, ...] = (
    "tier", "persona", "emotional_arc", "topic", "intent", "tone", "outcome_type", "context_id", "context")

LOG_COLUMNS: frozenset[str] = frozenset({
    "job_id", "item_id", "scenario_id", "attempt", "purpose", "outcome", "model", "template_name",
    "template_version", "template_sha256", "parameters", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "cost_usd", "duration_ms", "http_status", "request_id", "error", "raw_response",
    "stop_reason"})


def connect_check(dsn: str, label: str, timeout: int = 5) -> None:
    """Open and close one connection, so an unreachable database fails here with one clear line
    instead of as a pool timeout later."""
    try:
        with psycopg.connect(dsn, connect_timeout=timeout) as conn:
            conn.execute("select 1")
    except psycopg.OperationalError as exc:
        reason = (_first_line(exc) or type(exc).__name__).removeprefix("connection failed: ")
        raise StoreUnavailable(
            f"cannot connect to the database at {label}: {reason}. Check that the server is running and that "
            "DATABASE_URL is right, or unset DATABASE_URL to use the embedded database") from None
    except psycopg.ProgrammingError as exc:  # a malformed connection string
        raise StoreUnavailable(f"DATABASE_URL is not a valid PostgreSQL connection string ({_first_line(exc)}); "
                               "expected postgresql://user:password@host:5432/dbname") from None


class PostgresStore:
    """The Store on one PostgreSQL database. Thread-safe: the pool hands each call a connection."""

    def __init__(self, dsn: str, *, kind: StoreKind = "postgres", label: str | None = None,
                 min_size: int = 1, max_size: int = 8) -> None:
        self.kind: StoreKind = kind
        self.label = label or safe_dsn_label(dsn)
        self.boot: BootReport | None = None
        connect_check(dsn, self.label)
        # check: a connection that died (the server restarted) is replaced when handed out
        self._pool = ConnectionPool(dsn, min_size=min_size, max_size=max_size, open=False, configure=_configure,
                                    check=ConnectionPool.check_connection,
                                    kwargs={"row_factory": dict_row, "connect_timeout": 5}, name="brightrun")
        try:
            self._pool.open(wait=True, timeout=10)
        except PoolTimeout:
            raise StoreUnavailable(f"cannot open connections to the database at {self.label} within 10 s; "
                                   "check the server's max_connections and the network") from None

    # -- plumbing -------------------------------------------------------------------------------
    @contextmanager
    def connection(self, action: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A pooled connection in a transaction (committed at the end), with errors translated."""
        with _translate(action), self._pool.connection() as conn:
            yield conn

    def _rows(self, action: str, query: str | sql.Composable, params: Mapping[str, Any] | None = None
              ) -> list[dict[str, Any]]:
        with self.connection(action) as conn:
            return conn.execute(query, params).fetchall()

    def _one(self, action: str, query: str | sql.Composable, params: Mapping[str, Any] | None = None
             ) -> dict[str, Any] | None:
        rows = self._rows(action, query, params)
        return rows[0] if rows else None

    def _value(self, action: str, query: str | sql.Composable, params: Mapping[str, Any] | None = None) -> Any:
        row = self._one(action, query, params)
        return None if row is None else next(iter(row.values()))

    def close(self) -> None:
        self._pool.close()

    # -- the store itself -----------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        query = sql.SQL("select {}").format(sql.SQL(", ").join(
            sql.SQL("(select count(*) from public.{}) as {}").format(sql.Identifier(t), sql.Identifier(t))
            for t in COUNTED_TABLES))
        row = self._one("count rows", query) or {}
        return {k: int(v) for k, v in row.items()}

    def scenario_status_counts(self) -> dict[str, int]:
        rows = self._rows("count scenarios by status",
                          "select status, count(*) as n from public.scenarios group by status order by n desc, status")
        return {r["status"]: int(r["n"]) for r in rows}

    def coverage_counts(self, scopes: Sequence[str] = ("approved", "generated", "planned"), *, min_turns: int,
                        max_turns: int) -> list[dict[str, Any]]:
        scopes = [scopes] if isinstance(scopes, str) else list(scopes)
        return self._rows(
            f"count the coverage ({', '.join(scopes)})",
            "select * from public.coverage_counts(p_scopes => %(scopes)s::text[], p_min_turns => %(lo)s::integer, "
            "p_max_turns => %(hi)s::integer)",
            {"scopes": scopes, "lo": min_turns, "hi": max_turns})

    def coverage_version(self) -> str:
        return str(self._value("read the coverage version", "select public.coverage_version() as v"))

    def describe(self) -> StoreInfo:
        with self.connection("describe the database") as conn:
            version = conn.execute("select current_setting('server_version') as v").fetchone()["v"]
            has_ledger = conn.execute("select to_regclass('public.schema_migrations') is not null as x").fetchone()["x"]
            migrations = [r["version"] for r in conn.execute(
                "select version from public.schema_migrations order by version")] if has_ledger else []
        return StoreInfo(kind=self.kind, label=self.label, server_version=f"PostgreSQL {version}",
                         counts=self.counts(), migrations=migrations, boot=self.boot)

    # -- scenarios ------------------------------------------------------------------------------
    def list_scenarios(self, filters: Mapping[str, Sequence[str | int]] | None = None,
                       limit: int | None = None) -> list[dict[str, Any]]:
        clauses: list[sql.Composable] = []
        params: dict[str, Any] = {}
        for key, values in (filters or {}).items():
            column = SCENARIO_FILTERS.get(key)
            if column is None:
                raise InvalidInput(f"unknown scenario filter {key!r}; expected one of {', '.join(SCENARIO_FILTERS)}")
            if not values:
                continue
            if key == "ids":
                try:
                    params[key] = [int(v) for v in values]
                except (TypeError, ValueError):
                    raise InvalidInput(f"scenario ids must be numbers, got {list(values)!r}") from None
                cast = sql.SQL("bigint[]")
            else:
                params[key] = [str(v) for v in values]
                cast = sql.SQL("text[]")
            clauses.append(sql.SQL("{} = any({}::{})").format(sql.Identifier(column), sql.Placeholder(key), cast))
        where = sql.SQL(" where ") + sql.SQL(" and ").join(clauses) if clauses else sql.SQL("")
        tail = sql.SQL("")
        if limit is not None:
            params["limit"] = int(limit)
            tail = sql.SQL(" limit {}").format(sql.Placeholder("limit"))
        query = sql.SQL("select * from public.v_scenarios{} order by id{}").format(where, tail)
        return self._rows("list scenarios", query, params)

    def get_scenario(self, scenario_id: int) -> dict[str, Any] | None:
        return self._one("read a scenario", "select * from public.v_scenarios where id = %(id)s", {"id": scenario_id})

    def add_scenarios(self, rows: Sequence[Mapping[str, Any]], *, plan_batch: str | None = None,
                      plan_seed: int | None = None, origin: str = "planned",
                      created_by: str | None = None) -> list[int]:
        if not rows:
            return []
        payload = [{k: row.get(k) for k in SCENARIO_FIELDS} for row in rows]
        found = self._rows("add scenarios",
                           "select id from public.add_scenarios(p_rows => %(rows)s, p_plan_batch => %(batch)s::text, "
                           "p_plan_seed => %(seed)s::integer, p_origin => %(origin)s::text, "
                           "p_created_by => %(by)s::text) as a(id)",
                           {"rows": Jsonb(payload), "batch": plan_batch, "seed": plan_seed, "origin": origin,
                            "by": created_by})
        return [r["id"] for r in found]

    # -- conversations --------------------------------------------------------------------------
    def get_conversation(self, conversation_id: str) -> Conversation | None:
        row = self._one("read a conversation", "select document from public.conversations where id = %(id)s",
                        {"id": conversation_id})
        return None if row is None else Conversation.model_validate(row["document"])

    def conversation_versions(self, scenario_id: int) -> list[Conversation]:
        rows = self._rows("read the versions of a conversation",
                          "select document from public.conversations where scenario_id = %(id)s order by version desc",
                          {"id": scenario_id})
        return [Conversation.model_validate(r["document"]) for r in rows]

    def conversation_turn_rows(self, conversation_id: str) -> list[dict[str, Any]]:
        return self._rows("read the turns of a conversation",
                          "select * from public.conversation_turns where conversation_id = %(id)s order by idx",
                          {"id": conversation_id})

    def seed_examples(self) -> list[Conversation]:
        rows = self._rows("read the seed examples",
                          "select document from public.conversations where use_as_seed_example and is_current "
                          "order by id")
        return [Conversation.model_validate(r["document"]) for r in rows]

    def set_scenario_status(self, scenario_id: int, status: str | None) -> str:
        return self._value(
            f"set the status of scenario #{scenario_id}",
            "select public.set_generation_status(p_scenario_id => %(id)s::bigint, p_status => %(status)s::text) as s",
            {"id": scenario_id, "status": status})

    def save_generated(self, conversation: Conversation, *, item_id: int | None = None,
                       scenario_id: int | None = None, worker: str | None = None,
                       metadata: Mapping[str, Any] | None = None) -> str:
        return self._value(
            f"save conversation {conversation.id}",
            "select public.save_generated(p_conversation => %(doc)s, p_item_id => %(item)s::bigint, "
            "p_scenario_id => %(scenario)s::bigint, p_worker => %(worker)s::text, p_metadata => %(meta)s) as id",
            {"doc": Jsonb(conversation.model_dump(mode="json")), "item": item_id, "scenario": scenario_id,
             "worker": worker, "meta": Jsonb(dict(metadata or {}))})

    # -- review ---------------------------------------------------------------------------------
    def record_review(self, conversation_id: str, decision: Decision, *, reviewer: str,
                      reason_code: str | None = None, notes: str = "") -> int:
        return self._value(
            f"record a review of {conversation_id}",
            "select public.record_review(p_conversation_id => %(id)s::text, p_decision => %(decision)s::text, "
            "p_reviewer => %(reviewer)s::text, p_reason_code => %(reason)s::text, p_notes => %(notes)s::text) as id",
            {"id": conversation_id, "decision": decision, "reviewer": reviewer, "reason": reason_code,
             "notes": notes})

    def revise_label(self, conversation_id: str, turn: int, field: str, new_value: Any, *, author: str,
                     reason: str = "", source: RevisionSource = "human_review") -> int | None:
        return self._value(
            f"revise {field} of turn {turn} of {conversation_id}",
            "select public.revise_label(p_conversation_id => %(id)s::text, p_turn => %(turn)s::integer, "
            "p_field => %(field)s::text, p_new_value => %(value)s, p_author => %(author)s::text, "
            "p_reason => %(reason)s::text, p_source => %(source)s::text) as id",
            {"id": conversation_id, "turn": turn, "field": field, "value": Jsonb(new_value), "author": author,
             "reason": reason, "source": source})

    def reviews_for(self, conversation_id: str) -> list[dict[str, Any]]:
        return self._rows("read reviews",
                          "select * from public.reviews where conversation_id = %(id)s order by created_at, id",
                          {"id": conversation_id})

    def label_revisions_for(self, conversation_id: str) -> list[dict[str, Any]]:
        return self._rows("read label revisions",
                          "select * from public.label_revisions where conversation_id = %(id)s order by created_at, id",
                          {"id": conversation_id})

    def review_queue(self, filters: Mapping[str, Sequence[str | int]] | None = None, *,
                     quality: tuple[float, float] | None = None, current_only: bool = True,
                     limit: int | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {}
        query = self._review_query(sql.SQL("*"), filters, quality, current_only, limit, params)
        return self._rows("read the review queue", query, params)

    def review_queue_ids(self, filters: Mapping[str, Sequence[str | int]] | None = None, *,
                         quality: tuple[float, float] | None = None, current_only: bool = True) -> list[str]:
        # only the id: PostgreSQL then drops the view's per-row review and revision counts
        params: dict[str, Any] = {}
        query = self._review_query(sql.SQL("id"), filters, quality, current_only, None, params)
        return [r["id"] for r in self._rows("read the review queue", query, params)]

    @staticmethod
    def _review_query(columns: sql.Composable, filters: Mapping[str, Sequence[str | int]] | None,
                      quality: tuple[float, float] | None, current_only: bool, limit: int | None,
                      params: dict[str, Any]) -> sql.Composable:
        clauses: list[sql.Composable] = [sql.SQL("is_current")] if current_only else []
        for key, values in (filters or {}).items():
            column = REVIEW_FILTERS.get(key)
            if column is None:
                raise InvalidInput(f"unknown review queue filter {key!r}; expected one of {', '.join(REVIEW_FILTERS)}")
            if not values:
                continue
            if key == "scenario_id":
                try:
                    params[key] = [int(v) for v in values]
                except (TypeError, ValueError):
                    raise InvalidInput(f"scenario ids must be numbers, got {list(values)!r}") from None
                test = sql.SQL("{} = any({}::bigint[])")
            else:
                params[key] = [str(v) for v in values]
                test = sql.SQL("{} && {}::text[]") if key == "reviewer" else sql.SQL("{} = any({}::text[])")
            clauses.append(test.format(sql.Identifier(column), sql.Placeholder(key)))
        if quality is not None:
            low, high = float(quality[0]), float(quality[1])
            params["q_low"], params["q_high"] = low, high
            in_range = sql.SQL("quality_score between %(q_low)s and %(q_high)s")
            # no score yet: only the full range lets it through
            clauses.append(in_range if (low, high) != (1.0, 10.0) else
                           sql.SQL("(quality_score is null or ") + in_range + sql.SQL(")"))
        where = sql.SQL(" where ") + sql.SQL(" and ").join(clauses) if clauses else sql.SQL("")
        tail = sql.SQL("")
        if limit is not None:
            params["limit"] = int(limit)
            tail = sql.SQL(" limit {}").format(sql.Placeholder("limit"))
        return sql.SQL("select {} from public.v_review_queue{} order by created_at, id{}").format(columns, where, tail)

    def reviewer_names(self) -> list[str]:
        rows = self._rows("list the reviewers", "select distinct reviewer from public.reviews order by reviewer")
        return [r["reviewer"] for r in rows]

    def conversation_metadata(self, conversation_id: str) -> dict[str, Any]:
        rows = self._rows("read the metadata of a conversation",
                          "select key, value from public.conversation_metadata where conversation_id = %(id)s "
                          "order by key", {"id": conversation_id})
        return {r["key"]: r["value"] for r in rows}

    def set_seed_example(self, conversation_id: str, value: bool, *, by: str) -> bool:
        return bool(self._value(
            f"mark {conversation_id} as a seed example" if value else f"unmark {conversation_id} as a seed example",
            "select public.set_seed_example(p_conversation_id => %(id)s::text, p_value => %(value)s::boolean, "
            "p_by => %(by)s::text) as v",
            {"id": conversation_id, "value": value, "by": by}))

    def label_correction_stats(self, by: str | None = None, *, source: str | None = None) -> list[dict[str, Any]]:
        if by is not None and by not in LABEL_STATS_GROUPS:
            raise InvalidInput(f"label analytics can be grouped by {', '.join(LABEL_STATS_GROUPS)}, not {by!r}")
        return self._rows("read the label analytics",
                          "select * from public.label_correction_stats(p_by => %(by)s::text, "
                          "p_source => %(source)s::text)", {"by": by, "source": source})

    # -- generation jobs ------------------------------------------------------------------------
    def create_job(self, scenario_ids: Sequence[int], *, kind: JobKind = "realtime", model: str | None = None,
                   settings: Mapping[str, Any] | None = None, created_by: str | None = None,
                   feedback: str | None = None, max_attempts: int = 3) -> int:
        return self._value(
            "create a generation job",
            "select public.create_job(p_scenario_ids => %(ids)s::bigint[], p_kind => %(kind)s::text, "
            "p_model => %(model)s::text, p_settings => %(settings)s, p_created_by => %(by)s::text, "
            "p_feedback => %(feedback)s::text, p_max_attempts => %(attempts)s::integer) as id",
            {"ids": [int(i) for i in scenario_ids], "kind": kind, "model": model,
             "settings": Jsonb(dict(settings or {})), "by": created_by, "feedback": feedback,
             "attempts": max_attempts})

    def claim_items(self, worker: str, *, limit: int = 1, lease_seconds: int = 300,
                    job_id: int | None = None) -> list[JobItem]:
        rows = self._rows(
            "claim job items",
            "select * from public.claim_job_items(p_worker => %(worker)s::text, p_limit => %(limit)s::integer, "
            "p_lease_seconds => %(lease)s::integer, p_job_id => %(job)s::bigint)",
            {"worker": worker, "limit": limit, "lease": lease_seconds, "job": job_id})
        return [JobItem.model_validate(r) for r in rows]

    def heartbeat(self, worker: str, item_ids: Sequence[int], *, lease_seconds: int = 300) -> list[int]:
        held = self._value(
            "send a heartbeat",
            "select public.heartbeat_job_items(p_worker => %(worker)s::text, p_item_ids => %(ids)s::bigint[], "
            "p_lease_seconds => %(lease)s::integer) as ids",
            {"worker": worker, "ids": [int(i) for i in item_ids], "lease": lease_seconds})
        return list(held or [])

    def fail_item(self, item_id: int, error: str, *, worker: str | None = None, retry: bool = False,
                  cost_usd: float = 0.0, input_tokens: int = 0, output_tokens: int = 0) -> str:
        return self._value(
            f"report job item {item_id} failed",
            "select public.fail_job_item(p_item_id => %(item)s::bigint, p_error => %(error)s::text, "
            "p_worker => %(worker)s::text, p_retry => %(retry)s::boolean, p_cost_usd => %(cost)s::numeric, "
            "p_input_tokens => %(tin)s::integer, p_output_tokens => %(tout)s::integer) as status",
            {"item": item_id, "error": error, "worker": worker, "retry": retry, "cost": cost_usd,
             "tin": input_tokens, "tout": output_tokens})

    def requeue_expired(self) -> int:
        return int(self._value("requeue expired job items", "select public.requeue_expired_items() as n") or 0)

    def stop_job(self, job_id: int) -> int:
        return int(self._value(f"stop job {job_id}", "select public.stop_job(p_job_id => %(id)s::bigint) as n",
                               {"id": job_id}) or 0)

    def resume_job(self, job_id: int, *, failed: bool = False) -> int:
        return int(self._value(f"resume job {job_id}",
                               "select public.resume_job(p_job_id => %(id)s::bigint, p_failed => %(failed)s::boolean) as n",
                               {"id": job_id, "failed": failed}) or 0)

    def get_job(self, job_id: int) -> dict[str, Any] | None:
        return self._one("read a job", "select * from public.v_generation_jobs where id = %(id)s", {"id": job_id})

    def list_jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        return self._rows("list jobs", "select * from public.v_generation_jobs order by id desc limit %(limit)s",
                          {"limit": limit})

    def job_items(self, job_id: int) -> list[dict[str, Any]]:
        return self._rows(
            "list job items",
            "select i.*, s.tier, s.persona, s.emotional_arc, s.topic from public.generation_job_items i "
            "join public.scenarios s on s.id = i.scenario_id where i.job_id = %(id)s order by i.id",
            {"id": job_id})

    # -- the generation runner (lib/worker.py, lib/runner.py) -------------------------------------
    def release_items(self, worker: str, item_ids: Sequence[int]) -> int:
        return int(self._value(
            "give back job items",
            "select public.release_job_items(p_worker => %(worker)s::text, p_item_ids => %(ids)s::bigint[]) as n",
            {"worker": worker, "ids": [int(i) for i in item_ids]}) or 0)

    def fail_job(self, job_id: int, error: str) -> int:
        return int(self._value(f"stop job {job_id}",
                               "select public.fail_job(p_job_id => %(id)s::bigint, p_error => %(error)s::text) as n",
                               {"id": job_id, "error": error}) or 0)

    def claim_batch_jobs(self, worker: str, *, lease_seconds: int = 120, job_id: int | None = None,
                         limit: int = 10) -> list[dict[str, Any]]:
        return self._rows(
            "lease batch jobs",
            "select * from public.claim_batch_jobs(p_worker => %(worker)s::text, p_lease_seconds => %(lease)s::integer, "
            "p_job_id => %(job)s::bigint, p_limit => %(limit)s::integer)",
            {"worker": worker, "lease": lease_seconds, "job": job_id, "limit": limit})

    def record_job_batch(self, job_id: int, worker: str, *, batch_id: str | None = None,
                         batch_status: str | None = None, item_ids: Sequence[int] = (),
                         request_ids: Sequence[str | None] = ()) -> bool:
        return bool(self._value(
            f"record the batch of job {job_id}",
            "select public.record_job_batch(p_job_id => %(job)s::bigint, p_worker => %(worker)s::text, "
            "p_batch_id => %(batch)s::text, p_batch_status => %(status)s::text, p_item_ids => %(items)s::bigint[], "
            "p_request_ids => %(requests)s::text[]) as ok",
            {"job": job_id, "worker": worker, "batch": batch_id, "status": batch_status,
             "items": [int(i) for i in item_ids], "requests": list(request_ids)}))

    def claim_batch_items(self, worker: str, job_id: int, batch_id: str, *, limit: int = 1000,
                          lease_seconds: int = 300) -> list[JobItem]:
        rows = self._rows(
            f"claim the items of batch {batch_id}",
            "select * from public.claim_batch_items(p_worker => %(worker)s::text, p_job_id => %(job)s::bigint, "
            "p_batch_id => %(batch)s::text, p_limit => %(limit)s::integer, p_lease_seconds => %(lease)s::integer)",
            {"worker": worker, "job": job_id, "batch": batch_id, "limit": limit, "lease": lease_seconds})
        return [JobItem.model_validate(r) for r in rows]

    def release_batch_job(self, job_id: int, worker: str) -> bool:
        return bool(self._value(f"release batch job {job_id}",
                                "select public.release_batch_job(p_job_id => %(id)s::bigint, p_worker => %(worker)s::text) as ok",
                                {"id": job_id, "worker": worker}))

    def job_items_with_status(self, job_id: int, statuses: Sequence[str], *, limit: int = 200) -> list[dict[str, Any]]:
        """Like job_items, only the items in `statuses`, the most recently changed first (the
        Generate page polls this: the items in flight and the latest failures of a large job)."""
        return self._rows(
            "list job items",
            "select i.*, s.tier, s.persona, s.emotional_arc, s.topic from public.generation_job_items i "
            "join public.scenarios s on s.id = i.scenario_id where i.job_id = %(id)s "
            "and i.status = any(%(statuses)s::text[]) order by i.updated_at desc, i.id desc limit %(limit)s",
            {"id": job_id, "statuses": list(statuses), "limit": limit})

    def generation_stats(self, model: str | None = None, *, recent: int = 200) -> dict[str, Any]:
        """Averages over the latest `recent` generated conversations (of `model`, dated ids included)
        and their model calls: tokens and cost per conversation, calls per conversation, seconds per
        call, the share of job items that failed, and the anthropic-ratelimit-* headers last seen."""
        params = {"model": model, "recent": recent}
        row = self._one(
            "read the generation averages",
            "with conv as (select c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens, c.cost_usd "
            "  from public.conversations c where c.source = 'generated' "
            "  and (%(model)s::text is null or c.model = %(model)s::text or c.model like %(model)s::text || '-%%') "
            "  order by c.created_at desc limit %(recent)s), "
            "calls as (select l.outcome, l.duration_ms, l.output_tokens from public.generation_logs l "
            "  where l.outcome in ('ok', 'repaired', 'invalid', 'truncated', 'refused') "
            "  and (%(model)s::text is null or l.model = %(model)s::text or l.model like %(model)s::text || '-%%') "
            "  order by l.id desc limit %(recent)s * 4), "
            "items as (select i.status from public.generation_job_items i where i.status in ('succeeded', 'failed') "
            "  order by i.finished_at desc nulls last limit %(recent)s * 2) "
            "select (select count(*) from conv) as conversations, "
            "  (select avg(input_tokens)::float from conv) as input_tokens, "
            "  (select avg(output_tokens)::float from conv) as output_tokens, "
            "  (select avg(cache_read_tokens)::float from conv) as cache_read_tokens, "
            "  (select avg(cache_write_tokens)::float from conv) as cache_write_tokens, "
            "  (select avg(cost_usd)::float from conv) as cost_usd, "
            "  (select count(*) from calls) as calls, "
            "  (select count(*) filter (where outcome in ('ok', 'repaired')) from calls) as successes, "
            "  (select avg(duration_ms)::float / 1000 from calls) as call_seconds, "
            "  (select avg(output_tokens)::float from calls) as call_output_tokens, "
            "  (select count(*) filter (where status = 'failed')::float / nullif(count(*), 0) from items) as failure_rate, "
            "  (select l.parameters -> 'rate_limits' from public.generation_logs l where l.parameters ? 'rate_limits' "
            "    order by l.id desc limit 1) as rate_limits",
            params) or {}
        return dict(row)

    def log_generation(self, row: Mapping[str, Any]) -> int:
        unknown = sorted(set(row) - LOG_COLUMNS)
        if unknown:
            raise InvalidInput(f"generation log: unknown column {unknown[0]!r}; expected some of {', '.join(sorted(LOG_COLUMNS))}")
        if "outcome" not in row:
            raise InvalidInput("generation log: the outcome is missing")
        params = {k: Jsonb(v) if k == "parameters" else v for k, v in row.items()}
        query = sql.SQL("insert into public.generation_logs ({}) values ({}) returning id").format(
            sql.SQL(", ").join(sql.Identifier(k) for k in params),
            sql.SQL(", ").join(sql.Placeholder(k) for k in params))
        return self._value("write a generation log row", query, params)

    def register_prompt_template(self, name: str, version: str, sha256: str, body: str,
                                 tier: str | None = None) -> int:
        return self._value(
            f"record prompt template {name} {version}",
            "select public.upsert_prompt_template(p_name => %(name)s::text, p_version => %(version)s::text, "
            "p_sha256 => %(sha)s::text, p_body => %(body)s::text, p_tier => %(tier)s::text) as id",
            {"name": name, "version": version, "sha": sha256, "body": body, "tier": tier})

    # -- export ---------------------------------------------------------------------------------
    def export_conversations(self, filters: Mapping[str, Sequence[str | int]] | None = None,
                             review_statuses: Sequence[str] | None = None,
                             limit: int | None = None) -> list[ExportRow]:
        clauses, params = _export_clauses(filters, review_statuses)
        where = sql.SQL(" where ") + sql.SQL(" and ").join(clauses) if clauses else sql.SQL("")
        tail = sql.SQL("")
        if limit is not None:
            params["limit"] = int(limit)
            tail = sql.SQL(" limit {}").format(sql.Placeholder("limit"))
        # the document as text (json.loads is ~3x faster than validating a model), its training
        # block apart so the export can set the split without re-serializing the whole document
        query = sql.SQL(
            "select v.id as scenario_id, c.version, (c.document - 'training')::text as document, "
            "coalesce(c.document -> 'training', '{{}}'::jsonb) as training "
            "from public.v_scenarios v join public.conversations c on c.id = v.conversation_id{} "
            "order by v.id{}").format(where, tail)
        with self.connection("read the conversations to export") as conn:
            cur = conn.cursor(row_factory=psycopg.rows.tuple_row)
            return [ExportRow(*r) for r in cur.execute(query, params)]

    def export_counts(self, filters: Mapping[str, Sequence[str | int]] | None = None) -> dict[str, int]:
        clauses, params = _export_clauses(filters, None)
        where = sql.SQL(" and ").join([sql.SQL("v.conversation_id is not null"), *clauses])
        query = sql.SQL("select v.review_status, count(*) as n from public.v_scenarios v where {} "
                        "group by 1 order by 1").format(where)
        return {r["review_status"]: int(r["n"]) for r in self._rows("count the conversations to export", query, params)}


# -- helpers --------------------------------------------------------------------------------------
def _export_clauses(filters: Mapping[str, Sequence[str | int]] | None, review_statuses: Sequence[str] | None
                    ) -> tuple[list[sql.Composable], dict[str, Any]]:
    """WHERE clauses on v_scenarios (alias v) for the export: the list_scenarios filters, and the
    current conversation's review status."""
    clauses: list[sql.Composable] = []
    params: dict[str, Any] = {}
    for n, (key, values) in enumerate((filters or {}).items()):
        column = SCENARIO_FILTERS.get(key)
        if column is None:
            raise InvalidInput(f"unknown scenario filter {key!r}; expected one of {', '.join(SCENARIO_FILTERS)}")
        if not values:
            continue
        name = f"f{n}"
        if key == "ids":
            try:
                params[name] = [int(v) for v in values]
            except (TypeError, ValueError):
                raise InvalidInput(f"scenario ids must be numbers, got {list(values)!r}") from None
            cast = sql.SQL("bigint[]")
        else:
            params[name] = [str(v) for v in values]
            cast = sql.SQL("text[]")
        clauses.append(sql.SQL("v.{} = any({}::{})").format(sql.Identifier(column), sql.Placeholder(name), cast))
    if review_statuses is not None:
        params["review_statuses"] = [str(s) for s in review_statuses]
        clauses.append(sql.SQL("v.review_status = any(%(review_statuses)s::text[])"))
    return clauses, params


def _configure(conn: psycopg.Connection[Any]) -> None:
    # numeric (costs) as float, not Decimal: the pages, pandas and JSON want float, and a
    # per-row conversion costs more than the query on 10,000 scenarios
    conn.adapters.register_loader("numeric", FloatLoader)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _pg_message(exc: psycopg.Error) -> str:
    diag = exc.diag
    msg = diag.message_primary or _first_line(exc) or type(exc).__name__
    if diag.message_detail:
        msg += f" ({diag.message_detail})"
    if diag.message_hint:
        msg += f". {diag.message_hint}"
    return msg


@contextmanager
def _translate(action: str) -> Iterator[None]:
    """psycopg errors -> the StoreError subclass a caller can act on, with one clear line."""
    try:
        yield
    except psycopg.errors.InsufficientPrivilege as exc:
        raise PermissionDenied(_pg_message(exc)) from None
    except psycopg.errors.NoDataFound as exc:
        raise NotFound(_pg_message(exc)) from None
    except (psycopg.errors.InvalidParameterValue, psycopg.errors.RaiseException, psycopg.IntegrityError,
            psycopg.DataError) as exc:
        raise InvalidInput(f"cannot {action}: {_pg_message(exc)}") from None
    except psycopg.errors.TransactionRollback as exc:  # deadlock or serialization failure: retryable
        raise StoreError(f"cannot {action} now: it collided with another change ({_pg_message(exc)}); try again") from None
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise StoreUnavailable(f"lost the database while trying to {action}: {_first_line(exc)}; "
                               "check that it is running, then try again") from None
    except psycopg.Error as exc:
        raise StoreError(f"cannot {action}: {_pg_message(exc)}") from None
