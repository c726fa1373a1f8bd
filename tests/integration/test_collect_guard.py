"""Issue 12, item 13: the collector fetches only from public addresses unless the operator
allows a host or network (collect.allow_hosts); checked after DNS, on every redirect, and
the connection goes to the address that was checked."""

from __future__ import annotations

import asyncio
import typing
from collections.abc import Callable
from pathlib import Path

import httpcore
import pytest

import digest.collect.guard as guard
from digest.collect import check_source, collect
from digest.collect.guard import GuardedBackend, Refused
from digest.collect.sources import add_source
from digest.db.engine import Database
from digest.errors import CollectError, ConfigError
from digest.model import SourceKind, SourceRef
from digest.net import AddressPolicy
from digest.settings import Settings
from tests.support.clock import Clock
from tests.support.feeds import fixture_feed
from tests.support.http import FeedHttpServer, Route

FEED = Route(body=fixture_feed("news.rss"))


def test_a_feed_on_loopback_is_refused_by_default(
    db: Database,
    clock: Clock,
    http_server: FeedHttpServer,
    make_settings: Callable[..., Settings],
) -> None:
    http_server.routes["/feed.xml"] = FEED
    add_source(db, http_server.url("/feed.xml"), SourceKind.NEWS, "", clock())
    [report] = collect(db, make_settings(), clock)
    assert report.error is not None and "not a public address" in report.error
    assert "collect.allow_hosts" in report.error and report.new == 0
    assert http_server.requests == []


def test_an_allowed_network_is_fetched(
    db: Database,
    clock: Clock,
    http_server: FeedHttpServer,
    make_settings: Callable[..., Settings],
) -> None:
    http_server.routes["/feed.xml"] = FEED
    add_source(db, http_server.url("/feed.xml"), SourceKind.NEWS, "", clock())
    [report] = collect(db, make_settings(collect_allow_hosts=["127.0.0.0/8"]), clock)
    assert report.error is None and report.new > 0


def test_every_redirect_is_checked(
    clock: Clock, http_server: FeedHttpServer, make_settings: Callable[..., Settings]
) -> None:
    """`localhost` is allowed by name; its redirect to 127.0.0.1 (not allowed) is refused."""
    http_server.routes["/feed.xml"] = FEED
    http_server.routes["/moved"] = Route(status=302, location=http_server.url("/feed.xml"))
    port = http_server.url("/").split(":")[2].split("/")[0]
    source = SourceRef(id=0, url=f"http://localhost:{port}/moved", name="x", kind=SourceKind.NEWS)
    settings = make_settings(collect_allow_hosts=["localhost"])
    with pytest.raises(CollectError, match=r"refused: 127\.0\.0\.1 is not a public address"):
        check_source(source, settings, clock())
    assert [r.path for r in http_server.requests] == ["/moved"]


def test_sources_add_refuses_a_host_the_collector_would_refuse(
    db: Database, clock: Clock, make_settings: Callable[..., Settings]
) -> None:
    for url in ("http://127.0.0.1:9/feed", "http://[::1]/feed", "http://169.254.169.254/"):
        with pytest.raises(CollectError, match="not a public address"):
            add_source(db, url, SourceKind.NEWS, "", clock(), allow_hosts=[])
    allowed = add_source(
        db, "http://127.0.0.1:9/feed", SourceKind.NEWS, "", clock(), allow_hosts=["127.0.0.1"]
    )
    assert allowed.url == "http://127.0.0.1:9/feed"


def test_a_bad_allow_list_entry_is_a_config_error(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ConfigError, match=r"collect\.allow_hosts"):
        make_settings(collect_allow_hosts=["10.0.0.0/33 x"])


# --- the connection goes to the checked address (DNS rebinding) ------------------------------


class Recorder(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self.hosts: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.hosts.append(host)
        raise httpcore.ConnectError("recorded")


def answers(*sequence: list[str]) -> Callable[..., typing.Awaitable[list[str]]]:
    """A resolver that answers each lookup with the next list: a rebinding name server."""
    replies = iter(sequence)

    async def resolve(host: str, port: int, timeout: float | None) -> list[str]:
        return next(replies)

    return resolve


def test_the_connection_goes_to_the_checked_address_not_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(guard, "resolve", answers(["93.184.216.34"], ["127.0.0.1"]))
    inner = Recorder()
    backend = GuardedBackend(inner, AddressPolicy())
    with pytest.raises(httpcore.ConnectError, match="recorded"):
        asyncio.run(backend.connect_tcp("rebind.example", 80))
    # One lookup, checked, and the socket dialled the checked address, never the name.
    assert inner.hosts == ["93.184.216.34"]


def test_one_private_answer_among_public_ones_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "resolve", answers(["93.184.216.34", "::ffff:169.254.169.254"]))
    inner = Recorder()
    with pytest.raises(Refused, match="not a public address"):
        asyncio.run(GuardedBackend(inner, AddressPolicy()).connect_tcp("mixed.example", 80))
    assert inner.hosts == []


def test_the_cli_refuses_a_loopback_source_without_the_setting(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from digest.cli import cli
    from tests.support.clock import fixed
    from tests.support.keys import TEST_SECRET_KEY

    config = tmp_path / "digest.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "d.sqlite3"}"\n'
        f'[security]\nsecret_key = "{TEST_SECRET_KEY}"\n',
        encoding="utf-8",
    )
    CliRunner().invoke(cli, ["--config", str(config), "db", "upgrade"], obj=fixed)
    result = CliRunner().invoke(
        cli,
        ["--config", str(config), "sources", "add", "--kind", "news", "http://127.0.0.1:9/feed"],
        obj=fixed,
    )
    assert isinstance(result.exception, CollectError)
    assert "not a public address" in str(result.exception)
