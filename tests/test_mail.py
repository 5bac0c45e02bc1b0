"""Outgoing mail through a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import email
import email.policy
import socket

import pytest
from sqlalchemy import select

from saas.extensions import db
from tenants.context import tenant_context
from tenants.models import OutboxMessage


class _Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def test_invitation_goes_out_through_smtp(
    app, make_company, login, drain_jobs, smtp_server, monkeypatch
):
    port, inbox = smtp_server
    settings = app.config["KEHU_SETTINGS"]
    smtp_settings = type(settings)(
        **{**settings.__dict__, "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_tls": False}
    )
    monkeypatch.setitem(app.config, "KEHU_SETTINGS", smtp_settings)
    company = make_company(locale="zh_CN")
    login(company.owner_email).post(
        f"/t/{company.slug}/users/invite",
        data={"email": "smtp-invitee@example.com", "role": "member"},
    )
    drain_jobs()
    (envelope,) = [e for e in inbox.messages if "smtp-invitee@example.com" in e.rcpt_tos]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["From"] == "Kehu <no-reply@example.com>"
    assert "受邀" in message["Subject"]
    assert f"http://kehu.test/t/{company.slug}/invite/" in message.get_body().get_content()
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        # Delivered by SMTP, so nothing is kept in the outbox.
        assert db.session.execute(select(OutboxMessage)).first() is None


def test_invitation_mail_speaks_the_company_language(app, make_company, login, drain_jobs):
    company = make_company(locale="zh_CN")
    login(company.owner_email).post("/locale", data={"locale": "en"})  # the inviter reads English
    login(company.owner_email).post(
        f"/t/{company.slug}/users/invite",
        data={"email": "zh-invitee@example.com", "role": "manager"},
    )
    drain_jobs()
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        message = db.session.execute(select(OutboxMessage)).scalar_one()
    assert "受邀" in message.subject
    assert "主管" in message.body
