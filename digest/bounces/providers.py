"""The relays' bounce webhooks read into ProviderEvents: one pure parse function per provider
(Amazon SES through SNS, SendGrid, Mailgun, Postmark), each provider's categories mapped to
BounceKind and BounceReason, and the signatures that can be checked offline.

How categories become kinds, the same way for every provider:

- A complaint (SES Complaint, SendGrid spamreport, Mailgun complained, Postmark
  SpamComplaint) is COMPLAINT; an ARF `not-spam` report is no complaint and is skipped.
- A failure the provider calls permanent (SES Permanent, SendGrid bounce, Mailgun severity
  permanent, Postmark HardBounce) is HARD, unless the server's words and codes (read by
  digest.bounces.status, as for returned mail) give a reason about this message or the
  sender rather than the address (mailbox full, disabled, blocked, spam, too large,
  network, remote system, expired): the model calls those SOFT, so one reputation block
  never stops a reader for good. The soft-bounce policy counts them instead.
- A failure the provider calls temporary after giving up (SES Transient and Undetermined,
  SendGrid blocked, Mailgun's "old" after eight hours of retries, Postmark SoftBounce,
  DnsError, Blocked, SpamNotification) is SOFT.
- A notice that the relay is still retrying is no bounce and is skipped: SendGrid deferred,
  Mailgun failed with severity temporary, Postmark Transient (a delay notice). If the relay
  gives up, it reports that as its own event, which counts.
- Everything else (deliveries, opens, clicks, auto-replies, the relays' unsubscribes) is
  skipped: only bounces and complaints become events.

Signatures: Mailgun's HMAC and SendGrid's ECDSA signature are checked when their key is
set. SNS signs with a certificate fetched from a URL in the message, which is not done
here; the secret in the webhook URL is what authenticates SES (and Postmark, which signs
nothing). Signature timestamps are not checked for age: a replayed event is a duplicate,
processed once by its event id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from digest.bounces.addresses import clean
from digest.bounces.dsn import code_of, status_of
from digest.bounces.status import verdict
from digest.errors import ConfigError, DigestError
from digest.model import BounceKind, BounceReason, BounceReport, ProviderEvent
from digest.settings import BounceSettings

PROVIDERS = ("ses", "sendgrid", "mailgun", "postmark")
SENDGRID_SIGNATURE = "x-twilio-email-event-webhook-signature"
SENDGRID_TIMESTAMP = "x-twilio-email-event-webhook-timestamp"
MAX_ID = 200  # longer provider ids are hashed: bounce_messages.key holds 300 characters
MAX_DIAGNOSTIC = 1000

R = BounceReason
# A permanent failure with one of these reasons is about the address: HARD. Any other reason
# (full, blocked, spam, too large, disabled, expired, network, remote system) is SOFT.
ABOUT_THE_ADDRESS = frozenset({R.USER_UNKNOWN, R.DOMAIN_NOT_FOUND, R.REJECTED, R.UNKNOWN})


class WebhookError(DigestError):
    """A webhook body is malformed: not what the provider sends."""


class SignatureError(WebhookError):
    """A webhook's signature is missing or does not verify with the configured key."""


@dataclass(frozen=True, slots=True)
class WebhookKeys:
    """The providers' verification keys, read once from the settings."""

    sendgrid: ec.EllipticCurvePublicKey | None = None
    mailgun: bytes = b""


def webhook_keys(bounces: BounceSettings) -> WebhookKeys:
    """The keys of `bounces`; ConfigError when the SendGrid key is not an EC public key."""
    sendgrid = None
    text = bounces.sendgrid_public_key.strip()
    if text:
        try:
            if text.startswith("-----BEGIN"):
                key = serialization.load_pem_public_key(text.encode())
            else:
                key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
        except (ValueError, binascii.Error) as e:
            raise ConfigError(f"bounces.sendgrid_public_key is not a public key: {e}") from e
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise ConfigError("bounces.sendgrid_public_key is not an ECDSA public key")
        sendgrid = key
    return WebhookKeys(sendgrid=sendgrid, mailgun=bounces.mailgun_signing_key.encode())


