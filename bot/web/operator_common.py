"""What the operator console and the operator API share: the editors, who is editing, writing
a checked edit, reading the scope of a request, and the JSON shape of checks and versions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from bot.content_versions import Edit, UnknownVersion, VersionConflict, conflict, save_version
from bot.faq_editor import FaqCheck, FaqEditor, FaqRefused
from bot.messages import Channel
from bot.store.models import ContentVersion
from bot.template_editor import TemplateEditor, TemplateRefused, UnknownTemplate
from bot.template_lint import Problem, TemplateCheck
from bot.web.json_body import bad_request, json_error
from bot.web.keys import SERVICES

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


async def write_edit(request: web.Request, edit: Edit, *,
                     base_version: int | None = None) -> ContentVersion | None:
    """Write a checked edit as its scope's next version, by whoever makes the request; None when
    it is the text in force already. The edit was checked when it was made, before this write
    transaction, which only writes."""
    services = request.app[SERVICES]
    author, now = author_of(request), services.clock.now()
    return await services.store.write(lambda session: save_version(
        session, edit, author=author, now=now, base_version=base_version))


def refused(check: dict[str, Any]) -> web.HTTPError:
    """A 422 with every reason the text was refused, and the whole check."""
    reasons = [p["message"] for p in check["problems"] if p["severity"] == "error"]
    return json_error(web.HTTPUnprocessableEntity, "refused", reasons=reasons, **check)


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
        raise json_error(web.HTTPNotFound, str(error)) from None
    except VersionConflict as error:
        raise json_error(web.HTTPConflict, str(error)) from None
    except IntegrityError:
        raise json_error(web.HTTPConflict, SIMULTANEOUS) from None
    except ValueError as error:
        raise bad_request(str(error)) from None


def channel_of(value: object) -> Channel:
    """A channel from a request; 400 unless sms or whatsapp."""
    try:
        return Channel(str(value))
    except ValueError:
        raise bad_request("channel must be sms or whatsapp") from None


def optional_int(value: object, name: str) -> int | None:
    """An optional whole number from a request; 400 when it is something else."""
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        raise bad_request(f"{name} must be a whole number") from None


def refusal(base_version: int | None, history: Iterable[ContentVersion]) -> tuple[int, str]:
    """Status and headline of an editor page refusing a text for its problems: 422, or 409 when
    someone saved after the operator opened it — the form then starts from that newer version,
    and fixing the problems and saving again would silently replace it."""
    stale = conflict(base_version, next(iter(history), None))
    return (422, "Not saved: fix the problems below.") if stale is None else (409, f"Not saved: {stale}")


def saved_notice(query: Mapping[str, str]) -> str:
    """The confirmation an editor page shows after a save or a rollback redirected to it."""
    if "saved" in query:
        return f"Saved version {query['saved']}."
    if "unchanged" in query:
        return "Nothing changed: the text is the one in force."
    if "restored" in query:
        return f"Restored {query['restored']}."
    return ""


def after_save(path: str, saved: ContentVersion | None) -> web.HTTPSeeOther:
    """Back to the editor at ``path``, saying which version a save made (or that the text was
    unchanged)."""
    return web.HTTPSeeOther(f"{path}?saved={saved.version}" if saved else f"{path}?unchanged=1")


def after_rollback(path: str, saved: ContentVersion | None,
                   version: int | None) -> web.HTTPSeeOther:
    """Back to the editor at ``path``, saying what a rollback restored (or that the text was
    unchanged: it was in force already)."""
    if saved is None:
        return web.HTTPSeeOther(f"{path}?unchanged=1")
    what = "the shipped file" if saved.source is None else f"version {version}"
    return web.HTTPSeeOther(f"{path}?restored={quote(what)}")


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
