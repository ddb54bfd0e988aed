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

The API key is passed to the SDK and nowhere else: it is not in any repr, log record or error.
"""
from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import pydantic
import yaml

from lib.config import DEFAULT_MAX_TOKENS, DEFAULT_MODEL, PRICES_FILE, Settings
from lib.core.models import Usage
from lib.generation.prompting import GeneratedConversation

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}
RATE_LIMIT_PREFIX = "anthropic-ratelimit-"


# ---- prices ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens."""
    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float


@dataclass(frozen=True)
class PriceTable:
    models: Mapping[str, ModelPrice]
    batch_discount: float = 0.5
    source: str = ""

    def price_for(self, model: str) -> ModelPrice | None:
        """Exact id, else the longest id the model starts with (dated ids such as claude-x-20250929)."""
        if model in self.models:
            return self.models[model]
        prefixes = [m for m in self.models if model.startswith(m + "-")]
        return self.models[max(prefixes, key=len)] if prefixes else None

    def cost(self, usage: Usage, model: str, *, batch: bool = False,
             cache_write_1h_tokens: int = 0) -> float | None:
        """Cost in USD, or None when the model has no price. `input_tokens` excludes cached tokens
        (the API counts cache writes and reads separately), so the four categories simply add up."""
        price = self.price_for(model)
        if price is None:
            return None
        write_5m = max(0, usage.cache_creation_input_tokens - cache_write_1h_tokens)
        total = (usage.input_tokens * price.input
                 + usage.output_tokens * price.output
                 + write_5m * price.cache_write_5m
                 + cache_write_1h_tokens * price.cache_write_1h
                 + usage.cache_read_input_tokens * price.cache_read) / 1_000_000
        if batch:
            total *= 1 - self.batch_discount
        return total


class PriceError(ValueError):
    pass


