"""The download of a report's workbook, the same for the web pages and the API."""

from __future__ import annotations

import re

from flask import Response

from saas.files.responses import content_disposition

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def filename(title: str, suffix: str = "xlsx") -> str:
    """A file name from a report's or dashboard's name (Chinese kept, path characters not)."""
    safe = re.sub(r'[\\/:*?"<>|\r\n\t]+', " ", title).strip()[:100] or "report"
    return f"{safe}.{suffix}"


def xlsx_response(data: bytes, title: str) -> Response:
    response = Response(data, content_type=XLSX)
    response.headers["Content-Disposition"] = content_disposition(filename(title))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-cache"
    return response
