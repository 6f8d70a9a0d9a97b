"""The operator console's flow settings: one form per registered config section, built from its
schema, validated per field, every saved change audited and listed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web

from bot.accounts import Role
from bot.config import ConfigError, config_sections, parse_section
from bot.config_audit import changed_fields, recent_changes, save_audited
from bot.config_form import FormField, Widget, form_fields, read_form
from bot.web.auth import console
from bot.web.keys import SERVICES
from bot.web.operator_common import author_of
from bot.web.pages import render_page


async def _page(request: web.Request, *, status: int = 200, notice: str = "",
                failed: str | None = None, submitted: Any = None,
                errors: dict[str, list[str]] | None = None) -> web.Response:
    """The settings page; ``failed`` names the section whose posted values were refused."""
    services = request.app[SERVICES]

    def read(session):  # type: ignore[no-untyped-def]
        return services.config.current(session), recent_changes(session)

    config, changes = await services.store.read(read)
    sections = []
    for name, section in sorted(config_sections().items(), key=lambda item: item[1].title):
        fields = form_fields(section, config.get(section))
        if name == failed:
            fields = [_as_submitted(field, submitted) for field in fields]
        sections.append((name, section, fields))
    return render_page(request, "admin_settings.html", status=status, sections=sections,
                       changes=[(change, changed_fields(change)) for change in changes],
                       notice=notice, failed=failed, errors=errors or {})


def _as_submitted(field: FormField, form: Any) -> FormField:
    """A field showing what was posted, so a refused edit is not lost."""
    if field.widget is Widget.CHECKBOX:
        return replace(field, value="on" if field.name in form else "")
    return replace(field, value=str(form.get(field.name, field.value)))


@console(Role.OPERATOR)
async def settings_page(request: web.Request) -> web.Response:
    """GET /admin/settings — every section's form and the audit trail."""
    saved = request.query.get("saved")
    section = config_sections().get(saved or "")
    notice = f"Saved “{section.title}”." if section else (
        "Nothing changed." if "unchanged" in request.query else "")
    return await _page(request, notice=notice)


@console(Role.OPERATOR)
async def save_settings(request: web.Request) -> web.Response:
    """POST /admin/settings/{section} — validate and save one section, audited."""
    name = request.match_info["section"]
    section = config_sections().get(name)
    if section is None:
        raise web.HTTPNotFound(text=f"no settings section {name!r}\n")
    form = await request.post()
    services = request.app[SERVICES]
    author, now = author_of(request), services.clock.now()
    try:
        value = parse_section(name, read_form(section, form))
        change = await services.store.write(lambda session: save_audited(
            session, name, value, now=now, author=author))
    except ConfigError as error:
        errors: dict[str, list[str]] = {}
        for problem in error.problems:
            errors.setdefault(problem.field.split(".")[0], []).append(problem.reason)
        return await _page(request, status=422, failed=name, submitted=form, errors=errors)
    suffix = f"saved={name}" if change is not None else "unchanged=1"
    raise web.HTTPSeeOther(f"/admin/settings?{suffix}#section-{name}")
