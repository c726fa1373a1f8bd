"""The collector's network guard: a feed, and every redirect it leads to, is fetched only from
a public address, or one the operator allowed (collect.allow_hosts).

The check sits where the connection is made (httpcore's network backend): the host name is
resolved once, every address it resolved to is checked, and the connection goes to a checked
address, never to the name. A name that answers a public address to a check and a private
one to the connection (DNS rebinding) thus gets nowhere. TLS still verifies the certificate
against the name (httpcore passes it as the server name), and the Host header is the name's.
"""

from __future__ import annotations

import asyncio
import socket
import typing

import httpcore
import httpx

from digest.net import AddressPolicy

SocketOption = typing.Any  # httpcore's SOCKET_OPTION: a tuple for setsockopt


class Refused(httpcore.ConnectError):
    """The fetch would reach an address the policy refuses."""


async def resolve(host: str, port: int, timeout: float | None) -> list[str]:
    """Every address `host` resolves to (an address resolves to itself), in the resolver's
    order, without duplicates."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
    except OSError as e:
        raise httpcore.ConnectError(f"cannot resolve {host}: {e}") from e
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that connects only to addresses `policy` accepts."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, policy: AddressPolicy) -> None:
        self._inner, self._policy = inner, policy

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host, port, timeout)
        refusal = self._policy.refusal(host, addresses)
        if refusal:
            raise Refused(f"refused: {refusal}")
        options = list(socket_options) if socket_options is not None else None
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                error = e  # the next address may answer
        assert error is not None  # getaddrinfo answers at least one address or raises
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise Refused("refused: Unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(policy: AddressPolicy, **options: typing.Any) -> httpx.AsyncHTTPTransport:
    """httpx's transport with its connection pool's network backend wrapped in the guard.

    httpx does not take a network backend itself (only httpcore's pool does): the pool's is
    replaced, and a version of httpx without one fails here rather than fetch unguarded."""
    transport = httpx.AsyncHTTPTransport(**options)
    pool = transport._pool
    inner = getattr(pool, "_network_backend", None)
    if not isinstance(inner, httpcore.AsyncNetworkBackend):
        raise RuntimeError("httpx/httpcore changed: the feed fetcher cannot be guarded")
    pool._network_backend = GuardedBackend(inner, policy)
    return transport


def address_refusal(url: str, policy: AddressPolicy) -> str:
    """Why a feed at `url` would be refused now (its host resolves to an address the policy
    refuses); "" when it would not, or when the host does not resolve (yet): the fetch
    checks again, every time."""
    host = httpx.URL(url).host
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return ""
    return policy.refusal(host, [str(info[4][0]) for info in infos])
