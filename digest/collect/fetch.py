"""Fetching feeds over HTTP: timeouts, a size cap, redirects, gzip and conditional GET."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

from digest.errors import CollectError
from digest.model import Fetched, SourceRef
from digest.settings import CollectSettings

MAX_REDIRECTS = 5
# A whole fetch (connect, redirects, a slowly dripping body) is cut off at this many timeouts.
TOTAL_TIMEOUTS = 4


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
        raise CollectError(f"cannot connect: {e}") from e
    except httpx.DecodingError as e:
        raise CollectError(f"body could not be decoded: {e}") from e
    except httpx.HTTPError as e:
        raise CollectError(f"{e.__class__.__name__}: {e}") from e


async def _read(response: httpx.Response, cfg: CollectSettings) -> Fetched:
    final_url = str(response.url)
    if response.status_code == 304:
        return Fetched(url=final_url, status=304)
    if response.status_code >= 400:
        raise CollectError(f"HTTP {response.status_code} {response.reason_phrase}")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cfg.max_bytes:
        raise CollectError(f"body of {int(declared)} bytes is over the {cfg.max_bytes} cap")
    body = bytearray()
    # Counted after gzip decoding, so a small compressed bomb is stopped too.
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > cfg.max_bytes:
            raise CollectError(f"body is over the {cfg.max_bytes} byte cap")
    return Fetched(
        url=final_url,
        status=response.status_code,
        body=bytes(body),
        content_type=response.headers.get("content-type", ""),
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
    )


def make_client(cfg: CollectSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(cfg.timeout_seconds),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": cfg.user_agent, "Accept-Encoding": "gzip, deflate"},
        limits=httpx.Limits(max_connections=cfg.concurrency),
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
        async with overall, per_host[urlsplit(source.url).hostname or ""]:
            try:
                return await fetch_one(client, source, cfg)
            except CollectError as e:
                return e

    async with make_client(cfg) as client:
        return list(await asyncio.gather(*(guarded(client, s) for s in sources)))
