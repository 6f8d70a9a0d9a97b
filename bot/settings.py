"""Settings read from the environment (names are part of the external contract, see README)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Self

BILLING_LEASE_SECONDS = 60.0
"""How long a billing action being delivered counts as in flight."""


class SettingsError(ValueError):
    """A setting is missing or malformed; the message says which and why."""


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _seconds(value: str | None, default: float, name: str) -> float:
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds") from None
    if seconds <= 0:
        raise SettingsError(f"{name} must be positive")
    return seconds


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    database_url: str = "sqlite:///bot.db"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    twilio_sms_from: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_whatsapp_from: str | None = None
    public_base_url: str = "http://127.0.0.1:8080"
    api_token: str | None = None
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    sandbox_token: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    default_locale: str = "en"
    brand_name: str = "Support"
    sms_own_keyword_replies: bool = False
    """Send our own STOP/START/HELP confirmations on SMS (only for numbers without Twilio's handling)."""
    log_level: str = "INFO"
    max_body_bytes: int = 64 * 1024
    twilio_timeout_seconds: float = 15.0
    send_lease_seconds: float = 60.0
    """How long a claimed send counts as in flight; after it, another sender may reconcile it."""
    billing_webhook_url: str | None = None
    """The operator's backend that receives billing actions; the local ledger when unset."""
    billing_webhook_secret: str | None = field(default=None, repr=False)
    billing_webhook_timeout_seconds: float = 10.0

    @property
    def sandbox(self) -> bool:
        """No Twilio credentials: webhooks use the sandbox token, replies go to the console sender."""
        return not (self.twilio_account_sid and self.twilio_auth_token)

    @property
    def webhook_token(self) -> str:
        """The secret Twilio signs webhooks with (the sandbox token in sandbox mode)."""
        return self.twilio_auth_token if not self.sandbox else self.sandbox_token  # type: ignore[return-value]

    @property
    def effective_api_token(self) -> str | None:
        """The bearer token /api/* accepts: BOT_API_TOKEN, or in sandbox mode the sandbox token;
        None (API disabled) outside sandbox without BOT_API_TOKEN."""
        if self.api_token:
            return self.api_token
        return self.sandbox_token if self.sandbox else None

    @property
    def status_callback_url(self) -> str:
        """Where Twilio reports delivery status for the messages we send."""
        return self.public_base_url.rstrip("/") + "/twilio/status"

    def with_overrides(self, **changes: object) -> Self:
        """A copy with some fields changed (used by tests and the CLI)."""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from the environment; raise SettingsError for anything unusable."""
        env = os.environ if env is None else env
        get = lambda name: (env.get(name) or "").strip() or None  # noqa: E731
        defaults = cls()
        settings = cls(
            database_url=get("DATABASE_URL") or defaults.database_url,
            twilio_account_sid=get("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
            twilio_api_base_url=(get("TWILIO_API_BASE_URL") or defaults.twilio_api_base_url).rstrip(
                "/"
            ),
            twilio_sms_from=get("TWILIO_SMS_FROM"),
            twilio_messaging_service_sid=get("TWILIO_MESSAGING_SERVICE_SID"),
            twilio_whatsapp_from=get("TWILIO_WHATSAPP_FROM"),
            public_base_url=(get("PUBLIC_BASE_URL") or defaults.public_base_url).rstrip("/"),
            api_token=get("BOT_API_TOKEN"),
            secret_key=get("BOT_SECRET_KEY") or defaults.secret_key,
            default_locale=get("BOT_DEFAULT_LOCALE") or defaults.default_locale,
            brand_name=get("BOT_BRAND_NAME") or defaults.brand_name,
            sms_own_keyword_replies=_flag(get("BOT_SMS_OWN_KEYWORD_REPLIES"), False),
            log_level=(get("BOT_LOG_LEVEL") or "INFO").upper(),
            twilio_timeout_seconds=_seconds(get("BOT_TWILIO_TIMEOUT_SECONDS"), 15.0,
                                            "BOT_TWILIO_TIMEOUT_SECONDS"),
            send_lease_seconds=_seconds(get("BOT_SEND_LEASE_SECONDS"), 60.0,
                                        "BOT_SEND_LEASE_SECONDS"),
            billing_webhook_url=get("BOT_BILLING_WEBHOOK_URL"),
            billing_webhook_secret=get("BOT_BILLING_WEBHOOK_SECRET"),
            billing_webhook_timeout_seconds=_seconds(get("BOT_BILLING_WEBHOOK_TIMEOUT_SECONDS"),
                                                     10.0, "BOT_BILLING_WEBHOOK_TIMEOUT_SECONDS"),
        )
        settings.validate(secret_key_given=bool(get("BOT_SECRET_KEY")))
        return settings

    def served_at(self, host: str, port: int) -> Settings:
        """These settings for a process serving ``host``:``port``: in sandbox mode, links to our
        own pages (payment, consent) left at the default address open on the one served."""
        if not self.sandbox or self.public_base_url != Settings.public_base_url:
            return self
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"  # every interface: the loopback one is among them
        elif ":" in host:
            host = f"[{host}]"
        return replace(self, public_base_url=f"http://{host}:{port}")

    def validate(self, *, secret_key_given: bool = True) -> None:
        """Refuse combinations that would run an insecure or broken production service."""
        if bool(self.twilio_account_sid) != bool(self.twilio_auth_token):
            raise SettingsError("set both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or neither")
        if not self.sandbox:
            if not secret_key_given:
                raise SettingsError("BOT_SECRET_KEY is required outside sandbox mode")
            if not (self.twilio_sms_from or self.twilio_messaging_service_sid
                    or self.twilio_whatsapp_from):
                raise SettingsError(
                    "set TWILIO_SMS_FROM, TWILIO_MESSAGING_SERVICE_SID or TWILIO_WHATSAPP_FROM"
                )
        if self.twilio_whatsapp_from and not self.twilio_whatsapp_from.startswith("whatsapp:"):
            raise SettingsError("TWILIO_WHATSAPP_FROM must look like whatsapp:+14155550100")
        if not self.database_url.startswith(("sqlite:", "postgresql:", "postgresql+", "postgres:")):
            raise SettingsError("DATABASE_URL must be sqlite:///path.db or postgresql://…")
        if not self.public_base_url.startswith(("http://", "https://")):
            raise SettingsError("PUBLIC_BASE_URL must start with http:// or https://")
        if bool(self.billing_webhook_url) != bool(self.billing_webhook_secret):
            raise SettingsError("set both BOT_BILLING_WEBHOOK_URL and BOT_BILLING_WEBHOOK_SECRET, "
                                "or neither (the local billing ledger)")
        if self.billing_webhook_url and not self.billing_webhook_url.startswith(("http://",
                                                                                  "https://")):
            raise SettingsError("BOT_BILLING_WEBHOOK_URL must start with http:// or https://")
        if self.billing_webhook_timeout_seconds >= BILLING_LEASE_SECONDS:
            raise SettingsError(f"BOT_BILLING_WEBHOOK_TIMEOUT_SECONDS must be under "
                                f"{BILLING_LEASE_SECONDS:.0f}, or a slow delivery could be repeated")
        if self.send_lease_seconds <= self.twilio_timeout_seconds:
            raise SettingsError("BOT_SEND_LEASE_SECONDS must be longer than "
                                "BOT_TWILIO_TIMEOUT_SECONDS, or a slow send could go out twice")
