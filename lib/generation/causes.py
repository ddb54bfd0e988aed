"""Why a generation failed, as a short key and the words a person reads: what went wrong and which
setting to change. Job items keep the key (generation_job_items.error_cause), so the Generate page
groups failures by it; the preflight and the circuit breaker speak in the same keys.

The keys: the endpoint's answers (lib.generation.llm: unreachable, timeout, rate_limited, overloaded,
invalid_key, model_not_found / unknown_model, billing, rejected, not_messages_api, no_key), the model's
answers (refused, truncated, schema, and checks:<check names> for quality checks still failed after
the repairs), and the app's own (prompt, store, missing, unexpected, other).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

CHECKS_PREFIX = "checks:"


@dataclass(frozen=True)
class Cause:
    title: str  # what went wrong, a few words
    advice: str  # what to do; names the setting to change where one would help
    blocks_start: bool = True  # a preflight finding this refuses to start a job


CAUSES: dict[str, Cause] = {
    "unreachable": Cause(
        "The API endpoint could not be reached",
        "Check ANTHROPIC_BASE_URL: it must point at a running Anthropic-compatible server (unset it to use "
        "api.anthropic.com), and this machine must be online.",
    ),
    "timeout": Cause(
        "The API endpoint did not answer in time",
        "Check ANTHROPIC_BASE_URL and the network; a proxy that holds requests can also cause this.",
    ),
    "invalid_key": Cause(
        "The API key was refused",
        "Set ANTHROPIC_API_KEY (environment or .streamlit/secrets.toml) to a valid key and restart the app.",
    ),
    "no_key": Cause(
        "No API key is set", "Set ANTHROPIC_API_KEY (environment or .streamlit/secrets.toml) and restart the app."
    ),
    "unknown_model": Cause(
        "The endpoint does not know the model",
        "Set BRIGHTRUN_MODEL to a model id the endpoint serves (see Settings), and restart the app.",
    ),
    "billing": Cause(
        "The Anthropic account cannot be billed",
        "Add credit or a payment method in the Anthropic console, then Resume.",
    ),
    "rate_limited": Cause(
        "The account is rate-limited right now",
        "Lower BRIGHTRUN_CONCURRENCY, or wait a minute and Resume; the worker slows down by itself.",
        blocks_start=False,
    ),
    "overloaded": Cause(
        "The API is overloaded or failing (5xx)", "Wait a few minutes and Resume or Retry failed.", blocks_start=False
    ),
    "rejected": Cause(
        "The API rejected the request",
        "The example below says what it objected to; check BRIGHTRUN_MAX_TOKENS and BRIGHTRUN_MODEL.",
    ),
    "not_messages_api": Cause(
        "The endpoint does not answer like the Messages API",
        "Check ANTHROPIC_BASE_URL points at an Anthropic-compatible API, not a web page or another service.",
    ),
    "refused": Cause(
        "The model declined to write the conversation",
        "Edit the scenario's situation, or regenerate it with feedback that reframes the request.",
        blocks_start=False,
    ),
    "truncated": Cause(
        "The answer was cut off at the output token limit",
        "Raise BRIGHTRUN_MAX_TOKENS, or plan shorter conversations.",
        blocks_start=False,
    ),
    "schema": Cause(
        "The answer did not match the response format, even after repairs",
        "Check BRIGHTRUN_MODEL is a model that supports structured output; then Retry failed.",
        blocks_start=False,
    ),
    "prompt": Cause(
        "The prompt could not be built",
        "Fix the prompt template or the taxonomy the example names, then Retry failed.",
        blocks_start=False,
    ),
    "store": Cause(
        "The conversation could not be stored",
        "The example says why; fix the database problem, then Retry failed.",
        blocks_start=False,
    ),
    "missing": Cause(
        "The scenario or conversation no longer exists",
        "Nothing to do for these; refresh the Scenarios page.",
        blocks_start=False,
    ),
    "unexpected": Cause(
        "An unexpected error in the app",
        "Retry failed; if it happens again, report it with the server log.",
        blocks_start=False,
    ),
    "other": Cause("Other failures", "The example says what happened.", blocks_start=False),
}
CAUSES["model_not_found"] = CAUSES["unknown_model"]  # lib.generation.llm's name for a 404 on a call


def checks_cause(check_names: Iterable[str]) -> str:
    """The key of conversations that still failed these quality checks after their repairs."""
    return CHECKS_PREFIX + ",".join(sorted(set(check_names)))


def cause_of(key: str | None) -> Cause:
    key = key or "other"
    if key.startswith(CHECKS_PREFIX):
        names = key.removeprefix(CHECKS_PREFIX).replace(",", ", ") or "quality checks"
        return Cause(
            f"Failed quality checks after the repairs: {names}",
            "The model keeps writing what these checks reject: check BRIGHTRUN_MODEL and the prompt "
            "templates, or regenerate with feedback. Open a failed scenario on Scenarios to read why.",
            blocks_start=False,
        )
    return CAUSES.get(key, CAUSES["other"])


def explain(key: str | None, detail: str = "") -> str:
    """One line: what went wrong, what to do, and the endpoint's own words when there are some."""
    cause = cause_of(key)
    said = f" ({detail.strip()[:200]})" if detail.strip() else ""
    return f"{cause.title}{said}. {cause.advice}"


__all__ = ["CAUSES", "CHECKS_PREFIX", "Cause", "cause_of", "checks_cause", "explain"]
