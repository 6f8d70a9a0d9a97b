"""Every message template is declared, uses only its declared variables, and renders in every
shipped locale on both channels with its sample values."""

from __future__ import annotations

import jinja2.meta
import pytest

from bot.i18n import shipped_locales
from bot.message_specs import (
    ALWAYS_AVAILABLE,
    MessageSpecError,
    _parse,
    load_message_specs,
    template_keys,
)
from bot.messages import Channel, Say
from bot.render import Renderer, template_names

SPECS = load_message_specs()
renderer = Renderer(shipped_locales(), "en")


def test_every_template_is_declared_and_every_declaration_has_a_template() -> None:
    assert template_keys() == set(SPECS)


@pytest.mark.parametrize("key", sorted(SPECS))
def test_templates_use_only_declared_variables(key: str) -> None:
    env = renderer.environment("en")
    for name in template_names(key, Channel.SMS) + template_names(key, Channel.WHATSAPP)[:1]:
        try:
            source = env.loader.get_source(env, name)[0]
        except jinja2.TemplateNotFound:
            continue
        used = jinja2.meta.find_undeclared_variables(env.parse(source))
        undeclared = used - set(SPECS[key].variables) - ALWAYS_AVAILABLE - {"_", "gettext",
                                                                            "ngettext"}
        assert not undeclared, f"{name} uses undeclared {sorted(undeclared)}"


@pytest.mark.parametrize("locale", shipped_locales())
@pytest.mark.parametrize("key", sorted(SPECS))
def test_every_message_renders_everywhere(key: str, locale: str) -> None:
    for channel in Channel:
        rendered = renderer.render(Say(key, dict(SPECS[key].variables)), channel, locale)
        assert rendered.body.strip(), (key, channel, locale)


def test_malformed_declarations_are_refused() -> None:
    with pytest.raises(MessageSpecError, match="needs a description"):
        _parse("x", {"a": {"variables": {}}}, "x/messages.yaml")
    with pytest.raises(MessageSpecError, match="undeclared"):
        _parse("x", {"a": {"description": "d", "must_include": ["url"]}}, "x/messages.yaml")


def test_nullable_variables_are_declared_ones_and_never_required() -> None:
    """``nullable`` lists variables a flow may give as None; each must be declared, and a value
    the message must include cannot be one."""
    spec = _parse("x", {"a": {"description": "d", "variables": {"day": "2026-05-08"},
                              "nullable": ["day"]}}, "x/messages.yaml")["x.a"]
    assert spec.nullable == ("day",)
    assert _parse("x", {"a": {"description": "d"}}, "x/messages.yaml")["x.a"].nullable == ()
    with pytest.raises(MessageSpecError, match="nullable names undeclared"):
        _parse("x", {"a": {"description": "d", "nullable": ["day"]}}, "x/messages.yaml")
    with pytest.raises(MessageSpecError, match="must_include"):
        _parse("x", {"a": {"description": "d", "variables": {"url": "u"}, "nullable": ["url"],
                           "must_include": ["url"]}}, "x/messages.yaml")
    with pytest.raises(MessageSpecError, match="list"):
        _parse("x", {"a": {"description": "d", "variables": {"day": "d"}, "nullable": "day"}},
               "x/messages.yaml")


@pytest.mark.parametrize("locale", shipped_locales())
@pytest.mark.parametrize("key", sorted(key for key, spec in SPECS.items() if spec.nullable))
def test_every_message_renders_with_its_nullable_variables_empty(key: str, locale: str) -> None:
    for channel in Channel:
        for name in SPECS[key].nullable:
            rendered = renderer.render(Say(key, {**SPECS[key].variables, name: None}), channel,
                                       locale)
            assert rendered.body.strip() and "None" not in rendered.body, (key, name, channel)
