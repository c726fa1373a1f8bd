"""The outbox of confirmation mails, on SQLite and PostgreSQL: no page waits for a relay that
hangs, the sender inside the app sends the queue once the relay is back, the daemon's
deliveries job sends it too, and a victim's address gets one mail however many signups
name it, from however many clients."""

from __future__ import annotations

import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator

import pytest

from digest.daemon.jobs import JobContext, deliveries_job
from digest.db.engine import Database
from digest.db.outbox import outbox_counts
from digest.send.wiring import smtp_relay
from digest.settings import Settings
from digest.web.public import public_app
from tests.support.clock import Clock
from tests.support.smtp import SmtpTestServer, free_port
from tests.support.web import BASE, make_site, person

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

SMTP_TIMEOUT = 3.0


class HungRelay:
    """An SMTP port that accepts connections and never says a word."""

    def __init__(self, port: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()
        self.thread.join(timeout=5)


@pytest.fixture
def hung_port() -> Iterator[int]:
    yield free_port()


def test_a_hung_relay_stalls_no_page_and_the_queue_goes_out_when_it_is_back(
    db: Database,
    db_url: str,
    clock: Clock,
    make_settings: Callable[..., Settings],
    hung_port: int,
) -> None:
    settings = make_settings(
        db_url,
        newsletter_base_url=BASE,
        smtp_port=hung_port,
        smtp_timeout_seconds=SMTP_TIMEOUT,
        web_signup_per_hour=100,
        web_outbox_poll_seconds=0.1,
    )
    hung = HungRelay(hung_port)
    app = public_app(db, settings, clock, smtp_relay(settings))
    # As a context manager the test client runs the app's lifespan: the sender thread.
    with TestClient(app) as client:
        slowest = 0.0
        for n in range(40):
            started = time.perf_counter()
            answer = client.post(
                "/subscribe", data={"email": f"p{n}@example.org"}, headers={"Origin": BASE}
            )
            slowest = max(slowest, time.perf_counter() - started)
            assert answer.status_code == 200
            assert slowest < SMTP_TIMEOUT / 2, f"a signup waited {slowest:.2f} s for SMTP"
        started = time.perf_counter()
        archive = client.get("/archive")
        took = time.perf_counter() - started
        print(
            f"\nhung relay: GET /archive {took * 1000:.1f} ms, slowest signup "
            f"{slowest * 1000:.1f} ms (SMTP timeout {SMTP_TIMEOUT} s)"
        )
        assert archive.status_code == 200
        assert took < SMTP_TIMEOUT / 3
        assert len(hung.held) >= 1, "the sender tried the relay"
        assert outbox_counts(db).queued == 40

        # The relay comes back on the same port; the mails it failed wait for their retry.
        hung.close()
        relay = SmtpTestServer(port=hung_port).start()
        try:
            deadline = time.monotonic() + 30
            while len(relay.received) < 40:
                assert time.monotonic() < deadline, outbox_counts(db)
                # Time passes: the retries of the mails the hung relay failed fall due.
                clock.advance(minutes=1)
                time.sleep(0.1)
        finally:
            relay.stop()
    assert sorted(r.rcpt for r in relay.received) == sorted(f"p{n}@example.org" for n in range(40))
    counts = outbox_counts(db)
    assert (counts.queued, counts.sent, counts.given_up) == (0, 40, 0)


def test_the_daemons_deliveries_job_sends_the_outbox(
    db: Database,
    db_url: str,
    clock: Clock,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpTestServer,
) -> None:
    settings = make_settings(db_url, newsletter_base_url=BASE, smtp_port=smtp_server.port)
    site = make_site(db, settings, clock, smtp_server)
    site.signup("ada@example.org")
    assert smtp_server.received == [] and outbox_counts(db).queued == 1
    ctx = JobContext(db=db, settings=settings, clock=clock, relay=smtp_relay(settings))
    result = deliveries_job(ctx)
    assert result.outcome.value == "ok", result.line
    [mail] = smtp_server.received
    assert mail.rcpt == "ada@example.org" and "Please confirm" in mail.message["Subject"]
    assert outbox_counts(db).sent == 1


def test_a_refused_mail_is_given_up_and_a_deferred_one_retried_with_backoff(
    db: Database,
    db_url: str,
    clock: Clock,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpTestServer,
) -> None:
    settings = make_settings(db_url, newsletter_base_url=BASE, smtp_port=smtp_server.port)
    site = make_site(db, settings, clock, smtp_server)
    smtp_server.faults.refuse["no@example.org"] = "550 5.1.1 no such user"
    smtp_server.faults.defer["later@example.org"] = 2
    site.signup("no@example.org")
    site.signup("later@example.org")
    first = site.deliver()
    assert (first.sent, first.failed, first.given_up) == (0, 1, 1)
    assert site.deliver().failed == 0  # not due yet: the first retry is a minute later
    clock.advance(minutes=1)
    assert site.deliver().failed == 1  # deferred again; the next retry two minutes later
    clock.advance(minutes=1)
    assert site.deliver().sent == 0
    clock.advance(minutes=1)
    assert site.deliver().sent == 1
    assert [r.rcpt for r in smtp_server.received] == ["later@example.org"]
    counts = outbox_counts(db)
    assert (counts.queued, counts.sent, counts.given_up) == (0, 1, 1)


# Mail bombing -----------------------------------------------------------------------------


def test_a_hundred_signups_for_one_victim_from_rotating_clients_send_one_mail(
    db: Database,
    db_url: str,
    clock: Clock,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpTestServer,
) -> None:
    settings = make_settings(db_url, newsletter_base_url=BASE, smtp_port=smtp_server.port)
    assert (settings.web.confirm_cooldown_minutes, settings.web.confirm_daily_cap) == (15, 3)
    site = make_site(
        db, settings, clock, smtp_server, behind_proxy=True, client=("127.0.0.1", 40000)
    )
    answers = set()
    for n in range(100):
        # Every post from another client address, as a trusted proxy reports it.
        forwarded = {"Origin": BASE, "X-Forwarded-For": f"198.51.{n // 200}.{n % 200 + 1}"}
        answer = site.client.post(
            "/subscribe", data={"email": "victim@example.org"}, headers=forwarded
        )
        assert answer.status_code == 200
        answers.add(answer.text)
    assert len(answers) == 1, "the answer page says nothing about what was sent"
    assert len(site.mail_to("victim@example.org")) == 1
    victim = person(db, "victim@example.org")
    assert victim is not None and victim.consent_source == "web signup from 198.51.0.1"

    # One mail per cooldown, at most three a day; the count is in the database, so another
    # process (a new app on the same database) is held to it as well.
    for expected in (2, 3, 3, 3):
        clock.advance(minutes=16)
        other = make_site(db, settings, clock, smtp_server)
        assert other.signup("victim@example.org").status_code == 200
        assert len(site.mail_to("victim@example.org")) == expected
    clock.advance(hours=24)
    site.signup("victim@example.org")
    assert len(site.mail_to("victim@example.org")) == 4


def test_an_ipv6_client_is_limited_by_its_64(
    db: Database,
    db_url: str,
    clock: Clock,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpTestServer,
) -> None:
    settings = make_settings(
        db_url, newsletter_base_url=BASE, smtp_port=smtp_server.port, web_signup_per_hour=3
    )
    site = make_site(db, settings, clock, smtp_server, behind_proxy=True, client=("::1", 40000))

    def signup(n: int, client: str) -> int:
        headers = {"Origin": BASE, "X-Forwarded-For": client}
        data = {"email": f"v6-{n}@example.org"}
        return int(site.client.post("/subscribe", data=data, headers=headers).status_code)

    codes = [signup(n, f"2001:db8:1:2::{n + 1:x}") for n in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert signup(9, "2001:db8:1:3::1") == 200  # another /64 is another client


def test_an_anonymous_name_is_cut_before_it_reaches_to_and_the_greeting(
    db: Database,
    db_url: str,
    clock: Clock,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpTestServer,
) -> None:
    settings = make_settings(db_url, newsletter_base_url=BASE, smtp_port=smtp_server.port)
    assert settings.web.max_name_chars == 60
    site = make_site(db, settings, clock, smtp_server)
    long_name = "Win a prize at prizes.example " * 20
    site.signup("ann@example.org", name=long_name)
    found = person(db, "ann@example.org")
    assert found is not None and len(found.name) <= 60
    [mail] = site.mail_to("ann@example.org")
    assert len(mail["To"].addresses[0].display_name) <= 60
    assert long_name.strip() not in mail.as_string()


def test_mail_done_for_a_day_is_pruned_and_waiting_mail_kept(db: Database, clock: Clock) -> None:
    from datetime import timedelta

    from digest.db.outbox import NewMail, claim_next, enqueue_limited, mark_sent, prune_outbox
    from subscribers.lifecycle import add_subscriber

    ids = [add_subscriber(db, ["k"], f"p{n}@example.org", clock()).id for n in range(2)]
    for n, subscriber_id in enumerate(ids):
        mail = NewMail(
            kind="confirm",
            to_address=f"p{n}@example.org",
            subscriber_id=subscriber_id,
            envelope_from="news@example.org",
        )
        assert enqueue_limited(db, mail, clock(), clock(), lambda _: True, lambda: b"Subject: x\n")
    sent = claim_next(db, clock(), timedelta(minutes=10))
    assert sent is not None
    mark_sent(db, sent.id, clock())
    clock.advance(days=2)
    assert prune_outbox(db, clock() - timedelta(days=1)) == 1  # the sent one
    assert outbox_counts(db).queued == 1  # the one never sent stays