def parse_webhook(
    provider: str, body: bytes, headers: Mapping[str, str], keys: WebhookKeys
) -> list[ProviderEvent]:
    """The bounces and complaints in one webhook request to `provider` (one of PROVIDERS)."""
    if provider == "ses":
        return parse_ses(body)
    if provider == "sendgrid":
        return parse_sendgrid(body, headers, key=keys.sendgrid)
    if provider == "mailgun":
        return parse_mailgun(body, signing_key=keys.mailgun)
    if provider == "postmark":
        return parse_postmark(body)
    raise WebhookError(f"unknown provider {provider!r}")


# Amazon SES, through an SNS HTTPS subscription ----------------------------------------------


def sns_notice(body: bytes) -> str | None:
    """The line to log for an SNS subscription or unsubscription confirmation, else None.
    The SubscribeURL is only shown to the operator, never fetched."""
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(envelope, dict):
        return None
    kind = envelope.get("Type")
    if kind not in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        return None
    topic = _one_line(str(envelope.get("TopicArn", "")), 300)
    url = _one_line(str(envelope.get("SubscribeURL", "")), 2000)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host.endswith((".amazonaws.com", ".amazonaws.com.cn")):
        return f"SNS {kind} for {topic!r} ignored: its SubscribeURL is not an Amazon SNS address"
    if kind == "UnsubscribeConfirmation":
        return f"SNS unsubscribed this webhook from {topic}; to subscribe again open {url}"
    return f"SNS subscription to {topic} waits for you: open this address to confirm it: {url}"


def parse_ses(body: bytes) -> list[ProviderEvent]:
    """An SNS message carrying an SES notification (or, with SNS raw message delivery, the
    notification itself): one event per bounced or complaining recipient."""
    top = _object(_json(body), "the body")
    fallback_id = ""
    if "Type" in top:
        kind = top["Type"]
        if kind in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
            return []
        if kind != "Notification":
            raise WebhookError(f"unknown SNS message type {_one_line(str(kind), 60)!r}")
        message = top.get("Message")
        if not isinstance(message, str):
            raise WebhookError("the SNS notification has no Message")
        ses = _object(_json(message.encode()), "the SNS Message")
        fallback_id = _text(top, "MessageId")
    else:
        ses = top
    kind = ses.get("notificationType") or ses.get("eventType")
    if not isinstance(kind, str):
        raise WebhookError("neither an SNS message nor an SES notification")
    if kind == "Bounce":
        bounce = _object(ses.get("bounce"), "bounce")
        rows = _objects(bounce.get("bouncedRecipients"), "bouncedRecipients")
        event_id = _text(bounce, "feedbackId") or fallback_id
        reports = [_ses_bounce(bounce, row) for row in rows]
    elif kind == "Complaint":
        complaint = _object(ses.get("complaint"), "complaint")
        feedback = _text(complaint, "complaintFeedbackType").lower()
        if feedback == "not-spam":
            return []
        rows = _objects(complaint.get("complainedRecipients"), "complainedRecipients")
        event_id = _text(complaint, "feedbackId") or fallback_id
        reports = [_complaint(_text(row, "emailAddress"), feedback or "abuse") for row in rows]
    else:
        return []  # Delivery, Send, Open, AmazonSnsSubscriptionSucceeded...
    event_id = event_id or _digest(body)
    events = []
    for n, report in enumerate(reports):
        # One recipient per event; the usual case for a newsletter keeps the plain id.
        suffix = f"/{report.recipients[0] if report.recipients else n}" if len(reports) > 1 else ""
        events.append(ProviderEvent(key=_key("ses", event_id + suffix), report=report, raw=body))
    return events


