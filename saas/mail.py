"""Outgoing mail: through SMTP when configured, otherwise into the tenant's development outbox.

Mail is always sent by a worker after the transaction that caused it commits.
"""

from __future__ import annotations

import base64
import smtplib
from email.message import EmailMessage

from flask import current_app

from saas.jobs import enqueue_after_commit, job


def attachment(filename: str, content_type: str, data: bytes) -> dict[str, str]:
    """An attachment as :func:`send` takes it (plain JSON: it travels through the queue)."""
    return {
        "filename": filename,
        "content_type": content_type,
        "data": base64.b64encode(data).decode("ascii"),
    }


def send(
    *, to: str, subject: str, body: str, kind: str, attachments: list[dict[str, str]] | None = None
) -> None:
    """Queue an email for delivery; the tenant in context owns it. ``attachments`` are made
    by :func:`attachment`."""
    extra = {"attachments": attachments} if attachments else {}
    enqueue_after_commit(deliver, to, str(subject), str(body), kind, queue_name="mail", **extra)


@job
def deliver(
    to: str, subject: str, body: str, kind: str, attachments: list[dict[str, str]] | None = None
) -> str:
    """Worker side: send through SMTP, or keep it in the outbox of the tenant in context."""
    settings = current_app.config["KEHU_SETTINGS"]
    if settings.smtp_host:
        message = EmailMessage()
        message["From"] = settings.mail_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        for item in attachments or []:
            maintype, _, subtype = item["content_type"].partition("/")
            message.add_attachment(
                base64.b64decode(item["data"]),
                maintype=maintype,
                subtype=subtype or "octet-stream",
                filename=item["filename"],
            )
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
            if settings.smtp_tls:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(message)
        return "smtp"
    from saas.extensions import db
    from tenants.context import peek_tenant_id
    from tenants.models import OutboxMessage

    if peek_tenant_id() is None:
        # No SMTP and no tenant outbox to keep it in: the operator's log is the outbox.
        # The body may hold a password-reset link: it stays out of the logs.
        current_app.logger.warning(
            "mail not sent: no SMTP server and no company outbox",
            extra={"mail_to": to, "mail_subject": subject, "mail_kind": kind},
        )
        return "log"

    db.session.add(
        OutboxMessage(
            to_address=to, subject=subject, body=body, kind=kind, attachments=attachments or None
        )
    )
    return "outbox"
