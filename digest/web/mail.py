"""The double opt-in mail: rendered with the issue's pipeline (Jinja2 -> MJML -> inlined CSS,
plus a text part) from confirm.mjml.j2 / confirm.txt.j2, built by the send stage's message
builder and sent through the relay the app was given."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid

from digest.model import Recipient
from digest.render import (
    compile_mjml,
    make_environment,
    render_template,
    templates_dir,
    templates_folder,
)
from digest.send.message import mail_template, message_domain
from digest.send.transport import Reply
from digest.send.wiring import Relay
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
        "name": mail.name,
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
        name=mail.name,
        message_id=make_msgid("confirm", domain=message_domain(settings)),
    )
    return template.addressed(recipient)


def send_confirmation(
    mail: ConfirmationMail, settings: Settings, now: datetime, relay: Relay
) -> Reply:
    """Render and send one confirmation through `relay`; failures are logged and returned,
    never raised, because the person has had their answer page already."""
    transport = relay.transport_factory()
    try:
        message = render_confirmation(mail, settings, now)
        reply = transport.send(relay.envelope_from, mail.email, message)
    except Exception as e:  # a broken template must not take the server down
        LOG.error("confirmation mail not sent: %s: %s", e.__class__.__name__, e)
        return Reply(None, f"{e.__class__.__name__}: {e}")
    finally:
        transport.close()
    if reply.code != 250:
        LOG.warning("confirmation mail not accepted by the relay: %s", reply.line)
    return reply
