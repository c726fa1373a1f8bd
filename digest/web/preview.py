"""The editor's preview: a local page that shows the draft as it will be sent (desktop and
phone widths, the text part, the headers, the lint report) and follows changes.

Each request first compares a fingerprint of the templates folder and of the queue and the
draft in the database with the one it last saw; when it differs, the draft is composed again,
so an edited template or a new item shows without a restart. A sent issue is shown as stored.

The page is also the editor's desk (digest.web.preview_desk): forms beside the items POST
to /desk with the server's token, the change is made through the same library calls as the
CLI, and the page is shown again. The desk is read-only when the server is not bound to
loopback on purpose (no Host check then): anyone who can reach it could edit the draft.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from digest.compose import compose_issue
from digest.db.engine import Database
from digest.db.issues import latest_issue, preview_inputs
from digest.errors import DigestError
from digest.lint import Finding, lint_issue
from digest.model import IssueStatus
from digest.render import templates_folder
from digest.send.sample import PreviewMessage, preview_message
from digest.send.wiring import Relay, smtp_relay
from digest.settings import Settings
from digest.web import LOOPBACK_NAMES, HostCheck
from digest.web.preview_desk import SPOTLIGHT_KINDS, Desk, apply_action, desk_of, new_token, refusal

LOG = logging.getLogger(__name__)
POLL_MS = 1500
MAX_FORM_BYTES = 64 * 1024
WIDTHS = {"desktop": 640, "phone": 375}

# The shell page runs only its own nonce'd script and style and frames only our own pages;
# the message itself may load images and fonts as a mail client would, but never a script.
SHELL_CSP = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
    "connect-src 'self'; frame-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
MESSAGE_CSP = (
    "default-src 'none'; img-src http: https: data:; style-src 'unsafe-inline' https:; "
    "font-src https: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LintView:
    """The lint report, or a note saying why there is none."""

    findings: tuple[Finding, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Draft:
    number: int
    status: IssueStatus
    subject: str
    message: PreviewMessage
    lint: LintView
    desk: Desk | None = None  # a draft's editable parts; None for a sent issue


@dataclass(frozen=True, slots=True)
class Failure:
    """Why there is nothing to show, in one line."""

    message: str


View = Draft | Failure


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or error.__class__.__name__


def failure(error: Exception) -> Failure:
    """A DigestError is said as it is; anything else is a bug, logged with its traceback on
    the server's console, never on the page."""
    if isinstance(error, DigestError):
        return Failure(one_line(error))
    LOG.error("preview failed", exc_info=error)
    return Failure(f"internal error: {error.__class__.__name__}: {one_line(error)}")


def lint_view(message: PreviewMessage, settings: Settings) -> LintView:
    """The lint report on the personalized message; a lint that fails is a bug, logged, and
    a note on the page, never an error page instead of the preview."""
    try:
        report = lint_issue(message.html, message.text, base_url=settings.newsletter.base_url)
    except Exception as e:
        LOG.warning("lint failed", exc_info=True)
        return LintView(note=f"lint failed: {e.__class__.__name__}: {one_line(e)}")
    findings = report.findings
    return LintView(findings=findings, note="" if findings else "no findings")


