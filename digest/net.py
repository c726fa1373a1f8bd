"""Facts about network addresses that several stages need, without importing the web stack."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1); False for anything
    else, including 0.0.0.0 (every interface) and other host names."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def normalize_url(url: str) -> str:
    """An http(s) URL in one spelling: scheme and host in lower case, an international host
    name in punycode (IDNA), no trailing dot on the host, no default port, `/` for an empty
    path, no fragment (never sent to the server). The path and query are kept as they are:
    on most servers their case matters. ValueError when it is not an http(s) URL."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    host = parts.hostname.rstrip(".")  # urlsplit lower-cases it and drops IPv6 brackets
    try:
        port = parts.port
    except ValueError as e:
        raise ValueError(f"{url!r}: {e}") from None
    if ":" in host:
        host = f"[{ipaddress.ip_address(host.split('%')[0]).compressed}]"
    elif not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as e:
            raise ValueError(f"{url!r}: invalid international host name ({e})") from None
    if not host or not host.strip("[]"):
        raise ValueError(f"{url!r} is not an http(s) URL")
    netloc = host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc = f"{host}:{port}"
    if parts.username is not None:
        user = parts.netloc.rpartition("@")[0]
        netloc = f"{user}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Not public although Python's is_global says so, or worth saying twice: IPv6 site-local
# (deprecated, still routed inside some networks), shared address space (carrier NAT; a
# cloud's metadata service at 100.100.100.200), the IPv4-compatible IPv6 block.
NOT_PUBLIC = tuple(
    ipaddress.ip_network(n) for n in ("fec0::/10", "100.64.0.0/10", "::/96", "0.0.0.0/8")
)
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64).
NAT64 = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48"))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: mapped (::ffff:a.b.c.d), 6to4 (2002::/16),
    Teredo (the client's) or NAT64; None for a plain IPv6 address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: Address) -> bool:
    """True for an address on the public internet; False for loopback, private, link-local
    (169.254.169.254, the cloud metadata service, is one), multicast, reserved, unspecified,
    documentation and shared addresses, in IPv4 and IPv6 and in the IPv6 forms that carry an
    IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        ip = ipaddress.IPv6Address(ip.compressed.split("%")[0])  # no zone id
        inner = embedded_ipv4(ip)
        if inner is not None and not is_public(inner):
            return False
    if any(ip.version == net.version and ip in net for net in NOT_PUBLIC):
        return False
    return ip.is_global and not ip.is_multicast


def allow_entry(entry: str) -> str | Network:
    """One entry of an allow-list of hosts: a network (CIDR, or a single address) or a host
    name (lower case, no trailing dot); ValueError for anything else."""
    text = entry.strip()
    try:
        return ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        pass
    name = text.lower().rstrip(".")
    if not name or not re.fullmatch(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*", name.encode("idna").decode()):
        raise ValueError(f"{entry!r} is neither a host name nor a network (CIDR)")
    return name.encode("idna").decode()


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which addresses a fetch may connect to: public ones, and what the operator allowed
    (host names, whatever they resolve to, and networks)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def allowing(cls, entries: Iterable[str]) -> AddressPolicy:
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in entries:
            allowed = allow_entry(entry)
            if isinstance(allowed, str):
                hosts.add(allowed)
            else:
                networks.append(allowed)
        return cls(frozenset(hosts), tuple(networks))

    def refusal(self, host: str, addresses: Iterable[str]) -> str:
        """Why `host`, which resolved to `addresses`, must not be connected to; "" when it
        may. One address that is not public is enough to refuse: which one a connection
        would use is not ours to choose."""
        name = host.lower().rstrip(".").strip("[]")
        if name in self.hosts:
            return ""
        for text in addresses:
            ip = ipaddress.ip_address(text.split("%")[0])
            if is_public(ip) or any(ip.version == n.version and ip in n for n in self.networks):
                continue
            shown = name if name == ip.compressed else f"{name} ({ip.compressed})"
            return (
                f"{shown} is not a public address (loopback, private, link-local or "
                "reserved); collect.allow_hosts can allow it"
            )
        return ""
