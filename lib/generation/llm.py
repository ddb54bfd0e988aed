"""The Anthropic client: structured output, prompt caching, retries, usage and cost.

One call = `LLMClient.generate(system, messages)`: `messages.parse(output_format=...)` on
AsyncAnthropic, with the system prompt sent as a cached block. The output format is a pydantic model:
a conversation (GeneratedConversation, the default) or a judge's verdict (lib.generation.judge). It
returns an LLMResponse whatever the model wrote (valid, malformed, refused or cut off), with usage,
cost and the raw body, or raises an LLMError when there is no answer to judge (bad key, retries
exhausted, request rejected).

Retries are ours, not the SDK's (the client runs with max_retries=0): the SDK sleeps for whatever
`retry-after` says, and a proxy that answers "retry after 86400" would park a worker for a day.
We honour `retry-after` / `retry-after-ms` up to a cap and back off exponentially with jitter
otherwise, on 408, 409, 429, 5xx (529 "overloaded" included), timeouts and connection errors.

This is the only module that imports the SDK: besides the Messages API it holds the token counter
of the estimates (count_tokens) and the Message Batches API of batch jobs. What things cost is
lib.generation.pricing, the rate-limit headers lib.generation.ratelimit.

The API key is passed to the SDK and nowhere else: it is not in any repr, log record or error.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic
import pydantic

from lib.config import DEFAULT_MAX_TOKENS, DEFAULT_MODEL, Settings
from lib.core.redaction import redact_text, remember
from lib.generation.pricing import PriceTable, load_prices
from lib.generation.prompting import GeneratedConversation
from lib.generation.ratelimit import parse_retry_after, rate_limit_headers
from lib.generation.response import LLMResponse, TryRecord, response_from_body

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}


# ---- settings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LLMSettings:
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    model: str = DEFAULT_MODEL
    max_tokens: int = DEFAULT_MAX_TOKENS
    max_tokens_cap: int = 32_000  # a cut-off answer is retried once with more room, up to this
    timeout_s: float = 300.0
    max_retries: int = 4  # transport retries per call (429, 529, 5xx, timeouts)
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    retry_after_cap_s: float = 60.0  # never wait longer than this, whatever retry-after says
    effort: str | None = None  # output_config.effort; None = the model's default
    prices: PriceTable = field(default_factory=load_prices, repr=False)

    def __post_init__(self) -> None:
        remember(self.api_key)  # masked wherever an echo of it would be stored, logged or shown

    @classmethod
    def from_settings(cls, settings: Settings | LLMSettings | None = None, **overrides: Any) -> LLMSettings:
        """From the app's Settings (lib.config), or Settings.load() when None; an LLMSettings is taken
        as it is. The overrides are applied last."""
        if isinstance(settings, LLMSettings):
            return dataclasses.replace(settings, **overrides)
        if settings is None:
            settings = Settings.load()
        if not isinstance(settings, Settings):
            raise TypeError(f"LLMSettings.from_settings takes lib.config.Settings, not {type(settings).__name__}")
        key = settings.anthropic_api_key
        values: dict[str, Any] = {
            "api_key": key.get_secret_value() if key is not None else None,
            "base_url": settings.anthropic_base_url,
            "model": settings.model,
            "max_tokens": settings.max_tokens,
            "prices": load_prices(settings.prices_file),
        }
        values.update(overrides)
        return cls(**values)


# ---- errors ---------------------------------------------------------------------------------
class LLMError(Exception):
    """No answer to judge. `fatal` means stop the whole run (the next call would fail the same way)."""

    kind = "error"
    fatal = False

    @property
    def cause(self) -> str:
        """The short key failures are grouped by (lib.generation.causes)."""
        return self.kind

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        tries: Sequence[TryRecord] = (),
        request_id: str | None = None,
        rate_limits: Mapping[str, str] | None = None,
        duration_s: float = 0.0,
        raw_body: str = "",
    ) -> None:
        # the endpoint's words end up on pages and in rows: an echoed key must not
        message = redact_text(message)
        super().__init__(message)
        self.message = message
        self.status = status
        self.tries = list(tries)
        self.request_id = request_id
        self.rate_limits = dict(rate_limits or {})
        self.duration_s = duration_s
        self.raw_body = redact_text(raw_body)


class MissingApiKey(LLMError):
    kind, fatal = "no_key", True


class InvalidApiKey(LLMError):
    kind, fatal = "invalid_key", True


class ModelNotFound(LLMError):
    kind, fatal = "model_not_found", True


class BillingError(LLMError):
    kind, fatal = "billing", True


class LLMUnavailable(LLMError):
    """429 / 529 / 5xx / timeouts until the retries ran out. The scenario can be retried later."""

    kind = "unavailable"

    @property
    def cause(self) -> str:
        """What the last try met: unreachable, timeout, rate_limited or overloaded."""
        last = self.tries[-1] if self.tries else None
        if last is None or last.status is None:
            return "timeout" if last is not None and last.error == "timed out" else "unreachable"
        return "rate_limited" if last.status == 429 else "overloaded"


class LLMRequestRejected(LLMError):
    """400, 413, 422 and the like: this request will not work as it is."""

    kind = "rejected"


class NotMessagesApi(LLMRequestRejected):
    """The endpoint answered, but not as the Messages API does (a proxy's HTML page, say)."""

    kind = "not_messages_api"


# ---- helpers --------------------------------------------------------------------------------
def retry_delay(
    retry: int, headers: Mapping[str, str] | None, settings: LLMSettings, rng: random.Random | None = None
) -> float:
    """How long to wait before retry number `retry` (0-based): retry-after capped, else backoff."""
    after = parse_retry_after(headers)
    if after is not None:
        return min(after, settings.retry_after_cap_s)
    backoff = min(settings.backoff_base_s * 2**retry, settings.backoff_max_s)
    jitter = (rng or random).uniform(0.75, 1.25)  # spread retries of concurrent workers apart
    return min(backoff * jitter, settings.retry_after_cap_s)


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


def _charged_tokens(body: Mapping[str, Any]) -> tuple[int, int]:
    """An answer's output tokens, and its input tokens the input limit counts (cache reads do not)."""
    usage = body.get("usage") if isinstance(body.get("usage"), Mapping) else {}
    assert isinstance(usage, Mapping)

    def num(name: str) -> int:
        try:
            return max(0, int(usage.get(name) or 0))
        except (TypeError, ValueError):
            return 0

    return num("output_tokens"), num("input_tokens") + num("cache_creation_input_tokens")


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
            out, inp = _charged_tokens(body)
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
@dataclass(frozen=True)
class Preflight:
    """What one cheap authenticated call found before a job spends anything. cause: None when the
    endpoint answered as it should, else a key of lib.generation.causes (unreachable, timeout,
    invalid_key, unknown_model, billing, rate_limited, overloaded, not_messages_api, rejected, no_key)."""

    cause: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.cause is None


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
