"""Fixtures of the print tests: a company with an owner (admin), a salesperson and a customer,
and quotes made through the real API."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from saas.extensions import db
from tenants import services as tenant_services
from tenants.context import tenant_context


def token_for(app, company, user_id: int) -> str:
    with app.app_context(), tenant_context(company.tenant_id, db.session, user_id):
        _, raw = tenant_services.create_token(tenant_services.membership(user_id), "test")
    return raw


@dataclass
class Shop:
    """A company, its owner's API, a salesperson's API and a customer."""

    app: object
    company: object
    owner: object
    rep: object
    rep_id: int
    rep_email: str
    customer_id: int = 0
    quotes: list[int] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return self.company.slug

    def url(self, path: str) -> str:
        return f"/api/v1/t/{self.slug}{path}"

    def record(self, object_key: str, client=None, **body) -> int:
        response = (client or self.owner).post(self.url(f"/records/{object_key}"), json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def quote(self, name: str, lines: list[dict], *, submit: bool = True, client=None) -> int:
        """A quote for the customer with ``lines``, submitted (approved: no big discount)."""
        client = client or self.owner
        quote_id = self.record("quote", client, name=name, account=self.customer_id)
        response = client.put(
            self.url(f"/quotes/{quote_id}/lines"),
            json={"lines": lines},
            headers={"If-Match": '"v1"'},
        )
        assert response.status_code == 200, response.get_json()
        if submit:
            response = client.post(self.url(f"/quotes/{quote_id}/submit"), json={})
            assert response.status_code == 200, response.get_json()
        self.quotes.append(quote_id)
        return quote_id


@pytest.fixture
def shop(app, make_company, api, add_member) -> Shop:
    company = make_company(name="上海客户科技有限公司")
    rep = add_member(company, "member")
    result = Shop(
        app,
        company,
        api(company.token),
        api(token_for(app, company, rep.id)),
        rep.id,
        rep.email,
    )
    result.customer_id = result.record(
        "account", name="北京示例贸易有限公司", phone="010-12345678", owner_id=rep.id
    )
    result.record(
        "contact",
        name="王小明",
        account=result.customer_id,
        is_primary=True,
        mobile="13800000000",
        owner_id=rep.id,
    )
    return result


LINES = [
    {"name": "服务器 R740", "quantity": "2", "unit_price": "38000", "tax_rate": "13"},
    {"name": "安装调试服务", "quantity": "1", "unit_price": "5000", "tax_rate": "6"},
]


def pdf_text(data: bytes, tmp_path: Path) -> str:
    """The text of a PDF (poppler's pdftotext)."""
    path = tmp_path / "document.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def pdf_fonts(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "fonts.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdffonts", str(path)], capture_output=True, text=True, check=True
    ).stdout


needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed"
)
