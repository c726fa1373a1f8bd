"""Shared fixtures: real databases (SQLite file, PostgreSQL), a real SMTP server, a real
HTTP server, settings and a controllable clock."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from digest.db.engine import Database
from digest.db.schema import Base
from digest.settings import Settings, load_settings
from tests.support.clock import NOW, Clock
from tests.support.http import FeedHttpServer
from tests.support.keys import TEST_SECRET_KEY
from tests.support.smtp import SmtpTestServer

PG_ADMIN = os.environ.get(
    "TEST_POSTGRES_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped at the end."""
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN!r}: {str(e).splitlines()[0]}")
    name = f"digest_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    params = dict(p.split("=", 1) for p in PG_ADMIN.split())
    url = (
        f"postgresql+psycopg://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}"
        f":{params.get('port', '5432')}/{name}"
    )
    try:
        yield url
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'digest.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    if database.engine.dialect.name == "postgresql":
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with database.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield database
    database.dispose()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings from a real TOML file; keyword arguments are "section_key" overrides."""

    def make(db_url: str | None = None, **values: Any) -> Settings:
        env = {"DIGEST_SECURITY_SECRET_KEY": TEST_SECRET_KEY}
        if db_url:
            env["DIGEST_DATABASE_URL"] = db_url
        for key, value in values.items():
            env[f"DIGEST_{key.upper()}"] = (
                ",".join(value) if isinstance(value, list) else str(value)
            )
        path = tmp_path / "digest.toml"
        path.write_text('[workspace]\ndata_dir = "data"\n', encoding="utf-8")
        return load_settings(path, env=env)

    return make


@pytest.fixture
def smtp_server() -> Iterator[SmtpTestServer]:
    server = SmtpTestServer().start()
    yield server
    server.stop()


@pytest.fixture
def http_server() -> Iterator[FeedHttpServer]:
    server = FeedHttpServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all (not migrated): a new SQLite file, or a new
    PostgreSQL database dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    base: str = request.getfixturevalue("pg_url")
    name = f"{base.rsplit('/', 1)[1]}_empty"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