_SES_SUBTYPES = {
    "noemail": R.USER_UNKNOWN,
    "suppressed": R.REJECTED,  # on SES's global suppression list
    "onaccountsuppressionlist": R.REJECTED,
    "mailboxfull": R.MAILBOX_FULL,
    "messagetoolarge": R.TOO_LARGE,
    "contentrejected": R.SPAM,
    "attachmentrejected": R.REJECTED,
}


def _ses_bounce(bounce: dict[str, Any], row: dict[str, Any]) -> BounceReport:
    permanent = _text(bounce, "bounceType").lower() == "permanent"
    subtype = _text(bounce, "bounceSubType")
    diagnostic = _text(row, "diagnosticCode") or f"SES {_text(bounce, 'bounceType')}/{subtype}"
    status = status_of(_text(row, "status")) or status_of(diagnostic)
    code = code_of(diagnostic)
    reason = _SES_SUBTYPES.get(subtype.lower()) or reason_of(status, diagnostic, code)
    return _bounce(_text(row, "emailAddress"), permanent, reason, status, code, diagnostic)


# SendGrid event webhook -----------------------------------------------------------------------

_SENDGRID_CLASSES = {
    "invalid address": R.USER_UNKNOWN,
    "mailbox unavailable": R.DISABLED,
    "reputation": R.BLOCKED,
    "content": R.SPAM,
    "frequency or volume too high": R.BLOCKED,
    "technical failure": R.SYSTEM,
}


def verify_sendgrid(
    body: bytes, headers: Mapping[str, str], key: ec.EllipticCurvePublicKey
) -> None:
    """SendGrid's signed event webhook: an ECDSA (P-256, SHA-256) signature over the
    timestamp header followed by the raw body, base64 in the signature header."""
    lower = {name.lower(): value for name, value in headers.items()}
    signature, timestamp = lower.get(SENDGRID_SIGNATURE, ""), lower.get(SENDGRID_TIMESTAMP, "")
    if not signature or not timestamp:
        raise SignatureError("the SendGrid signature headers are missing")
    try:
        key.verify(
            base64.b64decode(signature, validate=True),
            timestamp.encode() + body,
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, ValueError, binascii.Error):
        raise SignatureError("the SendGrid signature does not verify") from None


def parse_sendgrid(
    body: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    key: ec.EllipticCurvePublicKey | None = None,
) -> list[ProviderEvent]:
    """A batch of SendGrid events (a JSON array), checked against `key` when there is one;
    each event's raw bytes are its own JSON (the signature covers the whole batch)."""
    if key is not None:
        verify_sendgrid(body, headers or {}, key)
    batch = _json(body)
    if not isinstance(batch, list):
        raise WebhookError("a SendGrid body is a JSON array of events")
    events = []
    for item in batch:
        event = _object(item, "a SendGrid event")
        report = _sendgrid_report(event)
        if report is None:
            continue
        raw = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        event_id = _text(event, "sg_event_id") or _digest(raw)
        events.append(ProviderEvent(key=_key("sendgrid", event_id), report=report, raw=raw))
    return events


def _sendgrid_report(event: dict[str, Any]) -> BounceReport | None:
    name, email = _text(event, "event").lower(), _text(event, "email")
    text = _text(event, "reason") or _text(event, "response")
    if name == "spamreport":
        return _complaint(email, "abuse")
    if name == "bounce":
        status = status_of(_text(event, "status")) or status_of(text)
        known = _SENDGRID_CLASSES.get(_text(event, "bounce_classification").lower())
        code = code_of(text)
        reason = known or reason_of(status, text, code)
        permanent = _text(event, "type").lower() != "blocked"
        return _bounce(email, permanent, reason, status, code, text or "bounce")
    if name == "dropped":
        said = text.lower()
        if "unsubscribed" in said:
            return None  # the reader left through SendGrid: not a bounce
        if "spam reporting" in said:
            return _complaint(email, "abuse")
        if "bounced address" in said or said == "invalid":
            return _bounce(email, True, R.USER_UNKNOWN, None, None, f"dropped: {text}")
        return _bounce(
            email, False, reason_of(None, text, None, R.REJECTED), None, None, f"dropped: {text}"
        )
    return None  # deferred (SendGrid retries), processed, delivered, open, click...


