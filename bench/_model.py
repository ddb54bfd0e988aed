"""What the benchmarks that call the model (through the fake Anthropic server) share: the real price of
the model asked for, and a Message Batch sent to the fake."""
from __future__ import annotations

import sys
from typing import Any

import anthropic

from lib.generation.pricing import ModelPrice, PriceTable, load_prices
from tests.fake_anthropic import FakeAnthropic


def model_prices(model: str) -> tuple[PriceTable, ModelPrice]:
    """The price table (config/prices.yaml) and the model's row; exits naming the file when it has none."""
    prices = load_prices()
    price = prices.price_for(model)
    if price is None:
        sys.exit(f"no price for {model} in config/prices.yaml")
    return prices, price


def price_line(model: str, prices: PriceTable, price: ModelPrice) -> str:
    return (f"model {model}: input ${price.input}/MTok, output ${price.output}/MTok, cache write "
            f"${price.cache_write_5m}/MTok, cache read ${price.cache_read}/MTok; "
            f"batch discount {prices.batch_discount:.0%}")


async def batch_entries(fake: FakeAnthropic, requests: list[dict[str, Any]]) -> list[Any]:
    """The fake's result entries of one Message Batch of `requests`."""
    client = anthropic.AsyncAnthropic(api_key=fake.api_key, base_url=fake.url)
    try:
        batch = await client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        await client.messages.batches.retrieve(batch.id)
        return [entry async for entry in await client.messages.batches.results(batch.id)]
    finally:
        await client.close()
