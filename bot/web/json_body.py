"""What the JSON routes share: reading the request's JSON object, and refusing in JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web


def json_error(kind: type[web.HTTPError], reason: str, **details: Any) -> web.HTTPError:
    """An HTTP error to raise whose body is ``{"error": reason, …details}``."""
    return kind(text=json.dumps({"error": reason, **details}, ensure_ascii=False),
                content_type="application/json")


def bad_request(reason: str) -> web.HTTPError:
    """A 400 whose JSON body says why."""
    return json_error(web.HTTPBadRequest, reason)


async def json_body(request: web.Request, *,
                    refuse: Callable[[str], web.HTTPError] = bad_request) -> dict[str, Any]:
    """The request's JSON object (an empty body is an empty object). Anything else raises
    ``refuse(reason)``: by default a 400 with a JSON body."""
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:  # UnicodeDecodeError included
        raise refuse("the body is not JSON") from None
    if not isinstance(data, dict):
        raise refuse("expected a JSON object")
    return data
