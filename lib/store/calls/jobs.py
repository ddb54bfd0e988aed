"""The calls of the generation and rating jobs: creating them, leasing their items, the batch
runner, the generation log and the judge's results."""

from __future__ import annotations

from lib.store.calls.kinds import (
    LOG_COLUMNS,
    AnyOf,
    Arg,
    Call,
    Embed,
    Eq,
    Fn,
    Insert,
    Read,
    as_dict,
    boolean,
    count,
    decimal,
    entry,
    equal,
    first,
    integer,
    ints,
    job_items,
    listed,
    texts,
)

JOB_SCENARIO = Embed("scenarios", "scenario_id", ("tier", "persona", "emotional_arc", "topic"))


JOB_CALLS: dict[str, Call] = {
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
}
