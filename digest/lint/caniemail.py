"""Which HTML and CSS features of a rendered issue major email clients do not support.

The support data is a subset of caniemail.com's (github.com/hteumeuleu/caniemail, MIT,
license text in caniemail-LICENSE next to this file), shipped as caniemail.json and made by
`python tools/caniemail_subset.py PATH-TO-CANIEMAIL`: only the features that
digest.lint.features can detect, only the families in MAJOR_CLIENTS, only each platform's
newest test result.

Three verdicts per feature that a current major client does not support ("n"; partial
support, "a", is not reported because its notes name specific values we do not parse):

- **ignored**: MJML's deliberate progressive enhancement, where a client without the feature
  falls back to something that works; each such feature has its reason in ENHANCEMENTS;
- **error**: the reader would miss content (a form, a video, an image format that does not
  show): READER_MISSES;
- **warning**: everything else, which changes the look but not what can be read.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from dataclasses import dataclass
from typing import Any, Literal

from digest.lint.features import FeatureUse, feature_uses
from digest.lint.slugs import IMAGE_FORMAT_SLUGS, INPUT_SLUGS, SELECTOR_SLUGS

DATA_FILE = "caniemail.json"
LICENSE_FILE = "caniemail-LICENSE"

# The families whose newest version of every platform must support what an issue uses.
MAJOR_CLIENTS: tuple[str, ...] = ("apple-mail", "gmail", "outlook", "yahoo")

Severity = Literal["error", "warning", "ignored"]

# --- The policy ---------------------------------------------------------------------------

_INLINED = (
    "premailer copies every rule of the <style> blocks into style attributes, so a client "
    "that drops <style> or a selector still gets the inlined styles"
)
# Features MJML's output uses on purpose, with a fallback for clients that lack them.
ENHANCEMENTS: dict[str, str] = {
    "html-style": _INLINED,
    **dict.fromkeys(SELECTOR_SLUGS, _INLINED),
    "css-at-media": (
        "MJML's media queries only widen columns on large screens; without them the "
        "one-column layout shows, and Outlook for Windows gets conditional-comment tables"
    ),
    "css-at-media-prefers-color-scheme": (
        "dark mode colours are an enhancement; clients without it show the light design"
    ),
    "html-meta-color-scheme": "a dark mode hint; clients without it show the light design",
    "html-body": (
        "MJML repeats the <body> background on a wrapping <div>, which these clients keep"
    ),
    "html-role": "an accessibility hint for screen readers; the layout does not depend on it",
    "html-aria-label": "an accessibility hint for screen readers; nothing visible depends on it",
    "html-aria-hidden": "an accessibility hint for screen readers; nothing visible depends on it",
    "html-target": (
        "webmail clients open every link in a new tab or window anyway; the link works either way"
    ),
    "css-word-break": (
        "MJML sets word-break:break-word on text cells so that long words such as URLs wrap; "
        "without it text wraps at spaces as usual"
    ),
}
INITIAL_REASON = "every use sets the initial value, which a client that ignores it shows anyway"
# Reasons for features only used to hide an element (the preheader, hidden with
# display:none): each is a fallback for clients that lack another.
HIDING_REASON = (
    "used inside an element hidden with display:none (the preheader); the hiding properties "
    "are fallbacks for one another"
)
HIDING_SLUGS = frozenset(
    (
        "css-display-none",
        "css-opacity",
        "css-max-height",
        "css-max-width",
        "css-overflow",
        "css-visibility",
        "css-font-size",
        "css-line-height",
    )
)
# Features whose absence loses content, not just looks: a reader would miss something.
READER_MISSES = frozenset(
    (
        "html-form",
        *INPUT_SLUGS.values(),
        "html-button-reset",
        "html-button-submit",
        "html-select",
        "html-textarea",
        "html-video",
        "html-audio",
        "html-object",
        "html-svg",
        "html-dialog",
        "html-popover",
        "html-image-maps",
        "image-base64",
        *IMAGE_FORMAT_SLUGS.values(),
    )
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """One feature the issue uses that a current major client does not support."""

    slug: str
    title: str
    unsupported: tuple[str, ...]  # "gmail desktop-webmail (2021-05)"
    where: str  # the first use
    uses: int
    severity: Severity
    reason: str = ""  # why it is ignored
    notes: tuple[str, ...] = ()  # caniemail's notes on those "not supported" results

    @property
    def url(self) -> str:
        return f"https://www.caniemail.com/features/{self.slug}/"

    @property
    def clients(self) -> str:
        """'gmail (desktop-webmail, ios), outlook (windows)': the platforms per family."""
        families: dict[str, list[str]] = {}
        for entry in self.unsupported:
            family, platform = entry.split(" ", 1)
            families.setdefault(family, []).append(platform.split(" ", 1)[0])
        return ", ".join(f"{family} ({', '.join(p)})" for family, p in families.items())


# --- The data -------------------------------------------------------------------------------


@functools.cache
def support_data() -> dict[str, Any]:
    """The shipped caniemail subset (see the module docstring)."""
    resource = importlib.resources.files("digest.lint") / DATA_FILE
    data: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return data


def unsupported_in(slug: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """'family platform (version)' for every major client whose newest test says "n", and
    the notes on those results."""
    feature = support_data()["features"].get(slug)
    if feature is None:
        return (), ()
    found, notes = [], []
    for family in MAJOR_CLIENTS:
        for platform, versions in feature["stats"].get(family, {}).items():
            # The subset keeps only the newest version of each platform.
            version, value = next(reversed(versions.items()))
            support, *refs = str(value).split()
            if support == "n":
                found.append(f"{family} {platform} ({version})")
                for ref in refs:
                    note = feature.get("notes_by_num", {}).get(ref.lstrip("#"))
                    if note and f"{family}: {note}" not in notes:
                        notes.append(f"{family}: {note}")
    return tuple(found), tuple(notes)


# --- Verdicts -------------------------------------------------------------------------------


def _severity(slug: str, uses: list[FeatureUse]) -> tuple[Severity, str]:
    if slug in ENHANCEMENTS:
        return "ignored", ENHANCEMENTS[slug]
    if slug in HIDING_SLUGS and all(use.hidden for use in uses):
        return "ignored", HIDING_REASON
    if all(use.initial for use in uses):
        return "ignored", INITIAL_REASON
    if slug in READER_MISSES:
        return "error", ""
    return "warning", ""


def check_features(html: str) -> list[Verdict]:
    """A verdict for each used feature that a current major client does not support."""
    by_slug: dict[str, list[FeatureUse]] = {}
    for use in feature_uses(html):
        by_slug.setdefault(use.slug, []).append(use)
    verdicts = []
    features = support_data()["features"]
    for slug, uses in sorted(by_slug.items()):
        clients, notes = unsupported_in(slug)
        if not clients:
            continue
        severity, reason = _severity(slug, uses)
        verdicts.append(
            Verdict(
                slug=slug,
                title=features[slug]["title"],
                unsupported=clients,
                where=uses[0].where,
                uses=len(uses),
                severity=severity,
                reason=reason,
                notes=notes,
            )
        )
    return verdicts
