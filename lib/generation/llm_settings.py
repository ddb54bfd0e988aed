"""How the Anthropic client is set up and how it retries: LLMSettings and the retry policy.

No SDK here (lib.generation.llm is the only module that imports it): the settings are read by pages,
estimates and the worker, which need no client. Retries are ours, not the SDK's: `retry-after` /
`retry-after-ms` is honoured up to a cap, else the wait backs off exponentially with jitter.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lib.config import DEFAULT_MAX_TOKENS, DEFAULT_MODEL, Settings
from lib.core.redaction import remember
from lib.generation.pricing import PriceTable, load_prices
from lib.generation.ratelimit import parse_retry_after

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}


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
