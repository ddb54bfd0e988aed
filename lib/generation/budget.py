"""What a worker needs to run at the account's limits besides its own window
(lib.generation.ratelimit.AdaptiveLimiter uses all three):

- SharedBudget: the account's rate budget in the database (public.take_rate_budget), shared by every
  worker of the database, so N workers together stay under the limits instead of each spending
  the whole budget;
- OutputSizer: max_tokens per prompt template from the measured output sizes (a high quantile plus
  a margin), because an API that reserves max_tokens at admission charges the room asked for, not
  the room used;
- PrefixGate: the first request of a cached prompt prefix goes alone and the others of that prefix
  wait (bounded) for its answer, so the prefix is written to the cache once, then read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lib.store.protocol import Store, StoreError

log = logging.getLogger(__name__)

RESOURCES = ("requests", "input_tokens", "output_tokens")


def account_key(api_key: str | None, base_url: str | None) -> str:
    """The account a key spends, as a name safe to store: a hash of the endpoint and the key."""
    digest = hashlib.sha256(f"{base_url or 'https://api.anthropic.com'}\n{api_key or ''}".encode()).hexdigest()
    return "acct-" + digest[:20]


# ---- the shared budget ----------------------------------------------------------------------
class SharedBudget:
    """The account's buckets in the database: take before a request, settle after its answer.

    A database error never stops a request: the budget then answers "go" (the limiter's window
    and the API's 429s still hold), and says so in the log once."""

    def __init__(self, store: Store, account: str) -> None:
        self.store = store
        self.account = account
        self.calls = 0
        self._warned = False
        self._pending: set[asyncio.Task[None]] = set()
        self._settled: asyncio.Event | None = None

    async def take(
        self, amounts: Mapping[str, float], limits: Mapping[str, float], remaining: Mapping[str, float]
    ) -> float | None:
        """0.0 when `amounts` were taken, the seconds until they would fit, or None: no budget to
        take from (no worker has seen the limits yet, or the database failed), go without."""
        self.calls += 1
        await self.drain()  # what this worker's answers gave back (or a 429 showed) counts first
        try:
            return await asyncio.to_thread(self.store.take_rate_budget, self.account, amounts, limits, remaining)
        except StoreError as exc:
            self._warn(exc)
            return None

    def settle(
        self, amounts: Mapping[str, float], remaining: Mapping[str, float], tolerance: Mapping[str, float]
    ) -> None:
        """Give back what a request did not use and follow the API's count, in the background (the
        answer's callback runs on the event loop and must not wait for the database)."""
        if not any(amounts.values()) and not remaining:
            return
        try:
            task = asyncio.get_running_loop().create_task(self._settle(dict(amounts), dict(remaining), dict(tolerance)))
        except RuntimeError:  # no loop (a synchronous caller): settle now
            self._settle_now(dict(amounts), dict(remaining), dict(tolerance))
            return
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _settle(
        self, amounts: dict[str, float], remaining: dict[str, float], tolerance: dict[str, float]
    ) -> None:
        await asyncio.to_thread(self._settle_now, amounts, remaining, tolerance)
        event, self._settled = self._settled, None
        if event is not None:
            event.set()

    async def settled(self, timeout: float) -> None:
        """Until this worker gives something back (a request waiting for room may fit then), at
        most `timeout` seconds (what other workers give back is seen by asking again)."""
        if self._settled is None:
            self._settled = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), timeout)

    def _settle_now(self, amounts: dict[str, float], remaining: dict[str, float], tolerance: dict[str, float]) -> None:
        try:
            self.store.settle_rate_budget(self.account, amounts, remaining, tolerance)
        except StoreError as exc:
            self._warn(exc)

    async def drain(self) -> None:
        """Wait for the settlements still on their way (before the worker closes its store)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def _warn(self, exc: StoreError) -> None:
        if not self._warned:  # once: a database that is down says so in every other line of the log
            self._warned = True
            log.warning("a call to the shared rate budget failed (%s); the request went without it", exc)


# ---- max_tokens from the measured output sizes ----------------------------------------------
class OutputSizer:
    """max_tokens per prompt template: the `quantile` of the output tokens of its latest answers
    times a margin that shrinks as the measurements grow (1.15 + 0.6/n), rounded up to 256, at
    least `floor` and at most `ceiling` (BRIGHTRUN_MAX_TOKENS). An answer cut off at max_tokens
    counts as one of max_tokens, so the size grows after a cut. A template not measured yet gets
    the largest size of the others, the ceiling when nothing is measured. The engine's retry with
    twice the room still catches the rare longer answer."""

    def __init__(
        self, ceiling: int, *, quantile: float = 0.99, floor: int = 1024, keep: int = 200, min_samples: int = 1
    ) -> None:
        self.ceiling = ceiling
        self.quantile = quantile
        self.floor = min(floor, ceiling)
        self.keep = keep
        self.min_samples = min_samples
        self._samples: dict[str, deque[int]] = {}
        self._measured: dict[str, tuple[float, int]] = {}  # from the database: (quantile tokens, calls)

    def load(self, store: Store, model: str | None) -> OutputSizer:
        """Start from the output sizes the database measured (public.output_token_quantiles)."""
        try:
            rows = store.output_quantiles(model, quantile=self.quantile, recent=self.keep)
        except StoreError as exc:
            log.warning("cannot read the measured output sizes (%s); max_tokens starts at %d", exc, self.ceiling)
            return self
        for r in rows:
            if r.get("template_name") and r.get("quantile_tokens") is not None:
                self._measured[str(r["template_name"])] = (float(r["quantile_tokens"]), int(r.get("calls") or 0))
        return self

    def observe(
        self, template: str | None, output_tokens: int, *, truncated: bool = False, max_tokens: int = 0
    ) -> None:
        if not template or (output_tokens <= 0 and not truncated):
            return
        size = max(output_tokens, max_tokens) if truncated else output_tokens
        self._samples.setdefault(template, deque(maxlen=self.keep)).append(size)

    def max_tokens_for(self, template: str | None) -> int:
        if template and not (self._samples.get(template) or template in self._measured):
            # a template not measured yet: as long as the longest measured one (another tier's
            # answers tell more than nothing), the ceiling when none is
            known = set(self._samples) | set(self._measured)
            return max((self.max_tokens_for(t) for t in known), default=self.ceiling)
        if not template:
            return self.ceiling
        samples = sorted(self._samples.get(template, ()))
        measured, calls = self._measured.get(template, (0.0, 0))
        n = max(len(samples), calls)  # the database counts this worker's answers too
        if n < self.min_samples:
            return self.ceiling
        high = float(samples[min(len(samples) - 1, math.ceil(self.quantile * len(samples)) - 1)]) if samples else 0.0
        size = max(high, measured) * (1.15 + 0.6 / n)
        return int(min(self.ceiling, max(self.floor, math.ceil(size / 256) * 256)))

    def snapshot(self) -> dict[str, int]:
        return {t: self.max_tokens_for(t) for t in sorted(set(self._samples) | set(self._measured))}


# ---- cache warm-up --------------------------------------------------------------------------
def prefix_key(params: Mapping[str, Any]) -> str | None:
    """The cached prefix of a Messages request (model and the system blocks marked cache_control),
    or None when it caches nothing."""
    system = params.get("system")
    if not isinstance(system, Sequence) or isinstance(system, str):
        return None
    blocks = [b for b in system if isinstance(b, Mapping)]
    if not any(b.get("cache_control") for b in blocks):
        return None
    text = "\n".join(str(b.get("text", "")) for b in blocks)
    return hashlib.sha256(f"{params.get('model')}\n{text}".encode()).hexdigest()[:32]


class PrefixGate:
    """One request warms a prefix; the others of that prefix wait for its answer, at most
    `wait_cap_s` (then they go anyway: a slow first answer must not stall the run). A prefix
    answered within `ttl_s` is warm (the API keeps a cache entry 5 minutes after its last use).
    Requests of this worker wait for the first one's answer; with a store, the workers of the
    database agree on the first one through it (public.enter_prompt_prefix) and the others look
    again every `poll_s`."""

    def __init__(
        self,
        store: Store | None = None,
        account: str | None = None,
        *,
        worker: str | None = None,
        wait_cap_s: float = 120.0,
        ttl_s: float = 270.0,
        poll_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store if account else None
        self.account = account or ""
        self.worker = worker  # the first request of a killed worker holds no one up
        self.wait_cap_s = wait_cap_s
        self.ttl_s = ttl_s
        self.poll_s = poll_s
        self.clock = clock
        self.waits = 0  # requests that waited for another's answer
        self._warm: dict[str, float] = {}
        self._warming: dict[str, asyncio.Event] = {}
        self._pending: set[asyncio.Task[None]] = set()

    async def enter(self, key: str | None) -> bool:
        """Wait while another request warms `key`; True when this request is the one warming it."""
        if key is None:
            return False
        deadline = self.clock() + self.wait_cap_s
        waited = False
        try:
            while True:
                if self._warm.get(key, 0.0) > self.clock():
                    return False
                event = self._warming.get(key)
                if event is None:
                    state = await self._shared_enter(key)
                    if state == "warm":
                        self._warm[key] = self.clock() + self.ttl_s
                        return False
                    if state == "first" and key not in self._warming:
                        self._warming[key] = asyncio.Event()
                        return True
                left = deadline - self.clock()
                if left <= 0:
                    return False
                waited = True
                with contextlib.suppress(TimeoutError):
                    if event is not None:
                        await asyncio.wait_for(event.wait(), timeout=left)
                    else:  # another worker warms it
                        await asyncio.sleep(min(self.poll_s, left))
        finally:
            self.waits += int(waited)

    async def _shared_enter(self, key: str) -> str:
        if self.store is None:
            return "first"
        try:
            return await asyncio.to_thread(
                self.store.enter_prompt_prefix, self.account, key, self.wait_cap_s, self.worker
            )
        except StoreError as exc:  # go: a second cache write costs less than a stalled run
            log.warning("cannot coordinate the prompt cache warm-up (%s)", exc)
            return "first"

    def done(self, key: str | None, *, warming: bool, ok: bool) -> None:
        """The answer of a request of `key` came (ok: a 200, so the prefix is in the cache now)."""
        if key is None:
            return
        if ok:
            self._warm[key] = self.clock() + self.ttl_s
        if not warming:
            return
        event = self._warming.pop(key, None)
        if event is not None:
            event.set()
        if self.store is not None:
            self._leave(key, ok)

    def _leave(self, key: str, ok: bool) -> None:
        store, account, ttl = self.store, self.account, self.ttl_s
        assert store is not None

        def leave() -> None:
            try:
                store.leave_prompt_prefix(account, key, ok, ttl)
            except StoreError as exc:  # the others go once the first request's time is up
                log.warning("cannot report the prompt cache warm-up (%s)", exc)

        try:
            task = asyncio.get_running_loop().create_task(asyncio.to_thread(leave))
        except RuntimeError:
            leave()
            return
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
