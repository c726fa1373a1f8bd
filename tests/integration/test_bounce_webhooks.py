"""The relays' bounce webhooks on the public app, over SQLite and PostgreSQL: the secret in
the URL (a wrong one is an ordinary 404), the providers' signatures, malformed and
oversized bodies changing nothing, each provider event applied once however often it comes,
hard bounces and complaints reaching the subscriber, and an SNS subscription left to the
operator to confirm."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from digest.db.engine import Database
from digest.db.schema import BounceMessage
from digest.errors import StorageError
from digest.model import SubscriberStatus
from digest.settings import Settings
from digest.web import webhooks
from tests.support.clock import Clock
from tests.support.smtp import SmtpTestServer
from tests.support.web import BASE, Site, make_site, person, sent_issues, snapshot

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
SECRET = "w3bh00k-s3cret-0123456789abcdef"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:digest-bounces"


@dataclass
class Hooks:
    site: Site
    sendgrid_key: ec.EllipticCurvePrivateKey

    def post(self, provider: str, body: bytes, secret: str = SECRET, **headers: str) -> Any:
        return self.site.client.post(
            f"/webhooks/bounces/{provider}/{secret}", content=body, headers=headers
        )

    def sendgrid(self, events: list[dict[str, Any]], *, key: Any = None) -> Any:
        return self.signed(json.dumps(events).encode(), key=key)

    def signed(self, body: bytes, *, key: Any = None) -> Any:
        """`body` to the SendGrid webhook, signed as SendGrid signs (with `key` if given)."""
        stamp = str(int(self.site.clock().timestamp()))
        signer = key or self.sendgrid_key
        signature = signer.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return self.post(
            "sendgrid",
            body,
            **{
                "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
                "Content-Type": "application/json",
            },
        )

    def status(self, email: str) -> str:
        found = person(self.site.db, email)
        assert found is not None, email
        return found.status


@pytest.fixture
def build(
    db: Database,
    db_url: str,
    clock: Clock,
    smtp_server: SmtpTestServer,
    make_settings: Callable[..., Settings],
) -> Callable[..., Hooks]:
    def make(**values: object) -> Hooks:
        private = ec.generate_private_key(ec.SECP256R1())
        public = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        options: dict[str, object] = {
            "bounces_webhook_secret": SECRET,
            "bounces_mailgun_signing_key": MAILGUN_KEY,
            "bounces_sendgrid_public_key": base64.b64encode(public).decode(),
            **values,
        }
        settings = make_settings(
            db_url,
            newsletter_base_url=BASE,
            newsletter_name="Cluster Weekly",
            smtp_port=smtp_server.port,
            **{k: v for k, v in options.items() if v is not None},
        )
        return Hooks(make_site(db, settings, clock, smtp_server), private)

    return make


@pytest.fixture
def hooks(build: Callable[..., Hooks]) -> Hooks:
    """The webhooks with every provider's key set, and two readers who got issue #1."""
    made = build()
    made.site.add("reader@example.org")
    made.site.add("other@example.org")
    sent_issues(made.site.db, made.site.settings, made.site.clock, 1)
    return made


def stored(db: Database) -> list[tuple[str, str, str, bytes]]:
    with db.session() as session:
        rows = session.scalars(select(BounceMessage).order_by(BounceMessage.id)).all()
        return [(row.key, row.channel, row.outcome, row.raw) for row in rows]


def ses_bounce(email: str, bounce_type: str = "Permanent") -> bytes:
    message = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": email,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-11-23T08:05:06.477Z",
            "feedbackId": "0102015fd91a6479-ae22395c-1f7d-4423-a9e5-e0715bffc731-000000",
        },
        "mail": {"messageId": "0102015fd91a5ca3-93c245fe", "destination": [email]},
    }
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": TOPIC,
            "Message": json.dumps(message),
            "Timestamp": "2026-11-23T08:05:07.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4Vb",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService.pem",
        }
    ).encode()


def mailgun(data: dict[str, Any], key: str = MAILGUN_KEY) -> bytes:
    stamp, token = "1795420800", "e0b5477167110d68991efc6b9f89f0a11066af27834600e123"
    digest = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    signature = {"timestamp": stamp, "token": token, "signature": digest}
    return json.dumps({"signature": signature, "event-data": data}).encode()


# Who may post ---------------------------------------------------------------------------------


def test_webhooks_are_off_without_a_secret(build: Callable[..., Hooks]) -> None:
    made = build(bounces_webhook_secret=None)
    answer = made.post("ses", ses_bounce("reader@example.org"), secret="anything")
    assert answer.status_code == 404
    assert answer.text == made.site.client.get("/no-such-page").text


