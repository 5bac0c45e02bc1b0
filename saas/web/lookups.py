"""Typeahead answers for lookup inputs: ``/t/<slug>/o/<object_key>/lookup?q=…``.

Searches names, phones, emails and pinyin (``zs`` finds 张三) through the query builder, so the
member's data scope applies; ``/t/<slug>/o/user/lookup`` searches the company's members.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from custom_fields.query import engine
from custom_fields.query.engine import QuerySpec, SortKey
from custom_fields.types.lookup import USER_TARGET
from saas.accounts.models import User
from saas.extensions import db
from saas.records import search, services
from tenants.models import Membership, MembershipStatus
from tenants.resolution import attach_ui_tenant

bp = Blueprint("lookups", __name__, url_prefix="/t/<slug>/o/<object_key>")
attach_ui_tenant(bp)

RESULTS = 20


def _members(query: str) -> list[dict[str, object]]:
    rows = db.session.execute(
        select(User.id, User.name, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.status == MembershipStatus.ACTIVE)
        .order_by(User.name, User.id)
    ).all()
    needle = search.normalise(query) if query else ""
    found = []
    for user_id, name, email in rows:
        if needle and needle not in search.build(name, [("email", email)]):
            continue
        found.append({"id": user_id, "name": name or email})
        if len(found) == RESULTS:
            break
    return found


@bp.get("/lookup")
def lookup(object_key: str):
    """Up to 20 records whose name, phone, email or pinyin contains ``q`` (all without ``q``)."""
    query = request.args.get("q", "").strip()[:100]
    if object_key == USER_TARGET:
        return jsonify(results=_members(query))
    st = services.store(object_key)
    spec = QuerySpec(sort=[SortKey("name")], limit=RESULTS, search=query or None, count=False)
    page = engine.run_query(st.schema, g.membership, spec, timezone=services.context().timezone)
    return jsonify(results=[{"id": r.id, "name": r.name or f"#{r.id}"} for r in page.rows])
