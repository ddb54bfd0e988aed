"""How each trainer reads an export, and the ready-to-use configs the export writes for them:

    trainers/axolotl.yaml   Axolotl `datasets:` blocks for the chat files (chat_template), honouring the
                            weights through `message_field_training` when the export has them
    trainers/trl.yaml       `trl sft --config trainers/trl.yaml` (run in the export folder): the
                            Hugging Face layout's messages config, splits train and test
    trainers/trl_dpo.yaml   `trl dpo --config trainers/trl_dpo.yaml`: the preference config (when the
                            export has preference pairs)

Weights per trainer: OpenAI reads an assistant message's `weight` (0 or 1) as it is; Axolotl reads it
through `message_field_training: weight`; TRL never reads it (it trains on every assistant turn, or on
all tokens), so a weighted export trains TRL on the unweighted conversations. TRL refuses ShareGPT's
human / gpt roles (assistant_only_loss); give it the messages files or config."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lib.export.formats import PATHS
from lib.export.parquet import SHAREGPT_FROM
from lib.export.split import SPLIT_NAMES

AXOLOTL = "trainers/axolotl.yaml"
TRL = "trainers/trl.yaml"
TRL_DPO = "trainers/trl_dpo.yaml"
LICENSE_FILE = "LICENSE.md"
OPENAI_MIN_EXAMPLES = 10  # OpenAI's fine-tuning refuses a training file with fewer examples
SHAREGPT_ROLES = {v: k for k, v in SHAREGPT_FROM.items()}  # from -> role: system, human -> user, gpt -> assistant

WEIGHTS_TEXT: dict[str, str] = {
    "OpenAI fine-tuning": "reads `weight` on assistant messages as it is (0: context only, 1: trained)",
    "Axolotl": "reads it through `message_field_training: weight` (trainers/axolotl.yaml)",
    "TRL SFTTrainer": "does not read `weight`: it trains on every assistant turn (`assistant_only_loss`) "
    "or on all tokens",
    "Unsloth": "reads the ShareGPT or messages files through its chat templates; it does not read `weight`",
}


def _axolotl_block(fmt: str, split: str, weights: bool) -> dict[str, Any]:
    block: dict[str, Any] = {
        "path": PATHS[fmt](split),
        "ds_type": "json",
        "type": "chat_template",
        "field_messages": "messages" if fmt == "messages" else "conversations",
        "roles_to_train": ["assistant"],
    }
    if fmt == "sharegpt":
        block["message_property_mappings"] = {"role": "from", "content": "value"}
        block["roles"] = {role: [name] for name, role in SHAREGPT_ROLES.items()}
    if weights:
        block["message_field_training"] = "weight"
    return block


def axolotl_config(formats: Sequence[str], splits: Sequence[str], weights: bool) -> str | None:
    """trainers/axolotl.yaml: the messages files (or ShareGPT without them); None without either."""
    import yaml

    fmt = "messages" if "messages" in formats else "sharegpt" if "sharegpt" in formats else None
    if fmt is None:
        return None
    config: dict[str, Any] = {"datasets": [_axolotl_block(fmt, "train", weights)]}
    if "eval" in splits:
        config["test_datasets"] = [{**_axolotl_block(fmt, "eval", weights), "split": "train"}]
    head = "# Axolotl: paste these keys into your training config (paths are relative to this export's folder).\n" + (
        "# message_field_training: assistant messages with weight 0 are context, not targets.\n" if weights else ""
    )
    return head + yaml.safe_dump(config, sort_keys=False, width=1000)


def _trl_yaml(config_name: str, splits: Sequence[str], head: str) -> str:
    """A TRL CLI config reading one config of the Hugging Face layout from the export folder."""
    import yaml

    config: dict[str, Any] = {
        "dataset_name": ".",
        "dataset_config": config_name,
        "dataset_train_split": SPLIT_NAMES["train"],
    }
    if "eval" in splits:
        config["dataset_test_split"] = SPLIT_NAMES["eval"]
        config["eval_strategy"] = "epoch"
    return head + yaml.safe_dump(config, sort_keys=False, width=1000)


def trl_config(formats: Sequence[str], splits: Sequence[str]) -> str | None:
    """trainers/trl.yaml for `trl sft --config trainers/trl.yaml --model_name_or_path ...`, run in the
    export folder; None without the Hugging Face layout."""
    if "hf" not in formats:
        return None
    return _trl_yaml(
        "messages",
        splits,
        "# TRL: trl sft --config trainers/trl.yaml --model_name_or_path <model> --output_dir <dir>\n"
        "# run in this export's folder. TRL does not read the messages' weight key.\n",
    )


def trl_dpo_config(formats: Sequence[str], pair_splits: Sequence[str]) -> str | None:
    """trainers/trl_dpo.yaml for `trl dpo --config trainers/trl_dpo.yaml --model_name_or_path ...`, run in
    the export folder: the parquet preference config. pair_splits: the splits that have pairs; None
    without the Hugging Face layout or without pairs in train."""
    if "hf" not in formats or "train" not in pair_splits:
        return None
    return _trl_yaml(
        "preference",
        pair_splits,
        "# TRL DPO: trl dpo --config trainers/trl_dpo.yaml --model_name_or_path <model> --output_dir <dir>\n"
        "# run in this export's folder. The same columns train ORPO (trl.ORPOTrainer) as they are.\n",
    )


def card_section(formats: Sequence[str], weights: bool, files: Sequence[str]) -> str:
    """The card's "Training with it" section: which file each trainer reads, and what it does with weights."""
    lines = ["## Training with it\n"]
    if "messages" in formats:
        lines.append(
            "- **OpenAI fine-tuning**: upload `messages/train.jsonl` (and `messages/test.jsonl` as the validation "
            "file) as they are. OpenAI needs at least 10 training examples."
        )
    if "hf" in formats:
        lines.append(
            "- **TRL**: `trl sft --config trainers/trl.yaml` in this folder, or `--dataset_name <folder> "
            "--dataset_config messages` (any config of the card loads; use `messages` or `default`). TRL refuses "
            "ShareGPT's human / gpt roles with `assistant_only_loss`: give it the messages config."
        )
    if AXOLOTL in files:
        lines.append("- **Axolotl**: the `datasets:` block in `trainers/axolotl.yaml` (type chat_template).")
    if "sharegpt" in formats:
        roles = ", ".join(f"`{name}` = {role}" for name, role in SHAREGPT_ROLES.items())
        lines.append(f"- **ShareGPT** (Axolotl, Unsloth): `from` / `value`, with the roles {roles}.")
    lines.append(
        "\nEvery chat row carries the conversation's `id` and `version`: join it to `metadata.csv` by id, not "
        "by row order.\n"
    )
    if weights:
        lines.append(
            "Weights: every assistant message has `weight` 1 (an approved target) or 0 (context only). "
            + "; ".join(f"{who} {what}" for who, what in WEIGHTS_TEXT.items())
            + ".\n"
        )
    return "\n".join(lines)


def license_text(dataset: str) -> str:
    """LICENSE.md of a dataset under the license id `other`: the card links to it."""
    return (
        f"# License of {dataset}\n\n"
        "Proprietary. This dataset is licensed by its owner under terms agreed with them; it may not be used, "
        "copied or redistributed without those terms. Ask the dataset's owner for them.\n"
    )