def test_a_wrong_secret_or_provider_is_an_ordinary_404(hooks: Hooks) -> None:
    before = snapshot(hooks.site.db)
    unknown_page = hooks.site.client.get("/no-such-page")
    body = ses_bounce("reader@example.org")
    for answer in (
        hooks.post("ses", body, secret="wrong"),
        hooks.post("ses", body, secret=SECRET[:-1]),
        hooks.post("mandrill", body),
        hooks.post("mandrill", body, secret="wrong"),
        hooks.site.client.get("/webhooks/bounces/ses/wrong"),  # not a 405: no hint
        hooks.site.client.post("/webhooks/bounces/ses", content=body),
    ):
        assert answer.status_code == 404
        assert answer.text == unknown_page.text
        assert "Allow" not in answer.headers
    assert snapshot(hooks.site.db) == before and stored(hooks.site.db) == []
    wrong_method = hooks.site.client.get(f"/webhooks/bounces/ses/{SECRET}")
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"


def test_a_bad_sendgrid_signature_is_refused_and_changes_nothing(hooks: Hooks) -> None:
    before = snapshot(hooks.site.db)
    bounce = {"email": "reader@example.org", "event": "bounce", "sg_event_id": "sg-1"}
    forged = hooks.sendgrid([bounce], key=ec.generate_private_key(ec.SECP256R1()))
    assert forged.status_code == 403
    assert forged.text == "the SendGrid signature does not verify\n"
    unsigned = hooks.post("sendgrid", json.dumps([bounce]).encode())
    assert unsigned.status_code == 403
    assert snapshot(hooks.site.db) == before and stored(hooks.site.db) == []


def test_a_bad_mailgun_signature_is_refused_and_changes_nothing(hooks: Hooks) -> None:
    before = snapshot(hooks.site.db)
    event = {"id": "mg-1", "event": "complained", "recipient": "reader@example.org"}
    answer = hooks.post("mailgun", mailgun(event, key="not-the-key"))
    assert answer.status_code == 403
    assert answer.text == "the Mailgun signature does not verify\n"
    assert snapshot(hooks.site.db) == before and stored(hooks.site.db) == []


# Bad input ------------------------------------------------------------------------------------


