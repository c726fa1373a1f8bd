"""Links as readers get them: without the parameters that only track them."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that only track the reader: utm_* (Google Analytics), and click ids.
TRACKING_PREFIXES = ("utm_",)
TRACKING_KEYS = {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "_hsenc", "_hsmi"}


def strip_tracking(link: str) -> str:
    """The link without utm_* (and the like) tracking parameters; otherwise unchanged."""
    try:
        parts = urlsplit(link)
    except ValueError:
        return link
    if not parts.query:
        return link
    kept = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith(TRACKING_PREFIXES) and key.lower() not in TRACKING_KEYS
    ]
    return urlunsplit(parts._replace(query=urlencode(kept)))
