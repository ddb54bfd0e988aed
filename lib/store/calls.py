"""Every Store method as one row of CALLS: the SQL function it calls (or, where the migrations have
none, the table or view it reads), its named parameters taken from the method's arguments, and
how its result is shaped (rows, one row, a value, Conversations, JobItems...).

lib/store/transport.py turns each row into the method of the Store protocol of the same name,
with the protocol's own signature, so a parameter list is spelled once: in the protocol. A
transport (PostgresStore: psycopg, SupabaseStore: supabase-py) only says how to call a function,
read a relation, insert a row and read the export; what each method means is here, so both behave
the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from lib.core.models import Conversation
from lib.store.protocol import LABEL_STATS_GROUPS, REVIEW_FILTERS, SCENARIO_FILTERS, InvalidInput, JobItem

SCENARIO_FIELDS: tuple[str, ...] = (
    "tier",
    "persona",
    "emotional_arc",
    "topic",
    "intent",
    "tone",
    "outcome_type",
    "context_id",
    "context",
)
LOG_COLUMNS: frozenset[str] = frozenset(
    {
        "job_id",
        "item_id",
        "scenario_id",
        "attempt",
        "purpose",
        "outcome",
        "model",
        "template_name",
        "template_version",
        "template_sha256",
        "parameters",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cost_usd",
        "duration_ms",
        "http_status",
        "request_id",
        "error",
        "raw_response",
        "stop_reason",
    }
)

Args = Mapping[str, Any]  # a method's arguments by name, defaults applied


# -- conditions of a read (each transport writes them its way: SQL, or PostgREST filters) -------------
@dataclass(frozen=True)
class Eq:
    column: str
    value: Any


@dataclass(frozen=True)
class AnyOf:
    """column is one of values; no values matches no row."""

    column: str
    values: tuple[Any, ...]
    type: Literal["text", "bigint"] = "text"


@dataclass(frozen=True)
class Overlaps:
    """An array column shares at least one of values."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Between:
    """low <= column <= high, inclusive; or_null lets a row without a value through too."""

    column: str
    low: float
    high: float
    or_null: bool = False


@dataclass(frozen=True)
class IsTrue:
    column: str


@dataclass(frozen=True)
class NotNull:
    column: str


Cond = Eq | AnyOf | Overlaps | Between | IsTrue | NotNull


def matches_nothing(conds: Sequence[Cond]) -> bool:
    return any(isinstance(c, AnyOf) and not c.values for c in conds)


# -- the kinds of call ------------------------------------------------------------------------------
def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Arg:
    """A function parameter: the method argument it comes from, its SQL type (psycopg casts to it;
    jsonb goes as JSON), and the conversion applied first (it must accept None)."""

    source: str
    type: str
    convert: Callable[[Any], Any] = _same


@dataclass(frozen=True)
class Fn:
    """A call of public.<name>(p_... => ...). returns: 'rows' (set-returning), 'row' (a composite),
    'value' (a scalar or jsonb), 'values' (setof a scalar). order: the columns that keep the pages
    of a long set-returning result apart where the transport pages (PostgREST's max-rows)."""

    name: str
    args: Mapping[str, Arg]
    returns: Literal["rows", "row", "value", "values"]
    action: str  # for the error line; {argument} fields are filled in
    shape: Callable[[Any], Any] = _same
    order: tuple[str, ...] = ()
    skip_if_empty: str | None = None  # an argument that, when empty, makes the call needless


@dataclass(frozen=True)
class Embed:
    """Columns of the row another table's id column points at, added to each row read."""

    table: str
    key: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Read:
    """Rows of a table or view where no SQL function exists. order: (column, descending) pairs; a
    transport that pages keeps them apart by it. count_by: count the rows per value of that column."""

    relation: str
    action: str
    where: Callable[[Args], list[Cond]] = lambda args: []
    columns: tuple[str, ...] = ()  # () = every column
    order: tuple[tuple[str, bool], ...] = (("id", False),)
    limit: str | None = None  # the argument that caps the rows
    one: bool = False
    embed: Embed | None = None
    count_by: str | None = None
    shape: Callable[[Any], Any] = _same


@dataclass(frozen=True)
class Insert:
    table: str
    source: str  # the argument holding the row (column -> value)
    action: str
    columns: frozenset[str]
    required: tuple[str, ...] = ()
    json_columns: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Export:
    """The current conversation documents of the scenarios that pass `where`, with their training
    block apart (ExportRow). Each transport reads them its fastest way."""

    action: str
    where: Callable[[Args], list[Cond]]
    limit: str | None = None


