"""The operator console's message templates: the overview at /admin (every message by flow,
locale and channel, with translation coverage), the editor with its live preview, and rollback.
Forms post to the page itself; a refused edit comes back with its reasons and the text kept."""

from __future__ import annotations

import asyncio
from itertools import groupby
from urllib.parse import quote

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from bot.accounts import Role
from bot.content_versions import UnknownVersion, VersionConflict
from bot.messages import Channel
from bot.template_editor import TemplateRefused, TemplateView, UnknownTemplate
from bot.template_lint import TemplateCheck
from bot.web.auth import console
from bot.web.keys import SERVICES
from bot.web.operator_common import (
    SIMULTANEOUS,
    TEMPLATES,
    after_rollback,
    after_save,
    optional_int,
    refusal,
    saved_notice,
    write_edit,
)
from bot.web.pages import render_page


def editor_path(key: str, locale: str, channel: str) -> str:
    """Where a template is edited in the console."""
    return f"/admin/templates/{quote(key)}/{quote(locale)}/{quote(channel)}"


def _scope(request: web.Request) -> tuple[str, str, Channel]:
    info = request.match_info
    try:
        return info["key"], info["locale"], Channel(info["channel"])
    except ValueError:
        raise web.HTTPNotFound(text="channel must be sms or whatsapp\n") from None


async def _view(request: web.Request, key: str, locale: str, channel: Channel) -> TemplateView:
    editor = request.app[TEMPLATES]
    try:
        return await request.app[SERVICES].store.read(
            lambda session: editor.view(session, key, locale, channel))
    except (UnknownTemplate, ValueError) as error:
        raise web.HTTPNotFound(text=f"{error}\n") from None


def _editor_page(request: web.Request, view: TemplateView, *, status: int = 200,
                 text: str | None = None, check: TemplateCheck | None = None,
                 notice: str = "", error: str = "") -> web.Response:
    return render_page(request, "admin_template.html", status=status, view=view,
                       text=view.editable if text is None else text,
                       check=check or view.check, notice=notice, error=error,
                       path=editor_path(view.spec.key, view.status.locale, str(view.status.channel)),
                       locales=request.app[TEMPLATES].locales, channels=[str(c) for c in Channel],
                       editor_path=editor_path)


@console(Role.OPERATOR)
async def overview(request: web.Request) -> web.Response:
    """GET /admin — every message by flow, with its state in every locale and channel."""
    editor = request.app[TEMPLATES]
    rows = await request.app[SERVICES].store.read(editor.overview)
    flows = [(flow, list(group)) for flow, group in
             groupby(rows, key=lambda row: row.spec.key.split(".")[0])]
    return render_page(request, "admin_overview.html", flows=flows, locales=editor.locales,
                       channels=[str(c) for c in Channel], editor_path=editor_path)


@console(Role.OPERATOR)
async def edit_template(request: web.Request) -> web.Response:
    """GET /admin/templates/{key}/{locale}/{channel} — the editor."""
    view = await _view(request, *_scope(request))
    return _editor_page(request, view, notice=saved_notice(request.query))


@console(Role.OPERATOR)
async def save_template(request: web.Request) -> web.Response:
    """POST /admin/templates/{key}/{locale}/{channel} — save the edited text as a version."""
    key, locale, channel = _scope(request)
    form = await request.post()
    text = str(form.get("source", ""))
    base_version = optional_int(form.get("base_version"), "base_version")
    editor = request.app[TEMPLATES]
    try:
        edit = await asyncio.to_thread(editor.edit, key, locale, channel, text)
        saved = await write_edit(request, edit, base_version=base_version)
    except TemplateRefused as refused:
        view = await _view(request, key, locale, channel)
        status, error = refusal(base_version, view.history)
        return _editor_page(request, view, status=status, text=text, check=refused.check,
                            error=error)
    except (VersionConflict, IntegrityError) as error:
        view = await _view(request, key, locale, channel)
        reason = error if isinstance(error, VersionConflict) else SIMULTANEOUS
        return _editor_page(request, view, status=409, text=text, error=f"Not saved: {reason}")
    except (UnknownTemplate, ValueError) as error:
        raise web.HTTPNotFound(text=f"{error}\n") from None
    raise after_save(editor_path(key, locale, str(channel)), saved)


@console(Role.OPERATOR)
async def restore_template(request: web.Request) -> web.Response:
    """POST /admin/templates/{key}/{locale}/{channel}/restore — roll back to a version (empty:
    the shipped file)."""
    key, locale, channel = _scope(request)
    form = await request.post()
    version = optional_int(form.get("version"), "version")
    editor = request.app[TEMPLATES]
    try:
        edit = await request.app[SERVICES].store.read(lambda session: editor.rollback(
            session, key, locale, channel, version))
        saved = await write_edit(request, edit)
    except TemplateRefused as refused:
        view = await _view(request, key, locale, channel)
        return _editor_page(request, view, status=422, check=refused.check,
                            error=f"Version {version} breaks today's rules; it was not restored.")
    except IntegrityError:
        view = await _view(request, key, locale, channel)
        return _editor_page(request, view, status=409, error=f"Not restored: {SIMULTANEOUS}")
    except (UnknownTemplate, UnknownVersion, ValueError) as error:
        raise web.HTTPNotFound(text=f"{error}\n") from None
    raise after_rollback(editor_path(key, locale, str(channel)), saved, version)
