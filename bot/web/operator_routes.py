"""Mounts the operator console (/admin) and the operator API over the service's parts."""

from __future__ import annotations

from aiohttp import web

from bot.faq_editor import FaqEditor
from bot.message_specs import load_message_specs
from bot.services import Services
from bot.template_editor import TemplateEditor
from bot.web import admin_faq, admin_locales, admin_settings, admin_templates
from bot.web.operator_api import setup_operator_api
from bot.web.operator_common import FAQS, TEMPLATES


def setup_operator_routes(app: web.Application, services: Services) -> None:
    """The editors, the console pages and the API."""
    app[TEMPLATES] = TemplateEditor(services.renderer, load_message_specs())
    app[FAQS] = FaqEditor(services.faq, services.renderer.locales)
    router = app.router
    router.add_get("/admin", admin_templates.overview)
    template = "/admin/templates/{key}/{locale}/{channel}"
    router.add_get(template, admin_templates.edit_template)
    router.add_post(template, admin_templates.save_template)
    router.add_post(template + "/restore", admin_templates.restore_template)
    router.add_get("/admin/faq", admin_faq.faq_overview)
    router.add_get("/admin/faq/{locale}", admin_faq.edit_faq)
    router.add_post("/admin/faq/{locale}", admin_faq.save_faq)
    router.add_post("/admin/faq/{locale}/restore", admin_faq.restore_faq)
    router.add_get("/admin/settings", admin_settings.settings_page)
    router.add_post("/admin/settings/{section}", admin_settings.save_settings)
    router.add_get("/admin/locales", admin_locales.locales_page)
    setup_operator_api(app)
