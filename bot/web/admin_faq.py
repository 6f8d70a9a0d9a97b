"""The operator console's FAQ pages: every locale's FAQ with its state, the editor with a "try a
question" box (answered from the draft), saving versions and rolling back."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from bot.accounts import Role
from bot.content_versions import UnknownVersion, VersionConflict
from bot.faq_editor import FaqCheck, FaqRefused, FaqView
from bot.web.auth import console
from bot.web.keys import SERVICES
from bot.web.operator_common import (
    FAQS,
    SIMULTANEOUS,
    after_rollback,
    after_save,
    optional_int,
    refusal,
    saved_notice,
    write_edit,
)
from bot.web.pages import render_page


def faq_path(locale: str) -> str:
    """Where a locale's FAQ is edited in the console."""
    return f"/admin/faq/{quote(locale)}"


async def _view(request: web.Request, locale: str) -> FaqView:
    editor = request.app[FAQS]
    try:
        return await request.app[SERVICES].store.read(lambda session: editor.view(session, locale))
    except ValueError as error:
        raise web.HTTPNotFound(text=f"{error}\n") from None


def _editor_page(request: web.Request, view: FaqView, *, status: int = 200,
                 text: str | None = None, check: FaqCheck | None = None, notice: str = "",
                 error: str = "") -> web.Response:
    return render_page(request, "admin_faq.html", status=status, view=view,
                       text=view.text if text is None else text, check=check or view.check,
                       notice=notice, error=error, path=faq_path(view.status.locale))


@console(Role.OPERATOR)
async def faq_overview(request: web.Request) -> web.Response:
    """GET /admin/faq — every locale's FAQ."""
    statuses = await request.app[SERVICES].store.read(request.app[FAQS].overview)
    return render_page(request, "admin_faq_list.html", statuses=statuses, faq_path=faq_path)


@console(Role.OPERATOR)
async def edit_faq(request: web.Request) -> web.Response:
    """GET /admin/faq/{locale} — the editor."""
    view = await _view(request, request.match_info["locale"])
    return _editor_page(request, view, notice=saved_notice(request.query))


@console(Role.OPERATOR)
async def save_faq(request: web.Request) -> web.Response:
    """POST /admin/faq/{locale} — save the edited FAQ as a version."""
    locale = request.match_info["locale"]
    form = await request.post()
    text = str(form.get("text", ""))
    base_version = optional_int(form.get("base_version"), "base_version")
    try:
        edit = await asyncio.to_thread(request.app[FAQS].edit, locale, text)
        saved = await write_edit(request, edit, base_version=base_version)
    except FaqRefused as refused:
        view = await _view(request, locale)
        status, error = refusal(base_version, view.history)
        return _editor_page(request, view, status=status, text=text, check=refused.check,
                            error=error)
    except (VersionConflict, IntegrityError) as error:
        reason = error if isinstance(error, VersionConflict) else SIMULTANEOUS
        return _editor_page(request, await _view(request, locale), status=409, text=text,
                            error=f"Not saved: {reason}")
    except ValueError as error:
        raise web.HTTPNotFound(text=f"{error}\n") from None
    raise after_save(faq_path(locale), saved)


@console(Role.OPERATOR)
async def restore_faq(request: web.Request) -> web.Response:
    """POST /admin/faq/{locale}/restore — roll back to a version (empty: the shipped file)."""
    locale = request.match_info["locale"]
    form = await request.post()
    version = optional_int(form.get("version"), "version")
    editor = request.app[FAQS]
    try:
        edit = await request.app[SERVICES].store.read(lambda session: editor.rollback(
            session, locale, version))
        saved = await write_edit(request, edit)
    except FaqRefused as refused:
        return _editor_page(request, await _view(request, locale), status=422,
                            check=refused.check,
                            error=f"Version {version} breaks today's rules; it was not restored.")
    except IntegrityError:
        return _editor_page(request, await _view(request, locale), status=409,
                            error=f"Not restored: {SIMULTANEOUS}")
    except (UnknownVersion, ValueError) as error:
        raise web.HTTPNotFound(text=f"{error}\n") from None
    raise after_rollback(faq_path(locale), saved, version)