# Mailgun webhooks -----------------------------------------------------------------------------


def verify_mailgun(body: dict[str, Any], signing_key: bytes) -> None:
    """Mailgun's signature in the body: HMAC-SHA256 of timestamp + token, hex."""
    signature = body.get("signature")
    if not isinstance(signature, dict):
        raise SignatureError("the Mailgun signature is missing")
    timestamp, token = _text(signature, "timestamp"), _text(signature, "token")
    given = _text(signature, "signature")
    expected = hmac.new(signing_key, (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not timestamp or not token or not hmac.compare_digest(given.lower(), expected):
        raise SignatureError("the Mailgun signature does not verify")


def parse_mailgun(body: bytes, *, signing_key: bytes = b"") -> list[ProviderEvent]:
    """One Mailgun event ({"signature": ..., "event-data": ...}), its signature checked
    with `signing_key` when there is one."""
    top = _object(_json(body), "the body")
    if signing_key:
        verify_mailgun(top, signing_key)
    data = _object(top.get("event-data"), "event-data")
    report = _mailgun_report(data)
    if report is None:
        return []
    event_id = _text(data, "id") or _digest(body)
    return [ProviderEvent(key=_key("mailgun", event_id), report=report, raw=body)]


def _mailgun_report(data: dict[str, Any]) -> BounceReport | None:
    name, email = _text(data, "event").lower(), _text(data, "recipient")
    if name == "complained":
        return _complaint(email, "abuse")
    if name != "failed":
        return None
    why = _text(data, "reason").lower()
    delivery = data.get("delivery-status")
    delivery = delivery if isinstance(delivery, dict) else {}
    text = (
        " ".join(t for t in (_text(delivery, "message"), _text(delivery, "description")) if t)
        or f"failed: {why or 'no reason given'}"
    )
    code = delivery.get("code") if isinstance(delivery.get("code"), int) else code_of(text)
    smtp = code if isinstance(code, int) and 200 <= code < 600 else None
    status = status_of(_text(delivery, "enhanced-code")) or status_of(text)
    if why == "suppress-complaint":
        return _complaint(email, "abuse")
    if why == "suppress-unsubscribe":
        return None
    if why == "suppress-bounce":
        return _bounce(email, True, R.USER_UNKNOWN, status, smtp, text)
    if why == "old" or code == 602:  # Mailgun gave up after eight hours of retries
        return _bounce(email, False, R.EXPIRED, status, smtp, text)
    if _text(data, "severity").lower() != "permanent":
        return None  # Mailgun retries a temporary failure
    reason = R.BLOCKED if why == "espblock" else reason_of(status, text, smtp)
    return _bounce(email, True, reason, status, smtp, text)


# Postmark bounce and spam complaint webhooks --------------------------------------------------

# Postmark's bounce types (by Type, TypeCode): (permanent, default reason); None: skipped.
_POSTMARK: dict[str, tuple[bool, BounceReason] | None] = {
    "HardBounce": (True, R.USER_UNKNOWN),
    "BadEmailAddress": (True, R.USER_UNKNOWN),
    "SoftBounce": (False, R.UNKNOWN),
    "Undeliverable": (False, R.UNKNOWN),
    "Unknown": (False, R.UNKNOWN),
    "DnsError": (False, R.NETWORK),
    "SpamNotification": (False, R.SPAM),
    "VirusNotification": (False, R.REJECTED),
    "Blocked": (False, R.BLOCKED),
    "DMARCPolicy": (False, R.BLOCKED),
}
_POSTMARK_CODES = {
    1: "HardBounce", 2: "Transient", 16: "Unsubscribe", 32: "Subscribe", 64: "AutoResponder",
    128: "AddressChange", 256: "DnsError", 512: "SpamNotification", 1024: "OpenRelayTest",
    2048: "Unknown", 4096: "SoftBounce", 8192: "VirusNotification",
    16384: "ChallengeVerification", 100000: "BadEmailAddress", 100001: "SpamComplaint",
    100002: "ManuallyDeactivated", 100003: "Unconfirmed", 100006: "Blocked",
    100007: "SMTPApiError", 100008: "InboundError", 100009: "DMARCPolicy",
    100010: "TemplateRenderingFailed",
}  # fmt: skip


def parse_postmark(body: bytes) -> list[ProviderEvent]:
    """One Postmark Bounce or SpamComplaint record (other record types are skipped)."""
    record = _object(_json(body), "the body")
    record_type = _text(record, "RecordType")
    if not record_type and "Type" not in record and "TypeCode" not in record:
        raise WebhookError("a Postmark body has a RecordType")
    if record_type not in ("", "Bounce", "SpamComplaint"):
        return []  # Delivery, Open, Click, SubscriptionChange
    kind = _text(record, "Type")
    if not kind and isinstance(record.get("TypeCode"), int):
        kind = _POSTMARK_CODES.get(record["TypeCode"], "")
    email = _text(record, "Email")
    if record_type == "SpamComplaint" or kind == "SpamComplaint":
        report = _complaint(email, "abuse")
    elif (known := _POSTMARK.get(kind)) is not None:
        permanent, default = known
        text = _text(record, "Details") or _text(record, "Description") or kind
        status, code = status_of(text), code_of(text)
        reason = reason_of(status, text, code, default)
        report = _bounce(email, permanent, reason, status, code, text)
    else:
        return []  # Transient (a delay), AutoResponder, Unsubscribe, ManuallyDeactivated...
    event_id = _text(record, "ID") or _digest(body)
    return [ProviderEvent(key=_key("postmark", event_id), report=report, raw=body)]


# Shared ---------------------------------------------------------------------------------------


def reason_of(
    status: str | None, text: str, code: int | None = None, default: BounceReason = R.UNKNOWN
) -> BounceReason:
    """The reason the server's words and codes give (digest.bounces.status decides, as for
    returned mail), else the provider's `default`."""
    found = verdict(text, status, code).reason
    return default if found is R.UNKNOWN else found


def kind_of(permanent: bool, reason: BounceReason) -> BounceKind:
    """HARD for a permanent failure of the address itself, else SOFT."""
    return BounceKind.HARD if permanent and reason in ABOUT_THE_ADDRESS else BounceKind.SOFT


def _bounce(
    email: str,
    permanent: bool,
    reason: BounceReason,
    status: str | None,
    code: int | None,
    diagnostic: str,
) -> BounceReport:
    return BounceReport(
        is_bounce=True,
        kind=kind_of(permanent, reason),
        recipients=_recipients(email),
        reason=reason,
        status=status,
        code=code,
        diagnostic=_one_line(diagnostic, MAX_DIAGNOSTIC),
    )


def _complaint(email: str, feedback_type: str) -> BounceReport:
    return BounceReport(
        is_bounce=True,
        kind=BounceKind.COMPLAINT,
        recipients=_recipients(email),
        reason=R.FEEDBACK,
        feedback_type=_one_line(feedback_type, 40),
    )


def _recipients(email: str) -> tuple[str, ...]:
    address = clean(email)
    return (address,) if "@" in address else ()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise WebhookError("the body is not UTF-8") from None
    except (ValueError, RecursionError) as e:
        raise WebhookError(f"the body is not JSON ({_one_line(str(e), 80)})") from None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WebhookError(f"{what} is not a JSON object")
    return value


def _objects(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise WebhookError(f"{what} is not a list of recipients")
    return [_object(item, f"an item of {what}") for item in value]


def _text(data: dict[str, Any], name: str) -> str:
    """A string (or number) field, stripped; "" when absent or of another type."""
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value).strip()


def _one_line(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _key(provider: str, event_id: str) -> str:
    event_id = _one_line(event_id, 10 * MAX_ID)
    if len(event_id) > MAX_ID:
        event_id = _digest(event_id.encode())
    return f"{provider}:{event_id}"
