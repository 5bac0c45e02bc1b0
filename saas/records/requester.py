"""Who asked for a background job, and running the job as that person.

A tracked job that reads or changes records on someone's behalf (an export, a bulk action) must
see what that person sees and leave the same trail as the request would have: their data scope
and field access, their language and time zone, and audit events naming them, their token, their
address and the request that started the job. :func:`acting_as` gives the job a request context
carrying exactly that, so the record services behave in the worker as they do in a request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from flask import current_app, g, has_request_context, request
from flask_babel import gettext as _
from sqlalchemy import select

from saas.errors import DomainError
from saas.extensions import db
from tenants import services as tenant_services
from tenants.context import current_tenant_id, current_user_id, set_tenant, set_user
from tenants.models import ApiToken, Membership, Tenant


@dataclass(frozen=True)
class Requester:
    """The person (and token, address, request id) a job acts for; plain JSON for job params."""

    user_id: int
    token_id: int | None = None
    ip: str | None = None
    request_id: str | None = None

    @classmethod
    def current(cls) -> Requester:
        """The signed-in member (or API token) of the current request."""
        member = g.membership
        token = g.get("api_token")
        return cls(
            user_id=member.user_id,
            token_id=token.id if token is not None else None,
            ip=request.remote_addr if has_request_context() else None,
            request_id=g.get("request_id"),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Requester:
        return cls(
            user_id=int(raw["user_id"]),
            token_id=raw.get("token_id"),
            ip=raw.get("ip"),
            request_id=raw.get("request_id"),
        )


class NoLongerMember(DomainError):
    status = 403


@contextmanager
def acting_as(requester: Requester) -> Iterator[Membership]:
    """Run the body (in a worker, inside the job's tenant) as ``requester``: a request context
    with their membership, token and request id, yielding the membership.

    Refuses (:class:`NoLongerMember`) when the person is no longer an active member. The
    tenant and user of the surrounding context are restored afterwards.
    """
    tenant_id = current_tenant_id()
    user_before = current_user_id()
    # ``g`` belongs to the app context, which the worker keeps: restore it afterwards.
    saved = dict(vars(g))
    environ = {"REMOTE_ADDR": requester.ip} if requester.ip else {}
    ctx = current_app.test_request_context("/", environ_overrides=environ)
    ctx.push()
    try:
        set_tenant(tenant_id, db.session)
        set_user(requester.user_id, db.session)
        member = tenant_services.membership(requester.user_id)
        if member is None or not member.is_active:
            raise NoLongerMember(_("The person who started this is no longer a member."))
        g.tenant = db.session.get(Tenant, tenant_id)
        g.membership = member
        g.request_id = requester.request_id
        if requester.token_id is not None:
            g.api_token = db.session.execute(
                select(ApiToken).where(ApiToken.id == requester.token_id)
            ).scalar_one_or_none()
        yield member
    finally:
        ctx.pop()  # its teardown clears the tenant: put back the job's own
        vars(g).clear()
        vars(g).update(saved)
        set_tenant(tenant_id, db.session)
        set_user(user_before, db.session)


def resume(tenant_id: int, user_id: int) -> Membership:
    """Enter the tenant again as ``user_id`` inside a streamed response.

    Flask runs a streamed body after the view's request context was torn down (which clears the
    tenant and removes the database session) and pushes the contexts again around it; the body
    calls this first. The membership is read afresh and must still be active.
    """
    set_tenant(tenant_id, db.session)
    set_user(user_id, db.session)
    member = tenant_services.membership(user_id)
    if member is None or not member.is_active:
        raise NoLongerMember(_("You are no longer a member of this company."))
    g.tenant = db.session.get(Tenant, tenant_id)
    g.membership = member
    return member
