"""The Twilio double from the tests, as its own process, plus a /stats route for the benchmark."""

from __future__ import annotations

import argparse

from aiohttp import web

from tests.twilio_double import TwilioDouble


def make_app() -> web.Application:
    double = TwilioDouble()
    app = double.app()

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response({"messages": len(double.messages), "requests": double.requests})

    async def replies(_request: web.Request) -> web.Response:
        return web.json_response([[m.to, m.body] for m in double.messages])

    app.router.add_get("/stats", stats)
    app.router.add_get("/replies", replies)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)