def test_a_malformed_body_is_one_line_400_logged_and_changes_nothing(
    hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    before = snapshot(hooks.site.db)
    with caplog.at_level(logging.WARNING, logger="digest.web.webhooks"):
        answers = {
            "ses": hooks.post("ses", b"{not json"),
            "sendgrid": hooks.signed(b'{"event": "bounce"}'),
            "postmark": hooks.post("postmark", b"[1, 2, 3]"),
            "mailgun": hooks.post("mailgun", b"event=failed&recipient=reader%40example.org"),
        }
    for provider, answer in answers.items():
        assert answer.status_code == 400, answer.text
        assert answer.text.startswith(f"malformed {provider} webhook: ")
        assert answer.text.count("\n") == 1
    assert len([r for r in caplog.records if "malformed" in r.getMessage()]) == 4
    assert SECRET not in caplog.text
    assert snapshot(hooks.site.db) == before and stored(hooks.site.db) == []


def test_an_oversized_body_is_413_but_a_big_batch_is_fine(hooks: Hooks) -> None:
    before = snapshot(hooks.site.db)
    huge = b"[" + b" " * webhooks.MAX_BODY + b"]"
    answer = hooks.post("postmark", huge)
    assert answer.status_code == 413 and answer.text.startswith("the body is larger than")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b" " * (webhooks.MAX_BODY // 10)

    streamed = hooks.site.client.post(f"/webhooks/bounces/postmark/{SECRET}", content=chunks())
    assert streamed.status_code == 413
    assert snapshot(hooks.site.db) == before and stored(hooks.site.db) == []
    # Far above the forms' cap (16 KB), as SendGrid's batches are: accepted.
    processed = [
        {"email": f"r{n}@example.org", "event": "processed", "sg_event_id": f"p{n}"}
        for n in range(2000)
    ]
    bounce = {
        "email": "reader@example.org",
        "event": "bounce",
        "type": "bounce",
        "status": "5.1.1",
        "reason": "550 5.1.1 user unknown",
        "sg_event_id": "b-1",
    }
    batch = hooks.sendgrid([*processed, bounce])
    assert batch.status_code == 200, batch.text
    assert batch.json() == {"received": 1, "applied": 1}


def test_a_database_outage_is_503_so_the_relay_tries_again(
    hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(*args: object, **kwargs: object) -> None:
        raise StorageError("the database cannot be reached")

    monkeypatch.setattr(webhooks, "process_event", unavailable)
    answer = hooks.post("ses", ses_bounce("reader@example.org"))
    assert answer.status_code == 503
    assert answer.text == "the database is unavailable; try again later\n"
    monkeypatch.undo()
    again = hooks.post("ses", ses_bounce("reader@example.org"))
    assert again.json() == {"received": 1, "applied": 1}


# What is done ---------------------------------------------------------------------------------


def test_an_ses_hard_bounce_stops_the_reader_once(hooks: Hooks) -> None:
    body = ses_bounce("Reader@Example.org")
    answer = hooks.post("ses", body, **{"Content-Type": "text/plain; charset=UTF-8"})
    assert answer.status_code == 200
    assert answer.json() == {"received": 1, "applied": 1}
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert hooks.status("reader@example.org") == SubscriberStatus.BOUNCED
    assert hooks.status("other@example.org") == SubscriberStatus.ACTIVE
    after = snapshot(hooks.site.db)
    # SNS retries until it gets a 2xx: the same event again changes nothing.
    again = hooks.post("ses", body)
    assert again.json() == {"received": 1, "duplicate": 1}
    assert snapshot(hooks.site.db) == after
    [(key, channel, outcome, raw)] = stored(hooks.site.db)
    assert key.endswith("0102015fd91a6479-ae22395c-1f7d-4423-a9e5-e0715bffc731-000000")
    assert (channel, outcome, raw) == ("ses", "applied", body)


def test_an_ses_soft_bounce_does_not_stop_the_reader(hooks: Hooks) -> None:
    answer = hooks.post("ses", ses_bounce("reader@example.org", "Transient"))
    assert answer.status_code == 200
    assert hooks.status("reader@example.org") == SubscriberStatus.ACTIVE


def test_a_sendgrid_batch_bounces_one_and_records_the_others_complaint(hooks: Hooks) -> None:
    events = [
        {"email": "reader@example.org", "event": "delivered", "sg_event_id": "d-1"},
        {"email": "reader@example.org", "event": "bounce", "type": "bounce", "status": "5.1.1",
         "reason": "550 5.1.1 user unknown", "bounce_classification": "Invalid Address",
         "sg_event_id": "b-1"},
        {"email": "other@example.org", "event": "spamreport", "sg_event_id": "s-1"},
    ]  # fmt: skip
    answer = hooks.sendgrid(events)
    assert answer.json() == {"received": 2, "applied": 2}
    assert hooks.status("reader@example.org") == SubscriberStatus.BOUNCED
    assert hooks.status("other@example.org") == SubscriberStatus.COMPLAINED
    assert hooks.sendgrid(events).json() == {"received": 2, "duplicate": 2}
    assert [row[1] for row in stored(hooks.site.db)] == ["sendgrid", "sendgrid"]


def test_a_mailgun_complaint_and_failure(hooks: Hooks) -> None:
    complaint = {"id": "mg-c-1", "event": "complained", "recipient": "other@example.org"}
    assert hooks.post("mailgun", mailgun(complaint)).json() == {"received": 1, "applied": 1}
    assert hooks.status("other@example.org") == SubscriberStatus.COMPLAINED
    retrying = {"id": "mg-t-1", "event": "failed", "severity": "temporary", "reason": "generic",
                "recipient": "reader@example.org", "delivery-status": {"code": 451}}  # fmt: skip
    assert hooks.post("mailgun", mailgun(retrying)).json() == {"received": 0}
    failed = {
        "id": "mg-f-1",
        "event": "failed",
        "severity": "permanent",
        "reason": "bounce",
        "recipient": "reader@example.org",
        "delivery-status": {"code": 550, "message": "5.1.1 no such user", "description": ""},
    }
    assert hooks.post("mailgun", mailgun(failed)).json() == {"received": 1, "applied": 1}
    assert hooks.status("reader@example.org") == SubscriberStatus.BOUNCED


def test_a_postmark_hard_bounce(hooks: Hooks) -> None:
    bounce = {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": "reader@example.org",
        "BouncedAt": "2026-11-23T08:28:10.2735393-04:00",
        "Inactive": True,
    }
    body = json.dumps(bounce).encode()
    assert hooks.post("postmark", body).json() == {"received": 1, "applied": 1}
    assert hooks.status("reader@example.org") == SubscriberStatus.BOUNCED
    assert hooks.post("postmark", body).json() == {"received": 1, "duplicate": 1}


def test_an_event_for_a_stranger_is_kept_aside(hooks: Hooks) -> None:
    before = snapshot(hooks.site.db)
    answer = hooks.post("ses", ses_bounce("stranger@example.net"))
    assert answer.json() == {"received": 1, "set_aside": 1}
    assert snapshot(hooks.site.db) == before
    assert [row[2] for row in stored(hooks.site.db)] == ["set_aside"]


def test_an_sns_subscription_is_left_to_the_operator(
    hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    url = (
        "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
        f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425c464de12884"
    )
    body = json.dumps(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb687f5d51e6e2425c464de12884",
            "TopicArn": TOPIC,
            "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
            "SubscribeURL": url,
        }
    ).encode()
    with caplog.at_level(logging.WARNING, logger="digest.web.webhooks"):
        answer = hooks.post("ses", body, **{"x-amz-sns-message-type": "SubscriptionConfirmation"})
    assert answer.status_code == 200 and answer.json() == {"received": 0}
    assert url in caplog.text
    assert stored(hooks.site.db) == []
