"""The reference: a bare aiohttp handler that only checks Twilio's signature and answers empty
TwiML. Whatever the bot does beyond that is measured against this."""

from __future__ import annotations

import argparse
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict
from twilio.request_validator import RequestValidator

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def make_app(token: str, public_base_url: str) -> web.Application:
    validator = RequestValidator(token)

    async def messages(request: web.Request) -> web.Response:
        form = MultiDict(parse_qsl((await request.read()).decode()))
        url = public_base_url + request.raw_path
        if not validator.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
            return web.Response(status=403)
        return web.Response(text=TWIML, content_type="text/xml")

    app = web.Application()
    app.router.add_post("/twilio/messages", messages)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--public-base-url", required=True)
    args = parser.parse_args()
    web.run_app(make_app(args.token, args.public_base_url), host="127.0.0.1", port=args.port,
                access_log=None, print=None)
