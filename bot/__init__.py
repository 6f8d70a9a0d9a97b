"""Subscriber support bot: WhatsApp and SMS support for subscription businesses, through Twilio."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""Where templates/, locales/ and the flow content live (the service runs from its checkout)."""
