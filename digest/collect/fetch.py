"""Fetching feeds over HTTP: timeouts, a size cap, redirects, gzip and conditional GET."""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import defaultdict
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

from digest.collect import internal_error
from digest.collect.clean import one_line
from digest.collect.guard import guarded_transport
from digest.errors import CollectError
from digest.model import Fetched, SourceRef
from digest.net import AddressPolicy
from digest.settings import CollectSettings

MAX_REDIRECTS = 5
# A whole fetch (connect, redirects, a slowly dripping body) is cut off at this many timeouts.
TOTAL_TIMEOUTS = 4
GZIP_MAGIC = b"\x1f\x8b"
# Validators longer than their columns are useless when cut, so they are not kept at all.
MAX_ETAG, MAX_LAST_MODIFIED = 500, 100
LOG = logging.getLogger(__name__)


async def fetch_one(client: httpx.AsyncClient, source: SourceRef, cfg: CollectSettings) -> Fetched:
    """GET one source, sending its ETag/Last-Modified back; raises CollectError on failure."""
    headers = {
        "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
        "text/calendar;q=0.9, application/feed+json;q=0.9, */*;q=0.5"
    }
    if source.etag:
        headers["If-None-Match"] = source.etag
    if source.last_modified:
        headers["If-Modified-Since"] = source.last_modified
    try:
        async with asyncio.timeout(cfg.timeout_seconds * TOTAL_TIMEOUTS):
            async with client.stream("GET", source.url, headers=headers) as response:
                return await _read(response, cfg)
    except TimeoutError:
        raise CollectError(f"timed out after {cfg.timeout_seconds * TOTAL_TIMEOUTS:g}s") from None
    except httpx.TooManyRedirects:
        raise CollectError(f"more than {MAX_REDIRECTS} redirects") from None
    except httpx.TimeoutException as e:
        raise CollectError(f"timed out ({e.__class__.__name__})") from e
    except httpx.ConnectError as e:
        raise CollectError(one_line(f"cannot connect: {e}")) from e
    except httpx.HTTPError as e:
        raise CollectError(one_line(f"{e.__class__.__name__}: {e}")) from e
    except httpx.InvalidURL as e:
        raise CollectError(one_line(f"invalid URL: {e}")) from e


async def _read(response: httpx.Response, cfg: CollectSettings) -> Fetched:
    final_url = str(response.url)
    if response.status_code == 304:
        return Fetched(url=final_url, status=304)
    if response.status_code >= 400:
        raise CollectError(one_line(f"HTTP {response.status_code} {response.reason_phrase}"))
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cfg.max_bytes:
        raise CollectError(f"body of {int(declared)} bytes is over the {cfg.max_bytes} byte cap")
    body = CappedBody(cfg.max_bytes)
    decoder = _decoder(response.headers.get("content-encoding", ""))
    # The raw bytes are decompressed here, never more than the cap allows at once: httpx's own
    # decoder inflates each network chunk whole, so a small gzip bomb would balloon first.
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > cfg.max_bytes:
            raise CollectError(f"body is over the {cfg.max_bytes} byte cap")
        decoder.feed(chunk, body)
    decoder.finish()
    data = body.value()
    if data.startswith(GZIP_MAGIC):
        # A compressed file served as is (feed.xml.gz, or a server that forgot to say so).
        data = inflate(data, cfg.max_bytes)
    etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
    return Fetched(
        url=final_url,
        status=response.status_code,
        body=data,
        content_type=response.headers.get("content-type", ""),
        etag=etag if etag and len(etag) <= MAX_ETAG else None,
        last_modified=modified if modified and len(modified) <= MAX_LAST_MODIFIED else None,
    )


