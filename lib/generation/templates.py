"""The prompt templates in prompts/: reading and checking them, and rendering one safely.

A template file is a small YAML header between `---` lines (name, tier, version, placeholders),
then the text with `$placeholder` / `${placeholder}` slots (string.Template syntax; `$$` is a
literal dollar sign). Rendering is safe by construction:

- every value is fenced in a tag named after its placeholder and escaped (`&`, `<`, `>`), so a
  value cannot close its fence or open a tag of its own;
- substitution is one pass of string.Template, so `$`, `${...}`, `{braces}` and quotes inside a
  value are copied as they are, never interpreted;
- a placeholder without a value fails with PromptError naming the file and the placeholder.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
PROMPTS_DIR = ROOT / "prompts"
TIER_TEMPLATES: dict[str, str] = {
    "template": "tier1_template",
    "scenario": "tier2_scenario",
    "edge_case": "tier3_edge_case",
}
TEMPLATE_TIERS = {"template", "scenario", "edge_case", "all"}


class PromptError(ValueError):
    """A template or rendering problem, phrased as one line that names the file and what to do."""


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    tier: str
    version: str
    placeholders: tuple[str, ...]
    body: str
    sha256: str  # of the whole file, header included: any edit gives a new hash
    path: Path
    description: str = ""

    @property
    def where(self) -> str:
        return f"{_display(self.path)} ({self.name} v{self.version})"

    def render(self, values: Mapping[str, Any]) -> str:
        """Fill every placeholder with its fenced, escaped value. A missing or empty value is an error."""
        missing = [p for p in self.placeholders if _is_blank(values.get(p))]
        if missing:
            names = ", ".join("${" + p + "}" for p in missing)
            raise PromptError(
                f"{self.where}: no value for {names}; "
                f"the scenario or the taxonomy must provide {', '.join(missing)} before this prompt can be sent"
            )
        fenced = {p: fence(p, values[p]) for p in self.placeholders}
        # safe_substitute: a literal `$` in the template text that is not a placeholder stays as it is.
        return Template(self.body).safe_substitute(fenced)


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return not value
    return False


def escape(value: Any) -> str:
    """Text safe to put between tags: `&`, `<` and `>` escaped; quotes, `$` and braces left as they are
    (nothing downstream interprets them: values are never formatted or parsed again)."""
    if isinstance(value, (list, tuple)):
        value = "\n".join("- " + str(v) for v in value)
    return html.escape(str(value), quote=False)


def fence(name: str, value: Any) -> str:
    """`<name>escaped value</name>`; a multi-line value starts and ends on its own lines."""
    text = escape(value)
    if "\n" in text:
        text = "\n" + text + "\n"
    return "<" + name + ">" + text + "</" + name + ">"


_HEADER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n", re.DOTALL)


def load_template(path: str | Path) -> PromptTemplate:
    """Read one template file and check it: header fields, and placeholders that match the text."""
    path = Path(path)
    where = _display(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PromptError(f"{where}: cannot read the template ({exc.strerror})") from None
    text = raw.decode("utf-8")
    match = _HEADER.match(text)
    if not match:
        raise PromptError(
            f"{where}: line 1: expected a header between '---' lines "
            "(name, tier, version, placeholders) before the prompt text"
        )
    try:
        header = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise PromptError(f"{where}: the header is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(header, dict):
        raise PromptError(f"{where}: the header must be a mapping of name, tier, version, placeholders")
    for key in ("name", "tier", "version", "placeholders"):
        if key not in header:
            raise PromptError(f"{where}: header: missing field '{key}'")
    if header["tier"] not in TEMPLATE_TIERS:
        raise PromptError(f"{where}: header: tier {header['tier']!r} is not one of {sorted(TEMPLATE_TIERS)}")
    placeholders = header["placeholders"]
    if not isinstance(placeholders, list) or not all(isinstance(p, str) for p in placeholders):
        raise PromptError(f"{where}: header: placeholders must be a list of names")
    body = text[match.end() :]
    header_lines = text[: match.end()].count("\n")
    template = Template(body)
    if not template.is_valid():
        # Find the offending `$` to point at its line.
        for n, line in enumerate(body.splitlines(), start=header_lines + 1):
            if not Template(line).is_valid():
                raise PromptError(
                    f"{where}: line {n}: a '$' that is not a placeholder; "
                    "write $$ for a literal dollar sign or ${name} for a placeholder"
                )
    used = set(template.get_identifiers())
    declared = set(placeholders)
    if used - declared:
        raise PromptError(
            f"{where}: the text uses {', '.join(sorted(used - declared))} "
            "but the header does not declare it; add it to placeholders"
        )
    if declared - used:
        raise PromptError(
            f"{where}: the header declares {', '.join(sorted(declared - used))} "
            "but the text never uses it; remove it from placeholders"
        )
    return PromptTemplate(
        name=str(header["name"]),
        tier=str(header["tier"]),
        version=str(header["version"]),
        placeholders=tuple(placeholders),
        body=body,
        sha256=hashlib.sha256(raw).hexdigest(),
        path=path,
        description=str(header.get("description", "")),
    )


def load_templates(directory: str | Path = PROMPTS_DIR) -> dict[str, PromptTemplate]:
    """Every template in the folder by name; the tier templates, system, repair and feedback are required."""
    directory = Path(directory)
    out: dict[str, PromptTemplate] = {}
    for path in sorted(directory.glob("*.md")):
        t = load_template(path)
        if t.name in out:
            raise PromptError(
                f"{_display(path)}: template name {t.name!r} is also used by {_display(out[t.name].path)}"
            )
        out[t.name] = t
    required = ["system", "repair", "feedback", *TIER_TEMPLATES.values()]
    missing = [n for n in required if n not in out]
    if missing:
        raise PromptError(f"{_display(directory)}: missing template(s) {', '.join(missing)}")
    for tier, name in TIER_TEMPLATES.items():
        if out[name].tier != tier:
            raise PromptError(f"{out[name].where}: header tier is {out[name].tier!r}, expected {tier!r}")
    return out


@lru_cache(maxsize=4)
def _cached_templates(directory: str) -> dict[str, PromptTemplate]:
    return load_templates(directory)


def template_set(
    names: tuple[str, ...], needed_by: str, templates: Mapping[str, PromptTemplate] | None = None
) -> tuple[PromptTemplate, ...]:
    """The templates `names` of prompts/ (or of `templates`), in that order; PromptError naming the first
    missing one and what `needed_by` ("the judge") needs."""
    templates = templates or default_templates()
    missing = [n for n in names if n not in templates]
    if missing:
        raise PromptError(f"prompts/: missing template {missing[0]}; {needed_by} needs {', '.join(names)}")
    return tuple(templates[n] for n in names)


def default_templates() -> dict[str, PromptTemplate]:
    return _cached_templates(str(PROMPTS_DIR))
