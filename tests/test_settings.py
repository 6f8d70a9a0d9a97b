"""Settings from the environment: sandbox by default, refusals for unsafe or broken setups."""

from __future__ import annotations

import pytest

from bot.settings import Settings, SettingsError

LIVE = {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "t",
        "TWILIO_SMS_FROM": "+15005550006", "BOT_SECRET_KEY": "k"}


def test_defaults_are_sandbox_on_sqlite() -> None:
    """With nothing set: SQLite, sandbox mode, a random per-start secret and sandbox token."""
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///bot.db"
    assert settings.sandbox
    assert settings.public_base_url == "http://127.0.0.1:8080"
    assert settings.webhook_token == settings.sandbox_token
    assert Settings.from_env({}).secret_key != settings.secret_key


@pytest.mark.parametrize(("env", "host", "port", "expected"), [
    ({}, "127.0.0.1", 8765, "http://127.0.0.1:8765"),
    ({}, "0.0.0.0", 9000, "http://127.0.0.1:9000"),
    ({}, "::1", 9000, "http://[::1]:9000"),
    ({"PUBLIC_BASE_URL": "https://tunnel.example.com"}, "127.0.0.1", 8765,
     "https://tunnel.example.com"),
    ({**LIVE, "PUBLIC_BASE_URL": "https://bot.example.com"}, "0.0.0.0", 8765,
     "https://bot.example.com"),
])
def test_sandbox_links_open_on_the_port_served(env: dict, host: str, port: int,
                                               expected: str) -> None:
    """`bot serve --port 8765` in sandbox mode puts payment and consent links on port 8765,
    not the default 8080 where nothing answers; an address given is kept as it is."""
    assert Settings.from_env(env).served_at(host, port).public_base_url == expected


def test_live_settings_use_the_auth_token_for_webhooks() -> None:
    """With credentials the webhook secret is Twilio's auth token and callbacks are public."""
    settings = Settings.from_env({**LIVE, "PUBLIC_BASE_URL": "https://bot.example.com/"})
    assert not settings.sandbox
    assert settings.webhook_token == "t"
    assert settings.status_callback_url == "https://bot.example.com/twilio/status"


@pytest.mark.parametrize(("env", "message"), [
    ({"TWILIO_ACCOUNT_SID": "AC1"}, "both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"),
    ({k: v for k, v in LIVE.items() if k != "BOT_SECRET_KEY"}, "BOT_SECRET_KEY is required"),
    ({**LIVE, "TWILIO_SMS_FROM": ""}, "set TWILIO_SMS_FROM"),
    ({**LIVE, "TWILIO_WHATSAPP_FROM": "+15005550006"}, "whatsapp:"),
    ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
    ({"PUBLIC_BASE_URL": "bot.example.com"}, "PUBLIC_BASE_URL"),
    ({"BOT_SEND_LEASE_SECONDS": "5"}, "longer than"),
    ({"BOT_TWILIO_TIMEOUT_SECONDS": "soon"}, "number of seconds"),
])
def test_unusable_settings_are_refused_with_the_reason(env: dict, message: str) -> None:
    """Each broken environment names the setting to fix."""
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
