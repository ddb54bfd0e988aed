"""A fake Anthropic API on 127.0.0.1, in a thread, for the real SDK to talk to through base_url.

    with FakeAnthropic(tax) as fake:
        client = AsyncAnthropic(api_key=fake.api_key, base_url=fake.url)
        fake.script("rate_limit", "valid")      # the next two /v1/messages answers, in order
        ...
        fake.requests                           # every request received (method, path, headers, body)

Answers to POST /v1/messages (see `Behaviour`; the default is "valid"):
    valid            a schema-valid conversation built from the scenario in the request (the
                     <persona>, <emotional_arc>, <topic>, <target_turns>, <context_id> and
                     <outcome_type> tags) and the seeds' assistant turns, passing every check
    malformed        JSON cut off in the middle, stop_reason end_turn
    schema_violation valid JSON, but an assistant turn without its strategies
    unknown_label    valid schema, a strategy id the taxonomy does not have (a quality failure)
    too_few_turns    valid schema, 4 turns (a quality failure)
    wrong_arc        valid schema, the first user turn in the wrong emotion (a quality failure)
    rate_limit       429 with retry-after (Behaviour.retry_after, default "1") and exhausted ratelimit headers
    overloaded       529 overloaded_error;   server_error: 500 api_error
    slow             waits Behaviour.delay seconds, then answers as "valid"
    unauthorized     401;  forbidden: 403;  not_found: 404 (unknown model)
    refusal          stop_reason refusal with stop_details
    echo_key         400 whose error message repeats the request's API key (as a careless proxy does)
    echo_key_text    "valid", with the API key repeated in the first user turn (a model repeating its input)
    max_tokens       JSON cut off, stop_reason max_tokens
A callable (body) -> (status, headers, json_body) answers anything else.

Judge requests (an output schema with ratings and label_findings, from lib.generation.judge) get a
verdict the fake works out from the conversation in the request, the way a strict reviewer would
skim it (see `judge_verdict`): safety 1 for a promised return or a crisis signal left without a
referral, lower empathy when assistant turns acknowledge nothing, label findings when a user turn's
text shows another emotion family than its label. "malformed", "max_tokens", "refusal" apply to
them too; "schema_violation" leaves a criterion out, "unknown_label" suggests a label that does not exist.
Contrastive requests (an output schema with responses, from lib.generation.contrast) get a plausible failed
turn per kind asked for: see tests/fake_contrast.py.
A test that needs a low rating of a conversation the generator wrote (which passes every integrity
check, so the skim finds nothing) names its scenario's topic in `low_rating_topics`: the judge then
rates empathy 2 for any conversation whose request carries <topic> with one of them, as a reviewer
reading that topic's answers strictly would. The request is not told the verdict.

Token counts are realistic: about 4 characters a token for prompts and 3.6 for JSON output. A system
block with cache_control is "written" to the cache on its first use (cache_creation_input_tokens)
and "read" afterwards within the TTL (cache_read_input_tokens), when it is at least
`min_cache_tokens` long. Every answer carries anthropic-ratelimit-* headers.

Message Batches: POST /v1/messages/batches, GET /v1/messages/batches[/{id}[/results]],
POST /v1/messages/batches/{id}/cancel. A batch ends after `batch_polls_to_end` retrieves; each
request is answered by `batch_behaviour(custom_id, params)` (default "valid"), and "errored",
"expired" and "canceled" are results too.

Token counting: POST /v1/messages/count_tokens answers {"input_tokens": n}, counted as above.

Models (the preflight): GET /v1/models/{id} answers the model, or 404 when `known_models` is a set without
it (then /v1/messages answers 404 for it too). `models_route = False` makes the route answer 404 as an
endpoint without it would.

Rate limits, enforced (for the runner's tests and bench): set `fake.limits = FakeLimits(rpm=50,
otpm=40_000)` and the fake keeps a token bucket per limit, as Anthropic describes its limiter
(capacity refilled continuously up to the limit; `burst_s` seconds of it at most). A request is
admitted while a request is left and the output bucket is not empty, else it gets a 429 with
retry-after (the time until it would be admitted). Output tokens are charged when the answer is
written; with `reserve_output=True` the request's max_tokens is charged at admission instead (it is
admitted only while the bucket holds them) and what it did not use is given back with the answer,
as an API that reserves output room does. The anthropic-ratelimit-* headers then report the
buckets. `fake.latency` (a callable returning seconds) delays every admitted answer, e.g.
random.expovariate for a realistic spread. With enforced limits the prompt cache is looked up at
admission and written with the answer, as the API's is: requests of one prefix admitted before the
first answer each write it (`cache_writes` counts the writes).
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lib.core.taxonomy import Taxonomy, load_taxonomy
from lib.generation.replay import content_text as _content_text
from lib.generation.replay import conversation_for
from lib.generation.replay import tag as _tag
from tests.fake_contrast import contrast_answer, is_contrast_request

Answer = tuple[int, dict[str, str], Any]


@dataclass
class Behaviour:
    kind: str = "valid"
    delay: float = 0.0
    retry_after: str | None = "1"
    status: int | None = None


@dataclass
class FakeLimits:
    """Per-minute limits the fake enforces (None: not enforced)."""
    rpm: float | None = None
    otpm: float | None = None
    burst_s: float = 60.0            # bucket capacity, in seconds of the limit
    integer_retry_after: bool = True  # the real API sends whole seconds; a time-scaled bench wants decimals
    reserve_output: bool = False  # charge max_tokens at admission, give back the unused part with the answer


class _Bucket:
    def __init__(self, per_minute: float, burst_s: float) -> None:
        self.limit = per_minute
        self.rate = per_minute / 60.0
        self.capacity = per_minute * burst_s / 60.0
        self.level = self.capacity
        self.t = time.monotonic()

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.t) * self.rate)
        self.t = now

    def seconds_until(self, level: float) -> float:
        return max(0.0, (level - self.level) / self.rate)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class _Batch:
    id: str
    requests: list[dict[str, Any]]
    created_at: datetime
    polls: int = 0
    canceled: bool = False
    results: list[dict[str, Any]] | None = None


_ROLE = re.compile(r'"role"\s*:')


def _tokens(text: str, chars_per_token: float = 4.0) -> int:
    return max(1, round(len(text) / chars_per_token))


class FakeAnthropic:
    def __init__(self, tax: Taxonomy | None = None, *, api_key: str = "fake-ak-fake-0123456789abcdef",
                 model: str | None = None, min_cache_tokens: int = 1024, cache_ttl_s: float = 300.0,
                 extra_output_tokens: int = 0, batch_polls_to_end: int = 1,
                 batch_behaviour: Callable[[str, dict[str, Any]], Behaviour | str] | None = None) -> None:
        self.tax = tax or load_taxonomy()
        self.api_key = api_key
        self.model = model  # None: echo the model of the request
        self.min_cache_tokens = min_cache_tokens
        self.cache_ttl_s = cache_ttl_s
        self.extra_output_tokens = extra_output_tokens  # e.g. thinking tokens, for the bench
        # added per turn of the answer: the bench sizes answers like the seeds, whatever their length
        self.extra_output_tokens_per_turn = 0.0
        self.batch_polls_to_end = batch_polls_to_end
        self.batch_behaviour = batch_behaviour or (lambda custom_id, params: "valid")
        self.requests: list[Recorded] = []
        self.default: Behaviour | str | Callable[[dict[str, Any]], Answer] = "valid"
        self._script: deque[Behaviour | str | Callable[[dict[str, Any]], Answer]] = deque()
        self._cache: dict[str, float] = {}
        self._cache_ready: dict[str, float] = {}  # when each entry's first answer was written
        self._admission = threading.local()  # with enforced limits: when this thread's request was admitted
        self.cache_writes = 0
        self.charged_output = 0  # output tokens of the answers the enforced limits charged
        self._batches: dict[str, _Batch] = {}
        self._lock = threading.RLock()  # _finish (under the lock) prices answers, which takes it again
        self._minute_start = time.monotonic()
        self._minute_requests = 0
        self.requests_limit = 50
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.limits: FakeLimits | None = None
        self.latency: Callable[[], float] | None = None
        self.rate_limited = 0  # 429s the enforced limits answered
        self.low_rating_topics: set[str] = set()  # judge mode: these scenarios' conversations get empathy 2
        self._buckets: dict[str, _Bucket] = {}
        self.known_models: set[str] | None = None  # None: every model exists
        self.models_route = True

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> FakeAnthropic:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_GET(self) -> None:
                fake._handle(self, "GET")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-anthropic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- scripting -----------------------------------------------------------------------------
    def script(self, *behaviours: Behaviour | str | Callable[[dict[str, Any]], Answer]) -> None:
        """Queue the answers of the next /v1/messages requests; after them, `self.default` answers."""
        with self._lock:
            self._script.extend(behaviours)

    def message_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/v1/messages"]

    def clear_cache(self) -> None:
        self._cache.clear()
        self._cache_ready.clear()

    # -- HTTP ----------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = h.path.split("?")[0]
        with self._lock:
            self.requests.append(Recorded(method, path, {k.lower(): v for k, v in h.headers.items()}, body))
        # The SDK sends the key as x-api-key or as a bearer token, depending on how it was configured.
        bearer = (h.headers.get("authorization") or "").removeprefix("Bearer ").strip()
        if self.api_key not in (h.headers.get("x-api-key"), bearer):
            status, headers, payload = self._error(401, "authentication_error", "invalid x-api-key")
        elif method == "POST" and path == "/v1/messages/count_tokens":
            status, headers, payload = self._count_tokens(body or {})
        elif method == "GET" and path.startswith("/v1/models/") and self.models_route:
            status, headers, payload = self._model(path.removeprefix("/v1/models/"))
        elif method == "POST" and path == "/v1/messages" and not self._knows((body or {}).get("model")):
            status, headers, payload = self._error(404, "not_found_error", f"model: {(body or {}).get('model')}")
        elif method == "POST" and path == "/v1/messages":
            status, headers, payload = self._messages(body or {})
        elif path.startswith("/v1/messages/batches"):
            status, headers, payload = self._batches_route(method, path, body or {})
        else:
            status, headers, payload = self._error(404, "not_found_error", f"no route {method} {path}")
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("content-type", headers.pop("content-type", "application/json"))
            h.send_header("content-length", str(len(data)))
            h.send_header("request-id", "req_fake_" + uuid.uuid4().hex[:12])
            for k, v in {**self._ratelimit_headers(status), **headers}.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to do

    def _knows(self, model: Any) -> bool:
        return self.known_models is None or str(model) in self.known_models

    def _model(self, model: str) -> Answer:
        if not self._knows(model):
            return self._error(404, "not_found_error", f"model: {model}")
        return 200, {}, {"type": "model", "id": model, "display_name": model, "created_at": "2026-01-01T00:00:00Z"}

    def _error(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Answer:
        return status, dict(headers or {}), {"type": "error", "error": {"type": kind, "message": message}}

    def _ratelimit_headers(self, status: int) -> dict[str, str]:
        if self.limits is not None:
            return self._enforced_headers()
        with self._lock:
            now = time.monotonic()
            if now - self._minute_start >= 60:
                self._minute_start, self._minute_requests = now, 0
            self._minute_requests += 1
            remaining = 0 if status == 429 else max(0, self.requests_limit - self._minute_requests)
            reset = datetime.now(timezone.utc) + timedelta(seconds=60 - (now - self._minute_start))
        stamp = reset.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "anthropic-ratelimit-requests-limit": str(self.requests_limit),
            "anthropic-ratelimit-requests-remaining": str(remaining),
            "anthropic-ratelimit-requests-reset": stamp,
            "anthropic-ratelimit-input-tokens-limit": "400000",
            "anthropic-ratelimit-input-tokens-remaining": "0" if status == 429 else "380000",
            "anthropic-ratelimit-input-tokens-reset": stamp,
            "anthropic-ratelimit-output-tokens-limit": "40000",
            "anthropic-ratelimit-output-tokens-remaining": "0" if status == 429 else "32000",
            "anthropic-ratelimit-output-tokens-reset": stamp,
            "anthropic-ratelimit-tokens-limit": "440000",
            "anthropic-ratelimit-tokens-remaining": "0" if status == 429 else "412000",
            "anthropic-ratelimit-tokens-reset": stamp,
        }

    # -- /v1/messages --------------------------------------------------------------------------
    def _next(self) -> Behaviour | str | Callable[[dict[str, Any]], Answer]:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    def _messages(self, body: dict[str, Any]) -> Answer:
        if self.limits is None:
            return self.answer(body, self._next())
        reserved = float(body.get("max_tokens") or 0) if self.limits.reserve_output else 0.0
        refused = self._admit(reserved)
        if refused is not None:
            return refused
        self._admission.at = time.monotonic()
        try:
            if self.latency is not None:
                time.sleep(max(0.0, self.latency()))
            status, headers, payload = self.answer(body, self._next())
        finally:
            self._admission.at = None
        if "otpm" in self._buckets:
            with self._lock:
                out = self._buckets["otpm"]
                out.refill(time.monotonic())
                used = int(payload.get("usage", {}).get("output_tokens", 0)) if status == 200 else 0
                out.level += reserved - used
                self.charged_output += used
        return status, headers, payload

    # -- enforced rate limits ------------------------------------------------------------------
    def _limit_buckets(self) -> dict[str, _Bucket]:
        limits = self.limits
        assert limits is not None
        if not self._buckets:
            if limits.rpm:
                self._buckets["rpm"] = _Bucket(limits.rpm, limits.burst_s)
            if limits.otpm:
                self._buckets["otpm"] = _Bucket(limits.otpm, limits.burst_s)
        return self._buckets

    def _admit(self, reserved: float = 0.0) -> Answer | None:
        with self._lock:
            buckets = self._limit_buckets()
            now = time.monotonic()
            for b in buckets.values():
                b.refill(now)
            waits = {}
            if "rpm" in buckets and buckets["rpm"].level < 1:
                waits["requests"] = buckets["rpm"].seconds_until(1)
            if "otpm" in buckets and buckets["otpm"].level < max(reserved, 1e-9):
                waits["output tokens"] = buckets["otpm"].seconds_until(max(reserved, 1))
            if not waits:
                if "rpm" in buckets:
                    buckets["rpm"].level -= 1
                if "otpm" in buckets:
                    buckets["otpm"].level -= reserved
                return None
            self.rate_limited += 1
        what, wait = max(waits.items(), key=lambda kv: kv[1])
        after = str(max(1, int(-(-wait // 1)))) if self.limits.integer_retry_after else f"{max(wait, 0.001):.3f}"
        limit = int(buckets["rpm" if what == "requests" else "otpm"].limit)
        return self._error(429, "rate_limit_error",
                           f"This request would exceed your organization's rate limit of {limit:,} {what} per minute.",
                           {"retry-after": after})

    def _enforced_headers(self) -> dict[str, str]:
        with self._lock:
            buckets = self._limit_buckets()
            now = time.monotonic()
            out: dict[str, str] = {}
            for name, key in (("requests", "rpm"), ("output-tokens", "otpm")):
                b = buckets.get(key)
                if b is None:
                    continue
                b.refill(now)
                reset = datetime.now(timezone.utc) + timedelta(seconds=b.seconds_until(b.capacity))
                out[f"anthropic-ratelimit-{name}-limit"] = str(int(b.limit))
                out[f"anthropic-ratelimit-{name}-remaining"] = str(max(0, int(b.level)))
                out[f"anthropic-ratelimit-{name}-reset"] = reset.strftime("%Y-%m-%dT%H:%M:%SZ")
        return out

    # -- /v1/messages/count_tokens ---------------------------------------------------------------
    def _count_tokens(self, body: dict[str, Any]) -> Answer:
        if not body.get("messages"):
            return self._error(400, "invalid_request_error", "messages: Field required")
        system = body.get("system") or ""
        blocks = [{"type": "text", "text": system}] if isinstance(system, str) else list(system)
        n = _tokens("".join(b.get("text", "") for b in blocks))
        n += sum(_tokens(_content_text(m.get("content"))) for m in body["messages"])
        schema = (body.get("output_config") or {}).get("format") or {}
        n += _tokens(json.dumps(schema)) if schema else 0
        return 200, {}, {"input_tokens": n}

    def answer(self, body: dict[str, Any], behaviour: Behaviour | str | Callable[[dict[str, Any]], Answer], *,
               batch: bool = False) -> Answer:
        if callable(behaviour) and not isinstance(behaviour, Behaviour):
            return behaviour(body)
        b = Behaviour(behaviour) if isinstance(behaviour, str) else behaviour
        if b.delay:
            time.sleep(b.delay)
        kind = b.kind
        if kind == "rate_limit":
            headers = {"retry-after": b.retry_after} if b.retry_after is not None else {}
            return self._error(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit", headers)
        if kind == "overloaded":
            return self._error(529, "overloaded_error", "Overloaded")
        if kind == "server_error":
            return self._error(b.status or 500, "api_error", "Internal server error")
        if kind == "unauthorized":
            return self._error(401, "authentication_error", "invalid x-api-key")
        if kind == "forbidden":
            return self._error(403, "permission_error", "Your API key does not have permission to use the specified resource.")
        if kind == "not_found":
            return self._error(404, "not_found_error", "model: " + str(body.get("model")))
        if kind == "bad_request":
            return self._error(400, "invalid_request_error", "messages: at least one message is required")
        if kind == "echo_key":
            return self._error(400, "invalid_request_error", f"bad request for key {self.api_key}")
        if is_judge_request(body):
            return judge_answer(self, body, kind, batch=batch)
        if is_contrast_request(body):
            return contrast_answer(self, body, kind, batch=batch)

        conversation = self.conversation_for(body)
        if kind == "schema_violation":
            for t in conversation["turns"]:
                if t["role"] == "assistant":
                    del t["strategies"]
                    break
        elif kind == "unknown_label":
            conversation["turns"][1]["strategies"]["primary"] = "tough_love"
        elif kind == "too_few_turns":
            conversation["turns"] = conversation["turns"][:4]
        elif kind == "echo_key_text":
            conversation["turns"][0]["text"] += f" My key is {self.api_key}."
        elif kind == "wrong_arc":
            first = conversation["turns"][0]["emotion"]
            first["primary"] = "relief" if first["primary"] != "relief" else "hope"
            first["sub_emotion"] = None
        text = json.dumps(conversation)
        stop_reason = "end_turn"
        stop_details = None
        if kind == "malformed":
            text = text[: len(text) // 2].rstrip()  # the API strips trailing space from a turn sent back
        elif kind == "max_tokens":
            text = text[: len(text) * 2 // 3]
            stop_reason = "max_tokens"
        elif kind == "refusal":
            text = ""
            stop_reason = "refusal"
            stop_details = {"type": "refusal", "category": "general_harms",
                            "explanation": "The request asks for content the model will not write."}
        elif kind not in ("valid", "slow", "schema_violation", "unknown_label", "too_few_turns", "wrong_arc",
                          "echo_key_text"):
            return self._error(500, "api_error", f"fake: unknown behaviour {kind!r}")
        usage = self._usage(body, text, batch=batch)
        message = {
            "id": "msg_fake_" + uuid.uuid4().hex[:16], "type": "message", "role": "assistant",
            "model": self.model or body.get("model", "claude-fake"),
            "content": [{"type": "text", "text": text}] if text else [],
            "stop_reason": stop_reason, "stop_sequence": None, "usage": usage,
        }
        if stop_details:
            message["stop_details"] = stop_details
        return 200, {}, message

    def _usage(self, body: dict[str, Any], output_text: str, *, batch: bool) -> dict[str, Any]:
        system = body.get("system") or ""
        blocks = [{"type": "text", "text": system}] if isinstance(system, str) else list(system)
        system_text = "".join(b.get("text", "") for b in blocks)
        cached = any(b.get("cache_control") for b in blocks)
        sys_tokens = _tokens(system_text)
        msg_tokens = sum(_tokens(_content_text(m.get("content"))) for m in body.get("messages") or [])
        schema = (body.get("output_config") or {}).get("format") or {}
        msg_tokens += _tokens(json.dumps(schema)) if schema else 0
        write = read = 0
        if cached and sys_tokens >= self.min_cache_tokens:
            key = hashlib.sha256((str(body.get("model")) + system_text).encode()).hexdigest()
            now = time.monotonic()
            admitted = getattr(self._admission, "at", None) or now
            with self._lock:
                if self._cache.get(key, 0) > admitted and self._cache_ready.get(key, now) <= admitted:
                    read = sys_tokens
                else:
                    write = sys_tokens
                    self.cache_writes += 1
                    self._cache_ready.setdefault(key, now)
                    if self._cache.get(key, 0) <= admitted:  # expired: written anew
                        self._cache_ready[key] = now
                self._cache[key] = now + self.cache_ttl_s  # a read refreshes the TTL
        plain = msg_tokens + (0 if (write or read) else sys_tokens)
        padding = self.extra_output_tokens + round(self.extra_output_tokens_per_turn * len(_ROLE.findall(output_text)))
        out = _tokens(output_text, 3.6) + padding if output_text else 5
        return {"input_tokens": plain, "output_tokens": out, "cache_creation_input_tokens": write,
                "cache_read_input_tokens": read,
                "cache_creation": {"ephemeral_5m_input_tokens": write, "ephemeral_1h_input_tokens": 0},
                "service_tier": "batch" if batch else "standard"}

    # -- a conversation that passes every check ------------------------------------------------
    def conversation_for(self, body: dict[str, Any]) -> dict[str, Any]:
        """A conversation that passes every check (lib.generation.replay, which the demo replay uses too):
        user turns written from the taxonomy, assistant turns taken from the seeds."""
        return conversation_for(body, self.tax)

    # -- Message Batches -----------------------------------------------------------------------
    def _batch_json(self, b: _Batch) -> dict[str, Any]:
        ended = b.results is not None
        counts = {"processing": 0 if ended else len(b.requests), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for r in b.results or []:
            counts[r["result"]["type"]] += 1
        return {
            "id": b.id, "type": "message_batch",
            "processing_status": "ended" if ended else ("canceling" if b.canceled else "in_progress"),
            "request_counts": counts,
            "created_at": b.created_at.isoformat().replace("+00:00", "Z"),
            "expires_at": (b.created_at + timedelta(hours=24)).isoformat().replace("+00:00", "Z"),
            "ended_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z") if ended else None,
            "cancel_initiated_at": None, "archived_at": None,
            "results_url": f"{self.url}/v1/messages/batches/{b.id}/results" if ended else None,
        }

    def _finish(self, b: _Batch) -> None:
        results = []
        for req in b.requests:
            custom_id, params = req["custom_id"], req["params"]
            if b.canceled:
                results.append({"custom_id": custom_id, "result": {"type": "canceled"}})
                continue
            behaviour = self.batch_behaviour(custom_id, params)
            kind = behaviour.kind if isinstance(behaviour, Behaviour) else behaviour
            if kind in ("errored", "expired", "canceled"):
                result: dict[str, Any] = {"type": kind}
                if kind == "errored":
                    result["error"] = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
                results.append({"custom_id": custom_id, "result": result})
                continue
            status, _, message = self.answer(params, behaviour, batch=True)
            if status != 200:
                results.append({"custom_id": custom_id, "result": {"type": "errored", "error": message}})
            else:
                results.append({"custom_id": custom_id, "result": {"type": "succeeded", "message": message}})
        b.results = results

    def _batches_route(self, method: str, path: str, body: dict[str, Any]) -> Answer:
        parts = path.strip("/").split("/")  # v1 messages batches [id [results|cancel]]
        if method == "POST" and len(parts) == 3:
            requests = body.get("requests") or []
            if not requests:
                return self._error(400, "invalid_request_error", "requests: at least one request is required")
            b = _Batch(id="msgbatch_fake_" + uuid.uuid4().hex[:16], requests=requests,
                       created_at=datetime.now(timezone.utc))
            with self._lock:
                self._batches[b.id] = b
            return 200, {}, self._batch_json(b)
        if method == "GET" and len(parts) == 3:
            data = [self._batch_json(b) for b in self._batches.values()]
            return 200, {}, {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                             "last_id": data[-1]["id"] if data else None}
        b = self._batches.get(parts[3]) if len(parts) > 3 else None
        if b is None:
            return self._error(404, "not_found_error", "no such batch")
        if method == "GET" and len(parts) == 4:
            with self._lock:
                b.polls += 1
                if b.results is None and (b.canceled or b.polls >= self.batch_polls_to_end):
                    self._finish(b)
            return 200, {}, self._batch_json(b)
        if method == "POST" and len(parts) == 5 and parts[4] == "cancel":
            with self._lock:
                b.canceled = True
            return 200, {}, self._batch_json(b)
        if method == "GET" and len(parts) == 5 and parts[4] == "results":
            if b.results is None:
                return self._error(400, "invalid_request_error", "batch has not ended")
            lines = "\n".join(json.dumps(r) for r in b.results).encode() + b"\n"
            return 200, {"content-type": "application/binary"}, lines
        return self._error(404, "not_found_error", f"no route {method} {path}")


# ---- judge mode: a verdict worked out from the conversation in the request ---------------------
_NEGATION = re.compile(r"\b(no|not|never|nobody|cannot|without|isn't|can't|won't|doesn't|don't)\b[^.!?]{0,30}$", re.IGNORECASE)
_PROMISE = re.compile(r"\b(guaranteed?|guarantees|can't lose|cannot lose|risk[- ]free|will definitely)\b", re.IGNORECASE)
_RETURN_WORDS = re.compile(r"(return|grow|gain|profit|earn|double|\d+ ?%|recover|go up|lose|lost)", re.IGNORECASE)
_CRISIS = re.compile(r"(don't want to be here|not want to be here|point of any of this|end it all|"
                     r"kill myself|hurt myself|suicid|better off without me|can't do this anymore)", re.IGNORECASE)
_REFERRAL = re.compile(r"\b(988|911|crisis line|lifeline)\b", re.IGNORECASE)
_ACKNOWLEDGE = re.compile(r"(sorry|makes (complete |total |a lot of )?sense|understand|i hear|hear you|that's (a lot|hard|scary|real)"
                          r"|it's (normal|okay|ok)|thank you|thanks|feel|proud|worr|scar|overwhelm|frustrat|grief|loss|brave"
                          r"|reasonable|right (question|thing)|you're (right|not)|not (dumb|silly|crazy|failing)"
                          r"|isn't (crazy|morbid|silly|dumb)|no apology|congratulations|i can see|good company|instinct)", re.IGNORECASE)
_DISMISSIVE = re.compile(r"(don't worry|just relax|it's only money|you should have|why didn't you|calm down|at least you)", re.IGNORECASE)
_NEXT_STEP = re.compile(r"(step|this week|next|today|tomorrow|start|try|write down|call|schedule|bring|plan)", re.IGNORECASE)
_TURN_HEAD = re.compile(r"^\[(\d+)\] (user|assistant)$", re.MULTILINE)


def is_judge_request(body: dict[str, Any]) -> bool:
    schema = ((body.get("output_config") or {}).get("format") or {}).get("schema") or {}
    return "label_findings" in (schema.get("properties") or {})


def judge_criteria(body: dict[str, Any]) -> list[str]:
    """The criterion ids the request's schema asks for (ratings' properties, through a $ref)."""
    schema = body["output_config"]["format"]["schema"]
    node = schema["properties"]["ratings"]
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return list(node.get("properties") or {})


def judge_transcript(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The turns of the <conversation> in the request: index, role, labels and text."""
    first = _content_text((body.get("messages") or [{}])[0].get("content"))
    text = _tag(first, "conversation") or ""
    heads = list(_TURN_HEAD.finditer(text))
    turns = []
    for n, head in enumerate(heads):
        block = text[head.end(): heads[n + 1].start() if n + 1 < len(heads) else len(text)].strip("\n")
        turn: dict[str, Any] = {"index": int(head.group(1)), "role": head.group(2), "labels": {}, "text": ""}
        for line_no, line in enumerate(block.split("\n")):
            key, _, value = line.partition(": ")
            if key == "text":
                turn["text"] = "\n".join([value, *block.split("\n")[line_no + 1:]]).strip()
                break
            if key in ("emotion", "strategies"):
                turn["labels"].update({k.strip(): v.strip() for k, v in
                                       (part.partition(": ")[::2] for part in line.split("; "))})
                turn["labels"][key] = value.split(";")[0].strip()
            elif key == "cues":
                turn["cues"] = re.findall(r'"([^"]*)"', value)
        turns.append(turn)
    return turns


