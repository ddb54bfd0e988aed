"""The calls of the runner at the account's limits: the rate budget all workers of a database
share, and the measured output sizes that max_tokens is sized from (worker liveness is a session
of its own, lib.store.postgres.PostgresStore.worker_session)."""

from __future__ import annotations

from lib.store.calls.kinds import Arg, Call, Fn, as_dict, boolean, decimal, integer


def _amounts(value: object) -> dict[str, float]:
    return {str(k): float(v) for k, v in as_dict(value).items() if v is not None}


BUDGET_CALLS: dict[str, Call] = {
    "take_rate_budget": Fn(
        "take_rate_budget",
        {
            "p_account": Arg("account", "text"),
            "p_amounts": Arg("amounts", "jsonb", _amounts),
            "p_limits": Arg("limits", "jsonb", _amounts),
            "p_remaining": Arg("remaining", "jsonb", _amounts),
        },
        "value",
        "take from the rate budget",
        shape=lambda v: None if v is None else float(v),
    ),
    "settle_rate_budget": Fn(
        "settle_rate_budget",
        {
            "p_account": Arg("account", "text"),
            "p_amounts": Arg("amounts", "jsonb", _amounts),
            "p_remaining": Arg("remaining", "jsonb", _amounts),
            "p_tolerance": Arg("tolerance", "jsonb", _amounts),
        },
        "value",
        "settle the rate budget",
        shape=bool,
    ),
    "enter_prompt_prefix": Fn(
        "enter_prompt_prefix",
        {
            "p_account": Arg("account", "text"),
            "p_prefix": Arg("prefix", "text"),
            "p_wait_cap_s": Arg("wait_cap_s", "double precision", decimal),
            "p_worker": Arg("worker", "text"),
        },
        "value",
        "warm the prompt cache",
        shape=str,
    ),
    "leave_prompt_prefix": Fn(
        "leave_prompt_prefix",
        {
            "p_account": Arg("account", "text"),
            "p_prefix": Arg("prefix", "text"),
            "p_ok": Arg("ok", "boolean", boolean),
            "p_ttl_s": Arg("ttl_s", "double precision", decimal),
        },
        "value",
        "warm the prompt cache",
        shape=bool,
    ),
    "output_quantiles": Fn(
        "output_token_quantiles",
        {
            "p_model": Arg("model", "text"),
            "p_quantile": Arg("quantile", "double precision", decimal),
            "p_recent": Arg("recent", "integer", integer),
        },
        "rows",
        "read the output sizes",
        order=("template_name",),
    ),
}
