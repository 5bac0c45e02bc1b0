"""The URL fetcher is deny-by-default: a real HTTP server and a redirecting one on 127.0.0.1
receive no request whatever the template tries, local files stay unread, and the render still
completes; only ``data:`` URLs and the company's own ``asset:`` images load."""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from print_templates.fetcher import FetchRefused, PrintFetcher
from print_templates.render import render_pdf
from tests.print_templates.pdf_reading import needs_poppler, page_texts, poppler_text


class Recorder:
    """A server on 127.0.0.1 that records every request it gets."""

    def __init__(self, redirect_to: str | None = None):
        self.requests: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.requests.append(self.path)
                if redirect_to:
                    self.send_response(302)
                    self.send_header("Location", redirect_to + self.path)
                    self.end_headers()
                    return
                body = b"body::before { content: 'LEAKED-HTTP'; }"
                self.send_response(200)
                self.send_header("Content-Type", "text/css")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def servers() -> Iterator[tuple[Recorder, Recorder]]:
    target = Recorder()
    redirecting = Recorder(redirect_to=target.url)
    yield target, redirecting
    redirecting.close()
    target.close()


def png(color: str = "red", size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, "PNG")
    return out.getvalue()


def image_count(pdf: bytes) -> int:
    count = 0
    for page in PdfReader(io.BytesIO(pdf)).pages:
        xobjects = (page.get("/Resources") or {}).get("/XObject") or {}
        count += sum(1 for x in xobjects.values() if x.get_object().get("/Subtype") == "/Image")
    return count


def hostile_template(http: str, redirect: str, local: Path) -> tuple[str, str]:
    svg_with_refs = (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="20" height="20"><image href="{http}/svg-image.png" width="10" height="10"/>'
        f'<image xlink:href="file:///etc/passwd" width="10" height="10"/>'
        f'<use href="{http}/sprite.svg#a"/></svg>'
    )
    data_svg = "data:image/svg+xml;base64," + base64.b64encode(svg_with_refs.encode()).decode()
    source = f"""<!DOCTYPE html>
<html><head>
<link rel="stylesheet" href="{http}/link.css">
<link rel="stylesheet" href="{redirect}/redirect.css">
<link rel="stylesheet" href="file://{local}/leak.css">
<link rel="stylesheet" href="leak.css">
<link rel="attachment" href="{http}/attachment.txt">
<link rel="attachment" href="file:///etc/passwd">
<style>@import url("{http}/style-import.css"); @import "file:///etc/passwd";
  body {{ background: url({http}/background.png); }}
  @font-face {{ font-family: Evil; src: url({http}/font.ttf); }}</style>
</head><body style="font-family: Evil">
<h1>报价单 Quote</h1>
<img src="{http}/img.png" alt="http image">
<img src="{redirect}/redirected.png" alt="redirected image">
<img src="//127.0.0.1:{http.rsplit(":", 1)[1]}/protocol-relative.png" alt="pr">
<img src="file:///etc/passwd" alt="passwd">
<img src="/etc/passwd" alt="absolute path">
<img src="leak.png" alt="relative path">
<img src="ftp://127.0.0.1/x.png" alt="ftp">
<img src="{data_svg}" alt="svg with refs">
{svg_with_refs}
<object data="{http}/object.png"></object>
<embed src="{http}/embed.png">
<a rel="attachment" href="{http}/a-attachment.txt">attached</a>
<iframe src="{http}/frame.html"></iframe>
<video src="{http}/video.mp4" poster="{http}/poster.png"></video>
<p>{{{{ note }}}}</p>
</body></html>"""
    css = f"""@import url({redirect}/css-import.css);
@import url(file:///etc/passwd);
h1 {{ background-image: url({http}/h1.png); list-style-image: url(file:///etc/hosts); }}
h1::after {{ content: url({http}/after.png); }}"""
    return source, css


def test_nothing_is_fetched_and_the_render_completes(servers, tmp_path, monkeypatch) -> None:
    target, redirecting = servers
    (tmp_path / "leak.css").write_text("body::before { content: 'LEAKED-FILE'; }")
    png_path = tmp_path / "leak.png"
    png_path.write_bytes(png("blue"))
    monkeypatch.chdir(tmp_path)  # relative URLs must not resolve against the working directory
    source, css = hostile_template(target.url, redirecting.url, tmp_path)
    asked: list[str] = []

    def assets(name: str):
        asked.append(name)
        return None

    rendered = render_pdf(source, {"note": "正常内容"}, css=css, assets=assets)

    assert target.requests == []
    assert redirecting.requests == []
    assert asked == []
    text = "\n".join(page_texts(rendered.pdf))
    assert "报价单 Quote" in text and "正常内容" in text
    assert "LEAKED" not in text
    assert "root:" not in text
    assert image_count(rendered.pdf) == 0
    # no file attachment made it into the PDF
    assert b"/EmbeddedFile" not in rendered.pdf
    assert any(url.startswith("file:///etc/passwd") for url in rendered.refused)
    assert any(url.startswith(target.url) for url in rendered.refused)


