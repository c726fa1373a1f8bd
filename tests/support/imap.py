"""A real IMAP server for the bounce tests: Debian's Dovecot, started with a generated
configuration on free loopback ports (plain with STARTTLS, and implicit TLS with a
self-signed certificate), one fresh account per test, mail kept in a temporary Maildir."""

from __future__ import annotations

import grp
import hashlib
import imaplib
import ipaddress
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from digest.bounces.process import Processed
from digest.errors import StorageError
from tests.support.clock import NOW

DOVECOT = shutil.which("dovecot", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _self_signed(cert: Path, key: Path) -> None:
    """A certificate for 127.0.0.1 and localhost, valid around the tests' fixed date and
    today alike (Dovecot checks nothing; the client checks it against this file)."""
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    start = min(NOW, datetime.now(UTC)) - timedelta(days=1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(max(NOW, datetime.now(UTC)) + timedelta(days=800))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key.chmod(0o600)


def dovecot_version() -> tuple[int, int]:
    assert DOVECOT
    out = subprocess.run(
        [DOVECOT, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    match = re.match(r"(\d+)\.(\d+)", out)
    assert match, out
    return int(match[1]), int(match[2])


@dataclass(frozen=True, slots=True)
class Account:
    """One mailbox on the server: log in with `client()`, read and fill its folders."""

    server: DovecotServer
    user: str
    password: str

    def client(self, security: str = "none") -> imaplib.IMAP4:
        server = self.server
        conn: imaplib.IMAP4
        if security == "tls":
            conn = imaplib.IMAP4_SSL("127.0.0.1", server.tls_port, ssl_context=server.context())
        else:
            conn = imaplib.IMAP4("127.0.0.1", server.port, timeout=10)
            if security == "starttls":
                conn.starttls(server.context())
        conn.login(self.user, self.password)
        return conn

    def append(self, *messages: bytes, folder: str = "INBOX") -> None:
        conn = self.client()
        try:
            for raw in messages:
                typ, data = conn.append(folder, None, None, raw)
                assert typ == "OK", data
        finally:
            conn.logout()

    def messages(self, folder: str = "INBOX") -> list[bytes]:
        """The raw messages in `folder` (not flagged \\Deleted), oldest first; [] when the
        folder does not exist."""
        conn = self.client()
        try:
            typ, _ = conn.select(f'"{folder}"', readonly=True)
            if typ != "OK":
                return []
            typ, data = conn.uid("SEARCH", "UNDELETED")
            found: list[bytes] = []
            for uid in data[0].split():
                typ, fetched = conn.uid("FETCH", uid, "(BODY.PEEK[])")
                found.extend(bytes(part[1]) for part in fetched if isinstance(part, tuple))
            return found
        finally:
            conn.logout()

    def seen(self, folder: str = "INBOX") -> list[bool]:
        conn = self.client()
        try:
            conn.select(f'"{folder}"', readonly=True)
            _, data = conn.uid("FETCH", "1:*", "(FLAGS)")
            return [b"\\Seen" in item for item in data if isinstance(item, bytes)]
        finally:
            conn.logout()

    def folders(self) -> list[str]:
        conn = self.client()
        try:
            _, data = conn.list()
            return sorted(
                bytes(item).rsplit(b" ", 1)[-1].decode().strip('"')
                for item in data
                if isinstance(item, bytes)
            )
        finally:
            conn.logout()


class DovecotServer:
    """Dovecot on 127.0.0.1: `port` speaks plain IMAP and offers STARTTLS, `tls_port` is
    implicit TLS; both accept a password over the loopback without TLS."""

    def __init__(self) -> None:
        # Outside pytest's tmp tree, which only its owner may enter: Dovecot's auth and
        # mail processes run as other users and read the passwd file and the mail here.
        self.root = Path(tempfile.mkdtemp(prefix="digest-dovecot-"))
        self.root.chmod(0o755)
        self.port = _free_port()
        self.tls_port = _free_port()
        self.cafile = self.root / "cert.pem"
        # One passwd file per user: a file Dovecot has read is re-read only when its
        # modification time (in whole seconds) changes, too late for the next test.
        self.passwd = self.root / "users"
        self.log = self.root / "dovecot.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._mail_root = self.root / "mail"

    def context(self) -> ssl.SSLContext:
        """A client context that trusts this server's certificate only."""
        return ssl.create_default_context(cafile=str(self.cafile))

    def start(self) -> DovecotServer:
        assert DOVECOT
        _self_signed(self.cafile, self.root / "key.pem")
        # Dovecot refuses to run mail processes as root: mail belongs to a system user
        # (nobody) when the tests run as root, else to the current user.
        owner = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
        self._mail_root.mkdir(mode=0o700)
        os.chown(self._mail_root, owner.pw_uid, owner.pw_gid)
        self.passwd.mkdir()
        for folder in ("run", "state"):
            (self.root / folder).mkdir()
        config = self.root / "dovecot.conf"
        config.write_text(self._config(owner), encoding="utf-8")
        # Dovecot keeps the machine's real clock: under libfaketime (the suite run with the
        # clock moved) its timers never fire and IMAP commands hang. The mail it stores does
        # not depend on the date.
        real = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("FAKETIME") and not (key == "LD_PRELOAD" and "faketime" in value)
        }
        self._process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=real,
        )
        self._wait_until_listening()
        return self

    def _config(self, owner: pwd.struct_passwd) -> str:
        root, mail = self.root, self._mail_root
        not_root = (
            ""
            if os.geteuid() == 0
            # Dovecot as an ordinary user: every process runs as that user.
            else (
                f"default_internal_user = {owner.pw_name}\n"
                f"default_login_user = {owner.pw_name}\n"
                f"default_internal_group = {grp.getgrgid(os.getegid()).gr_name}\n"
            )
        )
        listeners = (
            "service imap-login {\n"
            f"  inet_listener imap {{\n    port = {self.port}\n  }}\n"
            f"  inet_listener imaps {{\n    port = {self.tls_port}\n    ssl = yes\n  }}\n"
            "}\n"
        )
        common = (
            f"base_dir = {root}/run\n"
            f"state_dir = {root}/state\n"
            f"log_path = {self.log}\n"
            "protocols = imap\n"
            "listen = 127.0.0.1\n"
            "ssl = yes\n"
            "auth_mechanisms = plain login\n"
            # A wrong password is answered at once, not after Dovecot's 2 s penalty.
            "auth_failure_delay = 0\n"
            f"mail_uid = {owner.pw_uid}\n"
            f"mail_gid = {owner.pw_gid}\n"
            f"first_valid_uid = {min(owner.pw_uid, 500)}\n"
            f"first_valid_gid = {min(owner.pw_gid, 500)}\n" + not_root + listeners
        )
        if dovecot_version() >= (2, 4):
            # Dovecot 2.4 renamed most settings (Debian 13 ships it).
            return (
                "dovecot_config_version = 2.4.0\n"
                "dovecot_storage_version = 2.4.0\n" + common + "auth_allow_cleartext = yes\n"
                f"ssl_server_cert_file = {self.cafile}\n"
                f"ssl_server_key_file = {root}/key.pem\n"
                "mail_driver = maildir\n"
                f"mail_home = {mail}/%{{user}}\n"
                f"mail_path = {mail}/%{{user}}/Maildir\n"
                f"passdb passwd-file {{\n  passwd_file_path = {self.passwd}/%{{user}}\n}}\n"
                f"userdb passwd-file {{\n  passwd_file_path = {self.passwd}/%{{user}}\n}}\n"
            )
        return common + (
            "disable_plaintext_auth = no\n"
            f"ssl_cert = <{self.cafile}\n"
            f"ssl_key = <{root}/key.pem\n"
            f"mail_location = maildir:{mail}/%u/Maildir\n"
            f"passdb {{\n  driver = passwd-file\n  args = {self.passwd}/%u\n}}\n"
            f"userdb {{\n  driver = passwd-file\n  args = {self.passwd}/%u\n}}\n"
        )

    def _wait_until_listening(self) -> None:
        assert self._process
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                for port in (self.port, self.tls_port):
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        log = self.log.read_text(errors="replace") if self.log.exists() else ""
        raise RuntimeError(f"Dovecot did not start:\n{log}")

    def account(self) -> Account:
        """A new user with an empty mailbox."""
        user = f"bounces{secrets.token_hex(3)}"
        password = f"pw-{secrets.token_hex(8)}"
        (self.passwd / user).write_text(f"{user}:{{PLAIN}}{password}::::::\n", encoding="utf-8")
        return Account(self, user, password)

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def dovecot() -> Iterator[DovecotServer]:
    """A running Dovecot with its files in a temporary folder; the test is skipped when
    Dovecot is not installed (tests/run.sh installs Debian's dovecot-imapd)."""
    if DOVECOT is None:
        pytest.skip("Dovecot is not installed: apt-get install dovecot-imapd (tests/run.sh does)")
    server = DovecotServer()
    try:
        yield server.start()
    finally:
        server.stop()


class FakeProcess:
    """Stands in for process_message: idempotent on the raw bytes' hash like it, and told to
    fail (a database outage) on messages that contain `fail_on`."""

    def __init__(self, fail_on: bytes | None = None) -> None:
        self.fail_on = fail_on
        self.stored: dict[str, bytes] = {}
        self.calls: list[tuple[bytes, str]] = []

    def __call__(self, raw: bytes, channel: str) -> Processed:
        self.calls.append((raw, channel))
        if self.fail_on is not None and self.fail_on in raw:
            raise StorageError("the database cannot be reached: connection refused")
        key = hashlib.sha256(raw).hexdigest()
        duplicate = key in self.stored
        self.stored.setdefault(key, raw)
        return Processed(
            message_id=None if duplicate else len(self.stored),
            outcome="duplicate" if duplicate else "applied",
            kind="hard",
            subscriber_id=1,
            status_after=None,
            line=f"{'duplicate' if duplicate else 'applied'} {key[:8]}",
        )
