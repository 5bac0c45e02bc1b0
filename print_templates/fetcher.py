"""The URL fetcher WeasyPrint gets for print templates: deny by default.

Only two kinds of URL give anything:

* ``data:`` URLs (decoded here, at most :data:`MAX_DATA_URL` bytes);
* ``asset:<name>`` (``<img src="asset:logo">``, ``url(asset:seal)`` in CSS), answered by the
  :data:`AssetLoader` the caller passes — the current company's own uploaded files — with
  images only (PNG, JPEG, GIF, WebP, SVG) of at most :data:`MAX_ASSET` bytes.

Everything else — ``file:``, ``http(s):`` (loopback included), ``ftp:``, relative paths, any other
scheme, and so redirects, ``<link rel="attachment">``, SVG external references and CSS
``@import`` of such URLs — raises before anything is opened: the fetcher has no URL handlers at
all, and WeasyPrint reports a missing resource (an image's alternative text, a skipped
stylesheet) and the render completes. (When the asset loader itself fails, the render stops
with its error instead: a missing logo must mean "none uploaded".) The refused URLs are kept
in :attr:`PrintFetcher.refused` so a preview can tell the author what was left out.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

#: Asset name -> (bytes, mime type), or None when the company has no such asset.
AssetLoader = Callable[[str], tuple[bytes, str] | None]

MAX_DATA_URL = 5 * 1024 * 1024
MAX_ASSET = 10 * 1024 * 1024
#: How many resources one document may load (repeated images are served from memory).
MAX_FETCHES = 200
ASSET_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
ASSET_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"})
_DATA_URL = re.compile(r"data:(?P<type>[^,;]*)(?P<params>(?:;[^,;]*)*?)(?P<b64>;base64)?,", re.I)


class FetchRefused(ValueError):
    """A URL the print fetcher does not serve (WeasyPrint treats the resource as missing)."""


class PrintFetcher(URLFetcher):
    """WeasyPrint URL fetcher serving ``data:`` and ``asset:`` URLs only.

    Built on :class:`weasyprint.urls.URLFetcher` for its interface, but with none of its
    ``urllib`` handlers: nothing here can open a file or a socket.
    """

    def __init__(self, assets: AssetLoader | None = None):
        # Deliberately not URLFetcher.__init__: it installs file, HTTP, FTP and redirect
        # handlers. The bare OpenerDirector has none.
        super(URLFetcher, self).__init__()
        self._timeout = 0
        self._http_headers = {}
        self._allowed_protocols = frozenset({"data", "asset"})
        self._fail_on_errors = False
        self._request = None
        self._assets = assets
        self._cache: dict[str, tuple[bytes, str]] = {}
        self.fetches = 0
        #: What the asset loader raised, if it failed (the render stops; see render_pdf).
        self.loader_error: BaseException | None = None
        #: URLs refused during this render, in order (shortened).
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        if not isinstance(url, str):
            raise self._refuse(repr(url), "not a URL")
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            body, mime = _decode_data_url(url)
            return _response(url, body, mime)
        if scheme == "asset":
            self.fetches += 1
            if self.fetches > MAX_FETCHES:
                raise self._refuse(url, "too many resources")
            body, mime = self._asset(url)
            return _response(url, body, mime)
        raise self._refuse(url, "only data: and asset: URLs are served")

    def open(self, url: Any, data: Any = None, timeout: Any = None) -> Any:
        target = url.full_url if hasattr(url, "full_url") else url
        return self.fetch(target)

    def __call__(self, url: str) -> URLFetcherResponse:
        return self.fetch(url)

    def _refuse(self, url: str, why: str) -> FetchRefused:
        if len(self.refused) < 50:
            self.refused.append(url[:200])
        return FetchRefused(f"{why}: {url[:200]}")

    def _asset(self, url: str) -> tuple[bytes, str]:
        raw = url.split(":", 1)[1]
        name = urllib.parse.unquote(raw.split("#", 1)[0].split("?", 1)[0]).strip().lower()
        if name in self._cache:
            return self._cache[name]
        if not ASSET_NAME.fullmatch(name):
            raise self._refuse(url, "not an asset name")
        if self._assets is None:
            raise self._refuse(url, "no assets available")
        try:
            found = self._assets(name)
        except Exception as exc:
            # A failing store (database down...) must not print a document without its logo:
            # stop the render, the caller re-raises the original error.
            self.loader_error = exc
            raise FatalURLFetchingError(f"the asset loader failed for {name!r}") from exc
        if found is None:
            raise self._refuse(url, "no such asset")
        body, mime = found
        mime = (mime or "").split(";", 1)[0].strip().lower()
        if not isinstance(body, bytes | bytearray) or len(body) > MAX_ASSET:
            raise self._refuse(url, "asset too large")
        if mime not in ASSET_TYPES:
            raise self._refuse(url, f"asset of type {mime or 'unknown'} is not an image")
        self._cache[name] = (bytes(body), mime)
        return self._cache[name]


def _decode_data_url(url: str) -> tuple[bytes, str]:
    match = _DATA_URL.match(url)
    if not match:
        raise FetchRefused("malformed data: URL")
    payload = url[match.end() :]
    if len(payload) > MAX_DATA_URL * 4 // 3 + 4:
        raise FetchRefused("data: URL too large")
    try:
        if match["b64"]:
            body = base64.b64decode(urllib.parse.unquote(payload), validate=False)
        else:
            body = urllib.parse.unquote_to_bytes(payload)
    except ValueError as exc:
        raise FetchRefused(f"malformed data: URL ({exc})") from None
    if len(body) > MAX_DATA_URL:
        raise FetchRefused("data: URL too large")
    mime = (match["type"] or "text/plain").strip().lower()
    params = match["params"] or ""
    if mime.startswith("text/") and "charset" not in params.lower():
        params += ";charset=utf-8"
    return body, mime + params


def _response(url: str, body: bytes, mime: str) -> URLFetcherResponse:
    return URLFetcherResponse(url, body, {"Content-Type": mime})