@needs_poppler
def test_poppler_sees_no_leaked_content(servers, tmp_path) -> None:
    target, redirecting = servers
    (tmp_path / "leak.css").write_text("body::before { content: 'LEAKED-FILE'; }")
    source, css = hostile_template(target.url, redirecting.url, tmp_path)
    text = poppler_text(render_pdf(source, {"note": "x"}, css=css).pdf)
    assert "报价单" in text
    assert "LEAKED" not in text and "root:" not in text
    assert target.requests == [] and redirecting.requests == []


def test_assets_and_data_urls_are_the_only_things_served() -> None:
    asked: list[str] = []
    logo = png("green", 16)

    def assets(name: str):
        asked.append(name)
        return {"logo": (logo, "image/png"), "page": (b"<html>", "text/html")}.get(name)

    data_png = "data:image/png;base64," + base64.b64encode(png("yellow")).decode()
    source = (
        '<img src="asset:logo"><img src="asset:LOGO"><img src="asset:logo">'
        f'<img src="{data_png}"><img src="asset:missing"><img src="asset:../secret">'
        '<img src="asset:page"><p style="background: url(asset:logo)">x</p>'
    )
    rendered = render_pdf(source, {}, assets=assets)
    # one loader call per distinct name; bad names never reach it
    assert asked == ["logo", "missing", "page"]
    assert image_count(rendered.pdf) >= 2
    assert "asset:missing" in rendered.refused and "asset:page" in rendered.refused


def test_without_a_loader_assets_print_as_missing() -> None:
    rendered = render_pdf('<p>a</p><img src="asset:logo" alt="LOGO">', {})
    assert "asset:logo" in rendered.refused
    assert image_count(rendered.pdf) == 0


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "http://127.0.0.1/",
        "https://example.com/x.png",
        "ftp://127.0.0.1/x",
        "gopher://127.0.0.1/",
        "jar:file:///x!/y",
        "/etc/passwd",
        "relative.png",
        "asset:",
        "asset:a/b",
        "asset:..%2fsecret",
    ],
)
def test_fetcher_refuses_before_opening_anything(url: str) -> None:
    fetcher = PrintFetcher(lambda name: (png(), "image/png") if name == "logo" else None)
    with pytest.raises(FetchRefused):
        fetcher.fetch(url)
    with pytest.raises(FetchRefused):
        fetcher.open(url)
    # and it has no urllib handler that could open one
    assert fetcher.handlers == []


def test_data_urls_decode_within_their_limit(monkeypatch) -> None:
    fetcher = PrintFetcher()
    response = fetcher.fetch("data:text/css,p%7Bcolor:red%7D")
    assert response.read() == b"p{color:red}"
    assert response.content_type == "text/css"
    response = fetcher.fetch("data:;base64," + base64.b64encode(b"hello").decode())
    assert response.read() == b"hello"
    from print_templates import fetcher as module

    monkeypatch.setattr(module, "MAX_DATA_URL", 10)
    with pytest.raises(FetchRefused, match="too large"):
        fetcher.fetch("data:text/plain," + "x" * 100)


def test_control_weasyprints_own_fetcher_would_have_fetched(servers, tmp_path) -> None:
    """The same template through WeasyPrint's default fetcher does reach the servers: the
    recorders work and the template really tries everything the test above refuses."""
    from weasyprint import CSS, HTML

    target, redirecting = servers
    (tmp_path / "leak.css").write_text("body::before { content: 'LEAKED-FILE'; }")
    source, css = hostile_template(target.url, redirecting.url, tmp_path)
    pdf = HTML(string=source.replace("{{ note }}", "x")).write_pdf(stylesheets=[CSS(string=css)])
    assert "/link.css" in target.requests
    assert "/img.png" in target.requests
    assert "/redirected.png" in redirecting.requests  # and it followed the redirect
    assert "/redirected.png" in target.requests
    assert "LEAKED" in "\n".join(page_texts(pdf))


def test_a_failing_asset_store_stops_the_render_with_its_error() -> None:
    """A logo that cannot be read now (database down) must not silently vanish from a document
    that is stored for good: the caller gets the store's error and can retry."""

    def broken(name: str):
        raise ConnectionError("asset store unavailable")

    for source in ('<img src="asset:logo">', '<p style="background: url(asset:seal)">x</p>'):
        with pytest.raises(ConnectionError, match="asset store unavailable"):
            render_pdf(source, {}, assets=broken)
    # the process renders normally afterwards
    assert render_pdf("<p>ok</p>", {}).pages == 1
