"""What a call costs: the price table (config/prices.yaml, per-model overrides) and the usage a
Messages API body reports, priced with or without the Message Batches discount. No SDK here: the
estimate, the client and a batch result all price tokens the same way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lib.config import PRICES_FILE
from lib.core import files
from lib.core.models import Usage


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

    def paid_share(self, *, batch: bool) -> float:
        """The share of the list price a request pays: less the batch discount when it goes in a batch."""
        return 1 - self.batch_discount if batch else 1.0

    def price_for(self, model: str) -> ModelPrice | None:
        """Exact id, else the longest id the model starts with (dated ids such as claude-x-20250929)."""
        if model in self.models:
            return self.models[model]
        prefixes = [m for m in self.models if model.startswith(m + "-")]
        return self.models[max(prefixes, key=len)] if prefixes else None

    def cost(self, usage: Usage, model: str, *, batch: bool = False, cache_write_1h_tokens: int = 0) -> float | None:
        """Cost in USD, or None when the model has no price. `input_tokens` excludes cached tokens
        (the API counts cache writes and reads separately), so the four categories simply add up."""
        price = self.price_for(model)
        if price is None:
            return None
        write_5m = max(0, usage.cache_creation_input_tokens - cache_write_1h_tokens)
        total = (
            usage.input_tokens * price.input
            + usage.output_tokens * price.output
            + write_5m * price.cache_write_5m
            + cache_write_1h_tokens * price.cache_write_1h
            + usage.cache_read_input_tokens * price.cache_read
        ) / 1_000_000
        return total * self.paid_share(batch=batch)


class PriceError(ValueError):
    pass


SETTING = "BRIGHTRUN_PRICES_FILE"
RATE_KEYS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
RATES = "each model needs " + ", ".join(RATE_KEYS) + " (USD per million tokens)"


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def load_prices(
    path: str | Path | None = None, overrides: Mapping[str, Mapping[str, float]] | None = None
) -> PriceTable:
    """The price table from config/prices.yaml (or `path`), with per-model overrides merged in
    (an override may give only some rates: {"claude-sonnet-5-5": {"cache_read": 0.2}})."""
    path = Path(path) if path else PRICES_FILE
    try:
        data = yaml.safe_load(files.read_text(path, setting=SETTING)) or {}
    except files.FileProblem as exc:
        raise PriceError(str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise PriceError(files.syntax_error(path, "YAML", line, str(getattr(exc, "problem", None) or exc))) from None
    if not isinstance(data, dict) or not isinstance(data.get("models") or {}, dict):
        raise PriceError(
            files.key_error(path, "models", "not a mapping", "expected models: {<model id>: {input: ..., output: ...}}")
        )
    raw_models: dict[str, dict[str, Any]] = {}
    for model, rates in (data.get("models") or {}).items():
        if not isinstance(rates, dict):
            raise PriceError(files.key_error(path, f"models.{model}", "not a mapping", RATES))
        raw_models[str(model)] = dict(rates)
    for model, rates in (overrides or {}).items():
        raw_models[model] = {**raw_models.get(model, {}), **dict(rates)}
    models: dict[str, ModelPrice] = {}
    for model, rates in raw_models.items():
        missing = [k for k in RATE_KEYS if k not in rates]
        unknown = [k for k in rates if k not in RATE_KEYS]
        if missing or unknown:
            key = f"models.{model}.{(missing or unknown)[0]}"
            raise PriceError(files.key_error(path, key, "missing" if missing else "not a rate", RATES))
        try:
            models[model] = ModelPrice(**{k: float(v) for k, v in rates.items()})
        except (TypeError, ValueError):
            bad = next(k for k, v in rates.items() if not _is_number(v))
            raise PriceError(files.key_error(path, f"models.{model}.{bad}", "not a number", RATES)) from None
    try:
        discount = float(data.get("batch_discount", 0.5))
    except (TypeError, ValueError):
        discount = -1.0
    if not 0 <= discount < 1:
        raise PriceError(
            files.key_error(path, "batch_discount", "out of range", "give a number from 0 to just under 1")
        )
    return PriceTable(models=models, batch_discount=discount, source=str(data.get("source", path)))


def _usage_from_body(body: Mapping[str, Any]) -> tuple[Usage, int]:
    """(usage, cache-write tokens of the 1-hour cache) of a Messages API body."""
    u = body.get("usage") or {}
    creation = u.get("cache_creation") or {}
    usage = Usage(
        input_tokens=int(u.get("input_tokens") or 0),
        output_tokens=int(u.get("output_tokens") or 0),
        cache_creation_input_tokens=int(u.get("cache_creation_input_tokens") or 0),
        cache_read_input_tokens=int(u.get("cache_read_input_tokens") or 0),
    )
    return usage, int(creation.get("ephemeral_1h_input_tokens") or 0)


def body_cost(
    body: Mapping[str, Any], prices: PriceTable, requested_model: str, *, batch: bool = False
) -> tuple[Usage, str, float | None]:
    """(usage, model, cost or None when unpriced) of a Messages API body. An endpoint may report its
    own model name; then the price of the model we asked for applies."""
    usage, write_1h = _usage_from_body(body)
    model = str(body.get("model") or requested_model)
    cost = prices.cost(usage, model, batch=batch, cache_write_1h_tokens=write_1h)
    if cost is None:
        cost = prices.cost(usage, requested_model, batch=batch, cache_write_1h_tokens=write_1h)
    return usage, model, cost
