"""The double opt-in mail: rendered with the issue's pipeline (Jinja2 -> MJML -> inlined CSS,
plus a text part) from confirm.mjml.j2 / confirm.txt.j2, built by the send stage's message
builder and queued in the outbox, from which a sender takes it (never the request)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid

from digest.db.engine import Database
from digest.db.outbox import NewMail, enqueue_limited
from digest.model import Recipient
from digest.render import (
    compile_mjml,
    make_environment,
    render_template,
    templates_dir,
    templates_folder,
)
from digest.send.message import mail_template, message_domain
from digest.send.outbox import DAY, may_queue
from digest.settings import Settings

LOG = logging.getLogger(__name__)
HTML_TEMPLATE = "confirm.mjml.j2"
TEXT_TEMPLATE = "confirm.txt.j2"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmationMail:
    """Who gets the mail and the one link in it."""

    email: str
    name: str
    action_url: str
    already: bool  # subscribed already: the link opens the preferences instead


def render_confirmation(mail: ConfirmationMail, settings: Settings, now: datetime) -> bytes:
    """The complete message as bytes for SMTP DATA."""
    # The operator's templates folder may predate these templates: fall back to ours.
    folder = templates_folder(settings)
    if not (folder / HTML_TEMPLATE).is_file():
        folder = templates_dir()
    env = make_environment(settings, folder)
    cfg = settings.newsletter
    subject = (
        f"You are subscribed to {cfg.name} already"
        if mail.already
        else f"Please confirm your subscription to {cfg.name}"
    )
    context = {
        "newsletter": cfg,
        "subject": subject,
        "name": mail.name[: settings.web.max_name_chars],
        "action_url": mail.action_url,
        "already": mail.already,
        "hours": settings.web.confirm_max_age_hours,
    }
    html = compile_mjml(render_template(env, HTML_TEMPLATE, context), HTML_TEMPLATE)
    text = render_template(env, TEXT_TEMPLATE, context)
    template = mail_template(
        settings=settings,
        subject=subject,
        html_body=html,
        text_body=text,
        date=now,
        # A reply to the person's own request, not bulk mail: out-of-office replies stay away.
        headers=(("Auto-Submitted", "auto-generated"),),
    )
    recipient = Recipient(
        delivery_id=0,
        subscriber_id=0,
        email=mail.email,
        # An anonymous form fills this in: it goes into To: and the greeting, so it is short.
        name=mail.name[: settings.web.max_name_chars],
        message_id=make_msgid("confirm", domain=message_domain(settings)),
    )
    return template.addressed(recipient)


def queue_confirmation(
    db: Database,
    mail: ConfirmationMail,
    settings: Settings,
    now: datetime,
    envelope_from: str,
    subscriber_id: int,
) -> bool:
    """Render the mail and put it in the outbox for the sender, unless the address had one
    within web.confirm_cooldown_minutes or web.confirm_daily_cap in a day already (however
    many signups named it, from however many clients). True when queued; failures are
    logged, never raised, because the person has had their answer page already."""
    web = settings.web
    cooldown = timedelta(minutes=web.confirm_cooldown_minutes)

    def allow(recent: Sequence[datetime]) -> bool:
        return may_queue(recent, now, cooldown=cooldown, daily_cap=web.confirm_daily_cap)

    queued = NewMail(
        kind="notice" if mail.already else "confirm",
        to_address=mail.email,
        subscriber_id=subscriber_id,
        envelope_from=envelope_from,
    )
    try:
        done = enqueue_limited(
            db, queued, now, now - DAY, allow, lambda: render_confirmation(mail, settings, now)
        )
    except Exception as e:  # a broken template must not take the server down
        LOG.error("confirmation mail not queued: %s: %s", e.__class__.__name__, e)
        return False
    if not done:
        LOG.info("confirmation mail not queued: the address had one lately")
    return done
