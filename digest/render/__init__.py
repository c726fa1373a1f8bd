"""Rendering an issue once: Jinja2 -> MJML -> HTML -> inlined CSS, and a plain-text part."""

from __future__ import annotations

import importlib.resources
import logging
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
import jinja2.runtime
import mjml
from markupsafe import Markup
from premailer import Premailer

from digest.errors import RenderError
from digest.model import MARKER_LIKE, IssuePlan, Placeholders, RenderedIssue
from digest.render.filters import make_filters
from digest.settings import Settings

HTML_TEMPLATE = "issue.mjml.j2"
# The context key that names this render's own markers: the only marker text let through.
MARKERS_KEY = "_digest_markers"
TEXT_TEMPLATE = "issue.txt.j2"


def templates_dir() -> Path:
    return Path(str(importlib.resources.files("digest.templates")))


def templates_folder(settings: Settings) -> Path:
    """The folder the issue's templates are read from: newsletter.templates_dir (relative to
    the settings file) when set, else the built-in templates."""
    own = settings.newsletter.templates_dir
    return (settings.base_dir / own).resolve() if own else templates_dir()


@jinja2.pass_context
def _no_forged_markers(context: jinja2.runtime.Context, value: Any) -> Any:
    """Every value a template prints: text shaped like a placeholder marker is cut out,
    unless it is exactly one of this render's own markers (`{{ links.unsubscribe }}`).
    Feeds, editors and names can thus never put a marker into an issue."""
    if not isinstance(value, str) or "%%" not in value:
        return value
    if value in context.get(MARKERS_KEY, ()):
        return value
    cleaned = MARKER_LIKE.sub("", str(value))
    # Markup stays markup (its text was escaped already); cutting `%%...%%` keeps it safe.
    return Markup(cleaned) if isinstance(value, Markup) else cleaned  # noqa: S704


def make_environment(settings: Settings, folder: Path | None = None) -> jinja2.Environment:
    """The Jinja environment; templates are read from disk on each render, so an edited
    template shows in the next preview without a restart."""
    chosen = folder or templates_folder(settings)
    if not chosen.is_dir():
        raise RenderError(f"newsletter.templates_dir: {chosen} is not a folder")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(chosen),
        # HTML (MJML) templates are escaped; the plain-text part must not be.
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("mjml.j2",), default_for_string=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_no_forged_markers,
    )
    env.filters.update(make_filters(settings.newsletter.timezone))
    return env


def _template_position(tb: TracebackType | None) -> str:
    """'file.j2:LINE' of the innermost template frame in a Jinja traceback."""
    where = ""
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            where = f"{Path(filename).name}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def render_template(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    """Render one template; errors name the template file and line."""
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as e:
        raise RenderError(f"{e.filename or e.name}:{e.lineno}: {e.message}") from e
    except jinja2.TemplateError as e:
        where = _template_position(e.__traceback__) or name
        raise RenderError(f"{where}: {e.message or e}") from e


def compile_mjml(source: str, name: str = HTML_TEMPLATE) -> str:
    """MJML to HTML with mjml-python, then the remaining <style> rules inlined by premailer."""
    try:
        html = mjml.mjml2html(source, disable_comments=True)
    except ValueError as e:
        raise RenderError(f"{name}: MJML error: {e}") from e
    inliner = Premailer(
        html,
        allow_network=False,
        disable_validation=True,
        keep_style_tags=True,  # media queries (phones, dark mode) cannot be inlined
        strip_important=False,
        remove_classes=False,
        cssutils_logging_level=logging.CRITICAL,
    )
    try:
        return str(inliner.transform(pretty_print=False))
    except Exception as e:  # premailer raises many kinds; all mean the HTML is unusable
        raise RenderError(f"{name}: CSS inlining failed: {e.__class__.__name__}: {e}") from e


def issue_context(
    plan: IssuePlan,
    settings: Settings,
    subject: str = "",
    preheader: str = "",
    placeholders: Placeholders | None = None,
) -> dict[str, Any]:
    base = settings.newsletter.base_url.rstrip("/")
    marks = placeholders or Placeholders.new()
    return {
        MARKERS_KEY: frozenset(marks.markers),
        "newsletter": settings.newsletter,
        "issue": {
            "number": plan.number,
            "date": plan.date,
            "subject": subject,
            "preheader": preheader,
        },
        "news": plan.news,
        "events": plan.events,
        "calls": plan.calls,
        "intro": plan.intro,
        "spotlight": plan.spotlight,
        "greeting": marks.greeting if settings.newsletter.greeting else "",
        "social": [
            {"label": label.strip(), "url": url}
            for label, _, url in (link.rpartition(" ") for link in settings.newsletter.social_links)
        ],
        "links": {
            "unsubscribe": marks.unsubscribe,
            "preferences": marks.preferences,
            "web_version": f"{base}/archive/{plan.number}",
        },
    }


def _inline_template(
    env: jinja2.Environment, source: str, context: dict[str, Any], setting_name: str
) -> str:
    try:
        text = env.from_string(source).render(context)
    except jinja2.TemplateError as e:
        raise RenderError(f"newsletter.{setting_name}: {e}") from e
    # A subject is a header: it must stay on one line.
    return " ".join(text.split())


def render_issue(
    plan: IssuePlan,
    settings: Settings,
    env: jinja2.Environment | None = None,
    placeholders: Placeholders | None = None,
) -> RenderedIssue:
    """The issue's subject, preheader, HTML and text, with per-subscriber placeholders: the
    markers of `placeholders`, else of a new random key (stored with the issue)."""
    env = env or make_environment(settings)
    placeholders = placeholders or Placeholders.new()
    fields = {
        "name": settings.newsletter.name,
        "number": plan.number,
        "date": env.filters["longdate"](plan.date),
    }
    subject = _inline_template(env, settings.newsletter.subject, fields, "subject")
    preheader = _inline_template(env, settings.newsletter.preheader, fields, "preheader")
    context = issue_context(plan, settings, subject, preheader, placeholders)
    html = compile_mjml(render_template(env, HTML_TEMPLATE, context))
    text = render_template(env, TEXT_TEMPLATE, context)
    for name, placeholder in (
        ("unsubscribe", placeholders.unsubscribe),
        ("preferences", placeholders.preferences),
    ):
        if placeholder not in html or placeholder not in text:
            raise RenderError(
                f"the templates must link to {{{{ links.unsubscribe }}}} and "
                f"{{{{ links.preferences }}}} in both the HTML and the text part "
                f"({{{{ links.{name} }}}} missing)"
            )
    return RenderedIssue(
        subject=subject, preheader=preheader, html=html, text=text, placeholders=placeholders
    )
