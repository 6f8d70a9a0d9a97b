"""Approved WhatsApp templates: what may be sent outside WhatsApp's 24-hour window.

Operators map a message (template key) and locale to a template approved by WhatsApp in
Twilio's Content Template Builder (its ``ContentSid``), and list which of the message's
variables fill the template's numbered placeholders ``{{1}}``, ``{{2}}``…
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.config import ConfigSection, config_section


class ApprovedTemplate(BaseModel):
    """One approved template for one message in one locale."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    content_sid: str = Field(pattern=r"^HX[0-9a-fA-F]{32}$")
    variables: tuple[str, ...] = ()
    """Message variables in placeholder order: the first fills {{1}}, and so on."""
    label: str = ""
    """How agents see it in the console."""

    def content_variables(self, values: dict[str, object]) -> dict[str, str]:
        """``ContentVariables`` for these message values (``{"1": …, "2": …}``)."""
        return {str(n): str(values.get(name, "")) for n, name in enumerate(self.variables, 1)}


@config_section
class WhatsAppTemplates(ConfigSection):
    """Approved templates by message key, then locale."""

    section: ClassVar[str] = "whatsapp_templates"
    title: ClassVar[str] = "Approved WhatsApp templates"
    templates: dict[str, dict[str, ApprovedTemplate]] = Field(default_factory=dict)

    @field_validator("templates")
    @classmethod
    def _keys_are_message_keys(cls, value: dict[str, dict[str, ApprovedTemplate]]) -> dict:
        for key in value:
            if key.count(".") != 1:
                raise ValueError(f"{key!r} is not a message key like 'dunning.first_notice'")
        return value

    def approved(self, key: str, locale: str) -> ApprovedTemplate | None:
        """The approved template for a message in a locale (falling back to its language)."""
        by_locale = self.templates.get(key, {})
        return by_locale.get(locale) or by_locale.get(locale.split("_")[0])
