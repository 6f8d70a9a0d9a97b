"""The settings editor's form, built from each section's pydantic schema, so a section a feature
declares (``@config_section``) appears in the console by itself.

Each field becomes one input: a checkbox (bool), a number (with the schema's bounds), a choice
(an enum or Literal), a line of text (strings, times, dates), a comma-separated line (a list of
numbers or words), or a JSON text area for anything nested. Reading a posted form gives plain
data for ``bot.config.parse_section``, which validates it; a field that cannot even be read
(malformed JSON) is reported per field the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.config import ConfigError, ConfigSection, FieldProblem

_SCALARS = frozenset({"integer", "number", "string", "boolean"})


class Widget(StrEnum):
    """How a field is edited."""

    CHECKBOX = "checkbox"
    NUMBER = "number"
    CHOICE = "choice"
    TEXT = "text"
    LIST = "list"
    JSON = "json"


@dataclass(frozen=True)
class FormField:
    """One input of a section's form."""

    name: str
    title: str
    description: str
    widget: Widget
    value: str
    """The current value as the input shows it."""
    options: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    nullable: bool = False
    hint: str = ""
    """What to type (a format, the list separator)."""


@dataclass(frozen=True)
class _Shape:
    widget: Widget
    schema: dict[str, Any]
    nullable: bool
    options: tuple[Any, ...] = ()


def _shape(schema: dict[str, Any], defs: dict[str, Any]) -> _Shape:
    """Classify one property's schema (nullable unions and enum references unwrapped)."""
    nullable = False
    variants = schema.get("anyOf")
    if variants:
        others = [v for v in variants if v.get("type") != "null"]
        nullable = len(others) < len(variants)
        if len(others) != 1:
            return _Shape(Widget.JSON, schema, nullable)
        schema = {**schema, **others[0]}
    if "$ref" in schema:
        target = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
        if "enum" not in target:
            return _Shape(Widget.JSON, schema, nullable)
        schema = {**schema, **target}
    kind = schema.get("type")
    if "enum" in schema:
        return _Shape(Widget.CHOICE, schema, nullable, tuple(schema["enum"]))
    if kind == "boolean":
        return _Shape(Widget.CHECKBOX, schema, nullable)
    if kind in ("integer", "number"):
        return _Shape(Widget.NUMBER, schema, nullable)
    if kind == "string":
        return _Shape(Widget.TEXT, schema, nullable)
    items = schema.get("items", {})
    if kind == "array" and items.get("type") in _SCALARS and "$ref" not in items:
        return _Shape(Widget.LIST, schema, nullable)
    return _Shape(Widget.JSON, schema, nullable)


def _shapes(section: type[ConfigSection]) -> dict[str, _Shape]:
    schema = section.model_json_schema()
    defs = schema.get("$defs", {})
    return {name: _shape(prop, defs) for name, prop in schema.get("properties", {}).items()}


def _shown(shape: _Shape, value: Any) -> str:
    if value is None:
        return ""
    if shape.widget is Widget.CHECKBOX:
        return "on" if value else ""
    if shape.widget is Widget.LIST:
        return ", ".join(str(item) for item in value)
    if shape.widget is Widget.JSON:
        return json.dumps(value, indent=2, ensure_ascii=False)
    return str(value)


def form_fields(section: type[ConfigSection], values: ConfigSection) -> list[FormField]:
    """The inputs of a section's form, filled with ``values``."""
    current = values.model_dump(mode="json")
    fields = []
    for name, shape in _shapes(section).items():
        schema = shape.schema
        hint = {"time": "HH:MM", "date": "YYYY-MM-DD"}.get(schema.get("format", ""), "")
        if shape.widget is Widget.LIST:
            hint = "separate values with commas"
        elif shape.widget is Widget.JSON:
            hint = "JSON"
        fields.append(FormField(
            name=name, title=schema.get("title", name), description=schema.get("description", ""),
            widget=shape.widget, value=_shown(shape, current.get(name)),
            options=tuple(str(option) for option in shape.options),
            minimum=schema.get("minimum", schema.get("exclusiveMinimum")),
            maximum=schema.get("maximum", schema.get("exclusiveMaximum")),
            integer=schema.get("type") == "integer", nullable=shape.nullable, hint=hint))
    return fields


def read_form(section: type[ConfigSection], form: Mapping[str, str]) -> dict[str, Any]:
    """The section's data from a posted form (validation is ``parse_section``'s job); fields the
    form does not carry keep their defaults. ConfigError for fields that cannot be read."""
    data: dict[str, Any] = {}
    problems = []
    for name, shape in _shapes(section).items():
        if shape.widget is Widget.CHECKBOX:
            data[name] = name in form
            continue
        if name not in form:
            continue
        raw = str(form[name]).strip()
        if raw == "" and shape.nullable:
            data[name] = None
        elif shape.widget is Widget.LIST:
            data[name] = [item.strip() for item in raw.split(",") if item.strip()]
        elif shape.widget is Widget.CHOICE:
            data[name] = {str(option): option for option in shape.options}.get(raw, raw)
        elif shape.widget is Widget.JSON:
            try:
                data[name] = json.loads(raw)
            except json.JSONDecodeError as error:
                problems.append(FieldProblem(name, f"not valid JSON: {error.msg} (line "
                                                   f"{error.lineno}, column {error.colno})"))
        else:
            data[name] = raw
    if problems:
        raise ConfigError(section.section, problems)
    return data
