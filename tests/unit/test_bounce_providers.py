"""The relays' webhook bodies read into provider events: Amazon SES through SNS, SendGrid,
Mailgun and Postmark, in the shapes their documentation shows; how their categories map to
kinds and reasons; and the signatures (made here with a key pair or secret of our own)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from digest.bounces.providers import (
    SENDGRID_SIGNATURE,
    SENDGRID_TIMESTAMP,
    SignatureError,
    WebhookError,
    WebhookKeys,
    kind_of,
    parse_mailgun,
    parse_postmark,
    parse_sendgrid,
    parse_ses,
    parse_webhook,
    reason_of,
    sns_notice,
    webhook_keys,
)
from digest.bounces.status import verdict
from digest.errors import ConfigError
from digest.model import BounceKind, BounceReason, ProviderEvent
from digest.settings import BounceSettings
from tests.support.clock import NOW

STAMP = str(int(NOW.timestamp()))
TOPIC = "arn:aws:sns:eu-west-1:123456789012:digest-bounces"


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def only(events: list[ProviderEvent]) -> ProviderEvent:
    assert len(events) == 1, events
    return events[0]


# Amazon SES through SNS ---------------------------------------------------------------------


def ses_bounce(
    bounce_type: str = "Permanent",
    subtype: str = "General",
    recipients: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": subtype,
            "bouncedRecipients": recipients
            or [
                {
                    "emailAddress": "Reader@Example.org",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-11-23T08:05:06.477Z",
            "feedbackId": "0102015fd91a6479-ae22395c-1f7d-4423-a9e5-e0715bffc731-000000",
            "remoteMtaIp": "192.0.2.10",
            "reportingMTA": "dsn; a4-8.smtp-out.eu-west-1.amazonses.com",
        },
        "mail": {
            "timestamp": "2026-11-23T08:05:04.000Z",
            "source": "news@example.com",
            "messageId": "0102015fd91a5ca3-93c245fe-e333-46ae-8fed-96160d20cfab-000000",
            "destination": ["reader@example.org"],
        },
    }


def ses_complaint(feedback: str = "abuse") -> dict[str, Any]:
    return {
        "notificationType": "Complaint",
        "complaint": {
            "userAgent": "ExampleCorp Feedback Loop (V0.01)",
            "complainedRecipients": [{"emailAddress": "reader@example.org"}],
            "complaintFeedbackType": feedback,
            "arrivalDate": "2026-11-23T08:10:00.000Z",
            "timestamp": "2026-11-23T08:11:00.000Z",
            "feedbackId": "000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000",
        },
        "mail": {"messageId": "000001378603177f-7a5433e7", "source": "news@example.com"},
    }


def sns(message: dict[str, Any], message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324") -> bytes:
    return dumps(
        {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": TOPIC,
            "Message": json.dumps(message),
            "Timestamp": "2026-11-23T08:05:07.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
            "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
        }
    )


def test_an_ses_permanent_bounce_is_hard_and_keeps_the_raw_envelope() -> None:
    body = sns(ses_bounce())
    event = only(parse_ses(body))
    assert event.key == "ses:0102015fd91a6479-ae22395c-1f7d-4423-a9e5-e0715bffc731-000000"
    assert event.raw == body
    report = event.report
    assert report.is_bounce and report.kind is BounceKind.HARD
    assert report.recipients == ("reader@example.org",)
    assert report.reason is BounceReason.USER_UNKNOWN
    assert (report.status, report.code) == ("5.1.1", 550)
    assert report.diagnostic == "smtp; 550 5.1.1 user unknown"


@pytest.mark.parametrize(
    ("bounce_type", "subtype", "reason"),
    [
        ("Transient", "MailboxFull", BounceReason.MAILBOX_FULL),
        ("Transient", "MessageTooLarge", BounceReason.TOO_LARGE),
        ("Transient", "ContentRejected", BounceReason.SPAM),
        ("Undetermined", "Undetermined", BounceReason.USER_UNKNOWN),  # from its 5.1.1
    ],
)
def test_ses_transient_and_undetermined_bounces_are_soft(
    bounce_type: str, subtype: str, reason: BounceReason
) -> None:
    report = only(parse_ses(sns(ses_bounce(bounce_type, subtype)))).report
    assert (report.kind, report.reason) == (BounceKind.SOFT, reason)


def test_ses_permanent_subtypes_name_the_reason() -> None:
    no_email = [{"emailAddress": "gone@example.org"}]
    report = only(parse_ses(sns(ses_bounce("Permanent", "NoEmail", no_email)))).report
    assert (report.kind, report.reason) == (BounceKind.HARD, BounceReason.USER_UNKNOWN)
    assert report.diagnostic == "SES Permanent/NoEmail"
    listed = only(parse_ses(sns(ses_bounce("Permanent", "OnAccountSuppressionList")))).report
    assert (listed.kind, listed.reason) == (BounceKind.HARD, BounceReason.REJECTED)


def test_a_permanent_policy_block_is_soft_the_address_is_fine() -> None:
    blocked = [
        {
            "emailAddress": "reader@example.org",
            "status": "5.7.1",
            "diagnosticCode": "smtp; 550 5.7.1 Service unavailable, client host blocked",
        }
    ]
    report = only(parse_ses(sns(ses_bounce("Permanent", "General", blocked)))).report
    assert (report.kind, report.reason) == (BounceKind.SOFT, BounceReason.BLOCKED)


def test_an_ses_bounce_for_two_recipients_is_two_events() -> None:
    rows = [
        {"emailAddress": "a@example.org", "status": "5.1.1"},
        {"emailAddress": "b@example.org", "status": "5.2.2"},
    ]
    events = parse_ses(sns(ses_bounce("Permanent", "General", rows)))
    assert [e.report.recipients for e in events] == [("a@example.org",), ("b@example.org",)]
    assert len({e.key for e in events}) == 2
    assert [e.report.kind for e in events] == [BounceKind.HARD, BounceKind.SOFT]


def test_an_ses_complaint_is_a_complaint_and_not_spam_is_none() -> None:
    report = only(parse_ses(sns(ses_complaint()))).report
    assert report.kind is BounceKind.COMPLAINT
    assert report.reason is BounceReason.FEEDBACK
    assert (report.recipients, report.feedback_type) == (("reader@example.org",), "abuse")
    assert parse_ses(sns(ses_complaint("not-spam"))) == []


def test_ses_raw_message_delivery_without_the_sns_envelope() -> None:
    event = only(parse_ses(dumps(ses_bounce())))
    assert event.key.startswith("ses:0102015fd91a6479")
    assert event.report.kind is BounceKind.HARD


def test_ses_deliveries_and_sns_confirmations_are_no_events() -> None:
    delivery = {"notificationType": "Delivery", "delivery": {"recipients": ["a@example.org"]}}
    assert parse_ses(sns(delivery)) == []
    assert parse_ses(sns({"notificationType": "AmazonSnsSubscriptionSucceeded"})) == []
    assert parse_ses(subscription()) == []


def subscription(url: str = "") -> bytes:
    url = url or (
        "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
        f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425c464de12884"
    )
    return dumps(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb687f5d51e6e2425c464de12884",
            "TopicArn": TOPIC,
            "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
            "SubscribeURL": url,
            "Timestamp": "2026-11-23T08:00:00.000Z",
        }
    )


def test_the_sns_subscription_url_is_told_to_the_operator_only_when_it_is_amazon() -> None:
    notice = sns_notice(subscription())
    assert notice is not None
    assert TOPIC in notice and "https://sns.eu-west-1.amazonaws.com/?Action=Confirm" in notice
    forged = sns_notice(subscription("https://sns.example.net/confirm\nforged log line"))
    assert forged is not None and "ignored" in forged and "example.net" not in forged
    assert "\n" not in forged
    assert sns_notice(sns(ses_bounce())) is None
    assert sns_notice(b"not json") is None


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "not a JSON object"),
        (dumps({"Type": "Telegram"}), "unknown SNS message type"),
        (dumps({"Type": "Notification", "MessageId": "x"}), "no Message"),
        (dumps({"Type": "Notification", "Message": "not json"}), "not JSON"),
        (dumps({"hello": "world"}), "neither an SNS message nor an SES notification"),
        (sns({"notificationType": "Bounce"}), "bounce is not a JSON object"),
        (sns({"notificationType": "Bounce", "bounce": {}}), "not a list of recipients"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_a_malformed_ses_body_says_why(body: bytes, words: str) -> None:
    with pytest.raises(WebhookError, match=words):
        parse_ses(body)


# SendGrid -----------------------------------------------------------------------------------


def sendgrid_batch() -> list[dict[str, Any]]:
    common = {"timestamp": int(NOW.timestamp()), "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd>"}
    return [
        {**common, "email": "a@example.org", "event": "processed", "sg_event_id": "p1"},
        {
            **common,
            "email": "a@example.org",
            "event": "deferred",
            "response": "400 try again later",
            "attempt": "5",
            "sg_event_id": "d1",
        },
        {**common, "email": "a@example.org", "event": "delivered", "sg_event_id": "v1"},
        {
            **common,
            "email": "Gone@Example.org",
            "event": "bounce",
            "type": "bounce",
            "status": "5.1.1",
            "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
            "bounce_classification": "Invalid Address",
            "sg_event_id": "Ym91bmNlLTAtNTA0ODUxOTUtZXVvMmlLeGRTYXlQRjRZRTQ",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        },
        {
            **common,
            "email": "blocked@example.org",
            "event": "bounce",
            "type": "blocked",
            "status": "5.7.1",
            "reason": "550 5.7.1 rejected due to IP reputation",
            "bounce_classification": "Reputation",
            "sg_event_id": "blocked-1",
        },
        {
            **common,
            "email": "old@example.org",
            "event": "dropped",
            "reason": "Bounced Address",
            "status": "5.0.0",
            "sg_event_id": "dropped-1",
        },
        {
            **common,
            "email": "left@example.org",
            "event": "dropped",
            "reason": "Unsubscribed Address",
            "sg_event_id": "dropped-2",
        },
        {**common, "email": "angry@example.org", "event": "spamreport", "sg_event_id": "s1"},
        {**common, "email": "a@example.org", "event": "open", "sg_event_id": "o1"},
    ]


def test_a_sendgrid_batch_gives_its_bounces_and_complaints() -> None:
    events = parse_sendgrid(dumps(sendgrid_batch()))
    keys = [e.key for e in events]
    assert keys == [
        "sendgrid:Ym91bmNlLTAtNTA0ODUxOTUtZXVvMmlLeGRTYXlQRjRZRTQ",
        "sendgrid:blocked-1",
        "sendgrid:dropped-1",
        "sendgrid:s1",
    ]
    hard, blocked, dropped, spam = (e.report for e in events)
    assert (hard.kind, hard.reason, hard.status, hard.code) == (
        BounceKind.HARD,
        BounceReason.USER_UNKNOWN,
        "5.1.1",
        550,
    )
    assert hard.recipients == ("gone@example.org",)
    assert (blocked.kind, blocked.reason) == (BounceKind.SOFT, BounceReason.BLOCKED)
    assert (dropped.kind, dropped.reason) == (BounceKind.HARD, BounceReason.USER_UNKNOWN)
    assert (spam.kind, spam.recipients) == (BounceKind.COMPLAINT, ("angry@example.org",))
    # Each event keeps its own JSON, not the whole batch.
    assert json.loads(events[0].raw)["sg_event_id"] == keys[0].removeprefix("sendgrid:")


def test_a_sendgrid_event_without_an_id_is_keyed_by_its_content() -> None:
    event = {"email": "x@example.org", "event": "spamreport", "timestamp": 1}
    first, again = parse_sendgrid(dumps([event])), parse_sendgrid(dumps([event]))
    assert first[0].key == again[0].key
    assert first[0].key.startswith("sendgrid:sha256:")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (dumps({"event": "bounce"}), "JSON array"),
        (dumps(["bounce"]), "not a JSON object"),
        (b"email=a@example.org&event=bounce", "not JSON"),
    ],
)
def test_a_malformed_sendgrid_body_says_why(body: bytes, words: str) -> None:
    with pytest.raises(WebhookError, match=words):
        parse_sendgrid(body)


def sendgrid_keys() -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(der).decode()


def signed(private: ec.EllipticCurvePrivateKey, body: bytes) -> dict[str, str]:
    signature = private.sign(STAMP.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": STAMP,
    }


def test_a_signed_sendgrid_batch_verifies_and_a_tampered_one_does_not() -> None:
    private, public = sendgrid_keys()
    keys = webhook_keys(BounceSettings(sendgrid_public_key=public))
    body = dumps(sendgrid_batch())
    headers = signed(private, body)
    assert len(parse_webhook("sendgrid", body, headers, keys)) == 4
    tampered = body.replace(b"Gone@Example.org", b"other@example.org")
    with pytest.raises(SignatureError, match="does not verify"):
        parse_webhook("sendgrid", tampered, headers, keys)
    with pytest.raises(SignatureError, match="does not verify"):
        parse_webhook("sendgrid", body, {**headers, SENDGRID_TIMESTAMP: "1"}, keys)
    with pytest.raises(SignatureError, match="does not verify"):
        parse_webhook("sendgrid", body, {**headers, SENDGRID_SIGNATURE: "bm90IGEgc2ln"}, keys)
    with pytest.raises(SignatureError, match="missing"):
        parse_webhook("sendgrid", body, {}, keys)
    other, _ = sendgrid_keys()
    with pytest.raises(SignatureError):
        parse_webhook("sendgrid", body, signed(other, body), keys)
    # No key configured: the URL secret alone authenticates, the headers are not needed.
    assert len(parse_webhook("sendgrid", body, {}, WebhookKeys())) == 4


def test_the_sendgrid_key_is_read_once_as_base64_der_or_pem() -> None:
    private, public = sendgrid_keys()
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert webhook_keys(BounceSettings(sendgrid_public_key=public)).sendgrid is not None
    assert webhook_keys(BounceSettings(sendgrid_public_key=pem)).sendgrid is not None
    assert webhook_keys(BounceSettings()) == WebhookKeys()
    with pytest.raises(ConfigError, match="not a public key"):
        webhook_keys(BounceSettings(sendgrid_public_key="not base64!"))
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    rsa_der = rsa_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ConfigError, match="not an ECDSA"):
        webhook_keys(BounceSettings(sendgrid_public_key=base64.b64encode(rsa_der).decode()))


# Mailgun ------------------------------------------------------------------------------------

MAILGUN_KEY = b"key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


def mailgun(data: dict[str, Any], key: bytes = MAILGUN_KEY) -> bytes:
    token = "e0b5477167110d68991efc6b9f89f0a11066af27834600e123"
    digest = hmac.new(key, (STAMP + token).encode(), hashlib.sha256).hexdigest()
    signature = {"timestamp": STAMP, "token": token, "signature": digest}
    return dumps({"signature": signature, "event-data": data})


def mailgun_failed(
    severity: str = "permanent", reason: str = "bounce", **status: Any
) -> dict[str, Any]:
    return {
        "id": "G9Bn5sl1TC6nu79C8C0bwg",
        "timestamp": NOW.timestamp(),
        "log-level": "error",
        "event": "failed",
        "severity": severity,
        "reason": reason,
        "recipient": "Reader@Example.org",
        "recipient-domain": "example.org",
        "delivery-status": {
            "attempt-no": 1,
            "message": "",
            "code": 550,
            "description": "5.1.1 The email account that you tried to reach does not exist.",
            "session-seconds": 0.4,
            **status,
        },
        "message": {"headers": {"message-id": "20261123080000.1.ABC@mg.example.com"}},
    }


def test_a_mailgun_permanent_failure_is_hard() -> None:
    body = mailgun(mailgun_failed())
    event = only(parse_mailgun(body, signing_key=MAILGUN_KEY))
    assert event.key == "mailgun:G9Bn5sl1TC6nu79C8C0bwg"
    assert event.raw == body
    report = event.report
    assert (report.kind, report.reason, report.status, report.code) == (
        BounceKind.HARD,
        BounceReason.USER_UNKNOWN,
        "5.1.1",
        550,
    )
    assert report.recipients == ("reader@example.org",)


def test_mailgun_retries_are_skipped_and_giving_up_is_soft() -> None:
    assert parse_mailgun(mailgun(mailgun_failed("temporary", "generic", code=451))) == []
    too_old = mailgun_failed("temporary", "old", code=602, message="Too old", description="")
    report = only(parse_mailgun(mailgun(too_old))).report
    assert (report.kind, report.reason, report.code) == (
        BounceKind.SOFT,
        BounceReason.EXPIRED,
        None,
    )


def test_mailgun_suppressions_and_complaints() -> None:
    listed = only(parse_mailgun(mailgun(mailgun_failed(reason="suppress-bounce")))).report
    assert (listed.kind, listed.reason) == (BounceKind.HARD, BounceReason.USER_UNKNOWN)
    assert parse_mailgun(mailgun(mailgun_failed(reason="suppress-unsubscribe"))) == []
    complained = {"id": "-Agny091SquKnsrW2NEKUA", "event": "complained", "recipient": "a@b.org"}
    report = only(parse_mailgun(mailgun(complained))).report
    assert (report.kind, report.recipients) == (BounceKind.COMPLAINT, ("a@b.org",))
    delivered = {"id": "x", "event": "delivered", "recipient": "a@b.org"}
    assert parse_mailgun(mailgun(delivered)) == []


def test_the_mailgun_signature_is_checked_when_a_key_is_set() -> None:
    wrong = mailgun(mailgun_failed(), key=b"someone-else")
    with pytest.raises(SignatureError, match="does not verify"):
        parse_mailgun(wrong, signing_key=MAILGUN_KEY)
    unsigned = dumps({"event-data": mailgun_failed()})
    with pytest.raises(SignatureError, match="missing"):
        parse_mailgun(unsigned, signing_key=MAILGUN_KEY)
    assert len(parse_mailgun(wrong)) == 1  # no key configured: not checked
    keys = webhook_keys(BounceSettings(mailgun_signing_key=MAILGUN_KEY.decode()))
    assert len(parse_webhook("mailgun", mailgun(mailgun_failed()), {}, keys)) == 1


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"event=failed&recipient=a%40b.org", "not JSON"),
        (dumps({"signature": {}}), "event-data is not a JSON object"),
    ],
)
def test_a_malformed_mailgun_body_says_why(body: bytes, words: str) -> None:
    with pytest.raises(WebhookError, match=words):
        parse_mailgun(body)


# Postmark -----------------------------------------------------------------------------------


def postmark(kind: str = "HardBounce", code: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "RecordType": "Bounce",
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": kind,
        "TypeCode": code,
        "Name": "Hard bounce",
        "Tag": "digest",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": "Reader@Example.org",
        "From": "news@example.com",
        "BouncedAt": "2026-11-23T08:28:10.2735393-04:00",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Cluster Weekly #12",
        **fields,
    }


def test_a_postmark_hard_bounce_is_hard() -> None:
    body = dumps(postmark())
    event = only(parse_postmark(body))
    assert event.key == "postmark:4323372036854775807"
    assert event.raw == body
    report = event.report
    assert (report.kind, report.reason, report.status, report.code) == (
        BounceKind.HARD,
        BounceReason.USER_UNKNOWN,
        "5.1.1",
        550,
    )
    assert report.recipients == ("reader@example.org",)


def test_postmark_types() -> None:
    soft = postmark("SoftBounce", 4096, Details="smtp;452 4.2.2 Mailbox full")
    report = only(parse_postmark(dumps(soft))).report
    assert (report.kind, report.reason) == (BounceKind.SOFT, BounceReason.MAILBOX_FULL)
    # Type missing: the TypeCode says it.
    dns = {k: v for k, v in postmark(code=256, Details="DNS error").items() if k != "Type"}
    report = only(parse_postmark(dumps(dns))).report
    assert (report.kind, report.reason) == (BounceKind.SOFT, BounceReason.NETWORK)
    assert parse_postmark(dumps(postmark("Transient", 2))) == []
    assert parse_postmark(dumps(postmark("AutoResponder", 64))) == []
    spam = postmark("SpamComplaint", 100001, RecordType="SpamComplaint", ID=42)
    event = only(parse_postmark(dumps(spam)))
    assert (event.key, event.report.kind) == ("postmark:42", BounceKind.COMPLAINT)
    delivery = {"RecordType": "Delivery", "Recipient": "a@b.org", "MessageID": "x"}
    assert parse_postmark(dumps(delivery)) == []


@pytest.mark.parametrize(
    ("body", "words"),
    [(dumps([postmark()]), "not a JSON object"), (dumps({"Email": "a@b.org"}), "RecordType")],
)
def test_a_malformed_postmark_body_says_why(body: bytes, words: str) -> None:
    with pytest.raises(WebhookError, match=words):
        parse_postmark(body)


# Shared -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "text", "reason"),
    [
        ("5.1.1", "", BounceReason.USER_UNKNOWN),
        ("5.1.2", "", BounceReason.DOMAIN_NOT_FOUND),
        ("4.2.2", "", BounceReason.MAILBOX_FULL),
        ("5.3.4", "", BounceReason.TOO_LARGE),
        ("5.7.1", "", BounceReason.BLOCKED),
        (None, "mailbox is full", BounceReason.MAILBOX_FULL),
    ],
)
def test_reasons_come_from_the_shared_classifier(
    status: str | None, text: str, reason: BounceReason
) -> None:
    assert reason_of(status, text) is reason
    assert verdict(text, status, None).reason is reason


def test_the_providers_reason_stands_when_the_words_say_nothing() -> None:
    assert reason_of(None, "whatever happened") is BounceReason.UNKNOWN
    assert reason_of(None, "whatever happened", None, BounceReason.NETWORK) is BounceReason.NETWORK
    assert reason_of("5.1.1", "", None, BounceReason.NETWORK) is BounceReason.USER_UNKNOWN


def test_only_a_permanent_failure_of_the_address_is_hard() -> None:
    assert kind_of(True, BounceReason.USER_UNKNOWN) is BounceKind.HARD
    assert kind_of(True, BounceReason.UNKNOWN) is BounceKind.HARD
    assert kind_of(True, BounceReason.BLOCKED) is BounceKind.SOFT
    assert kind_of(True, BounceReason.MAILBOX_FULL) is BounceKind.SOFT
    assert kind_of(True, BounceReason.DISABLED) is BounceKind.SOFT
    assert kind_of(False, BounceReason.USER_UNKNOWN) is BounceKind.SOFT


def test_long_ids_are_hashed_to_fit_the_key_column() -> None:
    event = only(parse_postmark(dumps(postmark(ID="x" * 1000))))
    assert len(event.key) < 300 and event.key.startswith("postmark:sha256:")


def test_an_unknown_provider_is_an_error() -> None:
    with pytest.raises(WebhookError, match="unknown provider"):
        parse_webhook("mandrill", b"[]", {}, WebhookKeys())
