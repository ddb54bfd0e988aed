"""The Anthropic client: structured output, prompt caching, retries, usage and cost.

One call = `LLMClient.generate(system, messages)`: `messages.parse(output_format=...)` on
AsyncAnthropic, with the system prompt sent as a cached block. The output format is a pydantic model:
a conversation (GeneratedConversation, the default) or a judge's verdict (lib.generation.judge). It
returns an LLMResponse whatever the model wrote (valid, malformed, refused or cut off), with usage,
cost and the raw body, or raises an LLMError when there is no answer to judge (bad key, retries
exhausted, request rejected).

Retries are ours, not the SDK's (the client runs with max_retries=0): the SDK sleeps for whatever
`retry-after` says, and a proxy that answers "retry after 86400" would park a worker for a day.
We retry on 408, 409, 429, 5xx (529 "overloaded" included), timeouts and connection errors, and
wait as lib.generation.llm_settings.retry_delay says.

This is the only module that imports the SDK: besides the Messages API it holds the token counter
of the estimates (count_tokens) and the Message Batches API of batch jobs. The SDK-free parts live
beside it: the settings and retry policy (lib.generation.llm_settings) and the errors a call ends in
(lib.generation.llm_errors), both importable from here too. What things cost is
lib.generation.pricing, the rate-limit headers lib.generation.ratelimit.

The API key is passed to the SDK and nowhere else: it is not in any repr, log record or error.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic
import pydantic

from lib.config import DEFAULT_MODEL
from lib.generation.llm_errors import (
    BillingError,
    InvalidApiKey,
    LLMError,
    LLMRequestRejected,
    LLMUnavailable,
    MissingApiKey,
    ModelNotFound,
    NotMessagesApi,
    Preflight,
)
from lib.generation.llm_settings import RETRYABLE_STATUS, LLMSettings, retry_delay
from lib.generation.output_format import GeneratedConversation
from lib.generation.ratelimit import rate_limit_headers
from lib.generation.response import LLMResponse, TryRecord, charged_tokens, response_from_body

log = logging.getLogger(__name__)


# ---- helpers --------------------------------------------------------------------------------
# The SDK's parse() raises on output that does not fit the schema, and then the body is gone. A
# response hook keeps the last body and headers of the current task, so a malformed answer can
# still be logged, priced and sent to the repair path.
@dataclass
class _Capture:
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


_capture: contextvars.ContextVar[_Capture | None] = contextvars.ContextVar("brightrun_llm_capture", default=None)


async def _on_response(response: Any) -> None:
    cap = _capture.get()
    if cap is None:
        return
    await response.aread()
    cap.status = response.status_code
    cap.headers = dict(response.headers)
    cap.body = response.text


def _body_text(exc: anthropic.APIStatusError) -> str:
    try:
        return exc.response.text
    except Exception:  # a streamed or closed response: the parsed body is all there is
        return json.dumps(exc.body) if exc.body is not None else ""


def _error_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    err = body.get("error") if isinstance(body.get("error"), dict) else body
    msg = str((err or {}).get("message") or exc.message or "")
    return msg[:300]


# ---- the client -----------------------------------------------------------------------------
class LLMClient:
    """`before_try` (async) runs before every HTTP try with the request's body, e.g. to take the
    rate budget it needs; `on_try` sees every try's record (an answer's tokens included) and
    anthropic-ratelimit-* headers, 429s that are retried included, so a runner can adapt its
    concurrency. `max_tokens_for` sizes a template's requests (lib.generation.budget.OutputSizer)."""

    def __init__(
        self,
        settings: LLMSettings,
        *,
        client: anthropic.AsyncAnthropic | None = None,
        before_try: Callable[[Mapping[str, Any]], Awaitable[None]] | None = None,
        on_try: Callable[[TryRecord, dict[str, str]], None] | None = None,
        max_tokens_for: Callable[[str | None], int] | None = None,
    ) -> None:
        self.settings = settings
        self.before_try = before_try
        self.on_try = on_try
        self._max_tokens_for = max_tokens_for
        if client is None:
            key = settings.api_key
            if not key:
                raise MissingApiKey(
                    "no Anthropic API key: set ANTHROPIC_API_KEY in the environment or in "
                    ".streamlit/secrets.toml. Without a key the app still works on the seed "
                    "conversations; generation is off."
                )
            client = anthropic.AsyncAnthropic(
                api_key=key,
                base_url=settings.base_url or None,
                max_retries=0,  # retries are ours: see the module docstring
                timeout=settings.timeout_s,
                http_client=anthropic.DefaultAsyncHttpxClient(
                    timeout=settings.timeout_s, event_hooks={"response": [_on_response]}
                ),
            )
        self._client = client

    def max_tokens_for(self, template: str | None) -> int:
        """The room a request of this prompt template asks for: sized from its measured answers
        when the runner measures them, else the setting (BRIGHTRUN_MAX_TOKENS)."""
        if self._max_tokens_for is None:
            return self.settings.max_tokens
        return min(self.settings.max_tokens, self._max_tokens_for(template))

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.close()

    def request_params(
        self,
        system: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        max_tokens: int | None = None,
        output_format: type[pydantic.BaseModel] = GeneratedConversation,
    ) -> dict[str, Any]:
        """The Messages API body of a call (for a Message Batches request, say): cached system block,
        the structured-output format and the model's settings."""
        from anthropic.lib._parse._transform import to_json_output_format

        params = self._params(system, messages, max_tokens)
        output_config: dict[str, Any] = dict(params.pop("output_config", {}))
        output_config["format"] = to_json_output_format(output_format)
        params["output_config"] = output_config
        return params

    def _params(self, system: str, messages: Sequence[Mapping[str, Any]], max_tokens: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.settings.model,
            "max_tokens": max_tokens or self.settings.max_tokens,
            # The system prompt is the same for every scenario of an arc and tier: cache it.
            "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            "messages": list(messages),
        }
        if self.settings.effort:
            params["output_config"] = {"effort": self.settings.effort}
        return params

    async def generate(
        self,
        system: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        max_tokens: int | None = None,
        output_format: type[pydantic.BaseModel] = GeneratedConversation,
    ) -> LLMResponse:
        """One structured-output call, retried on transient errors. Raises LLMError without an answer."""
        params = self._params(system, messages, max_tokens)
        tries: list[TryRecord] = []
        started = time.monotonic()
        retries = max(0, self.settings.max_retries)
        for attempt in range(retries + 1):
            if self.before_try is not None:
                await self.before_try(params)
            cap = _Capture()
            token = _capture.set(cap)
            t0 = time.monotonic()
            parsed: pydantic.BaseModel | None = None
            try:
                message = await self._client.messages.parse(output_format=output_format, **params)
                parsed = message.parsed_output
            except pydantic.ValidationError:
                pass  # malformed output: judged below from the captured body
            except anthropic.APIStatusError as exc:
                elapsed = time.monotonic() - t0
                headers = dict(exc.response.headers)
                status = exc.status_code
                self._raise_if_final(exc, status, headers, tries, elapsed, started)
                wait = retry_delay(attempt, headers, self.settings) if attempt < retries else 0.0
                self._record(
                    tries,
                    TryRecord(
                        status=status,
                        error=_error_message(exc),
                        duration_s=elapsed,
                        waited_s=wait,
                        retry_after=headers.get("retry-after"),
                    ),
                    headers,
                )
                if attempt < retries:
                    log.info("Anthropic answered %s; retry %d of %d in %.1fs", status, attempt + 1, retries, wait)
                    await asyncio.sleep(wait)
                    continue
                raise LLMUnavailable(
                    self._unavailable_message(tries),
                    status=status,
                    tries=tries,
                    request_id=headers.get("request-id"),
                    rate_limits=rate_limit_headers(headers),
                    duration_s=time.monotonic() - started,
                    raw_body=_body_text(exc),
                ) from None
            except (anthropic.APITimeoutError, anthropic.APIConnectionError) as exc:
                elapsed = time.monotonic() - t0
                wait = retry_delay(attempt, None, self.settings) if attempt < retries else 0.0
                what = "timed out" if isinstance(exc, anthropic.APITimeoutError) else "connection failed"
                self._record(tries, TryRecord(status=None, error=what, duration_s=elapsed, waited_s=wait), None)
                if attempt < retries:
                    log.info("Anthropic request %s; retry %d of %d in %.1fs", what, attempt + 1, retries, wait)
                    await asyncio.sleep(wait)
                    continue
                raise LLMUnavailable(
                    self._unavailable_message(tries), tries=tries, duration_s=time.monotonic() - started
                ) from None
            except asyncio.CancelledError:
                # the item was cancelled mid-call: the runner gives back what the try took
                if self.on_try is not None:
                    self.on_try(TryRecord(status=None, error="cancelled", duration_s=time.monotonic() - t0), {})
                raise
            except (anthropic.APIError, AttributeError) as exc:
                # A 200 that is not a Messages answer (a proxy's HTML page, say): the SDK hands the
                # text to its parser, which fails. With a JSON body the same error is a real bug.
                if isinstance(exc, AttributeError) and "json" in cap.headers.get("content-type", "json"):
                    raise
                elapsed = time.monotonic() - t0
                record = TryRecord(status=cap.status, error=str(exc)[:300], duration_s=elapsed)
                self._record(tries, record, cap.headers)
                raise NotMessagesApi(
                    f"the endpoint answered, but not with a Messages API response ({str(exc)[:200]}). "
                    "Check ANTHROPIC_BASE_URL points at an Anthropic-compatible API.",
                    status=cap.status,
                    tries=tries,
                    duration_s=time.monotonic() - started,
                    raw_body=cap.body[:10_000],
                ) from None
            finally:
                _capture.reset(token)
            elapsed = time.monotonic() - t0
            try:
                body = json.loads(cap.body) if cap.body else {}
            except ValueError:
                body = {}
            out, inp = charged_tokens(body)
            record = TryRecord(
                status=cap.status or 200, error=None, duration_s=elapsed, output_tokens=out, input_tokens=inp
            )
            self._record(tries, record, cap.headers)
            return response_from_body(
                body,
                settings=self.settings,
                requested_model=self.settings.model,
                raw_body=cap.body,
                duration_s=time.monotonic() - started,
                headers=cap.headers,
                tries=tries,
                parsed=parsed,
                max_tokens=params["max_tokens"],
                output_format=output_format,
            )
        raise AssertionError("unreachable")  # the loop returns or raises

    def _record(self, tries: list[TryRecord], record: TryRecord, headers: Mapping[str, str] | None) -> None:
        tries.append(record)
        if self.on_try is not None:
            self.on_try(record, rate_limit_headers(headers))

    def _raise_if_final(
        self,
        exc: anthropic.APIStatusError,
        status: int,
        headers: Mapping[str, str],
        tries: list[TryRecord],
        elapsed: float,
        started: float,
    ) -> None:
        should_retry = headers.get("x-should-retry")
        if status in RETRYABLE_STATUS and should_retry != "false":
            return
        if should_retry == "true":
            return
        detail = _error_message(exc)
        record = TryRecord(status=status, error=detail, duration_s=elapsed)
        if self.on_try is not None:
            self.on_try(record, rate_limit_headers(headers))
        kw: dict[str, Any] = {
            "status": status,
            "tries": [*tries, record],
            "request_id": headers.get("request-id"),
            "duration_s": time.monotonic() - started,
            "raw_body": _body_text(exc),
        }
        if status in (401, 403):
            raise InvalidApiKey(
                f"the API key is invalid (Anthropic answered {status}). Check ANTHROPIC_API_KEY in "
                "the environment or .streamlit/secrets.toml; generation has stopped.",
                **kw,
            ) from None
        if status == 402:
            raise BillingError(
                "the Anthropic account cannot be billed (402): add credit or a payment method in "
                "the Anthropic console, then resume.",
                **kw,
            ) from None
        if status == 404:
            raise ModelNotFound(
                f"Anthropic does not know the model {self.settings.model!r} (404: {detail}). Set "
                f"BRIGHTRUN_MODEL to a current model id, e.g. {DEFAULT_MODEL}.",
                **kw,
            ) from None
        raise LLMRequestRejected(f"Anthropic rejected the request ({status}: {detail}).", **kw) from None

    def _unavailable_message(self, tries: Sequence[TryRecord]) -> str:
        seen = ", ".join(str(t.status) if t.status else (t.error or "error") for t in tries)
        return (
            f"Anthropic did not answer after {len(tries)} tries ({seen}). The API is overloaded or "
            "rate-limited; retry this scenario later, or lower the concurrency."
        )


