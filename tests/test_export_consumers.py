"""An export as its consumers load it: every config of the dataset card through `datasets.load_dataset`
(with no warning), OpenAI's published fine-tuning format checks on the chat files, TRL's conversational
format rules (what `is_conversational` and its ShareGPT conversion accept; TRL itself needs torch, so
the rules are restated here), and the Axolotl config against the files it names."""

from __future__ import annotations

import json
import logging
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

import lib.export as ex
from lib.core.models import Conversation
from lib.core.seeds import load_seeds
from lib.core.taxonomy import Taxonomy
from lib.export.parquet import RESERVED

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def seeds() -> list[Conversation]:
    return load_seeds().conversations


def export(tmp: Path, tax: Taxonomy, convs: list[Conversation], **options: Any) -> ex.ExportResult:
    rows = ex.rows_from_conversations(convs, scenario_ids=list(range(1, len(convs) + 1)))
    return ex.export(rows, ex.ExportOptions(**options), tax, tmp / "out", source="seeds")


def card_configs(folder: Path) -> list[dict[str, Any]]:
    head = (folder / "README.md").read_text().split("\n---\n")[0].removeprefix("---\n")
    return yaml.safe_load(head)["configs"]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def load_every_config(folder: Path, cache: Path) -> dict[str, Any]:
    """config -> DatasetDict, loaded as a person would: load_dataset(folder, name); fails on any warning."""
    handler = Captured()
    logger = logging.getLogger("datasets")
    logger.addHandler(handler)
    loaded = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for config in card_configs(folder):
                name = config["config_name"]
                loaded[name] = datasets.load_dataset(str(folder), name, cache_dir=str(cache))
    finally:
        logger.removeHandler(handler)
    assert handler.messages == [], handler.messages
    return loaded


# OpenAI's fine-tuning data format checks, as its cookbook publishes them ("Data preparation and
# analysis for chat model fine-tuning"), plus the weight key's rule.
def openai_format_errors(examples: list[dict[str, Any]]) -> Counter[str]:
    errors: Counter[str] = Counter()
    for ex_ in examples:
        if not isinstance(ex_, dict):
            errors["data_type"] += 1
            continue
        messages = ex_.get("messages")
        if not messages:
            errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if "role" not in message or "content" not in message:
                errors["message_missing_key"] += 1
            if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
                errors["message_unrecognized_key"] += 1
            if message.get("role") not in ("system", "user", "assistant", "function"):
                errors["unrecognized_role"] += 1
            content = message.get("content")
            if (not content and not message.get("function_call")) or not isinstance(content, str):
                errors["missing_content"] += 1
            if "weight" in message and (message["role"] != "assistant" or message["weight"] not in (0, 1)):
                errors["bad_weight"] += 1
        if not any(m.get("role") == "assistant" for m in messages):
            errors["example_missing_assistant_message"] += 1
    return errors


TRL_ROLES = {"system", "user", "assistant"}
TRL_SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system"}  # maybe_convert_to_chatml


def trl_conversational(example: dict[str, Any]) -> bool:
    """TRL's is_conversational: a dataset key holding a list of {role, content} messages."""
    for key in ("prompt", "chosen", "rejected", "completion", "messages"):
        value = example.get(key)
        if isinstance(value, list) and value and isinstance(value[0], dict) and "role" in value[0]:
            return all("content" in m for m in value)
    return False


def trl_chat_problems(messages: list[dict[str, Any]]) -> list[str]:
    """What TRL's chat templates refuse: unknown roles, a conversation not ending with the assistant."""
    out = [f"role {m['role']!r}" for m in messages if m["role"] not in TRL_ROLES]
    if messages[-1]["role"] != "assistant":
        out.append("does not end with the assistant")
    return out


def test_every_card_config_loads_with_datasets_without_a_warning(
    tmp_path: Path, db_tax: Taxonomy, seeds: list[Conversation]
) -> None:
    result = export(tmp_path, db_tax, seeds, eval_ratio=0.2, weights=True)
    loaded = load_every_config(result.path, tmp_path / "cache")
    assert set(loaded) == {"default", "messages", "sharegpt"}
    counts = result.counts
    for name, dsd in loaded.items():
        assert set(dsd) == {"train", "test"}, name  # the split names datasets and `trl sft` expect
        assert dsd["train"].num_rows == counts["train"] and dsd["test"].num_rows == counts["eval"]
        assert not set(dsd["train"].column_names) & RESERVED, (name, dsd["train"].column_names)
        assert {"id", "version"} <= set(dsd["train"].column_names)
    for name in ("default", "messages"):
        for row in loaded[name]["train"]:
            assert trl_conversational(row) and trl_chat_problems(row["messages"]) == []
    # ShareGPT, after TRL's role mapping
    for row in loaded["sharegpt"]["train"]:
        messages = [{"role": TRL_SHAREGPT_ROLES[t["from"]], "content": t["value"]} for t in row["conversations"]]
        assert trl_chat_problems(messages) == []
    # the default loader is the one every config shares: the first config is the default
    assert card_configs(result.path)[0] == {**card_configs(result.path)[0], "config_name": "default", "default": True}


