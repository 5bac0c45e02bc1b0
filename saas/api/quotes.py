"""Quote API under ``/api/v1/t/<slug>/``: a quote's lines and totals, a preview of totals,
the status actions, revisions and copies, and the approvers' inbox (``/approvals``)."""

from __future__ import annotations

from typing import Any

from flask import g, request
from marshmallow import Schema, fields, validate

from saas.api.blueprint import ApiBlueprint
from saas.api.schemas import StrictSchema
from saas.crm import quotes
from saas.records import services as records
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint("api_quotes", __name__, description="Quotes: lines, totals, approval")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]
IF_MATCH = {"in": "header", "name": "If-Match", "required": True, "schema": {"type": "string"}}

LINE_DOC = (
    "Each line: `product` (a product id; its price and tax rate are the defaults), `name` (the "
    "description; the product's name by default), `quantity` (> 0, up to 4 decimals), "
    "`unit_price` (tax excluded or included as the header's `tax_mode` says, up to 6 "
    "decimals), `discount` and `tax_rate` (percent, 0–100), and `id` to keep one of the "
    "quote's lines (its other fields stay). Numbers may be strings."
)
HEADER_DOC = (
    "`tax_mode` (`exclusive` or `inclusive`), `header_discount` (the overall discount, "
    "percent), `currency` (ISO 4217). A key left out keeps the quote's value."
)


class QuoteLinesIn(StrictSchema):
    lines = fields.List(fields.Dict(), required=True, metadata={"description": LINE_DOC})
    header = fields.Dict(load_default=dict, metadata={"description": HEADER_DOC})


class QuoteCommentIn(StrictSchema):
    comment = fields.String(
        allow_none=True,
        metadata={"description": "Why (required to reject); the owner reads it."},
    )


class QuoteApprovalQuery(StrictSchema):
    status = fields.String(
        load_default="pending",
        validate=validate.OneOf(["pending", "approved", "rejected", "withdrawn", "all"]),
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1))


class QuoteOut(Schema):
    quote = fields.Dict(
        metadata={
            "description": "id, version, name, owner_id, status, revision, currency, tax_mode, "
            "header_discount, subtotal, tax_total, total, valid_until, account, opportunity, "
            "previous_quote, superseded_by (amounts as strings)"
        }
    )
    lines = fields.List(
        fields.Dict(),
        metadata={
            "description": "id, version, position, name, product, quantity, unit_price, "
            "discount, tax_rate, line_total (the gross after the line's discount)"
        },
    )
    totals = fields.Dict(
        allow_none=True,
        metadata={"description": "saas.crm.money's result: per line and for the quote."},
    )
    actions = fields.List(fields.String(), metadata={"description": "What the caller may do."})
    threshold = fields.String(metadata={"description": "The company's discount threshold."})


class QuotePreviewOut(Schema):
    currency = fields.String()
    tax_mode = fields.String()
    header = fields.Dict(metadata={"description": "The header as priced."})
    lines = fields.List(
        fields.Dict(),
        metadata={
            "description": "Per line: name, product, quantity, unit_price, discount, tax_rate "
            "(as used), list_amount, line_discount, subtotal (= line_total), header_discount "
            "(its share), net, tax, gross"
        },
    )
    list_total = fields.String()
    subtotal = fields.String()
    header_discount = fields.String()
    net_total = fields.String()
    tax_total = fields.String()
    total = fields.String()
    tax_breakdown = fields.Dict(metadata={"description": "rate → {net, tax}"})
    effective_discount_percent = fields.String()
    needs_approval = fields.Boolean()
    threshold = fields.String()


class QuoteApprovalPage(Schema):
    data = fields.List(
        fields.Dict(),
        metadata={
            "description": "id, decision, requested_by(_name), request_comment, requested_at, "
            "decided_by(_name), comment, decided_at, threshold, discount, quote {id, name, "
            "status, revision, owner_id, owner_name, total, currency}, can_decide"
        },
    )
    next_cursor = fields.Integer(allow_none=True)


def _out(quote, status: int = 200) -> tuple[dict[str, Any], int, dict[str, str]]:
    return quotes.quote_json(g.membership, quote), status, {"ETag": f'"v{quote.version}"'}


@bp.get("/quotes/<int:quote_id>/lines")
@bp.doc(security=SECURITY)
@bp.response(200, QuoteOut)
def get_lines(quote_id: int):
    """The quote with its lines and totals; the ``ETag`` is the quote's version."""
    return _out(quotes.get_quote(g.membership, quote_id))


@bp.put("/quotes/<int:quote_id>/lines")
@bp.doc(security=SECURITY, parameters=[IF_MATCH])
@bp.arguments(QuoteLinesIn)
@bp.response(200, QuoteOut)
def put_lines(body: dict, quote_id: int):
    """Replace a draft quote's lines and pricing header; totals are computed and stored.
    ``412`` with the current quote when it changed since the version in ``If-Match``;
    ``400`` naming each value at fault (``lines[2].quantity``)."""
    quotes.get_quote(g.membership, quote_id)  # 404 before anything else
    version = records.parse_version(request.headers.get("If-Match"))
    quote = quotes.save_lines(g.membership, quote_id, body["lines"], body["header"], version)
    return _out(quote)


@bp.post("/quotes/preview")
@bp.doc(security=SECURITY)
@bp.arguments(QuoteLinesIn)
@bp.response(200, QuotePreviewOut)
def preview(body: dict):
    """Totals for lines without saving them, with each line's price as used (a product's
    price and tax rate filled in) and whether submitting would need approval."""
    return quotes.preview(body["lines"], body["header"])


def _action(name: str, summary: str, created: bool = False):
    def view(body: dict, quote_id: int):
        command = getattr(quotes, name)
        if name in ("revise", "copy"):
            return _out(command(g.membership, quote_id), 201)
        return _out(command(g.membership, quote_id, body.get("comment")))

    view.__name__ = f"{name}_quote"
    view.__doc__ = summary
    view = bp.response(201 if created else 200, QuoteOut)(view)
    view = bp.arguments(QuoteCommentIn)(view)
    view = bp.doc(security=SECURITY)(view)
    return bp.post(f"/quotes/<int:quote_id>/{name}")(view)


_action("submit", "Submit a draft: approved at once, or pending approval above the threshold.")
_action("approve", "Approve a quote pending approval (owners, admins, managers; not its owner).")
_action("reject", "Reject a quote pending approval; ``comment`` is required.")
_action("send", "Mark an approved quote as sent.")
_action("accept", "The customer accepted the sent quote.")
_action("decline", "The customer declined the sent quote (status rejected).")
_action("reopen", "Take a rejected quote back to draft.")
_action(
    "withdraw",
    "Take a quote pending approval back to draft (its owner, the requester or an admin); the "
    "approval request is closed as withdrawn.",
)
_action("revise", "A new version (draft, revision + 1); this one is frozen.", created=True)
_action("copy", "A new draft quote with the same lines, revision 1.", created=True)


@bp.get("/approvals")
@bp.doc(security=SECURITY)
@bp.arguments(QuoteApprovalQuery, location="query")
@bp.response(200, QuoteApprovalPage)
def list_approvals(query: dict):
    """Approval requests of the quotes the caller may see, newest first (``status=pending``,
    the default, is the approvers' inbox; ``can_decide`` says which the caller may decide)."""
    page = quotes.inbox(
        g.membership, status=query["status"], before_id=query.get("cursor"), limit=query["limit"]
    )
    return {"data": page.rows, "next_cursor": page.next_cursor}
