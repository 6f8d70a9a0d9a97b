"""What each message template is for and what it may use, from ``templates/<flow>/messages.yaml``.

One entry per template name::

    answer:
      description: Answers a question from the FAQ.
      variables:                 # every variable the template may use, with a sample value
        answer: "You're billed on the same day each month…"
      proactive: false           # sent without the customer writing first (SMS: opt-out words)
      must_include: []           # variables whose value the rendered text must contain
      nullable: []               # variables a flow may give as None (no end date, no price…)
      max_segments: null         # SMS segment budget, when the message has one

``brand``, ``channel`` and ``locale`` are always available and are not declared.

A sample is always a value, so a variable the flows sometimes pass as None is listed in
``nullable``: the linter then renders the message with it None too, and refuses a text that
would show the customer "None", or today's date (``day`` given nothing), for it. Use it inside
``{% if name %}…{% endif %}``. A ``must_include`` value cannot be nullable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.render import TEMPLATES_DIR

ALWAYS_AVAILABLE = frozenset({"brand", "channel", "locale"})


class MessageSpecError(ValueError):
    """A messages.yaml is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class MessageSpec:
    """The declaration of one message template."""

    key: str
    description: str
    variables: dict[str, Any]
    proactive: bool = False
    must_include: tuple[str, ...] = ()
    max_segments: int | None = None
    nullable: tuple[str, ...] = ()
    """Variables a flow may give as None (their sample shows the other case)."""


def _parse(flow: str, data: object, source: Path) -> dict[str, MessageSpec]:
    if not isinstance(data, dict):
        raise MessageSpecError(f"{source}: expected a mapping of template names")
    specs = {}
    for name, raw in data.items():
        where = f"{source} {name}"
        if not isinstance(raw, dict) or not isinstance(raw.get("description"), str):
            raise MessageSpecError(f"{where}: needs a description")
        variables = raw.get("variables") or {}
        must_include = tuple(raw.get("must_include") or ())
        if not isinstance(variables, dict):
            raise MessageSpecError(f"{where}: variables must be a mapping of name to sample")
        if unknown := set(must_include) - set(variables):
            raise MessageSpecError(f"{where}: must_include names undeclared {sorted(unknown)}")
        nullable = raw.get("nullable") or []
        if not isinstance(nullable, list) or not all(isinstance(n, str) for n in nullable):
            raise MessageSpecError(f"{where}: nullable must be a list of variable names")
        if unknown := set(nullable) - set(variables):
            raise MessageSpecError(f"{where}: nullable names undeclared {sorted(unknown)}")
        if both := set(nullable) & set(must_include):
            raise MessageSpecError(f"{where}: {sorted(both)} cannot be both nullable and in "
                                   f"must_include")
        specs[f"{flow}.{name}"] = MessageSpec(
            key=f"{flow}.{name}", description=raw["description"], variables=variables,
            proactive=bool(raw.get("proactive", False)), must_include=must_include,
            max_segments=raw.get("max_segments"), nullable=tuple(nullable))
    return specs


def load_message_specs(templates_dir: Path = TEMPLATES_DIR) -> dict[str, MessageSpec]:
    """Every declared message, by key (``<flow>.<name>``)."""
    specs: dict[str, MessageSpec] = {}
    for path in sorted(templates_dir.glob("*/messages.yaml")):
        with path.open(encoding="utf-8") as handle:
            specs.update(_parse(path.parent.name, yaml.safe_load(handle), path))
    return specs


def template_keys(templates_dir: Path = TEMPLATES_DIR) -> set[str]:
    """Keys of every message template file (channel variants count once)."""
    keys = set()
    for path in templates_dir.glob("*/*.txt"):
        keys.add(f"{path.parent.name}.{path.name.split('.')[0]}")
    return keys
