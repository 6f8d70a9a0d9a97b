"""Typed keys for what the app carries."""

from aiohttp import web

from bot.services import Services

SERVICES = web.AppKey("services", Services)
