"""Personalizing the issue: each subscriber's links, greeting and choice of sections filled
into the message rendered once (or once per choice of sections)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from digest.errors import SendError
from digest.model import ALL_SECTIONS, IssuePlan, Recipient, StoredIssue
from digest.send.message import Links, MessageTemplate, build_template, dot_stuffed
from digest.settings import Settings
from subscribers.tokens import PREFERENCES, UNSUBSCRIBE, TokenSigner

if TYPE_CHECKING:
    from digest.send.dkim import DkimSigner


class NothingChosen(SendError):
    """None of the sections the subscriber chose has items in this issue."""


class Personalizer:
    """Turns the issue's message template into one subscriber's message.

    A subscriber who chose only some sections gets a variant rendered once for that choice
    (`variants`); everyone else gets the issue as it was composed and previewed.
    """

    def __init__(
        self,
        template: MessageTemplate,
        settings: Settings,
        variants: Callable[[frozenset[str]], MessageTemplate] | None = None,
    ) -> None:
        self.template = template
        self._variants = variants
        keys = settings.signing_keys
        # The key is read and checked once per send, not once per message. dkimpy imports
        # dnspython (a tenth of a second), so it is loaded only when DKIM is configured.
        self._signer: DkimSigner | None = None
        if settings.smtp.dkim_selector or settings.smtp.dkim_key_file:
            from digest.send.dkim import signer_from_settings

            self._signer = signer_from_settings(settings)
        self._unsubscribe = TokenSigner(keys, UNSUBSCRIBE)
        self._preferences = TokenSigner(keys, PREFERENCES)
        self._base = settings.newsletter.base_url.rstrip("/")
        self._mailto = settings.newsletter.unsubscribe_mailto
        self._greeting = settings.newsletter.greeting
        self._fallback = settings.newsletter.greeting_fallback

    def links(self, subscriber_id: int, name: str = "", *, link_key: str = "") -> Links:
        """The person's links, bound to their record's `link_key` (subscribers.tokens)."""
        token = self._unsubscribe.sign(subscriber_id, link_key)
        mailto = f"mailto:{self._mailto}?subject=unsubscribe%20{token}" if self._mailto else ""
        first = name.split()[0] if name.split() else self._fallback
        return Links(
            unsubscribe=f"{self._base}/unsubscribe/{token}",
            preferences=(
                f"{self._base}/preferences/{self._preferences.sign(subscriber_id, link_key)}"
            ),
            unsubscribe_mailto=mailto,
            greeting=self._greeting.replace("{first_name}", first),
        )

    def message(self, recipient: Recipient, *, stuffed: bool = False) -> bytes:
        """The subscriber's message, DKIM-signed when signing is configured; `stuffed`:
        dot-stuffed for SMTP DATA, as `Transport.send(..., stuffed=True)` takes it."""
        template = self.template
        if self._variants is not None and recipient.sections != ALL_SECTIONS:
            template = self._variants(recipient.sections)
        links = self.links(recipient.subscriber_id, recipient.name, link_key=recipient.link_key)
        if self._signer is None:
            return template.personalize(recipient, links, stuffed=stuffed)
        signed = self._signer.sign(template.personalize(recipient, links))
        return dot_stuffed(signed) if stuffed else signed


def section_variants(
    plan: IssuePlan, full: MessageTemplate, settings: Settings, now: datetime
) -> Callable[[frozenset[str]], MessageTemplate]:
    """Message templates of the issue restricted to a choice of sections, each rendered once
    on first use (at most seven). NothingChosen when the choice leaves nothing to send."""
    present = frozenset(name for name, items in plan.sections.items() if items)
    cache: dict[frozenset[str], MessageTemplate] = {present: full}
    lock = threading.Lock()

    def variant(sections: frozenset[str]) -> MessageTemplate:
        wanted = sections & present
        if not wanted:
            raise NothingChosen("none of the sections they chose has items in this issue")
        with lock:
            if wanted not in cache:
                chosen = dataclasses.replace(
                    plan,
                    news=plan.news if "news" in wanted else (),
                    events=plan.events if "events" in wanted else (),
                    calls=plan.calls if "calls" in wanted else (),
                )
                from digest.render import render_issue

                rendered = render_issue(chosen, settings, placeholders=full.placeholders)
                cache[wanted] = build_template(
                    settings=settings,
                    subject=rendered.subject,
                    html_body=rendered.html,
                    text_body=rendered.text,
                    number=plan.number,
                    date=now,
                    placeholders=rendered.placeholders,
                )
            return cache[wanted]

    return variant


def message_template(issue: StoredIssue, settings: Settings, now: datetime) -> MessageTemplate:
    return build_template(
        settings=settings,
        subject=issue.subject,
        html_body=issue.html,
        text_body=issue.text,
        number=issue.number,
        date=now,
        placeholders=issue.placeholders,
    )
