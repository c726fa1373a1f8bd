"""Checks before an issue first goes out to readers: the reasons not to send yet, each one
line. A pure function over the facts; `digest issue send --force` skips it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from digest.net import is_loopback
from digest.settings import Settings

if TYPE_CHECKING:
    from digest.lint import LintReport

PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net")


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    recipients: int  # deliveries the send would make or continue
    lint: LintReport


def _placeholder_domain(address: str) -> bool:
    domain = address.rpartition("@")[2].lower()
    return any(domain == d or domain.endswith("." + d) for d in PLACEHOLDER_DOMAINS)


def reasons_not_to_send(facts: Facts, settings: Settings) -> list[str]:
    """Why the issue must stay a draft; empty when it may go."""
    reasons = []
    if facts.recipients == 0:
        reasons.append("there are no active subscribers to send to")
    errors = [f for f in facts.lint.findings if f.level == "error"]
    if errors:
        reasons.append(f"`digest issue lint` finds {len(errors)} error(s), first: {errors[0].line}")
    # Placeholders matter only when the mail leaves this machine: a local capture or a
    # trial relay on loopback is how the demo and a first try work.
    if not is_loopback(settings.smtp.host):
        cfg = settings.newsletter
        if _placeholder_domain(cfg.from_address):
            reasons.append(f"newsletter.from_address is still a placeholder ({cfg.from_address})")
        host = urlsplit(cfg.base_url).hostname or ""
        if is_loopback(host) or _placeholder_domain(f"@{host}"):
            reasons.append(
                f"newsletter.base_url is still a placeholder ({cfg.base_url}): readers' "
                "unsubscribe links would not work"
            )
    return reasons
