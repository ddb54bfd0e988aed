"""What a Messages API call gave back, without the SDK: the answer (LLMResponse) read from its body,
validated against the call's output format and priced, and the record of each HTTP try. A live
call (lib.generation.llm) and a Message Batches result (lib.generation.batch, the judge's batches)
are read the same way here."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pydantic

from lib.core.models import Usage
from lib.generation.output_format import GeneratedConversation
from lib.generation.pricing import body_cost
from lib.generation.ratelimit import rate_limit_headers

if TYPE_CHECKING:
    from lib.generation.llm_settings import LLMSettings


@dataclass(frozen=True)
class TryRecord:
    """One HTTP try of a call: what came back and how long we waited before the next."""

    status: int | None  # None for a timeout or connection error
    error: str | None
    duration_s: float
    waited_s: float = 0.0
    retry_after: str | None = None
    output_tokens: int = 0  # of an answer: what the rate limiter charges it
    input_tokens: int = 0  # uncached input and cache writes (cache reads count against no limit)


def charged_tokens(body: Mapping[str, Any]) -> tuple[int, int]:
    """An answer's output tokens, and its input tokens the input limit counts (cache reads do not)."""
    usage = body.get("usage") if isinstance(body.get("usage"), Mapping) else {}
    assert isinstance(usage, Mapping)

    def num(name: str) -> int:
        try:
            return max(0, int(usage.get(name) or 0))
        except (TypeError, ValueError):
            return 0

    return num("output_tokens"), num("input_tokens") + num("cache_creation_input_tokens")


@dataclass
class LLMResponse:
    requested_model: str
    model: str
    stop_reason: str | None
    text: str
    raw_body: str
    parsed: Any  # an instance of the call's output_format (GeneratedConversation unless told otherwise)
    parse_error: str | None
    usage: Usage
    cost_usd: float
    priced: bool
    duration_s: float
    request_id: str | None = None
    rate_limits: dict[str, str] = field(default_factory=dict)
    tries: list[TryRecord] = field(default_factory=list)
    refusal: str | None = None
    max_tokens: int = 0

    @property
    def outcome(self) -> str:
        if self.stop_reason == "refusal":
            return "refusal"
        if self.stop_reason in ("max_tokens", "model_context_window_exceeded"):
            return "max_tokens"
        return "parsed" if self.parsed is not None else "malformed"


def summarize_validation_error(exc: pydantic.ValidationError, limit: int = 12) -> list[str]:
    """Pydantic errors as lines a model can act on: `turns[3].strategies.primary: Field required`."""
    lines = []
    for err in exc.errors()[:limit]:
        if err["type"] == "json_invalid":
            lines.append("the answer is not valid JSON (" + str(err.get("ctx", {}).get("error", err["msg"])) + ")")
            continue
        path = ""
        for part in err["loc"]:
            if part in ("user", "assistant"):  # the discriminator tag pydantic adds to the path
                continue
            path += f"[{part}]" if isinstance(part, int) else ("." if path else "") + str(part)
        lines.append((path or "(top)") + ": " + err["msg"])
    extra = len(exc.errors()) - limit
    if extra > 0:
        lines.append(f"... and {extra} more problems of the same kind")
    return lines


def _text_of(body: Mapping[str, Any]) -> str:
    return "".join(b.get("text", "") for b in body.get("content") or [] if b.get("type") == "text")


def response_from_body(
    body: Mapping[str, Any],
    *,
    settings: LLMSettings,
    requested_model: str,
    raw_body: str = "",
    duration_s: float = 0.0,
    headers: Mapping[str, str] | None = None,
    tries: Sequence[TryRecord] = (),
    parsed: pydantic.BaseModel | None = None,
    batch: bool = False,
    max_tokens: int = 0,
    output_format: type[pydantic.BaseModel] = GeneratedConversation,
) -> LLMResponse:
    """An LLMResponse from a Messages API body: a live call's, or a Message Batches result's message.
    The output is validated against `output_format` here unless the SDK already parsed it."""
    usage, model, cost = body_cost(body, settings.prices, requested_model, batch=batch)
    text = _text_of(body)
    stop_reason = body.get("stop_reason")
    parse_error = None
    if parsed is None and stop_reason not in ("refusal", "max_tokens", "model_context_window_exceeded"):
        try:
            parsed = output_format.model_validate_json(text)
        except pydantic.ValidationError as exc:
            parse_error = "; ".join(summarize_validation_error(exc))
    refusal = None
    if stop_reason == "refusal":
        details = body.get("stop_details") or {}
        refusal = details.get("explanation") or details.get("category") or text.strip() or None
    headers = dict(headers or {})
    return LLMResponse(
        requested_model=requested_model,
        model=model,
        stop_reason=stop_reason,
        text=text,
        raw_body=raw_body or json.dumps(body),
        parsed=parsed,
        parse_error=parse_error,
        usage=usage,
        cost_usd=cost or 0.0,
        priced=cost is not None,
        duration_s=duration_s,
        request_id=headers.get("request-id") or body.get("_request_id"),
        rate_limits=rate_limit_headers(headers),
        tries=list(tries),
        refusal=refusal,
        max_tokens=max_tokens,
    )