# ---- preflight: is the endpoint there, the key valid, the model known? --------------------------
def _preflight_status(exc: anthropic.APIStatusError) -> Preflight:
    status, detail = exc.status_code, _error_message(exc)
    if status in (401, 403):
        return Preflight("invalid_key", f"{status}: {detail}")
    if status == 402:
        return Preflight("billing", detail)
    if status == 404:
        return Preflight("unknown_model", detail)
    if status == 429:
        return Preflight("rate_limited", detail)
    if status in RETRYABLE_STATUS:
        return Preflight("overloaded", f"{status}: {detail}")
    return Preflight("rejected", f"{status}: {detail}")


def preflight(settings: LLMSettings, *, timeout_s: float = 8.0) -> Preflight:
    """Ask the endpoint about the model (GET /v1/models/{model}: authenticated and free). An endpoint
    without that route (a proxy, a local server) is asked for a one-token answer instead, which also
    tells an unknown model from a missing route. Never raises for what the endpoint does."""
    if not settings.api_key:
        return Preflight("no_key")
    client = anthropic.Anthropic(
        api_key=settings.api_key, base_url=settings.base_url or None, max_retries=0, timeout=timeout_s
    )
    try:
        try:
            client.models.retrieve(settings.model)
        except anthropic.NotFoundError:
            client.messages.create(
                model=settings.model, max_tokens=1, messages=[{"role": "user", "content": "Reply with OK."}]
            )
    except anthropic.APIStatusError as exc:
        return _preflight_status(exc)
    except anthropic.APITimeoutError:
        return Preflight("timeout", f"no answer within {timeout_s:g} s")
    except anthropic.APIConnectionError as exc:
        return Preflight("unreachable", str(exc.__cause__ or exc)[:200])
    except (anthropic.APIError, ValueError, AttributeError) as exc:
        return Preflight("not_messages_api", str(exc)[:200])
    finally:
        client.close()
    return Preflight()


