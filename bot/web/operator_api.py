"""The operator API: message templates and FAQs — list, read, preview, save a checked version
(422 with the reasons otherwise), roll back. Bearer token, or an operator's session with the
CSRF header (the console's live preview and "try a question" box use it)."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime
from typing import Any

from aiohttp import web

from bot.accounts import Role
from bot.faq import MATCH_THRESHOLD
from bot.faq_editor import FaqStatus, FaqView
from bot.message_specs import MessageSpec
from bot.messages import Channel
from bot.template_editor import TemplateRow, TemplateStatus, TemplateView
from bot.web.auth import api
from bot.web.json_body import bad_request, json_body
from bot.web.keys import SERVICES
from bot.web.operator_common import (
    FAQS,
    TEMPLATES,
    api_errors,
    channel_of,
    check_json,
    faq_check_json,
    optional_int,
    refused,
    version_json,
    write_edit,
)


def _json(data: Any, **kwargs: Any) -> web.Response:
    """A JSON response; sample values may be dates (``until: 2026-12-01``), written in ISO form."""
    return web.json_response(data, dumps=_dumps, **kwargs)


def _dumps(data: Any) -> str:
    return json.dumps(data, default=lambda value: value.isoformat()
                      if isinstance(value, date | datetime) else str(value))


def spec_json(spec: MessageSpec) -> dict[str, Any]:
    return {"key": spec.key, "description": spec.description, "variables": spec.variables,
            "proactive": spec.proactive, "must_include": list(spec.must_include),
            "max_segments": spec.max_segments}


def status_json(status: TemplateStatus | FaqStatus) -> dict[str, Any]:
    return {"origin": "edited" if status.edited is not None else "shipped",
            "version": status.edited.version if status.edited is not None else None,
            "translation": str(status.coverage.state), "reason": status.coverage.reason}


def row_json(row: TemplateRow) -> dict[str, Any]:
    states: dict[str, dict[str, Any]] = {}
    for status in row.statuses:
        states.setdefault(status.locale, {})[str(status.channel)] = status_json(status)
    return {**spec_json(row.spec), "states": states}


def view_json(view: TemplateView) -> dict[str, Any]:
    return {"key": view.spec.key, "locale": view.status.locale,
            "channel": str(view.status.channel), **status_json(view.status),
            "latest_version": view.version, "source": view.source, "editable": view.editable,
            "shipped": view.shipped, "check": check_json(view.check),
            "history": [version_json(row) for row in view.history], "message": spec_json(view.spec)}


def faq_view_json(view: FaqView) -> dict[str, Any]:
    return {"locale": view.status.locale, **status_json(view.status),
            "latest_version": view.version, "entries": view.status.entries, "text": view.text,
            "shipped": view.shipped, "check": faq_check_json(view.check),
            "history": [version_json(row) for row in view.history]}


def _template_scope(request: web.Request,
                    data: dict[str, Any] | None = None) -> tuple[str, str, Channel]:
    """(key, locale, channel) from the path and the query (or the JSON body); the locale
    defaults to the service's default locale."""
    data = data or {}
    locale = (request.query.get("locale") or data.get("locale")
              or request.app[SERVICES].settings.default_locale)
    channel = request.query.get("channel") or data.get("channel")
    if channel is None:
        raise bad_request("say which channel: ?channel=sms or ?channel=whatsapp")
    return request.match_info["key"], str(locale), channel_of(channel)


async def _template_view(request: web.Request, key: str, locale: str,
                         channel: Channel) -> TemplateView:
    editor = request.app[TEMPLATES]
    with api_errors():
        return await request.app[SERVICES].store.read(
            lambda session: editor.view(session, key, locale, channel))


async def _faq_view(request: web.Request, locale: str) -> FaqView:
    editor = request.app[FAQS]
    with api_errors():
        return await request.app[SERVICES].store.read(lambda session: editor.view(session, locale))


@api(Role.OPERATOR)
async def list_templates(request: web.Request) -> web.Response:
    """GET /api/templates — every message with its state per locale and channel."""
    editor = request.app[TEMPLATES]
    rows = await request.app[SERVICES].store.read(editor.overview)
    return _json({"locales": list(editor.locales), "channels": [str(c) for c in Channel],
                              "templates": [row_json(row) for row in rows]})


@api(Role.OPERATOR)
async def get_template(request: web.Request) -> web.Response:
    """GET /api/templates/{key}?locale=xx&channel=sms|whatsapp"""
    return _json(view_json(await _template_view(request, *_template_scope(request))))


@api(Role.OPERATOR)
async def put_template(request: web.Request) -> web.Response:
    """PUT /api/templates/{key}?locale=xx&channel=… {"source": …, "base_version"?: n} — save a
    checked version; 422 with the reasons when a rule is broken, 409 after someone else's save."""
    data = await json_body(request)
    key, locale, channel = _template_scope(request, data)
    source, note = data.get("source"), data.get("note")
    if not isinstance(source, str):
        raise bad_request('send the template text as "source"')
    base_version = optional_int(data.get("base_version"), "base_version")
    with api_errors():
        edit = await asyncio.to_thread(request.app[TEMPLATES].edit, key, locale, channel, source,
                                       note=str(note)[:200] if note else None)
        saved = await write_edit(request, edit, base_version=base_version)
    view = await _template_view(request, key, locale, channel)
    return _json({"saved": saved is not None, **view_json(view)})