class CappedBody:
    """A growing body that raises CollectError as soon as it passes `cap` bytes."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._data = bytearray()

    @property
    def room(self) -> int:
        """How many more bytes may come before the cap is passed (at least one, to notice)."""
        return max(1, self.cap + 1 - len(self._data))

    def write(self, data: bytes) -> None:
        self._data += data
        if len(self._data) > self.cap:
            raise CollectError(f"body is over the {self.cap} byte cap (after decompression)")

    def value(self) -> bytes:
        return bytes(self._data)


class Identity:
    def feed(self, data: bytes, body: CappedBody) -> None:
        body.write(data)

    def finish(self) -> None:
        pass


class Inflate:
    """gzip or deflate, decompressed in steps of at most what the body still has room for."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        # 32 + 15: a gzip or zlib header is recognized; "deflate" without one is raw deflate.
        self._z = zlib.decompressobj(47)
        self._started = self._done = False

    def feed(self, data: bytes, body: CappedBody) -> None:
        while data and not self._done:
            try:
                out = self._z.decompress(data, body.room)
            except zlib.error as e:
                if self.encoding == "deflate" and not self._started:
                    self._z, self._started = zlib.decompressobj(-zlib.MAX_WBITS), True
                    continue
                raise CollectError(f"body could not be decoded ({self.encoding}): {e}") from e
            self._started = True
            body.write(out)
            data = self._z.unconsumed_tail
            if self._z.eof:
                data = self._z.unused_data
                if not data:
                    return
                if not data.startswith(GZIP_MAGIC):
                    self._done = True  # junk after the stream is ignored, as browsers do
                    return
                # gzip allows several members one after another.
                self._z = zlib.decompressobj(47)

    def finish(self) -> None:
        if self._started and not self._z.eof:
            raise CollectError(f"body could not be decoded ({self.encoding}): truncated stream")


def _decoder(content_encoding: str) -> Identity | Inflate:
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return Identity()
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return Inflate(codings[0])
    raise CollectError(one_line(f"unsupported Content-Encoding {content_encoding!r}"))


def inflate(data: bytes, cap: int) -> bytes:
    """A gzip body decompressed, at most `cap` bytes of it; CollectError if it is over."""
    body = CappedBody(cap)
    decoder = Inflate("gzip")
    decoder.feed(data, body)
    decoder.finish()
    return body.value()


def make_client(cfg: CollectSettings) -> httpx.AsyncClient:
    """The feeds' client: every connection, the redirects' included, goes only to a public
    address or one collect.allow_hosts allows (digest.collect.guard)."""
    limits = httpx.Limits(max_connections=cfg.concurrency)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(cfg.timeout_seconds),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": cfg.user_agent, "Accept-Encoding": "gzip, deflate"},
        transport=guarded_transport(AddressPolicy.allowing(cfg.allow_hosts), limits=limits),
        # A proxy from the environment would make the connection on our behalf, past the
        # guard: feeds are fetched directly.
        trust_env=False,
    )


async def fetch_all(
    sources: Sequence[SourceRef], cfg: CollectSettings
) -> list[Fetched | CollectError]:
    """Fetch every source concurrently, at most `concurrency` at once and `per_host` per host."""
    overall = asyncio.Semaphore(cfg.concurrency)
    per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(
        lambda: asyncio.Semaphore(cfg.per_host)
    )

    async def guarded(client: httpx.AsyncClient, source: SourceRef) -> Fetched | CollectError:
        # The host's slot first: a feed waiting for its busy host must not hold one of the
        # overall slots while it waits.
        async with per_host[urlsplit(source.url).hostname or ""], overall:
            try:
                return await fetch_one(client, source, cfg)
            except CollectError as e:
                return e
            except Exception as e:
                # A bug or an exotic failure in one fetch must not cancel all the others;
                # its traceback goes to the log, its one line to the source's report.
                LOG.error("%s: internal error while fetching", source.url, exc_info=True)
                return CollectError(internal_error(e))

    async with make_client(cfg) as client:
        return list(await asyncio.gather(*(guarded(client, s) for s in sources)))