# ---- the other endpoints: count_tokens and Message Batches ----------------------------------
TokenCounter = Callable[[str, str], int]  # (system, user) -> input tokens


def api_token_counter(settings: LLMSettings, timeout_s: float = 5.0) -> TokenCounter:
    """Counts a prompt with the API's count_tokens endpoint (free; needs the key). After one
    failure it fails at once, so an unreachable API costs one timeout, not one per prompt."""
    client = anthropic.Anthropic(
        api_key=settings.api_key, base_url=settings.base_url or None, max_retries=0, timeout=timeout_s
    )
    failed: list[Exception] = []

    def count(system: str, user: str) -> int:
        if failed:
            raise failed[0]
        try:
            answer = client.messages.count_tokens(
                model=settings.model, system=system, messages=[{"role": "user", "content": user}]
            )
        except Exception as exc:
            failed.append(exc)
            raise
        return int(answer.input_tokens)

    return count


@dataclass(frozen=True)
class BatchResult:
    """One request's result in an ended Message Batch."""

    custom_id: str
    kind: str | None  # succeeded | errored | canceled | expired
    message: dict[str, Any] | None  # the Messages API body of a succeeded request
    error: str  # "type: message" of a failed one ("" when it says nothing)


class MessageBatches:
    """The Message Batches API as a worker drives it: submit, poll, read the results, cancel."""

    def __init__(self, settings: LLMSettings) -> None:
        self._client = anthropic.AsyncAnthropic(
            api_key=settings.api_key, base_url=settings.base_url or None, max_retries=3, timeout=120.0
        )

    async def create(self, requests: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
        """Submit requests ({"custom_id", "params"}) as one batch: (batch id, processing status)."""
        batch = await self._client.messages.batches.create(requests=list(requests))  # type: ignore[arg-type]
        return batch.id, batch.processing_status

    async def status(self, batch_id: str) -> str:
        return (await self._client.messages.batches.retrieve(batch_id)).processing_status

    async def cancel(self, batch_id: str) -> None:
        await self._client.messages.batches.cancel(batch_id)

    async def results(self, batch_id: str) -> AsyncIterator[BatchResult]:
        async for entry in await self._client.messages.batches.results(batch_id):
            result = entry.result
            kind = getattr(result, "type", None)
            message = getattr(result, "message", None)
            err = getattr(getattr(result, "error", None), "error", None)
            detail = f"{getattr(err, 'type', 'error')}: {getattr(err, 'message', '')}".strip(": ")
            yield BatchResult(
                custom_id=entry.custom_id,
                kind=kind,
                message=message.to_dict() if kind == "succeeded" and message is not None else None,
                error=detail,
            )

    async def aclose(self) -> None:
        await self._client.close()


def cancel_message_batch(settings: LLMSettings, batch_id: str) -> None:
    """Cancel a Message Batch (a job stopped on the page); the results it already has are kept."""
    anthropic.Anthropic(
        api_key=settings.api_key, base_url=settings.base_url or None, max_retries=1, timeout=15
    ).messages.batches.cancel(batch_id)


__all__: list[str] = [
    "DEFAULT_MODEL",
    "RETRYABLE_STATUS",
    "BatchResult",
    "BillingError",
    "InvalidApiKey",
    "LLMClient",
    "LLMError",
    "LLMRequestRejected",
    "LLMSettings",
    "LLMUnavailable",
    "MessageBatches",
    "MissingApiKey",
    "ModelNotFound",
    "NotMessagesApi",
    "Preflight",
    "TokenCounter",
    "api_token_counter",
    "cancel_message_batch",
    "preflight",
    "retry_delay",
]
