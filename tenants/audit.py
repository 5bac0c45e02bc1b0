"""Audit trail: every change to tenant data that matters records who, when, before and after."""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context, request

from saas.extensions import db
from tenants.models import AuditEvent


def record(
    action: str,
    target_type: str,
    target_id: Any = None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor_user_id: int | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction (the caller commits)."""
    event = AuditEvent(
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        before=before,
        after=after,
        actor_user_id=actor_user_id,
    )
    if has_request_context():
        membership = getattr(g, "membership", None)
        if event.actor_user_id is None and membership is not None:
            event.actor_user_id = membership.user_id
        token = getattr(g, "api_token", None)
        event.actor_token_id = token.id if token is not None else None
        event.ip = request.remote_addr
        event.request_id = getattr(g, "request_id", None)
    db.session.add(event)
    return event