def test_without_the_parquet_layout_the_jsonl_configs_load(
    tmp_path: Path, db_tax: Taxonomy, seeds: list[Conversation]
) -> None:
    result = export(tmp_path, db_tax, seeds, eval_ratio=0.2, formats=["messages", "sharegpt", "csv"])
    loaded = load_every_config(result.path, tmp_path / "cache")
    assert set(loaded) == {"messages", "sharegpt"}
    assert all(set(d) == {"train", "test"} for d in loaded.values())


def test_the_chat_files_pass_openais_format_checks_and_trls_rules(
    tmp_path: Path, db_tax: Taxonomy, seeds: list[Conversation]
) -> None:
    convs = [*seeds, *(s.model_copy(update={"id": f"{s.id}-b"}) for s in seeds)]
    result = export(tmp_path, db_tax, convs, eval_ratio=0.2, weights=True)
    for split in ("train", "test"):
        examples = read_jsonl(result.path / f"messages/{split}.jsonl")
        assert openai_format_errors(examples) == Counter()
        assert all(trl_conversational(e) and trl_chat_problems(e["messages"]) == [] for e in examples)
        # every row names its conversation: metadata.csv joins by id, not by row order
        assert all(e["id"] and e["version"] == 1 for e in examples)
    assert len(read_jsonl(result.path / "messages/train.jsonl")) >= 10
    assert not any("OpenAI" in w for w in result.manifest["warnings"])


def test_an_empty_system_prompt_gives_no_system_message(
    tmp_path: Path, db_tax: Taxonomy, seeds: list[Conversation]
) -> None:
    convs = [s.model_copy(update={"system_prompt": "  "}) for s in seeds]
    result = export(tmp_path, db_tax, convs, eval_ratio=0)
    examples = read_jsonl(result.path / "messages/train.jsonl")
    assert openai_format_errors(examples) == Counter()
    assert all(e["messages"][0]["role"] == "user" for e in examples)
    assert all(r["conversations"][0]["from"] == "human" for r in read_jsonl(result.path / "sharegpt/train.jsonl"))


def test_too_few_training_lines_and_a_thin_eval_split_are_warned(
    tmp_path: Path, db_tax: Taxonomy, seeds: list[Conversation]
) -> None:
    result = export(tmp_path, db_tax, seeds, eval_ratio=0.1)
    warned = " ".join(result.manifest["warnings"])
    assert result.counts["train"] == 9 and "OpenAI fine-tuning needs at least 10" in warned
    assert "The eval split has 1 conversation" in warned
    assert "no conversation of the emotional arcs" in warned and "personas" in warned


def test_the_axolotl_config_honours_the_weights_and_names_real_files(
    tmp_path: Path, db_tax: Taxonomy, seeds: list[Conversation]
) -> None:
    result = export(tmp_path, db_tax, seeds, eval_ratio=0.2, weights=True)
    config = yaml.safe_load((result.path / "trainers/axolotl.yaml").read_text())
    for block in config["datasets"] + config["test_datasets"]:
        assert block["type"] == "chat_template" and block["message_field_training"] == "weight"
        rows = read_jsonl(result.path / block["path"])
        assert all(block["field_messages"] in r for r in rows)
        assert any(m.get("weight") == 0 for r in rows for m in r[block["field_messages"]]) or block in config[
            "test_datasets"
        ]
    trl = yaml.safe_load((result.path / "trainers/trl.yaml").read_text())
    assert trl["dataset_config"] in {c["config_name"] for c in card_configs(result.path)}
    assert trl["dataset_test_split"] == "test"
    card = (result.path / "README.md").read_text()
    assert "TRL SFTTrainer does not read `weight`" in card and "`gpt` = assistant" in card

    unweighted = export(tmp_path / "plain", db_tax, seeds, eval_ratio=0.2, formats=["sharegpt"])
    config = yaml.safe_load((unweighted.path / "trainers/axolotl.yaml").read_text())
    block = config["datasets"][0]
    assert "message_field_training" not in block and block["roles"]["assistant"] == ["gpt"]
    assert block["message_property_mappings"] == {"role": "from", "content": "value"}
