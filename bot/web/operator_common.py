"""What the operator console and the operator API share: the editors, who is editing, reading
the scope of a request, and the JSON shape of checks and versions."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from bot.content_versions import UnknownVersion, VersionConflict
from bot.faq_editor import FaqCheck, FaqEditor, FaqRefused
from bot.messages import Channel
from bot.store.models import ContentVersion
from bot.template_editor import TemplateEditor, TemplateRefused, UnknownTemplate
from bot.template_lint import Problem, TemplateCheck

TEMPLATES = web.AppKey("template_editor", TemplateEditor)
FAQS = web.AppKey("faq_editor", FaqEditor)
API_AUTHOR = "API token"
"""The author of a version saved with the bearer token (no person signed in)."""
SIMULTANEOUS = "someone saved this text at the same moment; reload it"
"""Why a save lost the race for its version number (PostgreSQL's unique index said so)."""


def author_of(request: web.Request) -> str:
    """Who is making the change: the signed-in user, or the API token."""
    viewer = request.get("viewer")
    return viewer.email if viewer is not None else API_AUTHOR


def _json_error(kind: type[web.HTTPError], body: dict[str, Any]) -> web.HTTPError:
    return kind(text=json.dumps(body, ensure_ascii=False), content_type="application/json")


def bad_request(reason: str) -> web.HTTPError:
    """A 400 whose body says why."""
    return _json_error(web.HTTPBadRequest, {"error": reason})


def refused(check: dict[str, Any]) -> web.HTTPError:
    """A 422 with every reason the text was refused, and the whole check."""
    reasons = [p["message"] for p in check["problems"] if p["severity"] == "error"]
    return _json_error(web.HTTPUnprocessableEntity, {"error": "refused", "reasons": reasons,
                                                     **check})


@contextmanager
def api_errors() -> Iterator[None]:
    """Answer an editing failure with its HTTP status and reasons (never a 500)."""
    try:
        yield
    except TemplateRefused as error:
        raise refused(check_json(error.check)) from None
    except FaqRefused as error:
        raise refused(faq_check_json(error.check)) from None
    except (UnknownTemplate, UnknownVersion) as error:
        raise _json_error(web.HTTPNotFound, {"error": str(error)}) from None
    except VersionConflict as error:
        raise _json_error(web.HTTPConflict, {"error": str(error)}) from None
    except IntegrityError:
        raise _json_error(web.HTTPConflict, {"error": SIMULTANEOUS}) from None
    except ValueError as error:
        raise bad_request(str(error)) from None


def channel_of(value: object) -> Channel:
    """A channel from a request; 400 unless sms or whatsapp."""
    try:
        return Channel(str(value))
    except ValueError:
        raise bad_request("channel must be sms or whatsapp") from None


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (an empty body is an empty object); 400 otherwise."""
    if not await request.read():
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise bad_request("expected a JSON object") from None
    if not isinstance(data, dict):
        raise bad_request("expected a JSON object")
    return data


def optional_int(value: object, name: str) -> int | None:
    """An optional whole number from a request; 400 when it is something else."""
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        raise bad_request(f"{name} must be a whole number") from None


def saved_notice(query: Mapping[str, str]) -> str:
    """The confirmation an editor page shows after a save or a rollback redirected to it."""
    if "saved" in query:
        return f"Saved version {query['saved']}."
    if "unchanged" in query:
        return "Nothing changed: the text is the one in force."
    if "restored" in query:
        return f"Restored {query['restored']}."
    return ""


def problem_json(problem: Problem) -> dict[str, str]:
    return {"rule": problem.rule, "severity": str(problem.severity), "message": problem.message}


def check_json(check: TemplateCheck) -> dict[str, Any]:
    """A template check as the API and the console's live preview read it."""
    cost = check.cost
    return {
        "ok": check.ok,
        "text": check.text,
        "characters": len(check.text) if check.text is not None else None,
        "sms": None if cost is None else {
            "encoding": str(cost.encoding), "segments": cost.segments, "units": cost.units,
            "non_gsm": list(cost.non_gsm)},
        "problems": [problem_json(p) for p in check.problems],
    }


def faq_check_json(check: FaqCheck) -> dict[str, Any]:
    """An FAQ check: whether it may be saved, its entries and its problems."""
    return {"ok": check.ok,
            "entries": sorted(check.book.entries) if check.book is not None else [],
            "problems": [problem_json(p) for p in check.problems]}


def version_json(row: ContentVersion) -> dict[str, Any]:
    """One saved version, for a history list."""
    return {"version": row.version, "author": row.author, "created_at": row.created_at.isoformat(),
            "note": row.note, "diff": row.diff, "restores_shipped": row.source is None}
