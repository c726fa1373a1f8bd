"""The links in every issue, through Starlette's test client on SQLite and PostgreSQL:
forged and altered tokens, key rotation, RFC 8058 one-click unsubscribe exactly as Gmail
posts it (and a GET that changes nothing), the preferences page and resubscribing."""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from itsdangerous import URLSafeSerializer

from digest.db.engine import Database
from digest.db.subscribers import get
from digest.model import Recipient
from digest.send.message import build_template
from digest.send.personalize import Personalizer
from digest.settings import Settings
from subscribers.lifecycle import forget
from subscribers.tokens import CONFIRM, PREFERENCES, UNSUBSCRIBE, TimedTokenSigner, TokenSigner
from tests.support.keys import NEXT_SECRET_KEY
from tests.support.web import (
    BASE,
    GMAIL_BODY,
    GMAIL_HEADERS,
    Site,
    link_in,
    make_site,
    person,
    sent_issues,
    snapshot,
)

SHA256 = {"digest_method": hashlib.sha256}

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


# Forged and altered tokens ----------------------------------------------------------------


def forgeries(site: Site, victim: int, other: int) -> dict[str, list[str]]:
    """Tokens an attacker could make, per kind of link."""
    keys = site.settings.signing_keys
    stranger = ["somebody-elses-key-0123456789"]
    victim_key = site.token(UNSUBSCRIBE, victim).split(".")[0]
    unsubscribe_token = site.token(UNSUBSCRIBE, other)
    signature = unsubscribe_token.split(".")[1]
    altered = f"{victim_key}.{signature}"
    # A token of the format before link keys: the id alone, signed with our key.
    id_only = str(
        URLSafeSerializer(keys, salt="digest.unsubscribe", signer_kwargs=SHA256).dumps(victim)
    )
    common = ["garbage", "NDI", "a.b.c", "x" * 5000, altered]
    key = person_key(site, victim)
    confirm = TimedTokenSigner(stranger, CONFIRM, site.clock, timedelta(hours=1)).sign(
        victim, key, ""
    )
    return {
        "unsubscribe": [*common, TokenSigner(stranger, UNSUBSCRIBE).sign(victim, key), id_only],
        "preferences": [
            *common,
            site.token(UNSUBSCRIBE, victim),  # another purpose
            TokenSigner(stranger, PREFERENCES).sign(victim, key),
        ],
        "confirm": [*common, confirm, site.token(PREFERENCES, victim)],
    }


def person_key(site: Site, subscriber_id: int) -> str:
    found = get(site.db, subscriber_id)
    assert found is not None
    return found.link_key


def test_forged_or_altered_tokens_get_a_clear_page_and_change_nothing(site: Site) -> None:
    victim = site.add("victim@example.org")
    other = site.add("other@example.org")
    before = snapshot(site.db)
    for kind, tokens in forgeries(site, victim, other).items():
        for token in tokens:
            for method in ("GET", "POST"):
                answer = site.client.request(
                    method, f"/{kind}/{token}", content=GMAIL_BODY, headers=GMAIL_HEADERS
                )
                assert answer.status_code == 400, (kind, token[:40], method)
                assert "This link is not valid" in answer.text
                assert "Traceback" not in answer.text
    assert snapshot(site.db) == before


def test_links_signed_with_a_rotated_key_keep_working(
    site: Site, db: Database, make_settings: Callable[..., Settings], db_url: str
) -> None:
    subscriber_id = site.add("old@example.org")
    old_path = site.unsubscribe_path(subscriber_id)
    rotated = make_settings(
        db_url,
        newsletter_base_url=BASE,
        security_secret_key=NEXT_SECRET_KEY,
        security_old_secret_keys=[site.settings.security.secret_key],
    )
    new_site = make_site(db, rotated, site.clock, site.smtp)
    assert new_site.client.post(old_path, content=GMAIL_BODY, headers=GMAIL_HEADERS).is_success
    found = person(db, "old@example.org")
    assert found is not None and found.status == "unsubscribed"


# One-click unsubscribe --------------------------------------------------------------------


def list_unsubscribe_url(site: Site, subscriber_id: int, address: str) -> str:
    """The https URL of the List-Unsubscribe header of the message the send stage makes."""
    template = build_template(
        settings=site.settings,
        subject="Issue",
        html_body="<p>%%UNSUBSCRIBE_URL%% %%PREFERENCES_URL%%</p>",
        text_body="%%UNSUBSCRIBE_URL%% %%PREFERENCES_URL%%",
        number=1,
        date=site.clock(),
    )
    recipient = Recipient(
        delivery_id=1,
        subscriber_id=subscriber_id,
        link_key=person_key(site, subscriber_id),
        email=address,
        name="",
        message_id="<m@x>",
    )
    raw = Personalizer(template, site.settings).message(recipient)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    urls: list[str] = re.findall(r"<(https?://[^>]+)>", str(message["List-Unsubscribe"]))
    assert urls and urls[0].startswith(f"{BASE}/unsubscribe/")
    return urls[0]


def test_the_exact_post_gmail_sends_unsubscribes_at_once(site: Site) -> None:
    subscriber_id = site.add("gmail@example.org")
    url = list_unsubscribe_url(site, subscriber_id, "gmail@example.org")
    site.client.cookies.clear()
    answer = site.client.post(url, content=GMAIL_BODY, headers=GMAIL_HEADERS)
    assert answer.status_code == 200 and "You are unsubscribed" in answer.text
    assert "location" not in answer.headers
    found = person(site.db, "gmail@example.org")
    assert found is not None and found.status == "unsubscribed"
    assert found.unsubscribed_at == site.clock()
    # Idempotent: posting again (providers retry) changes nothing.
    site.clock.advance(hours=1)
    before = snapshot(site.db)
    again = site.client.post(url, content=GMAIL_BODY, headers=GMAIL_HEADERS)
    assert again.status_code == 200 and snapshot(site.db) == before