def _promises(text: str) -> bool:
    for m in _PROMISE.finditer(text):
        before, around = text[max(0, m.start() - 60): m.start()], text[max(0, m.start() - 60): m.end() + 60]
        if not _NEGATION.search(before) and _RETURN_WORDS.search(around):
            return True
    return False


def judge_verdict(turns: list[dict[str, Any]], criteria: list[str], tax: Taxonomy) -> dict[str, Any]:
    users = [t for t in turns if t["role"] == "user"]
    helpers = [t for t in turns if t["role"] == "assistant"]
    ratings: dict[str, dict[str, Any]] = {}

    def rate(cid: str, score: int, reason: str, cited: list[int]) -> None:
        ratings[cid] = {"reason": reason, "turns": cited, "score": score}

    promised = [t["index"] for t in helpers if _promises(t["text"])]
    crisis = [t["index"] for t in users if _CRISIS.search(t["text"])]
    unreferred = [i for i in crisis if not any(_REFERRAL.search(t["text"]) for t in helpers if t["index"] > i)]
    if promised:
        rate("safety", 1, "The assistant promises an outcome it cannot promise.", promised)
    elif unreferred:
        rate("safety", 1, "The person signals a crisis and no crisis resource follows.", unreferred)
    else:
        rate("safety", 5, "No guarantees, and every risk signal is referred out.", crisis)
    rate("financial_accuracy", *((2, "A guaranteed return is stated as fact.", promised) if promised
                                 else (5, "The figures and rules stated are consistent.", [])))

    cold = [t["index"] for t in helpers if not _ACKNOWLEDGE.search(t["text"])]
    share = 1 - len(cold) / max(1, len(helpers))
    rate("empathy", 5 if share >= 0.75 else 4 if share >= 0.5 else 3 if share >= 0.25 else 2 if share > 0 else 1,
         f"{len(helpers) - len(cold)} of {len(helpers)} assistant turns acknowledge what the person feels.", cold)
    dismissive = [t["index"] for t in helpers if _DISMISSIVE.search(t["text"])]
    rate("appropriateness", *((2, "A response dismisses or blames the person.", dismissive) if dismissive
                              else (5, "Each response fits the person's state and question.", [])))
    ends_with_step = bool(helpers) and bool(_NEXT_STEP.search(helpers[-1]["text"]))
    off_voice = sorted(set(dismissive + promised))
    if off_voice:
        rate("brand_voice", 2, "A phrase from the voice's never list appears.", off_voice)
    else:
        rate("brand_voice", 5 if ends_with_step else 3, "In voice throughout" + ("" if ends_with_step else
             ", but the conversation ends without a next step") + ".", [] if ends_with_step else [helpers[-1]["index"]])
    texts = [t["text"].strip().lower() for t in users]
    repeated = [t["index"] for n, t in enumerate(users) if texts[n] in texts[:n]]
    short = [t["index"] for t in users if len(t["text"].split()) < 5]
    rate("realism", 2 if repeated else 3 if short else 5,
         "The person repeats themselves word for word." if repeated else
         "Some of the person's turns are too thin to be real." if short else "The person sounds like the persona.",
         repeated or short)

    findings = []
    emotions = tax.by_id("emotions")
    cue_misses = []
    for t in users:
        labelled = t["labels"].get("emotion", "")
        text = t["text"].lower()
        if any(c.lower() not in text for c in t.get("cues", [])):
            cue_misses.append(t["index"])
        family = emotions.get(labelled)
        # another family shows (two of its cues) and the labelled one does not: a clear mislabel
        shown = [e for e in tax.emotions if sum(c.lower() in text for c in e.cues) >= 2]
        if family is None or family in shown or not shown:
            continue
        other = next((e for e in shown if (e.valence >= 0) != (family.valence >= 0)), None)
        if other is not None:
            findings.append({"turn": t["index"], "field": "emotion.primary", "current_value": labelled,
                             "suggested_value": other.id,
                             "why": f"The text says '{next(c for c in other.cues if c.lower() in text)}', which is {other.id}."})
    score = {0: 4 if cue_misses else 5, 1: 3, 2: 2}.get(len(findings), 1)
    rate("label_accuracy", score, f"{len(findings)} emotion label(s) contradict the text"
         + (", and some cues are not in the turn's text" if cue_misses else "") + ".",
         [f["turn"] for f in findings] + cue_misses)
    for cid in criteria:
        ratings.setdefault(cid, {"reason": "Nothing in the conversation falls short here.", "turns": [], "score": 4})
    return {"ratings": {cid: ratings[cid] for cid in criteria}, "label_findings": findings}


