"""Fixtures of the integration tests of the public web pages."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from digest.db.engine import Database
from digest.settings import Settings
from tests.support.clock import Clock
from tests.support.smtp import SmtpTestServer
from tests.support.web import BASE, Site, make_site


@pytest.fixture
def site(
    db: Database,
    db_url: str,
    clock: Clock,
    smtp_server: SmtpTestServer,
    make_settings: Callable[..., Settings],
) -> Site:
    """The public app on the test database, mailing through the test SMTP server."""
    settings = make_settings(
        db_url,
        newsletter_base_url=BASE,
        newsletter_name="Cluster Weekly",
        smtp_port=smtp_server.port,
        web_signup_per_hour=100,
    )
    return make_site(db, settings, clock, smtp_server)
