"""The public pages' look: Jinja2 templates in digest/web/pages/ in the newsletter's colours,
and the one-message page every answer and error uses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse, Response

from digest.settings import Settings

PAGES = Path(__file__).parent / "pages"
DEFAULT_BRAND = "#1d4e89"
SECTION_LABELS = (("news", "News"), ("events", "Upcoming events"), ("calls", "Open calls"))
# What error pages say: fixed words per status, never an exception's text.
ERRORS: dict[int, tuple[str, str]] = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Not allowed", "This form can only be sent from our own pages."),
    404: ("Page not found", "There is no page at this address."),
    405: ("Not allowed", "This page cannot be used that way."),
    413: ("Too much data", "The form sent more data than we accept."),
    415: ("Unsupported form", "The form was sent in a format we do not accept."),
    429: ("Too many attempts", "Too many signups came from your address. Try again later."),
    500: ("Something went wrong", "Our server could not answer. Nothing was changed."),
}


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    label: str


@dataclass(frozen=True, slots=True)
class Button:
    action: str
    label: str


class Pages:
    """Renders the pages; built once per app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(PAGES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        brand = settings.newsletter.brand_color
        # The colour goes into CSS: only a hex colour gets there.
        self.brand = brand if re.fullmatch(r"#[0-9a-fA-F]{3,8}", brand) else DEFAULT_BRAND
        self.css = self.env.get_template("site.css.j2").render(brand=self.brand)

    def render(
        self,
        template: str,
        title: str,
        /,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        context.setdefault("noindex", True)
        html = self.env.get_template(template).render(
            newsletter=self.settings.newsletter, title=title, **context
        )
        return HTMLResponse(html, status_code=status, headers=headers)

    def message(
        self,
        title: str,
        *paragraphs: str,
        status: int = 200,
        link: Link | None = None,
        button: Button | None = None,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        return self.render(
            "message.html.j2",
            title,
            status=status,
            headers=headers,
            paragraphs=paragraphs,
            link=link,
            button=button,
        )

    def error(self, status: int, headers: dict[str, str] | None = None) -> HTMLResponse:
        title, text = ERRORS.get(status, ERRORS[400] if status < 500 else ERRORS[500])
        return self.message(title, text, status=status, link=Link("/", "Home"), headers=headers)

    def stylesheet(self) -> Response:
        return Response(
            self.css,
            media_type="text/css; charset=utf-8",
            headers={"Cache-Control": "public, max-age=3600"},
        )