Call = Fn | Read | Insert | Export


# -- argument conversions and result shapes ---------------------------------------------------------
def integer(value: Any) -> int | None:
    return None if value is None else int(value)


def decimal(value: Any) -> float | None:
    return None if value is None else float(value)


def boolean(value: Any) -> bool | None:
    return None if value is None else bool(value)


def ints(values: Any) -> list[int] | None:
    return None if values is None else [int(v) for v in values]


def texts(values: Any) -> list[str] | None:
    if values is None:
        return None
    return [values] if isinstance(values, str) else [str(v) for v in values]


def listed(values: Any) -> list[Any] | None:
    return None if values is None else list(values)


def as_dict(value: Any) -> dict[str, Any]:
    return dict(value or {})


def document(conversation: Conversation | None) -> dict[str, Any] | None:
    return None if conversation is None else conversation.model_dump(mode="json")


def scenario_payload(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: row.get(k) for k in SCENARIO_FIELDS} for row in rows]


def label_group(by: str | None) -> str | None:
    if by is not None and by not in LABEL_STATS_GROUPS:
        raise InvalidInput(f"label analytics can be grouped by {', '.join(LABEL_STATS_GROUPS)}, not {by!r}")
    return by


def first(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return rows[0] if rows else None


def count(value: Any) -> int:
    return int(value or 0)


def conversation_or_none(rows: list[dict[str, Any]]) -> Conversation | None:
    return Conversation.model_validate(rows[0]["document"]) if rows else None


def conversations(rows: list[dict[str, Any]]) -> list[Conversation]:
    return [Conversation.model_validate(r["document"]) for r in rows]


def job_items(rows: list[dict[str, Any]]) -> list[JobItem]:
    return [JobItem.model_validate(r) for r in rows]


def info_counts(info: Any) -> dict[str, int]:
    return {k: int(v) for k, v in ((info or {}).get("counts") or {}).items()}


def entry(key: str, default: Any = None) -> Callable[[Mapping[str, Any]], Any]:
    """A parameter taken from one key of a record argument (e.g. save_judge_result's)."""
    return lambda record: record.get(key, default)


# -- conditions from the methods' filter arguments -------------------------------------------------------
def filter_conditions(
    filters: Mapping[str, Sequence[str | int]] | None,
    allowed: Mapping[str, str],
    what: str,
    int_keys: Sequence[str] = (),
    overlap_keys: Sequence[str] = (),
) -> list[Cond]:
    """SCENARIO_FILTERS / REVIEW_FILTERS: OR within a key, AND across keys; an empty list filters nothing."""
    out: list[Cond] = []
    for key, values in (filters or {}).items():
        column = allowed.get(key)
        if column is None:
            raise InvalidInput(f"unknown {what} filter {key!r}; expected one of {', '.join(allowed)}")
        if not values:
            continue
        if key in int_keys:
            try:
                out.append(AnyOf(column, tuple(int(v) for v in values), "bigint"))
            except (TypeError, ValueError):
                raise InvalidInput(f"{what} ids must be numbers, got {list(values)!r}") from None
        elif key in overlap_keys:
            out.append(Overlaps(column, tuple(str(v) for v in values)))
        else:
            out.append(AnyOf(column, tuple(str(v) for v in values)))
    return out


def scenario_where(args: Args) -> list[Cond]:
    return filter_conditions(args["filters"], SCENARIO_FILTERS, "scenario", int_keys=("ids",))


def review_where(args: Args) -> list[Cond]:
    out = filter_conditions(
        args["filters"],
        REVIEW_FILTERS,
        "review queue",
        int_keys=("scenario_id", "min_rating"),
        overlap_keys=("reviewer", "scores"),
    )
    if args["current_only"]:
        out.append(IsTrue("is_current"))
    if args["quality"] is not None:
        low, high = float(args["quality"][0]), float(args["quality"][1])
        out.append(Between("quality_score", low, high, or_null=(low, high) == (1.0, 10.0)))  # no score: full range only
    return out


def export_where(args: Args) -> list[Cond]:
    out = [*scenario_where(args), NotNull("conversation_id")]
    statuses = args.get("review_statuses")
    if statuses is not None:
        out.append(AnyOf("review_status", tuple(str(s) for s in statuses)))
    return out


def equal(column: str, source: str, convert: Callable[[Any], Any] = _same) -> Callable[[Args], list[Cond]]:
    return lambda args: [Eq(column, convert(args[source]))]


# -- the table ------------------------------------------------------------------------------------------
STORE_INFO = Fn("store_info", {}, "value", "describe the database")
JOB_SCENARIO = Embed("scenarios", "scenario_id", ("tier", "persona", "emotional_arc", "topic"))
BY_TIME = (("created_at", False), ("id", False))
# the review queue: a hard rule failed first, then the other flagged ones, then the rest, each oldest first
QUEUE_ORDER = (("hard_failed", True), ("flagged", True), *BY_TIME)


CALLS: dict[str, Call] = {
    # -- the store itself
    "counts": replace(STORE_INFO, action="count rows", shape=info_counts),
    "scenario_status_counts": Fn(
        "scenario_status_counts",
        {},
        "rows",
        "count scenarios by status",
        shape=lambda rows: {r["status"]: int(r["n"]) for r in rows},
    ),
    "coverage_counts": Fn(
        "coverage_counts",
        {"p_scopes": Arg("scopes", "text[]", texts)},
        "rows",
        "count the coverage",
        order=("scope", "section", "a", "b", "c"),
    ),
    "coverage_version": Fn("coverage_version", {}, "value", "read the coverage version", shape=str),
    # -- scenarios
    "list_scenarios": Read("v_scenarios", "list scenarios", where=scenario_where, limit="limit"),
    "get_scenario": Read(
        "v_scenarios", "read scenario #{scenario_id}", where=equal("id", "scenario_id", int), one=True, shape=first
    ),
    "add_scenarios": Fn(
        "add_scenarios",
        {
            "p_rows": Arg("rows", "jsonb", scenario_payload),
            "p_plan_batch": Arg("plan_batch", "text"),
            "p_plan_seed": Arg("plan_seed", "integer", integer),
            "p_origin": Arg("origin", "text"),
            "p_created_by": Arg("created_by", "text"),
        },
        "values",
        "add scenarios",
        shape=lambda ids: [int(i) for i in ids],
        skip_if_empty="rows",
    ),
    # -- conversations
    "get_conversation": Read(
        "conversations",
        "read conversation {conversation_id}",
        columns=("document",),
        where=equal("id", "conversation_id"),
        one=True,
        shape=conversation_or_none,
    ),
    "conversation_versions": Read(
        "conversations",
        "read the versions of a conversation",
        columns=("document",),
        where=equal("scenario_id", "scenario_id", int),
        order=(("version", True),),
        shape=conversations,
    ),
    "conversation_turn_rows": Read(
        "conversation_turns",
        "read the turns of a conversation",
        where=equal("conversation_id", "conversation_id"),
        order=(("idx", False),),
    ),
    "seed_examples": Read(
        "conversations",
        "read the seed examples",
        columns=("document",),
        where=lambda args: [IsTrue("use_as_seed_example"), IsTrue("is_current")],
        shape=conversations,
    ),
    "set_scenario_status": Fn(
        "set_generation_status",
        {"p_scenario_id": Arg("scenario_id", "bigint", integer), "p_status": Arg("status", "text")},
        "value",
        "set the status of scenario #{scenario_id}",
    ),
    "save_generated": Fn(
        "save_generated",
        {
            "p_conversation": Arg("conversation", "jsonb", document),
            "p_item_id": Arg("item_id", "bigint", integer),
            "p_scenario_id": Arg("scenario_id", "bigint", integer),
            "p_worker": Arg("worker", "text"),
            "p_metadata": Arg("metadata", "jsonb", as_dict),
        },
        "value",
        "save conversation {conversation.id}",
    ),
    # -- review
    "record_review": Fn(
        "record_review",
        {
            "p_conversation_id": Arg("conversation_id", "text"),
            "p_decision": Arg("decision", "text"),
            "p_reviewer": Arg("reviewer", "text"),
            "p_reason_code": Arg("reason_code", "text"),
            "p_notes": Arg("notes", "text"),
        },
        "value",
        "record a review of {conversation_id}",
        shape=int,
    ),
    "revise_label": Fn(
        "revise_label",
        {
            "p_conversation_id": Arg("conversation_id", "text"),
            "p_turn": Arg("turn", "integer", integer),
            "p_field": Arg("field", "text"),
            "p_new_value": Arg("new_value", "jsonb"),
            "p_author": Arg("author", "text"),
            "p_reason": Arg("reason", "text"),
            "p_source": Arg("source", "text"),
        },
        "value",
        "revise {field} of turn {turn} of {conversation_id}",
        shape=integer,
    ),
    "reviews_for": Read("reviews", "read reviews", where=equal("conversation_id", "conversation_id"), order=BY_TIME),
    "label_revisions_for": Read(
        "label_revisions", "read label revisions", where=equal("conversation_id", "conversation_id"), order=BY_TIME
    ),
    "review_queue": Read(
        "v_review_queue", "read the review queue", where=review_where, order=QUEUE_ORDER, limit="limit"
    ),
    # only the id: PostgreSQL then skips the view's per-row review and revision counts
    "review_queue_ids": Read(
        "v_review_queue",
        "read the review queue",
        columns=("id",),
        where=review_where,
        order=QUEUE_ORDER,
        shape=lambda rows: [r["id"] for r in rows],
    ),
    "reviewer_names": Read("reviews", "list the reviewers", count_by="reviewer", shape=sorted),
    "conversation_metadata": Read(
        "conversation_metadata",
        "read the metadata of a conversation",
        columns=("key", "value"),
        where=equal("conversation_id", "conversation_id"),
        order=(("key", False),),
        shape=lambda rows: {r["key"]: r["value"] for r in rows},
    ),
    "set_seed_example": Fn(
        "set_seed_example",
        {
            "p_conversation_id": Arg("conversation_id", "text"),
            "p_value": Arg("value", "boolean", boolean),
            "p_by": Arg("by", "text"),
        },
        "value",
        "change whether {conversation_id} is a seed example",
        shape=bool,
    ),
    "label_correction_stats": Fn(
        "label_correction_stats",
        {"p_by": Arg("by", "text", label_group), "p_source": Arg("source", "text")},
        "rows",
        "read the label analytics",
    ),
    # -- generation jobs
    "create_job": Fn(
        "create_job",
        {
            "p_scenario_ids": Arg("scenario_ids", "bigint[]", ints),
            "p_kind": Arg("kind", "text"),
            "p_model": Arg("model", "text"),
            "p_settings": Arg("settings", "jsonb", as_dict),
            "p_created_by": Arg("created_by", "text"),
            "p_feedback": Arg("feedback", "text"),
            "p_max_attempts": Arg("max_attempts", "integer", integer),
        },
        "value",
        "create a generation job",
        shape=int,
    ),
    "claim_items": Fn(
        "claim_job_items",
        {
            "p_worker": Arg("worker", "text"),
            "p_limit": Arg("limit", "integer", integer),
            "p_lease_seconds": Arg("lease_seconds", "integer", integer),
            "p_job_id": Arg("job_id", "bigint", integer),
        },
        "rows",
        "claim job items",
        shape=job_items,
    ),
    "heartbeat": Fn(
        "heartbeat_job_items",
        {
            "p_worker": Arg("worker", "text"),
            "p_item_ids": Arg("item_ids", "bigint[]", ints),
            "p_lease_seconds": Arg("lease_seconds", "integer", integer),
        },
        "value",
        "send a heartbeat",
        shape=lambda ids: [int(i) for i in ids or []],
    ),
    "fail_item": Fn(
        "fail_job_item",
        {
            "p_item_id": Arg("item_id", "bigint", integer),
            "p_error": Arg("error", "text"),
            "p_worker": Arg("worker", "text"),
            "p_retry": Arg("retry", "boolean", boolean),
            "p_cost_usd": Arg("cost_usd", "numeric", decimal),
            "p_input_tokens": Arg("input_tokens", "integer", integer),
            "p_output_tokens": Arg("output_tokens", "integer", integer),
        },
        "value",
        "report job item {item_id} failed",
    ),
    "requeue_expired": Fn("requeue_expired_items", {}, "value", "requeue expired job items", shape=count),
    "stop_job": Fn(
        "stop_job", {"p_job_id": Arg("job_id", "bigint", integer)}, "value", "stop job {job_id}", shape=count
    ),
    "resume_job": Fn(
        "resume_job",
        {"p_job_id": Arg("job_id", "bigint", integer), "p_failed": Arg("failed", "boolean", boolean)},
        "value",
        "resume job {job_id}",
        shape=count,
    ),
    "get_job": Read("v_generation_jobs", "read job {job_id}", where=equal("id", "job_id", int), one=True, shape=first),
    "list_jobs": Read("v_generation_jobs", "list jobs", order=(("id", True),), limit="limit"),
    "job_items": Read(
        "generation_job_items", "list job items", where=equal("job_id", "job_id", int), embed=JOB_SCENARIO
    ),
    "log_generation": Insert(
        "generation_logs",
        "row",
        "write a generation log row",
        LOG_COLUMNS,
        required=("outcome",),
        json_columns=frozenset({"parameters"}),
    ),
    # -- the generation runner
    "release_items": Fn(
        "release_job_items",
        {"p_worker": Arg("worker", "text"), "p_item_ids": Arg("item_ids", "bigint[]", ints)},
        "value",
        "give back job items",
        shape=count,
    ),
    "fail_job": Fn(
        "fail_job",
        {"p_job_id": Arg("job_id", "bigint", integer), "p_error": Arg("error", "text")},
        "value",
        "stop job {job_id}",
        shape=count,
    ),
    "claim_batch_jobs": Fn(
        "claim_batch_jobs",
        {
            "p_worker": Arg("worker", "text"),
            "p_lease_seconds": Arg("lease_seconds", "integer", integer),
            "p_job_id": Arg("job_id", "bigint", integer),
            "p_limit": Arg("limit", "integer", integer),
        },
        "rows",
        "lease batch jobs",
    ),
    "record_job_batch": Fn(
        "record_job_batch",
        {
            "p_job_id": Arg("job_id", "bigint", integer),
            "p_worker": Arg("worker", "text"),
            "p_batch_id": Arg("batch_id", "text"),
            "p_batch_status": Arg("batch_status", "text"),
            "p_item_ids": Arg("item_ids", "bigint[]", ints),
            "p_request_ids": Arg("request_ids", "text[]", listed),
        },
        "value",
        "record the batch of job {job_id}",
        shape=bool,
    ),
    "claim_batch_items": Fn(
        "claim_batch_items",
        {
            "p_worker": Arg("worker", "text"),
            "p_job_id": Arg("job_id", "bigint", integer),
            "p_batch_id": Arg("batch_id", "text"),
            "p_limit": Arg("limit", "integer", integer),
            "p_lease_seconds": Arg("lease_seconds", "integer", integer),
        },
        "rows",
        "claim the items of batch {batch_id}",
        shape=job_items,
    ),
    "release_batch_job": Fn(
        "release_batch_job",
        {"p_job_id": Arg("job_id", "bigint", integer), "p_worker": Arg("worker", "text")},
        "value",
        "release batch job {job_id}",
        shape=bool,
    ),
    "job_items_with_status": Read(
        "generation_job_items",
        "list job items",
        where=lambda args: [
            Eq("job_id", int(args["job_id"])),
            AnyOf("status", tuple(str(s) for s in args["statuses"])),
        ],
        order=(("updated_at", True), ("id", True)),
        limit="limit",
        embed=JOB_SCENARIO,
    ),
    "generation_stats": Fn(
        "generation_stats",
        {"p_model": Arg("model", "text"), "p_recent": Arg("recent", "integer", integer)},
        "value",
        "read the generation averages",
        shape=as_dict,
    ),
    "register_prompt_template": Fn(
        "upsert_prompt_template",
        {
            "p_name": Arg("name", "text"),
            "p_version": Arg("version", "text"),
            "p_sha256": Arg("sha256", "text"),
            "p_body": Arg("body", "text"),
            "p_tier": Arg("tier", "text"),
        },
        "value",
        "record prompt template {name} {version}",
        shape=int,
    ),
    # -- export
    "export_conversations": Export("read the conversations to export", export_where, limit="limit"),
    "export_counts": Read(
        "v_scenarios",
        "count the conversations to export",
        where=export_where,
        count_by="review_status",
        shape=lambda counts: dict(sorted(counts.items())),
    ),
    # -- members (hosted mode)
    "whoami": Fn("whoami", {}, "rows", "read who you are", shape=lambda rows: dict(rows[0]) if rows else {}),
    "list_members": Read("members", "list the members", order=(("email", False),)),
    "add_member": Fn(
        "add_member",
        {
            "p_email": Arg("email", "text"),
            "p_role": Arg("role", "text"),
            "p_user_id": Arg("user_id", "uuid"),
            "p_display_name": Arg("display_name", "text"),
        },
        "row",
        "add {email} as {role}",
        shape=as_dict,
    ),
    "set_member_role": Fn(
        "set_member_role",
        {"p_user_id": Arg("user_id", "uuid"), "p_role": Arg("role", "text")},
        "row",
        "make the member {role}",
        shape=as_dict,
    ),
    "remove_member": Fn(
        "remove_member", {"p_user_id": Arg("user_id", "uuid")}, "value", "remove the member", shape=bool
    ),
    # -- the quality judge and rating jobs
    "conversations_to_judge": Fn(
        "conversations_to_judge",
        {"p_limit": Arg("limit", "integer", integer), "p_rubric_version": Arg("rubric_version", "text")},
        "values",
        "list the conversations to rate",
        shape=lambda ids: [str(i) for i in ids],
    ),
    "judge_backlog": Fn(
        "judge_backlog",
        {"p_rubric_version": Arg("rubric_version", "text")},
        "value",
        "count the conversations to rate",
        shape=count,
    ),
    "save_judge_result": Fn(
        "save_judge_result",
        {
            "p_conversation_id": Arg("record", "text", entry("conversation_id")),
            "p_rater": Arg("record", "text", entry("rater")),
            "p_prompt_name": Arg("record", "text", entry("prompt_name")),
            "p_prompt_version": Arg("record", "text", entry("prompt_version")),
            "p_prompt_sha256": Arg("record", "text", entry("prompt_sha256")),
            "p_rubric_id": Arg("record", "text", entry("rubric_id")),
            "p_rubric_version": Arg("record", "text", entry("rubric_version")),
            "p_ratings": Arg("record", "jsonb", entry("ratings", [])),
            "p_findings": Arg("record", "jsonb", entry("findings", [])),
            "p_logs": Arg("record", "jsonb", entry("logs", [])),
            "p_item_id": Arg("item_id", "bigint", integer),
        },
        "value",
        "save the judge's ratings of {record[conversation_id]}",
        shape=as_dict,
    ),
    "create_judge_job": Fn(
        "create_judge_job",
        {
            "p_kind": Arg("kind", "text"),
            "p_limit": Arg("limit", "integer", integer),
            "p_conversation_ids": Arg("conversation_ids", "text[]", texts),
            "p_rubric_version": Arg("rubric_version", "text"),
            "p_model": Arg("model", "text"),
            "p_settings": Arg("settings", "jsonb", as_dict),
            "p_created_by": Arg("created_by", "text"),
            "p_max_attempts": Arg("max_attempts", "integer", integer),
        },
        "value",
        "start a rating job",
        shape=integer,
    ),
    "queue_follow_up": Fn(
        "queue_follow_up",
        {
            "p_job_id": Arg("job_id", "bigint", integer),
            "p_task": Arg("task", "text"),
            "p_conversation_id": Arg("conversation_id", "text"),
            "p_feedback": Arg("feedback", "text"),
        },
        "value",
        "queue {conversation_id} to {task} after job {job_id}",
        shape=integer,
    ),
    # -- quality ratings as the Review page and the export read them (the judge's and people's)
    "conversation_ratings": Fn(
        "conversation_ratings_of",
        {"p_conversation_id": Arg("conversation_id", "text")},
        "rows",
        "read the ratings of {conversation_id}",
    ),
    "label_findings": Fn(
        "label_findings_of",
        {"p_conversation_id": Arg("conversation_id", "text")},
        "rows",
        "read the judge's label findings on {conversation_id}",
    ),
    "record_human_rating": Fn(
        "record_human_rating",
        {
            "p_conversation_id": Arg("conversation_id", "text"),
            "p_criterion": Arg("criterion", "text"),
            "p_score": Arg("score", "integer", integer),
            "p_rater": Arg("rater", "text"),
            "p_pass_at": Arg("pass_at", "integer", integer),
            "p_hard": Arg("hard", "boolean", boolean),
            "p_reason": Arg("reason", "text"),
            "p_cited_turns": Arg("cited_turns", "integer[]", ints),
            "p_rubric_id": Arg("rubric_id", "text"),
            "p_rubric_version": Arg("rubric_version", "text"),
        },
        "value",
        "record a rating of {criterion} for {conversation_id}",
        shape=int,
    ),
    "conversation_quality": Read(
        "v_conversation_quality",
        "read the ratings in force",
        where=lambda args: [IsTrue("is_current")] if args["current_only"] else [],
        order=(("conversation_id", False),),
    ),
    "rating_calibration": Fn(
        "rating_calibration",
        {},
        "rows",
        "read the judge's calibration",
        order=("criterion", "judge_pass", "review_status"),
    ),
}