def load_prices(path: str | Path | None = None,
                overrides: Mapping[str, Mapping[str, float]] | None = None) -> PriceTable:
    """The price table from config/prices.yaml (or `path`), with per-model overrides merged in
    (an override may give only some rates: {"claude-sonnet-5-5": {"cache_read": 0.2}})."""
    path = Path(path) if path else PRICES_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise PriceError(f"{path}: cannot read the price table ({exc.strerror}); "
                         "set BRIGHTRUN_PRICES_FILE to a readable YAML file") from None
    except yaml.YAMLError as exc:
        raise PriceError(f"{path}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    raw_models: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (data.get("models") or {}).items()}
    for model, rates in (overrides or {}).items():
        raw_models[model] = {**raw_models.get(model, {}), **dict(rates)}
    models: dict[str, ModelPrice] = {}
    for model, rates in raw_models.items():
        try:
            models[model] = ModelPrice(**{k: float(v) for k, v in rates.items()})
        except (TypeError, ValueError) as exc:
            raise PriceError(f"{path}: models.{model}: {exc}; each model needs input, output, "
                             "cache_write_5m, cache_write_1h and cache_read (USD per million tokens)") from None
    discount = float(data.get("batch_discount", 0.5))
    if not 0 <= discount < 1:
        raise PriceError(f"{path}: batch_discount {discount} must be between 0 and 1")
    return PriceTable(models=models, batch_discount=discount, source=str(data.get("source", path)))


# ---- settings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LLMSettings:
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    model: str = DEFAULT_MODEL
    max_tokens: int = DEFAULT_MAX_TOKENS
    max_tokens_cap: int = 32_000        # a cut-off answer is retried once with more room, up to this
    timeout_s: float = 300.0
    max_retries: int = 4                # transport retries per call (429, 529, 5xx, timeouts)
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    retry_after_cap_s: float = 60.0     # never wait longer than this, whatever retry-after says
    effort: str | None = None           # output_config.effort; None = the model's default
    prices: PriceTable = field(default_factory=load_prices, repr=False)

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


# ---- results and errors ---------------------------------------------------------------------
@dataclass(frozen=True)
class TryRecord:
    """One HTTP try of a call: what came back and how long we waited before the next."""
    status: int | None          # None for a timeout or connection error
    error: str | None
    duration_s: float
    waited_s: float = 0.0
    retry_after: str | None = None


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


class LLMError(Exception):
    """No answer to judge. `fatal` means stop the whole run (the next call would fail the same way)."""
    kind = "error"
    fatal = False

    def __init__(self, message: str, *, status: int | None = None, tries: Sequence[TryRecord] = (),
                 request_id: str | None = None, rate_limits: Mapping[str, str] | None = None,
                 duration_s: float = 0.0, raw_body: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.tries = list(tries)
        self.request_id = request_id
        self.rate_limits = dict(rate_limits or {})
        self.duration_s = duration_s
        self.raw_body = raw_body


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


class LLMRequestRejected(LLMError):
    """400, 413, 422 and the like: this request will not work as it is."""
    kind = "rejected"


# ---- helpers --------------------------------------------------------------------------------
def parse_retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, `retry-after` (seconds or an HTTP date), else None."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        return max(0.0, float(lower["retry-after-ms"]) / 1000)
    except (KeyError, TypeError, ValueError):
        pass
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - (now if now is not None else time.time()))


def retry_delay(retry: int, headers: Mapping[str, str] | None, settings: LLMSettings,
                rng: random.Random | None = None) -> float:
    """How long to wait before retry number `retry` (0-based): retry-after capped, else backoff."""
    after = parse_retry_after(headers)
    if after is not None:
        return min(after, settings.retry_after_cap_s)
    backoff = min(settings.backoff_base_s * 2 ** retry, settings.backoff_max_s)
    jitter = (rng or random).uniform(0.75, 1.25)  # spread retries of concurrent workers apart
    return min(backoff * jitter, settings.retry_after_cap_s)


def rate_limit_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {k.lower(): v for k, v in (headers or {}).items()
            if k.lower().startswith(RATE_LIMIT_PREFIX) or k.lower() in ("retry-after", "retry-after-ms")}


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


def _usage_from(body: Mapping[str, Any]) -> tuple[Usage, int]:
    u = body.get("usage") or {}
    creation = u.get("cache_creation") or {}
    usage = Usage(input_tokens=int(u.get("input_tokens") or 0), output_tokens=int(u.get("output_tokens") or 0),
                  cache_creation_input_tokens=int(u.get("cache_creation_input_tokens") or 0),
                  cache_read_input_tokens=int(u.get("cache_read_input_tokens") or 0))
    return usage, int(creation.get("ephemeral_1h_input_tokens") or 0)


def _text_of(body: Mapping[str, Any]) -> str:
    return "".join(b.get("text", "") for b in body.get("content") or [] if b.get("type") == "text")


def response_from_body(body: Mapping[str, Any], *, settings: LLMSettings, requested_model: str,
                       raw_body: str = "", duration_s: float = 0.0, headers: Mapping[str, str] | None = None,
                       tries: Sequence[TryRecord] = (), parsed: pydantic.BaseModel | None = None,
                       batch: bool = False, max_tokens: int = 0,
                       output_format: type[pydantic.BaseModel] = GeneratedConversation) -> LLMResponse:
    """An LLMResponse from a Messages API body: a live call's, or a Message Batches result's message.
    The output is validated against `output_format` here unless the SDK already parsed it."""
    usage, write_1h = _usage_from(body)
    model = str(body.get("model") or requested_model)
    cost = settings.prices.cost(usage, model, batch=batch, cache_write_1h_tokens=write_1h)
    if cost is None:  # an endpoint may report its own model name; fall back to the one we asked for
        cost = settings.prices.cost(usage, requested_model, batch=batch, cache_write_1h_tokens=write_1h)
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
    return LLMResponse(requested_model=requested_model, model=model, stop_reason=stop_reason, text=text,
                       raw_body=raw_body or json.dumps(body), parsed=parsed, parse_error=parse_error, usage=usage,
                       cost_usd=cost or 0.0, priced=cost is not None, duration_s=duration_s,
                       request_id=headers.get("request-id") or body.get("_request_id"),
                       rate_limits=rate_limit_headers(headers), tries=list(tries), refusal=refusal,
                       max_tokens=max_tokens)


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
    """`before_try` (async) runs before every HTTP try, e.g. to take a rate-limiter token; `on_try`
    sees every try's record and anthropic-ratelimit-* headers, 429s that are retried included, so
    a runner can adapt its concurrency."""

    def __init__(self, settings: LLMSettings, *, client: anthropic.AsyncAnthropic | None = None,
                 before_try: Callable[[], Awaitable[None]] | None = None,
                 on_try: Callable[[TryRecord, dict[str, str]], None] | None = None) -> None:
        self.settings = settings
        self.before_try = before_try
        self.on_try = on_try
        if client is None:
            key = settings.api_key
            if not key:
                raise MissingApiKey("no Anthropic API key: set ANTHROPIC_API_KEY in the environment or in "
                                    ".streamlit/secrets.toml. Without a key the app still works on the seed "
                                    "conversations; generation is off.")
            client = anthropic.AsyncAnthropic(
                api_key=key,
                base_url=settings.base_url or None,
                max_retries=0,  # retries are ours: see the module docstring
                timeout=settings.timeout_s,
                http_client=anthropic.DefaultAsyncHttpxClient(timeout=settings.timeout_s,
                                                              event_hooks={"response": [_on_response]}),
            )
        self._client = client

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.close()

    def request_params(self, system: str, messages: Sequence[Mapping[str, Any]], *,
                       max_tokens: int | None = None,
                       output_format: type[pydantic.BaseModel] = GeneratedConversation) -> dict[str, Any]:
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

    async def generate(self, system: str, messages: Sequence[Mapping[str, Any]], *,
                       max_tokens: int | None = None,
                       output_format: type[pydantic.BaseModel] = GeneratedConversation) -> LLMResponse:
        """One structured-output call, retried on transient errors. Raises LLMError without an answer."""
        params = self._params(system, messages, max_tokens)
        tries: list[TryRecord] = []
        started = time.monotonic()
        retries = max(0, self.settings.max_retries)
        for attempt in range(retries + 1):
            if self.before_try is not None:
                await self.before_try()
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
                self._record(tries, TryRecord(status=status, error=_error_message(exc), duration_s=elapsed,
                                              waited_s=wait, retry_after=headers.get("retry-after")), headers)
                if attempt < retries:
                    log.info("Anthropic answered %s; retry %d of %d in %.1fs", status, attempt + 1, retries, wait)
                    await asyncio.sleep(wait)
                    continue
                raise LLMUnavailable(self._unavailable_message(tries), status=status, tries=tries,
                                     request_id=headers.get("request-id"), rate_limits=rate_limit_headers(headers),
                                     duration_s=time.monotonic() - started, raw_body=_body_text(exc)) from None
            except (anthropic.APITimeoutError, anthropic.APIConnectionError) as exc:
                elapsed = time.monotonic() - t0
                wait = retry_delay(attempt, None, self.settings) if attempt < retries else 0.0
                what = "timed out" if isinstance(exc, anthropic.APITimeoutError) else "connection failed"
                self._record(tries, TryRecord(status=None, error=what, duration_s=elapsed, waited_s=wait), None)
                if attempt < retries:
                    log.info("Anthropic request %s; retry %d of %d in %.1fs", what, attempt + 1, retries, wait)
                    await asyncio.sleep(wait)
                    continue
                raise LLMUnavailable(self._unavailable_message(tries), tries=tries,
                                     duration_s=time.monotonic() - started) from None
            except (anthropic.APIError, AttributeError) as exc:
                # A 200 that is not a Messages answer (a proxy's HTML page, say): the SDK hands the
                # text to its parser, which fails. With a JSON body the same error is a real bug.
                if isinstance(exc, AttributeError) and "json" in cap.headers.get("content-type", "json"):
                    raise
                elapsed = time.monotonic() - t0
                record = TryRecord(status=cap.status, error=str(exc)[:300], duration_s=elapsed)
                self._record(tries, record, cap.headers)
                raise LLMRequestRejected(
                    f"the endpoint answered, but not with a Messages API response ({str(exc)[:200]}). "
                    "Check ANTHROPIC_BASE_URL points at an Anthropic-compatible API.", status=cap.status, tries=tries,
                    duration_s=time.monotonic() - started, raw_body=cap.body[:10_000]) from None
            finally:
                _capture.reset(token)
            elapsed = time.monotonic() - t0
            self._record(tries, TryRecord(status=cap.status or 200, error=None, duration_s=elapsed), cap.headers)
            try:
                body = json.loads(cap.body) if cap.body else {}
            except ValueError:
                body = {}
            return response_from_body(body, settings=self.settings, requested_model=self.settings.model,
                                      raw_body=cap.body, duration_s=time.monotonic() - started, headers=cap.headers,
                                      tries=tries, parsed=parsed, max_tokens=params["max_tokens"],
                                      output_format=output_format)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _record(self, tries: list[TryRecord], record: TryRecord, headers: Mapping[str, str] | None) -> None:
        tries.append(record)
        if self.on_try is not None:
            self.on_try(record, rate_limit_headers(headers))

    def _raise_if_final(self, exc: anthropic.APIStatusError, status: int, headers: Mapping[str, str],
                        tries: list[TryRecord], elapsed: float, started: float) -> None:
        should_retry = headers.get("x-should-retry")
        if status in RETRYABLE_STATUS and should_retry != "false":
            return
        if should_retry == "true":
            return
        detail = _error_message(exc)
        record = TryRecord(status=status, error=detail, duration_s=elapsed)
        if self.on_try is not None:
            self.on_try(record, rate_limit_headers(headers))
        kw: dict[str, Any] = {"status": status, "tries": [*tries, record], "request_id": headers.get("request-id"),
                              "duration_s": time.monotonic() - started, "raw_body": _body_text(exc)}
        if status in (401, 403):
            raise InvalidApiKey(f"the API key is invalid (Anthropic answered {status}). Check ANTHROPIC_API_KEY in "
                                "the environment or .streamlit/secrets.toml; generation has stopped.", **kw) from None
        if status == 402:
            raise BillingError("the Anthropic account cannot be billed (402): add credit or a payment method in "
                               "the Anthropic console, then resume.", **kw) from None
        if status == 404:
            raise ModelNotFound(f"Anthropic does not know the model {self.settings.model!r} (404: {detail}). Set "
                                f"BRIGHTRUN_MODEL to a current model id, e.g. {DEFAULT_MODEL}.", **kw) from None
        raise LLMRequestRejected(f"Anthropic rejected the request ({status}: {detail}).", **kw) from None

    def _unavailable_message(self, tries: Sequence[TryRecord]) -> str:
        seen = ", ".join(str(t.status) if t.status else (t.error or "error") for t in tries)
        return (f"Anthropic did not answer after {len(tries)} tries ({seen}). The API is overloaded or "
                "rate-limited; retry this scenario later, or lower the concurrency.")


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, LLMUnavailable)


__all__: list[str] = [
    "DEFAULT_MODEL",
    "BillingError",
    "InvalidApiKey",
    "LLMClient",
    "LLMError",
    "LLMRequestRejected",
    "LLMResponse",
    "LLMSettings",
    "LLMUnavailable",
    "MissingApiKey",
    "ModelNotFound",
    "ModelPrice",
    "PriceError",
    "PriceTable",
    "TryRecord",
    "load_prices",
    "parse_retry_after",
    "response_from_body",
    "retry_delay",
    "summarize_validation_error",
]
