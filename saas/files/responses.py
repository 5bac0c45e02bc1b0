"""The HTTP answer for a stored file, the same for the web pages and the API.

Always: the detected content type, ``X-Content-Type-Options: nosniff``, ``Cache-Control:
private`` (a file of a record is never kept by shared caches), the SHA-256 as the ETag (so
``If-None-Match`` answers 304) and a sandboxing Content-Security-Policy in case a browser opens
the file anyway. ``Content-Disposition`` is ``attachment`` with the name in RFC 5987 form
(``filename*=UTF-8''…``, Chinese names included) and an ASCII fallback; only raster images
(:data:`saas.files.services.INLINE_TYPES`) may be asked for ``inline`` (thumbnails, previews).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from flask import Request, Response

from saas.files.models import StoredFile
from saas.files.services import INLINE_TYPES

#: A file opened directly runs nothing and loads nothing.
SANDBOX = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """``attachment`` (or ``inline``) with an ASCII fallback name and the UTF-8 name."""
    fallback = re.sub(r'[^\x20-\x7e]|["\\;]', "", filename).strip()
    if not fallback.replace(".", "").strip():
        fallback = "file" + (f".{filename.rsplit('.', 1)[-1]}" if "." in filename else "")
        fallback = re.sub(r'[^\x20-\x7e]|["\\;]', "", fallback) or "file"
    elif not fallback[:1].isalnum():
        fallback = f"file{fallback}"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def file_response(
    stored: StoredFile, content: bytes, request: Request, *, inline: bool = False
) -> Response:
    """The download of ``stored``; ``inline`` is honoured for raster images only."""
    show_inline = inline and stored.content_type in INLINE_TYPES
    response = Response(content, content_type=stored.content_type)
    response.headers["Content-Disposition"] = content_disposition(
        stored.filename, inline=show_inline
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Content-Security-Policy"] = SANDBOX
    response.set_etag(stored.sha256)
    return response.make_conditional(request)
