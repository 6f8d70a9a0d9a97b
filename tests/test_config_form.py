"""The settings editor's form comes from each section's schema, reads back into data the
section validates, and every saved change is audited."""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from typing import ClassVar, Literal

import pytest
from pydantic import BaseModel, Field

from bot import config as config_module
from bot.config import ConfigError, ConfigSection, load_config, parse_section
from bot.config_audit import changed_fields, recent_changes, save_audited
from bot.config_form import Widget, form_fields, read_form
from bot.store.database import Store


class Route(StrEnum):
    PAUSE = "pause"
    EXIT = "exit"


class Offer(BaseModel):
    plan: str
    price: float


class EveryKind(ConfigSection):
    section: ClassVar[str] = "every_kind"
    title: ClassVar[str] = "Every kind of field"
    cap: int = Field(default=2, ge=1, le=6, description="At most this many.")
    ratio: float = 0.5
    enabled: bool = True
    opens: time = time(8)
    route: Route = Route.PAUSE
    tone: Literal["plain", "warm"] = "plain"
    lengths_months: tuple[int, ...] = (1, 2, 3)
    note: str | None = None
    offers: dict[str, Offer] = Field(default_factory=dict)


@pytest.fixture(autouse=True)
def every_kind(monkeypatch):
    monkeypatch.setitem(config_module._SECTIONS, "every_kind", EveryKind)


def test_each_field_gets_an_input_for_its_type() -> None:
    """Booleans are checkboxes, numbers keep their bounds, enums and literals are choices, lists
    of scalars are comma-separated and nested data is JSON."""
    fields = {f.name: f for f in form_fields(EveryKind, EveryKind())}
    assert {name: f.widget for name, f in fields.items()} == {
        "cap": Widget.NUMBER, "ratio": Widget.NUMBER, "enabled": Widget.CHECKBOX,
        "opens": Widget.TEXT, "route": Widget.CHOICE, "tone": Widget.CHOICE,
        "lengths_months": Widget.LIST, "note": Widget.TEXT, "offers": Widget.JSON}
    cap = fields["cap"]
    assert (cap.minimum, cap.maximum, cap.integer, cap.value) == (1, 6, True, "2")
    assert cap.description == "At most this many."
    assert fields["route"].options == ("pause", "exit") and fields["tone"].value == "plain"
    assert fields["lengths_months"].value == "1, 2, 3"
    assert fields["opens"].value == "08:00:00" and fields["opens"].hint == "HH:MM"
    assert fields["note"].nullable and fields["note"].value == ""
    assert fields["offers"].value == "{}"


def test_a_posted_form_reads_back_into_valid_data() -> None:
    """What the form posts becomes the section's values (an unticked box is False, an empty
    optional field None)."""
    data = read_form(EveryKind, {
        "cap": "4", "ratio": "0.25", "opens": "09:30", "route": "exit", "tone": "warm",
        "lengths_months": "1, 3", "note": "", "offers": '{"price": {"plan": "lite", "price": 9}}'})
    value = parse_section("every_kind", data)
    assert value == EveryKind(cap=4, ratio=0.25, enabled=False, opens=time(9, 30),
                              route=Route.EXIT, tone="warm", lengths_months=(1, 3), note=None,
                              offers={"price": Offer(plan="lite", price=9)})
    shown = {f.name: f.value for f in form_fields(EveryKind, value)}
    assert read_form(EveryKind, {**shown, "enabled": "on"})["lengths_months"] == ["1", "3"]


def test_unreadable_and_invalid_fields_are_named() -> None:
    """Malformed JSON is refused before validation; out-of-range or wrong values are refused by
    the section, each naming its field."""
    with pytest.raises(ConfigError) as unreadable:
        read_form(EveryKind, {"offers": '{"price": '})
    assert [p.field for p in unreadable.value.problems] == ["offers"]
    assert "not valid JSON" in unreadable.value.problems[0].reason
    with pytest.raises(ConfigError) as invalid:
        parse_section("every_kind", read_form(EveryKind, {
            "cap": "9", "route": "refund", "lengths_months": "1, two",
            "offers": '{"x": {"plan": "lite"}}'}))
    fields = {p.field.split(".")[0] for p in invalid.value.problems}
    assert fields == {"cap", "route", "lengths_months", "offers"}


def test_saves_are_audited_with_before_and_after(database_url, clock) -> None:
    """A change records who, when and each field before and after; saving the same values
    records nothing; an invalid save records nothing."""
    store = Store(database_url)
    change = store.write_sync(lambda s: save_audited(s, "every_kind", {"cap": 3, "tone": "warm"},
                                                     now=clock.now(), author="op@example.com"))
    assert (change.section, change.changed_by, change.changed_at) == (
        "every_kind", "op@example.com", clock.now())
    assert [(f.field, f.before, f.after) for f in changed_fields(change)] == [
        ("cap", 2, 3), ("tone", "plain", "warm")]
    clock.advance(hours=1)
    assert store.write_sync(lambda s: save_audited(s, "every_kind", {"cap": 3, "tone": "warm"},
                                                   now=clock.now(), author="bo@example.com")) is None
    with pytest.raises(ConfigError):
        store.write_sync(lambda s: save_audited(s, "every_kind", {"cap": 0}, now=clock.now(),
                                                author="bo@example.com"))
    store.write_sync(lambda s: save_audited(s, "every_kind", {"cap": 4}, now=clock.now(),
                                            author="bo@example.com"))
    changes = store.read_sync(recent_changes)
    assert [(c.changed_by, c.after["cap"]) for c in changes] == [("bo@example.com", 4),
                                                                 ("op@example.com", 3)]
    assert store.read_sync(lambda s: recent_changes(s, "whatsapp_templates")) == []
    assert store.read_sync(load_config).get(EveryKind).cap == 4
    store.close()