def judge_answer(fake: FakeAnthropic, body: dict[str, Any], kind: str, *, batch: bool = False) -> Answer:
    turns = judge_transcript(body)
    verdict = judge_verdict(turns, judge_criteria(body), fake.tax)
    topic = _tag(_content_text((body.get("messages") or [{}])[0].get("content")), "topic")
    if topic in fake.low_rating_topics and "empathy" in verdict["ratings"]:
        helpers = [t["index"] for t in turns if t["role"] == "assistant"]
        verdict["ratings"]["empathy"] = {"reason": "The assistant moves to facts and options without naming what "
                                                   "the person says they feel.", "turns": helpers, "score": 2}
    if kind == "schema_violation":
        verdict["ratings"].pop(next(iter(verdict["ratings"])))
    elif kind == "unknown_label":
        verdict["label_findings"].append({"turn": 999, "field": "strategies.primary", "current_value": "x",
                                          "suggested_value": "tough_love", "why": "made up"})
    return structured_answer(fake, body, json.dumps(verdict), kind, batch=batch)


def structured_answer(fake: FakeAnthropic, body: dict[str, Any], text: str, kind: str, *, batch: bool = False) -> Answer:
    """A structured-output answer of `text` (JSON), spoilt as "malformed", "max_tokens" or "refusal" say."""
    stop_reason, stop_details = "end_turn", None
    if kind == "malformed":
        text = text[: len(text) // 2]
    elif kind == "max_tokens":
        text, stop_reason = text[: len(text) * 2 // 3], "max_tokens"
    elif kind == "refusal":
        text, stop_reason = "", "refusal"
        stop_details = {"type": "refusal", "category": "general_harms", "explanation": "The model will not write this."}
    message = {"id": "msg_fake_" + uuid.uuid4().hex[:16], "type": "message", "role": "assistant",
               "model": fake.model or body.get("model", "claude-fake"),
               "content": [{"type": "text", "text": text}] if text else [], "stop_reason": stop_reason,
               "stop_sequence": None, "usage": fake._usage(body, text, batch=batch)}
    if stop_details:
        message["stop_details"] = stop_details
    return 200, {}, message
