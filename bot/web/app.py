"""The aiohttp application: routes and the lifetime of the service's parts."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bot.services import Services
from bot.web import ops_views, twilio_views
from bot.web.agent_api import setup_agent_api_routes
from bot.web.agent_views import setup_agent_routes
from bot.web.business_views import setup_business_routes
from bot.web.consent_views import setup_consent_routes
from bot.web.keys import SERVICES
from bot.web.login_views import setup_login_routes
from bot.web.operator_routes import setup_operator_routes
from bot.web.pay_views import setup_pay_routes
from bot.web.sandbox_views import setup_sandbox_routes


def setup_routes(app: web.Application, services: Services) -> None:
    """Every route the service answers."""
    app.router.add_post("/twilio/messages", twilio_views.inbound_message)
    app.router.add_post("/twilio/status", twilio_views.status_callback)
    app.router.add_get("/healthz", ops_views.healthz)
    app.router.add_get("/metrics", ops_views.metrics)
    setup_login_routes(app)
    setup_consent_routes(app)
    setup_operator_routes(app, services)
    setup_agent_routes(app)
    setup_agent_api_routes(app)
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

    async def end_live_streams(_app: web.Application) -> None:
        # Open consoles hold event streams; end them so shutdown does not wait on them.
        services.feed.close()

    app.cleanup_ctx.append(lifetime)
    app.on_shutdown.append(end_live_streams)
    return app
