"""Run-time settings: typed sections with defaults, validated saves, picked up without restart."""

from __future__ import annotations

import logging
from typing import ClassVar

import pytest
from pydantic import Field, field_validator

from bot import config as config_module
from bot.config import ConfigCache, ConfigError, ConfigSection, load_config, save_section
from bot.store.database import Store
from bot.store.models import ConfigEntry


class DemoConfig(ConfigSection):
    section: ClassVar[str] = "demo"
    title: ClassVar[str] = "Demo"
    lengths_months: tuple[int, ...] = (1, 2, 3)
    cap: int = Field(default=2, ge=1, le=6)

    @field_validator("lengths_months")
    @classmethod
    def _sorted_and_positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(v <= 0 for v in value) or list(value) != sorted(set(value)):
            raise ValueError("give increasing positive numbers of months")
        return value


@pytest.fixture(autouse=True)
def demo_section(monkeypatch):
    monkeypatch.setitem(config_module._SECTIONS, "demo", DemoConfig)


class OtherConfig(ConfigSection):
    section: ClassVar[str] = "other"
    title: ClassVar[str] = "Other"
    tone: str = "warm"


def test_a_stored_section_that_no_longer_validates_falls_back_to_defaults(database_url, clock,
                                                                         caplog,
                                                                         monkeypatch) -> None:
    """A stored row the section refuses (an older shape) gives its defaults instead of stopping
    the service, logs which section and why, and leaves the other sections as saved."""
    monkeypatch.setitem(config_module._SECTIONS, "other", OtherConfig)
    store = Store(database_url)
    store.write_sync(lambda s: save_section(s, "other", {"tone": "plain"},
                                            now=clock.now(), updated_by="op@x.io"))
    store.write_sync(lambda s: s.add(ConfigEntry(name="demo", value={"cap": 99, "colour": "red"},
                                                 version=2, updated_at=clock.now(),
                                                 updated_by="op@x.io")))
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        config = store.read_sync(load_config)
    assert config.get(DemoConfig) == DemoConfig()
    assert config.get(OtherConfig).tone == "plain"
    assert config.version == 2
    [record] = [r for r in caplog.records if r.name == "bot.config"]
    assert record.levelno == logging.WARNING
    assert "demo" in record.getMessage() and "cap" in record.getMessage()
    store.close()


def test_save_validates_and_returns_before_and_after(database_url, clock) -> None:
    """A valid save stores the new values; an invalid one names each field and why."""
    store = Store(database_url)
    before, after = store.write_sync(lambda s: save_section(
        s, "demo", {"lengths_months": [1, 3], "cap": 3}, now=clock.now(), updated_by="op@x.io"))
    assert before == {"lengths_months": [1, 2, 3], "cap": 2}
    assert after == {"lengths_months": [1, 3], "cap": 3}
    assert store.read_sync(load_config).get(DemoConfig).lengths_months == (1, 3)

    with pytest.raises(ConfigError) as refused:
        store.write_sync(lambda s: save_section(s, "demo", {"lengths_months": [3, 1], "cap": 9,
                                                           "colour": "red"},
                                                now=clock.now(), updated_by="op@x.io"))
    fields = {p.field for p in refused.value.problems}
    assert fields == {"lengths_months", "cap", "colour"}
    assert store.read_sync(load_config).get(DemoConfig).cap == 3  # nothing half-saved
    with pytest.raises(ConfigError, match="unknown section"):
        store.write_sync(lambda s: save_section(s, "nope", {}, now=clock.now(), updated_by="x"))
    store.close()


def test_cache_picks_up_a_save_from_another_process(database_url, clock) -> None:
    """A running process sees a change saved elsewhere on its next read, without restarting."""
    store, elsewhere = Store(database_url), Store(database_url)
    cache = ConfigCache()
    assert store.read_sync(cache.current).get(DemoConfig).cap == 2
    first = store.read_sync(cache.current)
    assert store.read_sync(cache.current) is first  # unchanged: same snapshot, no reload
    elsewhere.write_sync(lambda s: save_section(s, "demo", {"cap": 5}, now=clock.now(),
                                                updated_by="op@x.io"))
    assert store.read_sync(cache.current).get(DemoConfig).cap == 5
    store.close()
    elsewhere.close()


def test_whatsapp_template_mapping_validates_and_fills_variables(database_url, clock) -> None:
    """An approved template needs a real ContentSid and a message key; its variables become
    ContentVariables in placeholder order, with a language fallback for the locale."""
    from bot.whatsapp_templates import WhatsAppTemplates

    store = Store(database_url)
    mapping = {"templates": {"dunning.first_notice": {"es": {
        "content_sid": "HX" + "a" * 32, "variables": ["amount", "pay_url"],
        "label": "Pago pendiente"}}}}
    store.write_sync(lambda s: save_section(s, "whatsapp_templates", mapping, now=clock.now(),
                                            updated_by="op@x.io"))
    templates = store.read_sync(load_config).get(WhatsAppTemplates)
    approved = templates.approved("dunning.first_notice", "es_MX")
    assert approved.content_variables({"amount": "19,00 US$", "pay_url": "https://x/p/1"}) == {
        "1": "19,00 US$", "2": "https://x/p/1"}
    assert templates.approved("dunning.first_notice", "en") is None
    for bad in ({"templates": {"dunning": {}}},
                {"templates": {"a.b": {"en": {"content_sid": "HX123"}}}}):
        with pytest.raises(ConfigError):
            store.write_sync(lambda s, b=bad: save_section(s, "whatsapp_templates", b,
                                                           now=clock.now(), updated_by="x"))
    store.close()