class PreviewSource:
    """The issue to show, kept current: recomposed when its inputs change (if a draft)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Callable[[], datetime],
        number: int | None = None,
    ) -> None:
        self.db, self.settings, self.clock, self.number = db, settings, clock, number
        self._lock = threading.Lock()
        self._seen: str | None = None
        self._view: View | None = None

    def fingerprint(self) -> str:
        """Changes when a template file, the queue, the issue or its edits change."""
        digest = hashlib.sha256()
        folder = templates_folder(self.settings)
        files = sorted(folder.rglob("*")) if folder.is_dir() else []
        for path in files:
            parts = path.relative_to(folder).parts
            if any(p.startswith((".", "__")) for p in parts):
                continue  # editors' swap files, __pycache__
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # an editor saving by renaming a temporary file
            if path.is_file():
                digest.update(f"{'/'.join(parts)}:{stat.st_mtime_ns}:{stat.st_size};".encode())
        digest.update(preview_inputs(self.db, self.number).encode())
        return digest.hexdigest()[:16]

    def current(self) -> tuple[str, View]:
        """(fingerprint, what to show); composes the draft again when the inputs changed."""
        with self._lock:
            try:
                seen = self.fingerprint()
            except Exception as e:
                # The database is away, or the templates folder: the next request tries again.
                self._seen, self._view = None, None
                return "unavailable", failure(e)
            if self._view is not None and seen == self._seen:
                return seen, self._view
            try:
                seen, view = self._refresh(seen)
            except Exception as e:
                view = failure(e)
                # Not composed again until something changes: a broken template is
                # reported once, not rendered on every request.
                with contextlib.suppress(Exception):
                    seen = self.fingerprint()
            self._seen, self._view = seen, view
            return seen, view

    def _refresh(self, seen: str) -> tuple[str, View]:
        issue = latest_issue(self.db, self.number)
        if issue.status is IssueStatus.DRAFT:
            compose_issue(self.db, self.settings, self.clock)
            # Composing changes the draft and its items: the fingerprint is taken again
            # before the issue is read, so that the next request does not compose again.
            seen = self.fingerprint()
            issue = latest_issue(self.db, issue.number)
        message = preview_message(issue, self.settings, self.clock())
        draft = Draft(
            number=issue.number,
            status=issue.status,
            subject=issue.subject,
            message=message,
            lint=lint_view(message, self.settings),
            desk=desk_of(self.db, self.settings, issue)
            if issue.status is IssueStatus.DRAFT
            else None,
        )
        return seen, draft

    def act(self, change: Callable[[], tuple[bool, str]]) -> tuple[bool, str]:
        """Make an editor's change while no request composes the draft; the next request
        sees the new fingerprint and shows the result."""
        with self._lock:
            return change()


def _pages() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("digest.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _guarded(response: Response, csp: str) -> Response:
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def preview_app(
    db: Database,
    settings: Settings,
    clock: Callable[[], datetime],
    *,
    number: int | None = None,
    allowed_hosts: Iterable[str] | None = LOOPBACK_NAMES,
    relay: Relay | None = None,
) -> Starlette:
    """The preview as an ASGI app. `allowed_hosts` are the names the Host header may carry
    (None: any, for a server bound to a non-loopback address on purpose; the desk is then
    read-only). `relay` carries the desk's proof copies (default: the configured one)."""
    source = PreviewSource(db, settings, clock, number)
    pages = _pages()
    page, panel_part = pages.get_template("preview.html.j2"), pages.get_template("panel.html.j2")
    editable = allowed_hosts is not None
    token = new_token()
    proof_relay = relay or smtp_relay(settings)
    notices: list[tuple[bool, str]] = []  # the outcome of the last change, shown once

    def desk_context() -> dict[str, object]:
        return {"token": token, "editable": editable, "spotlight_kinds": SPOTLIGHT_KINDS}

    def shell(request: Request) -> Response:
        version, view = source.current()
        nonce = secrets.token_urlsafe(16)
        notice = notices.pop() if notices else None
        notices.clear()
        body = page.render(
            view=view,
            draft=view if isinstance(view, Draft) else None,
            version=version,
            nonce=nonce,
            widths=WIDTHS,
            poll_ms=POLL_MS,
            notice=notice,
            **desk_context(),
        )
        response = _guarded(HTMLResponse(body), SHELL_CSP.format(nonce=nonce))
        # The desk's forms need a real Origin header (no-referrer would make it "null");
        # other sites still get no referrer.
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    def panel(request: Request) -> Response:
        _, view = source.current()
        body = panel_part.render(draft=view if isinstance(view, Draft) else None, **desk_context())
        return _guarded(HTMLResponse(body), "default-src 'none'")

    async def desk(request: Request) -> Response:
        if not editable:
            return _guarded(
                PlainTextResponse("the desk is read-only off loopback\n", status_code=403),
                "default-src 'none'",
            )
        body = await request.body()
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if len(body) > MAX_FORM_BYTES or kind != "application/x-www-form-urlencoded":
            return _guarded(
                PlainTextResponse("not a form of this page\n", status_code=400),
                "default-src 'none'",
            )
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        why = refusal(token=token, form=form, headers=request.headers)
        if why:
            return _guarded(PlainTextResponse(why + "\n", status_code=403), "default-src 'none'")
        done = await run_in_threadpool(
            source.act, lambda: apply_action(db, settings, clock, proof_relay, form)
        )
        notices[:] = [done]
        return _guarded(RedirectResponse("/", status_code=303), "default-src 'none'")

    def message_part(render: Callable[[Draft], Response]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            _, view = source.current()
            if isinstance(view, Failure):
                response: Response = PlainTextResponse(
                    f"digest preview: {view.message}\n", status_code=500
                )
            else:
                response = render(view)
            return _guarded(response, MESSAGE_CSP)

        return endpoint

    def eml(draft: Draft) -> Response:
        return Response(
            draft.message.raw,
            media_type="message/rfc822",
            headers={"Content-Disposition": f'attachment; filename="issue-{draft.number}.eml"'},
        )

    def version(request: Request) -> Response:
        fingerprint, view = source.current()
        body = {"version": fingerprint, "ok": isinstance(view, Draft)}
        return _guarded(JSONResponse(body), "default-src 'none'")

    routes = [
        Route("/", shell, methods=["GET"]),
        Route("/panel", panel, methods=["GET"]),
        Route(
            "/message.html",
            message_part(lambda d: HTMLResponse(d.message.html)),
            methods=["GET"],
        ),
        Route(
            "/message.txt",
            message_part(lambda d: PlainTextResponse(d.message.text)),
            methods=["GET"],
        ),
        Route("/message.eml", message_part(eml), methods=["GET"]),
        Route("/version", version, methods=["GET"]),
        Route("/desk", desk, methods=["POST"]),
    ]
    middleware = [Middleware(HostCheck, allowed=allowed_hosts)] if allowed_hosts is not None else []
    return Starlette(routes=routes, middleware=middleware)
