"""Signup with double opt-in through Starlette's test client, on SQLite and PostgreSQL with
a real SMTP server: the confirmation mail and its link, expired and replayed links, addresses
already known, forgotten or hostile, robots and foreign forms."""

from __future__ import annotations

import re

import pytest

from digest.db.schema import Subscriber
from subscribers.lifecycle import forget, unsubscribe
from tests.support.web import (
    BASE,
    Site,
    html_part,
    link_in,
    person,
    snapshot,
    text_part,
)

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def confirm_path(site: Site, email_address: str) -> str:
    mails = site.mail_to(email_address)
    assert mails, f"no mail to {email_address}"
    return link_in(mails[-1], "confirm")


# Signup and double opt-in -----------------------------------------------------------------


def test_signup_mails_a_confirmation_and_its_link_makes_the_person_active(site: Site) -> None:
    form = site.client.get("/")
    assert form.status_code == 200
    assert 'action="/subscribe"' in form.text and 'name="email"' in form.text

    answer = site.signup("Ada@Example.org", name="Ada Lovelace", section=["news", "calls"])
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    pending = person(site.db, "ada@example.org")
    assert pending is not None and pending.status == "pending"
    assert (pending.wants_news, pending.wants_events, pending.wants_calls) == (True, False, True)
    assert pending.consent_at == site.clock() and pending.confirmed_at is None
    assert pending.consent_source == "web signup from testclient"

    [mail] = site.mail_to("ada@example.org")
    assert mail["To"] == "Ada Lovelace <ada@example.org>"
    assert "Please confirm" in mail["Subject"] and "Cluster Weekly" in mail["Subject"]
    assert mail.get_content_type() == "multipart/alternative"
    path = link_in(mail, "confirm")
    html = html_part(mail)
    # Through the MJML pipeline: a compiled, inlined document with the same link.
    assert "<mj-" not in html and 'style="' in html and path in html
    assert "Confirm my subscription" in html and "72 hours" in text_part(mail)

    page = site.client.get(path)
    assert page.status_code == 200 and "Yes, subscribe me" in page.text
    assert f'action="{path}"' in page.text
    still = person(site.db, "ada@example.org")
    assert still is not None and still.status == "pending", "a GET must not confirm"

    site.clock.advance(hours=2)
    done = site.client.post(path, headers={"Origin": BASE})
    assert done.status_code == 200 and "You are subscribed" in done.text
    active = person(site.db, "ada@example.org")
    assert active is not None and active.status == "active"
    assert active.confirmed_at == site.clock()
    assert active.confirm_source == "confirm link from testclient"
    assert active.consent_at == pending.consent_at  # the consent record is kept
    # The answer links to the person's own preferences.
    link = re.search(r'href="(/preferences/[^"]+)"', done.text)
    assert link is not None and site.client.get(link.group(1)).status_code == 200


def test_a_replayed_confirm_link_changes_nothing(site: Site) -> None:
    site.signup("bea@example.org")
    path = confirm_path(site, "bea@example.org")
    assert site.client.post(path).status_code == 200
    before = snapshot(site.db)
    site.clock.advance(minutes=5)
    for answer in (site.client.get(path), site.client.post(path)):
        assert answer.status_code == 200 and "Already confirmed" in answer.text
    assert snapshot(site.db) == before

    # After leaving, the old link must not bring the person back.
    unsubscribe(site.db, "bea@example.org", site.clock())
    before = snapshot(site.db)
    for answer in (site.client.get(path), site.client.post(path)):
        assert answer.status_code == 410 and "no longer works" in answer.text
    assert snapshot(site.db) == before


@pytest.mark.parametrize(("hours", "works"), [(71, True), (73, False)])
def test_confirm_links_expire(site: Site, hours: int, works: bool) -> None:
    site.signup("cy@example.org")
    path = confirm_path(site, "cy@example.org")
    site.clock.advance(hours=hours)
    before = snapshot(site.db)
    answer = site.client.post(path)
    found = person(site.db, "cy@example.org")
    assert found is not None
    if works:
        assert answer.status_code == 200 and found.status == "active"
        return
    assert answer.status_code == 410 and "expired" in answer.text
    assert site.client.get(path).status_code == 410
    assert found.status == "pending" and snapshot(site.db) == before


