"""HTML pages for the consoles and the simulator (jinja2, autoescaped)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.render import TEMPLATES_DIR


def when(moment: datetime | None) -> str:
    """A moment as pages show it: UTC, to the minute (the agent console's script then shows it in
    the agent's own zone)."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


_pages = Environment(loader=FileSystemLoader(TEMPLATES_DIR / "web"),
                     autoescape=select_autoescape(["html"]), auto_reload=True)
_pages.globals["when"] = when


def render_page(request: web.Request, name: str, *, status: int = 200, **context: Any) -> web.Response:
    """Render ``templates/web/<name>`` with the signed-in user and CSRF token available."""
    viewer = request.get("viewer")
    html = _pages.get_template(name).render(
        viewer=viewer, csrf_token=viewer.csrf_token if viewer else context.pop("csrf_token", ""),
        **context)
    return web.Response(text=html, content_type="text/html", status=status,
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                 "Referrer-Policy": "same-origin"})
