"""Settings: one TOML file plus DIGEST_* environment overrides, read once into frozen objects.

Every setting is declared here with its default and one line of help; the starter file written
by `digest init` and the README's configuration reference are generated from these declarations.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import secrets
import tomllib
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.errors import ConfigError
from digest.net import allow_entry, is_loopback

CONFIG_ENV = "DIGEST_CONFIG"
DEFAULT_CONFIG_NAME = "digest.toml"
ENV_PREFIX = "DIGEST_"
# Each SMTP connection is a thread with its own database connection; the pool is sized
# from this, and relays rarely allow more than a few dozen sessions from one client.
MAX_CONNECTIONS = 64


# A secret key must be at least 32 random bytes' worth: what `secrets.token_urlsafe(32)` gives.
MIN_KEY_CHARS = 43


def setting(default: Any, help: str, *, secret: bool = False) -> Any:
    """Declare one setting: its default and the line of help shown in docs and starter files;
    a `secret` one's value is never shown in an error message."""
    metadata = {"help": help, "secret": secret}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspaceSettings:
    data_dir: str = setting(
        "data", "Folder for the SQLite database and local files; relative to the settings file."
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseSettings:
    url: str = setting(
        "",
        "SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db; empty means "
        "a SQLite file in the data folder.",
        secret=True,  # it may hold the database password
    )
    auto_upgrade: bool = setting(
        True, "Apply pending schema migrations when a command opens the database."
    )
    outage_seconds: float = setting(
        60.0,
        "How long a send waits out a database it cannot reach (answers are kept in the send "
        "journal meanwhile) before it stops.",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class NewsletterSettings:
    name: str = setting("Digest", "Name of the newsletter, shown in the header and the From name.")
    from_address: str = setting("newsletter@example.com", "Address the issue is sent from.")
    reply_to: str = setting("", "Reply-To address; empty means replies go to from_address.")
    unsubscribe_mailto: str = setting(
        "",
        "Mailbox for mailto: unsubscribe requests in List-Unsubscribe (next to the one-click "
        "https link); empty leaves the mailto: part out.",
    )
    base_url: str = setting(
        "http://127.0.0.1:8000",
        "Public address of `digest serve`; unsubscribe and web-version links start with it.",
    )
    language: str = setting("en", "Language of the issue (the HTML lang attribute).")
    timezone: str = setting("UTC", "Time zone in which dates are shown to readers.")
    subject: str = setting(
        "{{ name }} #{{ number }} – {{ date }}",
        "Jinja template of the subject line; knows name, number and date.",
    )
    preheader: str = setting(
        "News, upcoming events and open calls from {{ name }}.",
        "Jinja template of the preview text shown after the subject in inboxes.",
    )
    tagline: str = setting("Your weekly digest", "Line under the newsletter's name in the header.")
    templates_dir: str = setting(
        "", "Folder with your own issue.mjml.j2, issue.txt.j2 and partials/; empty: built-in."
    )
    brand_color: str = setting("#1d4e89", "Main colour of headings, links and buttons (CSS hex).")
    background_color: str = setting("#eef1f5", "Colour around the issue's white card (CSS hex).")
    logo_url: str = setting("", "https URL of a logo image for the header; empty shows the name.")
    website_url: str = setting("https://example.org/", "Link behind the newsletter's name.")
    footer_text: str = setting(
        "You receive this email because you subscribed to our weekly digest.",
        "Sentence in the footer that tells readers why they get this email.",
    )
    social_links: list[str] = setting(  # noqa: RUF009 - setting() returns a field
        [], 'Links in the footer, each "Label https://…", e.g. "Mastodon https://…".'
    )
    greeting: str = setting(
        "", 'A greeting above the issue, e.g. "Hello {first_name},"; empty: no greeting.'
    )
    greeting_fallback: str = setting(
        "there", "Stands for {first_name} when a subscriber gave no name."
    )
    postal_address: str = setting(
        "", "Sender's postal address for the footer (required by CAN-SPAM for bulk mail)."
    )
    proof_addresses: list[str] = setting(  # noqa: RUF009 - setting() returns a field
        [],
        "Editors who get a proof copy: `digest issue send --test` without --to, and the "
        'preview\'s "send me a proof" button.',
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectSettings:
    timeout_seconds: float = setting(
        15.0,
        "Connect and read timeout for one feed request; a whole fetch, and the parsing of "
        "one feed, are each cut off at four times this.",
    )
    max_bytes: int = setting(10_000_000, "Largest feed body accepted, in bytes (after gzip).")
    concurrency: int = setting(8, "How many feeds are fetched at the same time.")
    per_host: int = setting(2, "How many feeds of one host are fetched at the same time.")
    user_agent: str = setting(
        "digest-newsletter/0.1 (+https://example.org/digest)",
        "User-Agent header sent with every feed request.",
    )
    allow_hosts: list[str] = setting(  # noqa: RUF009 - setting() returns a field
        [],
        "Hosts (names) and networks (CIDR, or single addresses) feeds may be fetched from "
        "although they are not public: by default a feed, and each redirect, that leads to a "
        "loopback, private, link-local, metadata or other non-public address is refused. "
        'For an intranet feed, e.g. ["feeds.intranet.example", "10.1.2.0/24"].',
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ComposeSettings:
    max_news: int = setting(8, "Most news items in one issue.")
    max_events: int = setting(8, "Most upcoming events in one issue.")
    max_calls: int = setting(8, "Most open calls in one issue.")
    lookahead_days: int = setting(90, "Events starting within this many days are listed.")
    min_items: int = setting(1, "An issue with fewer new items than this is not composed.")
    summary_chars: int = setting(400, "Summaries longer than this are cut at a word boundary.")


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpSettings:
    host: str = setting("127.0.0.1", "SMTP server (relay) that accepts the newsletter.")
    port: int = setting(8025, "Port of the SMTP server.")
    security: str = setting("none", "none, starttls or tls (implicit TLS, usually port 465).")
    username: str = setting("", "SMTP login; empty means no authentication.")
    password: str = setting(
        "", "SMTP password; prefer DIGEST_SMTP_PASSWORD to a file.", secret=True
    )
    allow_plaintext_auth: bool = setting(
        False,
        "Log in with smtp.username and smtp.password over a connection without TLS "
        "(smtp.security = none) to a relay that is not on loopback, sending the password "
        "in clear; refused unless this is true.",
    )
    timeout_seconds: float = setting(30.0, "Timeout of one SMTP command.")
    connections: int = setting(4, "How many SMTP connections send in parallel.")
    messages_per_connection: int = setting(
        500, "Reconnect after this many messages (some relays limit a session)."
    )
    rate_per_second: float = setting(0.0, "Most messages per second in total; 0 means no limit.")
    per_hour: int = setting(
        0, "Most messages in any hour, for relays with an hourly quota; 0 means no limit."
    )
    domain_rate_per_second: float = setting(
        0.0, "Most messages per second to one recipient domain (gmail.com, …); 0: no limit."
    )
    domain_rates: list[str] = setting(  # noqa: RUF009 - setting() returns a field
        [], 'Per-domain overrides of domain_rate_per_second, each "domain=rate".'
    )
    retry_for_hours: float = setting(
        48.0,
        "A temporary failure (4xx, dropped connection) is retried until this many hours after "
        "the first attempt, then failed, like an MTA's queue lifetime.",
    )
    retry_delay_seconds: float = setting(
        60.0, "Wait before the first retry of a temporary failure; doubles on each attempt."
    )
    retry_max_delay_seconds: float = setting(
        3600.0, "The longest wait between two attempts at one recipient."
    )
    wait_seconds: float = setting(
        30.0,
        "Longest `issue send` waits for retries that fall due before it returns; later ones "
        "are left to the next run or the scheduler.",
    )
    breaker_failures: int = setting(
        5,
        "Connection failures in a row (refused, timeout, TLS, login) after which a send stops "
        "at once, charging no recipient an attempt.",
    )
    envelope_from: str = setting(
        "",
        "Envelope sender that receives bounces; each delivery gets LOCAL+TOKEN@DOMAIN (VERP). "
        "Empty means from_address.",
    )
    verp: bool = setting(True, "Give each delivery its own signed envelope sender (VERP).")
    dkim_selector: str = setting("", "DKIM selector; with dkim_domain and dkim_key_file, signs.")
    dkim_domain: str = setting("", "DKIM signing domain (d=); empty with a selector: From's.")
    dkim_key_file: str = setting(
        "", "PEM file with the DKIM private key (RSA or Ed25519); relative to the settings file."
    )
    feedback_id: str = setting(
        "",
        "Sender id ending Gmail's Feedback-ID header (issue:newsletter:digest:SENDER); "
        "empty means the From domain.",
    )

    def cleartext_login(self) -> str:
        """Why logging in to this relay is refused: the password would cross the network in
        clear (no TLS, a relay not on loopback, allow_plaintext_auth not set); else ""."""
        if not self.username or self.security != "none" or self.allow_plaintext_auth:
            return ""
        if is_loopback(self.host):
            return ""
        return (
            f"smtp.username is set but smtp.security is none and smtp.host {self.host!r} is "
            "not on loopback: the password would be sent in clear; set smtp.security to "
            "starttls or tls (or smtp.allow_plaintext_auth = true to accept the risk)"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SecuritySettings:
    secret_key: str = setting(
        "",
        "Key that signs unsubscribe and confirm links, at least 43 random characters (32 "
        "bytes); `digest init` writes a random one.",
        secret=True,
    )
    old_secret_keys: list[str] = setting(  # noqa: RUF009 - setting() returns a field
        [],
        "Former keys still accepted for links already sent (key rotation); each as long as "
        "secret_key.",
        secret=True,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleSettings:
    send_cron: str = setting(
        "0 7 * * mon",
        "When the weekly job sends the issue (crontab syntax; a sixth field first is seconds).",
    )
    collect_cron: str = setting("15 * * * *", "When feeds are collected between issues.")
    retry_cron: str = setting(
        "*/5 * * * *", "When unfinished sends are continued (retries that fell due)."
    )
    bounce_cron: str = setting(
        "*/10 * * * *", "When bounces are ingested (only when a bounce mailbox is configured)."
    )
    housekeeping_cron: str = setting(
        "30 3 * * *",
        "When past events and closed calls expire, unconfirmed signups are removed and old "
        "raw bounces pruned.",
    )
    timezone: str = setting("UTC", "Time zone of the crontab lines.")
    catch_up_hours: float = setting(
        12.0,
        "A weekly send missed while the daemon was down still runs at start-up within this "
        "many hours; later, that week is skipped (and said so).",
    )
    proof_hours_before: float = setting(
        0.0,
        "Compose the draft this many hours before the weekly send and mail a proof to "
        "schedule.editors (0: compose at send time, no proof).",
    )
    editors: list[str] = setting(  # noqa: RUF009 - setting() returns a field
        [], "Addresses that get the proof of each issue before it is sent."
    )
    require_approval: bool = setting(
        False, "Send only issues an editor approved (`digest issue approve N`)."
    )
    log_file: str = setting(
        "", "File the daemon also logs to (reopened on SIGHUP); empty: standard error only."
    )
    stop_seconds: float = setting(
        30.0,
        "How long a stopping daemon waits for the SMTP transactions in flight to finish.",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSettings:
    host: str = setting(
        "127.0.0.1", "Address `digest serve` listens on; put a TLS reverse proxy in front of it."
    )
    port: int = setting(8000, "TCP port `digest serve` listens on.")
    confirm_max_age_hours: int = setting(72, "Hours a signup's confirmation link stays valid.")
    signup_per_hour: int = setting(
        5,
        "Most signups accepted from one client address (an IPv6 client: its /64) in an hour "
        "(kept in memory).",
    )
    confirm_cooldown_minutes: int = setting(
        15,
        "At most one confirmation or notice mail per address in this many minutes, however "
        "many signups name it (counted in the database, across processes and restarts).",
    )
    confirm_daily_cap: int = setting(
        3, "At most this many confirmation or notice mails per address in 24 hours."
    )
    max_name_chars: int = setting(
        60, "Longest name a signup may give (it goes into To: and the greeting); cut beyond."
    )
    max_form_bytes: int = setting(
        16_384, "Largest request body accepted, in bytes; a larger one gets 413."
    )
    mail_timeout_seconds: float = setting(
        20.0,
        "SMTP timeout of the sender inside `digest serve` that sends the queued confirmation "
        "mails; pages never wait for it.",
    )
    outbox_poll_seconds: float = setting(
        30.0, "How often `digest serve` looks for queued mails whose retry fell due."
    )
    header_timeout_seconds: float = setting(
        10.0,
        "Seconds a client has to send a request's headers, from connecting or from its first "
        "byte after a pause; a slower client is disconnected.",
    )
    body_timeout_seconds: float = setting(
        30.0, "Seconds a client has to send a request's body once its headers are in."
    )
    keep_alive_seconds: int = setting(
        5, "Seconds an idle keep-alive connection stays open between requests."
    )
    max_connections: int = setting(
        200,
        "Most open connections; at the limit, the longest idle one is closed to make room.",
    )
    max_header_bytes: int = setting(
        16_384, "Largest request line and headers accepted, in bytes; larger gets 400."
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BounceSettings:
    imap_host: str = setting(
        "", "IMAP server of the mailbox bounces and complaints arrive in; empty: no IMAP."
    )
    imap_port: int = setting(993, "IMAP port: 993 for TLS, 143 for STARTTLS or none.")
    imap_security: str = setting("tls", "IMAP connection security: tls, starttls or none.")
    imap_user: str = setting("", "IMAP login name.")
    imap_password: str = setting(
        "", "IMAP password; prefer DIGEST_BOUNCES_IMAP_PASSWORD.", secret=True
    )
    imap_folder: str = setting("INBOX", "Folder the bounces arrive in.")
    imap_done_folder: str = setting(
        "digest-processed",
        "Folder processed messages are moved to (created when missing); empty: delete them.",
    )
    maildir: str = setting(
        "", "A Maildir to read bounces from (relative to the settings file); empty: none."
    )
    timeout_seconds: float = setting(30.0, "Network timeout of the IMAP connection.")
    keep_days: int = setting(
        90, "Days raw bounce messages and webhook events are kept for audit before pruning."
    )
    soft_limit: int = setting(
        3, "Soft bounces on distinct issues within soft_window_days that stop a subscriber."
    )
    soft_window_days: int = setting(30, "The window soft bounces are counted in.")
    complaint_warn_rate: float = setting(
        0.003, "Complaint rate of an issue above which `bounces stats` warns (0.3 %)."
    )
    hard_warn_rate: float = setting(
        0.02, "Hard-bounce rate of an issue above which `bounces stats` warns (2 %)."
    )
    webhook_secret: str = setting(
        "",
        "Secret path segment of the bounce webhooks: POST /webhooks/bounces/PROVIDER/SECRET; "
        "empty: webhooks off.",
        secret=True,
    )
    mailgun_signing_key: str = setting(
        "", "Mailgun's webhook signing key: each event's HMAC signature is checked.", secret=True
    )
    sendgrid_public_key: str = setting(
        "",
        "SendGrid's signed event webhook verification key (base64 DER of the ECDSA public "
        "key): each request's signature is checked.",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """All settings, plus where they were read from."""

    workspace: WorkspaceSettings = field(default_factory=WorkspaceSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    newsletter: NewsletterSettings = field(default_factory=NewsletterSettings)
    collect: CollectSettings = field(default_factory=CollectSettings)
    compose: ComposeSettings = field(default_factory=ComposeSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    web: WebSettings = field(default_factory=WebSettings)
    bounces: BounceSettings = field(default_factory=BounceSettings)
    source: Path | None = None
    base_dir: Path = field(default_factory=Path.cwd)

    @property
    def data_dir(self) -> Path:
        return (self.base_dir / self.workspace.data_dir).resolve()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'digest.sqlite3'}"

    @property
    def dkim_key_path(self) -> Path | None:
        """The DKIM private key file when signing is configured, else None."""
        if not (self.smtp.dkim_selector and self.smtp.dkim_key_file):
            return None
        return (self.base_dir / self.smtp.dkim_key_file).resolve()

    @property
    def signing_keys(self) -> list[str]:
        """Keys for itsdangerous, oldest first: the last one signs, all of them verify."""
        if not self.security.secret_key:
            raise ConfigError(
                "security.secret_key is not set: run `digest init` or set "
                "DIGEST_SECURITY_SECRET_KEY to a long random value"
            )
        keys = [*self.security.old_secret_keys, self.security.secret_key]
        if refusal := weak_key_refusal(self.security):
            raise ConfigError(refusal)
        return keys


SECTIONS: dict[str, type] = {
    f.name: typing.get_type_hints(Settings)[f.name]
    for f in dataclasses.fields(Settings)
    if f.name not in ("source", "base_dir")
}


def weak_key_refusal(security: SecuritySettings) -> str:
    """Why the signing keys are refused ("" when they are not): a short or repetitive key
    could be guessed, and with it every link forged. The message names the setting, never
    the key."""
    named = [("security.secret_key", security.secret_key)] if security.secret_key else []
    named += [
        (f"security.old_secret_keys[{n}]", key) for n, key in enumerate(security.old_secret_keys)
    ]
    for label, key in named:
        if len(key) < MIN_KEY_CHARS or len(set(key)) < 10:
            return (
                f"{label} is too weak: a key must be at least {MIN_KEY_CHARS} random "
                "characters (32 bytes); `digest init` writes one, or use the output of "
                "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
    return ""


@dataclass(frozen=True, slots=True)
class SettingDoc:
    section: str
    key: str
    type: type
    default: Any
    help: str
    secret: bool = False

    @property
    def env(self) -> str:
        return f"{ENV_PREFIX}{self.section}_{self.key}".upper()


def documented_settings() -> Iterator[SettingDoc]:
    """Every setting with its default and help, in declaration order."""
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        defaults = cls()
        for f in dataclasses.fields(cls):
            help_text = f.metadata.get("help", "")
            secret = bool(f.metadata.get("secret", False))
            default = getattr(defaults, f.name)
            yield SettingDoc(section, f.name, hints[f.name], default, help_text, secret)


def _coerce(doc: SettingDoc, value: Any, where: str, *, from_text: bool = False) -> Any:
    """Check a value's type; `from_text` values (environment variables) are parsed first.

    TOML values are typed already, so `port = "25"` in the file is an error, not a guess.
    """
    name = f"{where}: {doc.section}.{doc.key}"
    kind = doc.type
    if from_text and isinstance(value, str) and kind is not str:
        text = value.strip()
        try:
            if kind is bool:
                if text.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(text)
                return text.lower() in ("1", "true", "yes", "on")
            if kind is int:
                return int(text)
            if kind is float:
                return float(text)
            if kind == list[str]:
                # A list in one variable: items separated by commas.
                return [item.strip() for item in text.split(",") if item.strip()]
        except ValueError:
            raise ConfigError(
                f"{name}: expected {_kind_name(kind)}, got {_shown(doc, value)}"
            ) from None
    ok = (
        (kind is bool and isinstance(value, bool))
        or (kind is int and isinstance(value, int) and not isinstance(value, bool))
        or (kind is float and isinstance(value, int | float) and not isinstance(value, bool))
        or (kind is str and isinstance(value, str))
        or (
            kind == list[str] and isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
    )
    if not ok:
        raise ConfigError(f"{name}: expected {_kind_name(kind)}, got {_shown(doc, value)}")
    return float(value) if kind is float else value


def _shown(doc: SettingDoc, value: Any) -> str:
    """A value as an error message shows it: a secret setting's only by its type."""
    if doc.secret:
        return f"a value of type {type(value).__name__} (a secret setting's value is not shown)"
    return repr(value)


def _kind_name(kind: Any) -> str:
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
    return names.get(kind, "a list of strings")


def _unknown(where: str, name: str, known: list[str]) -> ConfigError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return ConfigError(f"{where}: unknown setting {name}{hint}")


def find_config(explicit: str | Path | None, env: Mapping[str, str]) -> Path | None:
    """The settings file to read: --config, else $DIGEST_CONFIG, else ./digest.toml if present."""
    chosen = explicit or env.get(CONFIG_ENV)
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: settings file not found")
        return path
    default = Path.cwd() / DEFAULT_CONFIG_NAME
    return default if default.is_file() else None


def load_settings(
    explicit: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Read the settings once: defaults, then the TOML file, then DIGEST_* variables."""
    env = os.environ if env is None else env
    path = find_config(explicit, env)
    values: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    docs = {(d.section, d.key): d for d in documented_settings()}
    if path is not None:
        where = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{where}: not valid TOML: {e}") from e
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{where}: cannot be read: {e}") from e
        for section, table in data.items():
            if section not in SECTIONS:
                raise _unknown(where, f"[{section}]", [f"[{s}]" for s in SECTIONS])
            if not isinstance(table, dict):
                raise ConfigError(
                    f"{where}: {section} must be a table: put its settings under [{section}]"
                )
            for key, value in table.items():
                doc = docs.get((section, key))
                if doc is None:
                    known = [k for (s, k) in docs if s == section]
                    raise _unknown(where, f"{section}.{key}", [f"{section}.{k}" for k in known])
                values[section][key] = _coerce(doc, value, where)
    by_env = {d.env: d for d in docs.values()}
    origins: dict[str, str] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        doc = by_env.get(name)
        if doc is None:
            raise _unknown("environment", name, list(by_env))
        values[doc.section][doc.key] = _coerce(doc, value, "environment", from_text=True)
        origins[f"{doc.section}.{doc.key}"] = f"environment variable {name}"
    settings = Settings(
        **{section: cls(**values[section]) for section, cls in SECTIONS.items()},
        source=path.resolve() if path else None,
        base_dir=path.resolve().parent if path else Path.cwd(),
    )
    try:
        _validate(settings)
    except ConfigError as e:
        raise _blamed(e, settings, origins) from None
    if refusal := weak_key_refusal(settings.security):
        raise ConfigError(f"{settings.source or 'settings'}: {refusal}")
    return settings


def _blamed(error: ConfigError, settings: Settings, origins: Mapping[str, str]) -> ConfigError:
    """`error` naming the environment variable that set the value it is about, rather than
    the settings file (its message starts "<file>: section.key: ...")."""
    where = f"{settings.source or 'settings'}: "
    message = str(error)
    label = re.match(r"([a-z_]+\.[a-z_]+)\b", message.removeprefix(where))
    if message.startswith(where) and label and label.group(1) in origins:
        return ConfigError(f"{origins[label.group(1)]}: {message.removeprefix(where)}")
    return error


def _validate(s: Settings) -> None:
    where = str(s.source) if s.source else "settings"
    for tz_name, label in (
        (s.newsletter.timezone, "newsletter.timezone"),
        (s.schedule.timezone, "schedule.timezone"),
    ):
        try:
            ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{where}: {label}: unknown time zone {tz_name!r}") from None
    for security, label in (
        (s.smtp.security, "smtp.security"),
        (s.bounces.imap_security, "bounces.imap_security"),
    ):
        if security not in ("none", "starttls", "tls"):
            raise ConfigError(f"{where}: {label}: expected none, starttls or tls")
    if refusal := s.smtp.cleartext_login():
        raise ConfigError(f"{where}: {refusal}")
    for entry in s.collect.allow_hosts:
        try:
            allow_entry(entry)
        except ValueError as e:
            raise ConfigError(f"{where}: collect.allow_hosts: {e}") from None
    for color, label in (
        (s.newsletter.brand_color, "brand_color"),
        (s.newsletter.background_color, "background_color"),
    ):
        if not re.fullmatch(r"#[0-9A-Fa-f]{3}(?:[0-9A-Fa-f]{3})?", color):
            raise ConfigError(f"{where}: newsletter.{label}: {color!r} is not a CSS hex colour")
    for link in s.newsletter.social_links:
        label, _, url = link.rpartition(" ")
        if not label.strip() or not url.startswith("https://"):
            raise ConfigError(
                f'{where}: newsletter.social_links: {link!r} is not "Label https://…"'
            )
    mailto = s.newsletter.unsubscribe_mailto
    if mailto and not re.fullmatch(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", mailto):
        raise ConfigError(
            f"{where}: newsletter.unsubscribe_mailto: {mailto!r} is not a plain address"
        )
    positive = {
        "smtp.connections": s.smtp.connections,
        "smtp.breaker_failures": s.smtp.breaker_failures,
        "smtp.messages_per_connection": s.smtp.messages_per_connection,
        "collect.concurrency": s.collect.concurrency,
        "collect.per_host": s.collect.per_host,
        "collect.max_bytes": s.collect.max_bytes,
        "web.confirm_max_age_hours": s.web.confirm_max_age_hours,
        "web.signup_per_hour": s.web.signup_per_hour,
        "web.max_form_bytes": s.web.max_form_bytes,
        "web.confirm_daily_cap": s.web.confirm_daily_cap,
        "web.max_name_chars": s.web.max_name_chars,
        "web.keep_alive_seconds": s.web.keep_alive_seconds,
        "web.max_connections": s.web.max_connections,
        "web.max_header_bytes": s.web.max_header_bytes,
    }
    for label, number in positive.items():
        if number < 1:
            raise ConfigError(f"{where}: {label}: must be at least 1, got {number}")
    if s.smtp.connections > MAX_CONNECTIONS:
        raise ConfigError(
            f"{where}: smtp.connections: at most {MAX_CONNECTIONS}, got {s.smtp.connections}"
        )
    non_negative = {
        "smtp.rate_per_second": s.smtp.rate_per_second,
        "smtp.per_hour": s.smtp.per_hour,
        "smtp.domain_rate_per_second": s.smtp.domain_rate_per_second,
        "smtp.wait_seconds": s.smtp.wait_seconds,
        "database.outage_seconds": s.database.outage_seconds,
        "web.confirm_cooldown_minutes": s.web.confirm_cooldown_minutes,
    }
    for label, value in non_negative.items():
        if value < 0:
            raise ConfigError(f"{where}: {label}: must not be negative, got {value}")
    for label, value in (
        ("smtp.retry_for_hours", s.smtp.retry_for_hours),
        ("smtp.retry_delay_seconds", s.smtp.retry_delay_seconds),
        ("smtp.retry_max_delay_seconds", s.smtp.retry_max_delay_seconds),
        ("smtp.timeout_seconds", s.smtp.timeout_seconds),
        ("web.mail_timeout_seconds", s.web.mail_timeout_seconds),
        ("web.outbox_poll_seconds", s.web.outbox_poll_seconds),
        ("web.header_timeout_seconds", s.web.header_timeout_seconds),
        ("web.body_timeout_seconds", s.web.body_timeout_seconds),
    ):
        if value <= 0:
            raise ConfigError(f"{where}: {label}: must be more than 0, got {value}")
    for entry in s.smtp.domain_rates:
        domain, _, rate = entry.partition("=")
        try:
            ok = bool(domain.strip()) and "@" not in domain and float(rate) >= 0
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(f'{where}: smtp.domain_rates: {entry!r} is not "domain=rate"')
    if bool(s.smtp.dkim_selector) != bool(s.smtp.dkim_key_file):
        given, missing = (
            ("dkim_selector", "dkim_key_file")
            if s.smtp.dkim_selector
            else ("dkim_key_file", "dkim_selector")
        )
        raise ConfigError(f"{where}: smtp.{given} is set but smtp.{missing} is empty")
    envelope = s.smtp.envelope_from
    if envelope and not re.fullmatch(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", envelope):
        raise ConfigError(f"{where}: smtp.envelope_from: {envelope!r} is not a plain address")
    if not 0 <= s.web.port <= 65535:
        raise ConfigError(f"{where}: web.port: must be 0 to 65535, got {s.web.port}")
    if not s.newsletter.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: newsletter.base_url: must start with http:// or https://")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def starter_file(overrides: Mapping[str, Any] | None = None) -> str:
    """A commented settings file: every setting with its help, defaults commented out.

    `overrides` maps "section.key" to a value written uncommented (the secret key, for one).
    """
    overrides = dict(overrides or {})
    overrides.setdefault("security.secret_key", secrets.token_urlsafe(32))
    lines = [
        "# digest settings. Every line that starts with '#' shows a default.",
        "# Any setting can also be set with an environment variable DIGEST_<SECTION>_<KEY>",
        "# (a list as one value with commas between its items).",
    ]
    section = ""
    for doc in documented_settings():
        if doc.section != section:
            section = doc.section
            lines += ["", f"[{section}]"]
        lines.append(f"# {doc.help}")
        dotted = f"{doc.section}.{doc.key}"
        if dotted in overrides:
            lines.append(f"{doc.key} = {toml_value(overrides[dotted])}")
        else:
            lines.append(f"# {doc.key} = {toml_value(doc.default)}")
    return "\n".join(lines) + "\n"