def test_signing_up_again_while_pending_sends_a_new_link_and_both_work(site: Site) -> None:
    site.signup("dee@example.org", name="Dee")
    site.clock.advance(hours=1)
    site.signup("dee@example.org", name="Somebody Else")
    first, second = (link_in(m, "confirm") for m in site.mail_to("dee@example.org"))
    found = person(site.db, "dee@example.org")
    assert found is not None and found.name == "Dee", "a stranger cannot rename a signup"
    assert site.client.post(second).status_code == 200
    assert "Already confirmed" in site.client.post(first).text


def test_signup_of_a_subscribed_address_looks_the_same_and_changes_nothing(site: Site) -> None:
    site.add("eve@example.org")
    before = snapshot(site.db)
    known = site.signup("eve@example.org")
    unknown = site.signup("new@example.org")
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    assert snapshot(site.db)[: len(before)] == before
    eve = person(site.db, "eve@example.org")
    assert eve is not None and eve.status == "active"
    # The mailbox's owner learns it, in a notice with a preferences link and no confirm link.
    [notice] = site.mail_to("eve@example.org")
    assert "already" in notice["Subject"]
    assert link_in(notice, "preferences")
    assert "/confirm/" not in text_part(notice)


def test_a_forgotten_address_is_silently_not_added(site: Site) -> None:
    site.add("gone@example.org")
    forget(site.db, "gone@example.org", site.clock())
    answer = site.signup("gone@example.org")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert person(site.db, "gone@example.org") is None
    assert site.mail_to("gone@example.org") == []


@pytest.mark.parametrize("status", ["unsubscribed", "bounced", "complained"])
def test_people_who_left_come_back_only_by_confirming(site: Site, status: str) -> None:
    subscriber_id = site.add("fay@example.org")
    with site.db.session() as session:
        session.get_one(Subscriber, subscriber_id).status = status
    before = snapshot(site.db)
    site.signup("fay@example.org")
    assert snapshot(site.db) == before, "the form alone changes nobody who left"
    site.clock.advance(hours=1)
    assert site.client.post(confirm_path(site, "fay@example.org")).status_code == 200
    back = person(site.db, "fay@example.org")
    assert back is not None and back.status == "active"
    assert back.consent_at == site.clock() and back.unsubscribed_at is None
    assert back.consent_source.startswith("web signup again")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not-an-address",
        "a@example.org\r\nBcc: victim@example.org",
        '"><script>alert(1)</script>@example.org',
        "x" * 300 + "@example.org",
        "Name <a@example.org>",
    ],
)
def test_malformed_and_hostile_addresses_are_refused_with_the_form(site: Site, raw: str) -> None:
    answer = site.signup(raw, name="<b>Mallory</b>")
    assert answer.status_code == 400
    assert "valid email address" in answer.text and 'action="/subscribe"' in answer.text
    assert "<script>" not in answer.text and "<b>Mallory" not in answer.text
    assert snapshot(site.db) == [] and site.received == []


def test_a_filled_in_robot_trap_pretends_success_and_stores_nothing(site: Site) -> None:
    answer = site.signup("bot@example.org", website="https://spam.example")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert snapshot(site.db) == [] and site.received == []


def test_signup_refuses_a_foreign_origin_and_another_content_type(site: Site) -> None:
    foreign = site.client.post(
        "/subscribe", data={"email": "x@example.org"}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    as_json = site.client.post("/subscribe", json={"email": "x@example.org"})
    assert as_json.status_code == 415
    not_utf8 = site.client.post(
        "/subscribe",
        content=b"email=%FF%FE@example.org",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert not_utf8.status_code == 400
    assert snapshot(site.db) == []
