"""The aiohttp application: routes and the lifetime of the service's parts."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bot.services import Services
from bot.web import ops_views, twilio_views
from bot.web.business_views import setup_business_routes
from bot.web.keys import SERVICES
from bot.web.login_views import setup_login_routes
from bot.web.pay_views import setup_pay_routes
from bot.web.sandbox_views import setup_sandbox_routes


def setup_routes(app: web.Application, services: Services) -> None:
    """Every route the service answers."""
    app.router.add_post("/twilio/messages", twilio_views.inbound_message)
    app.router.add_post("/twilio/status", twilio_views.status_callback)
    app.router.add_get("/healthz", ops_views.healthz)
    app.router.add_get("/metrics", ops_views.metrics)
    setup_login_routes(app)
    setup_business_routes(app)
    setup_pay_routes(app)
    if services.settings.sandbox:
        setup_sandbox_routes(app)


def create_app(services: Services, *, worker: bool = True) -> web.Application:
    """The web app over built services; ``worker`` also runs the sender and scheduler loops."""
    app = web.Application(client_max_size=services.settings.max_body_bytes)
    app[SERVICES] = services
    setup_routes(app, services)

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        await services.start(worker=worker)
        yield
        await services.stop()

    app.cleanup_ctx.append(lifetime)
    return app
