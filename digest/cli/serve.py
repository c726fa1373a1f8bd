"""`digest serve`: the public pages (signup, confirm, unsubscribe, preferences, archive)."""

from __future__ import annotations

import click

from digest.cli.app import App, bind, pass_app


@click.command("serve")
@click.option("--host", help="Address to listen on (default: web.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="TCP port (default: web.port, 8000).")
@pass_app
def serve_command(app: App, host: str | None, port: int | None) -> None:
    """Serve the public pages: signup with double opt-in, confirm links, one-click
    unsubscribe, preferences and the archive of sent issues with its Atom feed.

    Put a TLS reverse proxy in front and set newsletter.base_url to its public https
    address: the links in every message start with it. Behind a proxy on this machine the
    client address (for the signup rate limit) is read from X-Forwarded-For, which uvicorn
    trusts from 127.0.0.1 and ::1 only; set FORWARDED_ALLOW_IPS for a proxy elsewhere.

    Without a proxy, the web.* limits protect the server: a client has
    web.header_timeout_seconds for a request's headers and web.body_timeout_seconds for its
    body, an idle connection closes after web.keep_alive_seconds, and at
    web.max_connections open connections the longest idle one is closed. Confirmation mails
    are queued in the database and sent by a sender thread (SMTP timeout
    web.mail_timeout_seconds); no page waits for the relay.
    """
    # The web stack (Starlette, uvicorn) is imported here: other commands do not pay for it.
    from dataclasses import replace

    from digest.send.transport import SmtpTransport
    from digest.send.wiring import smtp_relay
    from digest.web import url_of
    from digest.web.connections import ConnectionLimits, serve_limited
    from digest.web.public import public_app

    settings = app.settings
    host = host or settings.web.host
    port = settings.web.port if port is None else port
    settings.signing_keys  # noqa: B018 - a missing secret key is an error now, not per request
    sock = bind(host, port, "serve over a TLS reverse proxy, not directly")
    # The sender of the queued confirmation mails has its own, shorter SMTP timeout.
    smtp = replace(settings.smtp, timeout_seconds=settings.web.mail_timeout_seconds)
    relay = smtp_relay(settings, lambda: SmtpTransport(smtp))
    web = public_app(app.db, settings, app.clock, relay)
    click.echo(
        f"serving the public pages on {url_of(sock)} for {settings.newsletter.base_url} "
        "(Ctrl-C stops)"
    )
    serve_limited(web, sock, ConnectionLimits.of(settings.web))
    click.echo("stopped")