def test_a_multipart_one_click_post_works_too(site: Site) -> None:
    # RFC 8058 says the post SHOULD be multipart/form-data; some providers do that.
    subscriber_id = site.add("multi@example.org")
    answer = site.client.post(
        site.unsubscribe_path(subscriber_id), files={"List-Unsubscribe": (None, "One-Click")}
    )
    assert answer.status_code == 200
    found = person(site.db, "multi@example.org")
    assert found is not None and found.status == "unsubscribed"


def test_a_get_of_the_unsubscribe_link_changes_nothing(site: Site) -> None:
    subscriber_id = site.add("scanned@example.org")
    path = site.unsubscribe_path(subscriber_id)
    before = snapshot(site.db)
    for _ in range(3):  # a link scanner, a previewer, the person
        page = site.client.get(path, headers={"User-Agent": "Mozilla/5.0 (link scanner)"})
        assert page.status_code == 200 and "Unsubscribe me" in page.text
        assert f'<form method="post" action="{path}">' in page.text
    assert site.client.head(path).status_code == 200
    assert snapshot(site.db) == before
    # The button on that page does it.
    assert site.client.post(path, headers={"Origin": BASE}).status_code == 200
    found = person(site.db, "scanned@example.org")
    assert found is not None and found.status == "unsubscribed"


def test_an_unsubscribe_takes_effect_before_the_next_issue(site: Site) -> None:
    stays = site.add("stays@example.org")
    leaves = site.add("leaves@example.org")
    assert stays != leaves
    site.client.post(site.unsubscribe_path(leaves), content=GMAIL_BODY, headers=GMAIL_HEADERS)
    sent_issues(site.db, site.settings, site.clock, 1)
    issue_mail = [r.rcpt for r in site.received if "Please confirm" not in r.raw.decode()]
    assert issue_mail == ["stays@example.org"]


# Preferences ------------------------------------------------------------------------------


def test_preferences_are_shown_and_saved(site: Site) -> None:
    subscriber_id = site.add("pref@example.org")
    path = site.preferences_path(subscriber_id)
    page = site.client.get(path)
    assert page.status_code == 200 and "pref@example.org" in page.text
    assert page.text.count("checked") == 3 and page.headers["referrer-policy"] == "same-origin"
    saved = site.client.post(
        path,
        data={"action": "save", "section": ["events"], "paused": "1"},
        headers={"Origin": BASE},
    )
    assert saved.status_code == 200 and "Saved" in saved.text
    found = person(site.db, "pref@example.org")
    assert found is not None
    assert (found.wants_news, found.wants_events, found.wants_calls) == (False, True, False)
    assert found.paused and found.status == "active"
    # Unpause, all sections, posted from our own page (Referer only).
    site.client.post(
        path,
        data={"action": "save", "section": ["news", "events", "calls"]},
        headers={"Referer": f"{BASE}{path}"},
    )
    found = person(site.db, "pref@example.org")
    assert found is not None and not found.paused and found.wants_news and found.wants_calls


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        {"Origin": "http://testserver.evil.example"},
    ],
)
def test_preferences_refuse_posts_from_other_sites(site: Site, headers: dict[str, str]) -> None:
    subscriber_id = site.add("csrf@example.org")
    before = snapshot(site.db)
    answer = site.client.post(
        site.preferences_path(subscriber_id),
        data={"action": "save", "paused": "1"},
        headers=headers,
    )
    assert answer.status_code == 403 and "Traceback" not in answer.text
    assert snapshot(site.db) == before


@pytest.mark.parametrize("origin", [{"Origin": BASE}, {}])
def test_subscribing_again_from_the_preferences_page_takes_a_fresh_confirmation(
    site: Site, origin: dict[str, str]
) -> None:
    """Anyone an issue was forwarded to can press "Subscribe me again" (a client that is no
    browser sends no Origin): that is not the person's consent. Nothing changes; a
    confirmation goes to the address, and only its link brings them back."""
    subscriber_id = site.add("back@example.org")
    site.client.post(
        site.unsubscribe_path(subscriber_id), content=GMAIL_BODY, headers=GMAIL_HEADERS
    )
    path = site.preferences_path(subscriber_id)
    page = site.client.get(path)
    assert "Subscribe me again" in page.text and 'name="section"' not in page.text
    site.clock.advance(days=1)
    before = snapshot(site.db)
    answer = site.client.post(path, data={"action": "resubscribe"}, headers=origin)
    assert answer.status_code == 200 and "sent a mail to back@example.org" in answer.text
    assert snapshot(site.db) == before, "the click alone changes nothing"
    mails = site.mail_to("back@example.org")
    assert len(mails) == 1
    site.clock.advance(hours=1)
    assert site.client.post(link_in(mails[0], "confirm")).status_code == 200
    found = person(site.db, "back@example.org")
    assert found is not None and found.status == "active" and found.unsubscribed_at is None
    assert found.consent_at == site.clock() and found.consent_source.startswith("web signup again")


def test_links_of_a_forgotten_subscriber_say_so_and_change_nothing(site: Site) -> None:
    subscriber_id = site.add("erased@example.org")
    forget(site.db, "erased@example.org", site.clock())
    assert site.client.get(site.preferences_path(subscriber_id)).status_code == 410
    saved = site.client.post(site.preferences_path(subscriber_id), data={"action": "resubscribe"})
    assert saved.status_code == 410
    assert snapshot(site.db) == []
