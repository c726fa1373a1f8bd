"""DKIM signing cost per message: CPU microseconds to sign one personalized ~50 KB issue
with an RSA 2048 key (openssl genpkey), as medians over --repeat messages, against
baselines measured in the same run:

- personalize: building the message itself, without a signature;
- dkimpy: `dkim.sign()` on the same message with the same headers and canonicalization,
  the library's one-call API (parses the PEM key and the whole message every time);
- signer: `DkimSigner.sign()`, what the send stage does per recipient;
- rsa: the RSA signature alone (dkimpy's pure-Python modular exponentiation), the floor.

    python benchmarks/dkim_sign.py [--repeat 300] [--items 18]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dkim
from dkim.crypto import RSASSA_PKCS1_v1_5_sign, parse_pem_private_key

from digest.model import IssuePlan, ItemKind, QueuedItem, Recipient
from digest.render import render_issue
from digest.send.dkim import INCLUDE, DkimSigner
from digest.send.message import Links, build_template
from digest.settings import Settings, load_settings

NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
SUMMARY = (
    "<p>Seven cluster organisations from four coastal regions signed a memorandum to "
    "coordinate <a href='https://example.org/p'>pilot projects</a> on hydrogen refuelling in "
    "port logistics, pooling testing facilities and procurement guidance.</p>"
)


def cpu_us(action: Callable[[], object], repeat: int) -> float:
    """Median CPU time of one call, in microseconds."""
    times = []
    for _ in range(repeat):
        started = time.process_time_ns()
        action()
        times.append(time.process_time_ns() - started)
    return statistics.median(times) / 1000


def settings_for(key: Path) -> Settings:
    return load_settings(
        None,
        env={
            "DIGEST_SECURITY_SECRET_KEY": "benchmark-key-0123456789abcdefghijklmnopqrstuvwxyz",
            "DIGEST_NEWSLETTER_FROM_ADDRESS": "news@example.org",
            "DIGEST_SMTP_DKIM_SELECTOR": "mail",
            "DIGEST_SMTP_DKIM_KEY_FILE": str(key),
        },
    )


def plan(items: int) -> IssuePlan:
    news = tuple(
        QueuedItem(
            id=n,
            kind=ItemKind.NEWS,
            title=f"News story number {n}",
            link=f"https://example.org/n/{n}",
            summary=SUMMARY,
            published_at=NOW - timedelta(hours=n),
        )
        for n in range(items)
    )
    return IssuePlan(number=1, date=NOW, news=news)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--items", type=int, default=18, help="news items: 18 make ~50 KB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        key = Path(folder) / "dkim.pem"
        generate = ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
        subprocess.run([*generate, "-out", str(key)], check=True, capture_output=True)
        os.chdir(folder)  # the settings' data folder, never written to
        settings = settings_for(key)
        signer = DkimSigner(settings)
        pem = key.read_bytes()
    rendered = render_issue(plan(args.items), settings)
    template = build_template(
        settings=settings,
        subject=rendered.subject,
        html_body=rendered.html,
        text_body=rendered.text,
        number=1,
        placeholders=rendered.placeholders,
        date=NOW,
    )
    recipient = Recipient(
        delivery_id=1,
        subscriber_id=1,
        email="reader@example.com",
        name="A Reader",
        message_id="<issue1.1.abcdef@example.org>",
    )
    links = Links(
        unsubscribe="https://news.example.org/unsubscribe/" + "t" * 60,
        preferences="https://news.example.org/preferences/" + "t" * 60,
    )
    message = template.personalize(recipient, links)
    record = signer.dns_record.encode()
    assert dkim.verify(signer.sign(message), dnsfunc=lambda name, timeout=5: record)
    parsed = parse_pem_private_key(pem)
    figures = {
        "personalize_us": cpu_us(lambda: template.personalize(recipient, links), args.repeat),
        "dkimpy_sign_us": cpu_us(
            lambda: dkim.sign(
                message,
                b"mail",
                b"example.org",
                pem,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=list(INCLUDE),
            ),
            args.repeat,
        ),
        "signer_us": cpu_us(lambda: signer.sign(message), args.repeat),
        "rsa_us": cpu_us(lambda: RSASSA_PKCS1_v1_5_sign(hashlib.sha256(b"x"), parsed), args.repeat),
    }
    print(
        f"bytes={len(message)} messages={args.repeat} "
        + " ".join(f"{name}={value:.0f}" for name, value in figures.items())
    )


if __name__ == "__main__":
    main()
