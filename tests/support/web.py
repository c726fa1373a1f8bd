"""The public web app under test: a Starlette TestClient on a real database and a real SMTP
server, and helpers to read what the pages and the confirmation mail contain."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import select
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

with warnings.catch_warnings():
    # Starlette would rather have the `httpx2` package; httpx works the same here.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from digest.compose import compose_issue
from digest.db.engine import Database
from digest.db.items import store_entries
from digest.db.schema import Subscriber
from digest.model import Entry, ItemKind
from digest.send import send_issue
from digest.send.outbox import OutboxReport, send_outbox
from digest.send.wiring import smtp_relay
from digest.settings import Settings
from digest.web.public import public_app
from subscribers.lifecycle import add_subscriber
from subscribers.tokens import PREFERENCES, UNSUBSCRIBE, TokenSigner
from tests.support.clock import Clock
from tests.support.smtp import Received, SmtpTestServer

BASE = "http://testserver"
# Exactly what Gmail sends to the List-Unsubscribe URL (RFC 8058 one-click).
GMAIL_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
GMAIL_BODY = b"List-Unsubscribe=One-Click"
URL = re.compile(r"https?://[^\s<>\"']+")


@dataclass
class Site:
    client: TestClient
    db: Database
    settings: Settings
    clock: Clock
    smtp: SmtpTestServer

    def signup(self, email: str, **fields: Any) -> Any:
        data = {"email": email, **fields}
        return self.client.post("/subscribe", data=data, headers={"Origin": BASE})

    def token(self, purpose: str, subscriber_id: int) -> str:
        """The token of the links mailed to the subscriber, bound to their record's link
        key (any string for an id nobody has)."""
        with self.db.session() as session:
            row = session.get(Subscriber, subscriber_id)
            link_key = row.link_key if row is not None else "no-such-record"
        return TokenSigner(self.settings.signing_keys, purpose).sign(subscriber_id, link_key)

    def unsubscribe_path(self, subscriber_id: int) -> str:
        return f"/unsubscribe/{self.token(UNSUBSCRIBE, subscriber_id)}"

    def preferences_path(self, subscriber_id: int) -> str:
        return f"/preferences/{self.token(PREFERENCES, subscriber_id)}"

    def add(self, email: str, name: str = "") -> int:
        person = add_subscriber(self.db, self.settings.signing_keys, email, self.clock(), name=name)
        return person.id

    def deliver(self) -> OutboxReport:
        """Send what the pages queued in the outbox, as the sender inside `digest serve`
        would (the test client runs no lifespan, so no sender thread)."""
        return send_outbox(self.db, smtp_relay(self.settings), self.clock)

    @property
    def received(self) -> list[Received]:
        """Every mail the SMTP server got, once the outbox is delivered."""
        self.deliver()
        return self.smtp.received

    def mail_to(self, email: str) -> list[EmailMessage]:
        return [r.message for r in self.received if r.rcpt == email]


def make_site(
    db: Database,
    settings: Settings,
    clock: Clock,
    smtp: SmtpTestServer,
    *,
    behind_proxy: bool = False,
    **client: Any,
) -> Site:
    """The site under test; `behind_proxy`: the client (give one with `client=`) is a
    trusted reverse proxy, whose X-Forwarded-For header names the real client, as uvicorn
    reads it in `digest serve`."""
    app: ASGIApp = public_app(db, settings, clock, smtp_relay(settings))
    if behind_proxy:
        # uvicorn types ASGI apps its own way; the middleware is the one `digest serve` runs.
        app = cast(ASGIApp, ProxyHeadersMiddleware(cast(Any, app), trusted_hosts="*"))
    return Site(TestClient(app, **client), db, settings, clock, smtp)


def person(db: Database, email: str) -> Subscriber | None:
    with db.session() as session:
        return session.scalars(select(Subscriber).where(Subscriber.email == email)).first()


def snapshot(db: Database) -> list[tuple[Any, ...]]:
    """Every subscriber field and every suppression: equal before and after means nothing
    was changed."""
    with db.session() as session:
        rows = session.scalars(select(Subscriber).order_by(Subscriber.id)).all()
        columns = [c.key for c in Subscriber.__table__.columns]
        return [tuple(getattr(row, c) for c in columns) for row in rows]


def text_part(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def html_part(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage, kind: str, base: str = BASE) -> str:
    """The path of the one `kind` link (confirm, preferences) in the mail's text part, which
    must start with the site's `base` URL."""
    text = text_part(message)
    urls: list[str] = URL.findall(text)
    found = [u for u in urls if urlsplit(u).path.startswith(f"/{kind}/")]
    assert len(found) == 1, (kind, found)
    assert found[0].startswith(base + "/"), found[0]
    return urlsplit(found[0]).path


def sent_issues(db: Database, settings: Settings, clock: Clock, count: int) -> None:
    """`count` issues composed and sent through the real pipeline, a week apart, then one
    draft that must stay private."""
    for number in range(1, count + 2):
        now = clock()
        entries = [
            Entry(
                kind=ItemKind.NEWS,
                title=f"Story {number}",
                link=f"https://example.org/news/{number}",
                summary=f"<p>What happened in week {number}.</p>",
                guid=f"story-{number}",
                published_at=now - timedelta(hours=1),
            )
        ]
        store_entries(db, None, entries, now)
        compose_issue(db, settings, clock)
        if number <= count:
            report = send_issue(db, settings, clock, relay=smtp_relay(settings))
            assert report.finished, report
        clock.advance(days=7)