@api(Role.OPERATOR)
async def preview_template(request: web.Request) -> web.Response:
    """POST /api/templates/{key}/preview {"source"?, "locale", "channel", "variables"?} — the
    text rendered with sample values, its SMS cost and problems; 422 when it could not be saved.
    Without a source, the text in force is previewed."""
    data = await json_body(request)
    key, locale, channel = _template_scope(request, data)
    variables, source = data.get("variables") or {}, data.get("source")
    if not isinstance(variables, dict):
        raise bad_request("variables must be an object of name to sample value")
    if source is None:
        source = (await _template_view(request, key, locale, channel)).source
    if not isinstance(source, str):
        raise bad_request("source must be text")
    with api_errors():
        check = await asyncio.to_thread(request.app[TEMPLATES].check, key, locale, channel,
                                        source, variables)
    if not check.ok:
        raise refused(check_json(check))
    return _json(check_json(check))


@api(Role.OPERATOR)
async def restore_template(request: web.Request) -> web.Response:
    """POST /api/templates/{key}/restore?locale=xx&channel=… {"version": n | null} — roll back
    to a version, or to the shipped file."""
    data = await json_body(request)
    key, locale, channel = _template_scope(request, data)
    version = optional_int(data.get("version"), "version")
    editor = request.app[TEMPLATES]
    with api_errors():
        edit = await request.app[SERVICES].store.read(lambda session: editor.rollback(
            session, key, locale, channel, version))
        saved = await write_edit(request, edit)
    view = await _template_view(request, key, locale, channel)
    return _json({"saved": saved is not None, **view_json(view)})


@api(Role.OPERATOR)
async def list_faqs(request: web.Request) -> web.Response:
    """GET /api/faq — every locale's FAQ with its state."""
    statuses = await request.app[SERVICES].store.read(request.app[FAQS].overview)
    return _json({"locales": [{"locale": s.locale, "entries": s.entries,
                                           **status_json(s)} for s in statuses]})


@api(Role.OPERATOR)
async def get_faq(request: web.Request) -> web.Response:
    """GET /api/faq/{locale}"""
    return _json(faq_view_json(await _faq_view(request, request.match_info["locale"])))


@api(Role.OPERATOR)
async def put_faq(request: web.Request) -> web.Response:
    """PUT /api/faq/{locale} {"text": …, "base_version"?: n} — save a checked FAQ version."""
    data = await json_body(request)
    locale, text = request.match_info["locale"], data.get("text")
    if not isinstance(text, str):
        raise bad_request('send the FAQ document as "text"')
    base_version = optional_int(data.get("base_version"), "base_version")
    with api_errors():
        edit = await asyncio.to_thread(request.app[FAQS].edit, locale, text)
        saved = await write_edit(request, edit, base_version=base_version)
    return _json({"saved": saved is not None,
                              **faq_view_json(await _faq_view(request, locale))})


@api(Role.OPERATOR)
async def try_faq(request: web.Request) -> web.Response:
    """POST /api/faq/{locale}/try {"question": …, "text"?: draft} — what the bot would answer,
    from the draft when given, else from the FAQ in force."""
    data = await json_body(request)
    question, text = data.get("question"), data.get("text")
    if not isinstance(question, str) or not question.strip():
        raise bad_request('send the question as "question"')
    if text is not None and not isinstance(text, str):
        raise bad_request("text must be the FAQ document")
    services = request.app[SERVICES]
    if text is None:
        await services.store.read(services.overrides.refresh)
    with api_errors():
        # A draft is parsed and indexed for matching, or the FAQ in force may be re-read:
        # off the event loop.
        answer = await asyncio.to_thread(request.app[FAQS].try_question,
                                         request.match_info["locale"], question, text)
    match = answer.match
    return _json({
        "greeting": answer.greeting, "threshold": MATCH_THRESHOLD,
        "match": None if match is None else {
            "id": match.entry.id, "title": match.entry.title, "answer": match.entry.answer,
            "score": round(match.score, 1), "follow_ups": list(match.entry.follow_ups)}})


@api(Role.OPERATOR)
async def restore_faq(request: web.Request) -> web.Response:
    """POST /api/faq/{locale}/restore {"version": n | null} — roll back."""
    data = await json_body(request)
    locale = request.match_info["locale"]
    version = optional_int(data.get("version"), "version")
    editor = request.app[FAQS]
    with api_errors():
        edit = await request.app[SERVICES].store.read(lambda session: editor.rollback(
            session, locale, version))
        saved = await write_edit(request, edit)
    return _json({"saved": saved is not None,
                              **faq_view_json(await _faq_view(request, locale))})


def setup_operator_api(app: web.Application) -> None:
    """Mount the operator API."""
    app.router.add_get("/api/templates", list_templates)
    app.router.add_get("/api/templates/{key}", get_template)
    app.router.add_put("/api/templates/{key}", put_template)
    app.router.add_post("/api/templates/{key}/preview", preview_template)
    app.router.add_post("/api/templates/{key}/restore", restore_template)
    app.router.add_get("/api/faq", list_faqs)
    app.router.add_get("/api/faq/{locale}", get_faq)
    app.router.add_put("/api/faq/{locale}", put_faq)
    app.router.add_post("/api/faq/{locale}/try", try_faq)
    app.router.add_post("/api/faq/{locale}/restore", restore_faq)
