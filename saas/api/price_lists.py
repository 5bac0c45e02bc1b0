"""Price lists under ``/api/v1/t/<slug>/price-lists``: lists, their items (quantity breaks) and
a product's price. Any member reads; owners, admins and managers change."""

from __future__ import annotations

from typing import Any

from flask import g
from marshmallow import Schema, fields, validate

from saas.api.blueprint import ApiBlueprint
from saas.api.schemas import StrictSchema
from saas.crm import price_lists
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint("api_price_lists", __name__, description="Price lists and quantity breaks")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]


class PriceListOut(Schema):
    id = fields.Integer()
    name = fields.String()
    currency = fields.String()
    active = fields.Boolean()
    valid_from = fields.Date()
    valid_to = fields.Date(allow_none=True, metadata={"description": "null: no end"})
    is_default = fields.Boolean(metadata={"description": "The currency's default list"})
    created_at = fields.DateTime()


class PriceListItemOut(Schema):
    product = fields.Integer()
    product_name = fields.String()
    product_code = fields.String(allow_none=True)
    min_quantity = fields.String(metadata={"description": "The break: from this quantity on"})
    unit_price = fields.String(metadata={"description": "In the list's currency"})


class PriceListDetailOut(PriceListOut):
    items = fields.Method("_items")

    def _items(self, plist: price_lists.PriceList) -> list[dict[str, Any]]:
        return PriceListItemOut(many=True).dump(price_lists.items(plist.id))


class PriceListIn(StrictSchema):
    # Values are checked by the service, so every problem shows at once with its field.
    name = fields.Raw(required=True, metadata={"description": "1–100 characters"})
    currency = fields.Raw(metadata={"description": "ISO code; default: the company's"})
    active = fields.Raw(metadata={"description": "true or false (default true)"})
    valid_from = fields.Raw(metadata={"description": "YYYY-MM-DD; default: today"})
    valid_to = fields.Raw(allow_none=True, metadata={"description": "YYYY-MM-DD or null"})
    is_default = fields.Raw(metadata={"description": "true makes it the currency's default"})


class PriceListPatch(PriceListIn):
    name = fields.Raw()


class PriceListItemsIn(StrictSchema):
    items = fields.List(
        fields.Raw(),
        required=True,
        validate=validate.Length(max=price_lists.MAX_ITEMS),
        metadata={
            "description": "Every item of the list: {product, unit_price, min_quantity "
            "(default 1)}; the list's current items are replaced"
        },
    )


class PriceListItemsOut(Schema):
    items = fields.List(fields.Nested(PriceListItemOut))


class PriceQuery(Schema):
    product = fields.Integer(required=True, strict=False)
    quantity = fields.String(load_default="1")
    date = fields.Date(metadata={"description": "Default: the company's today"})


class PriceOut(Schema):
    unit_price = fields.String(allow_none=True)
    currency = fields.String()
    source = fields.String(
        allow_none=True, metadata={"description": "price_list, product or null (no price)"}
    )
    price_list_id = fields.Integer(allow_none=True)
    min_quantity = fields.String(allow_none=True, metadata={"description": "The break used"})


@bp.get("/price-lists")
@bp.doc(security=SECURITY)
@bp.response(200, PriceListOut(many=True))
def list_price_lists():
    """The company's price lists, defaults first."""
    return price_lists.list_price_lists()


@bp.post("/price-lists")
@bp.doc(security=SECURITY)
@bp.arguments(PriceListIn)
@bp.response(201, PriceListDetailOut)
def create_price_list(body: dict):
    """Create a price list (owners, admins, managers)."""
    return price_lists.create_price_list(g.membership, body)


@bp.get("/price-lists/<int:price_list_id>")
@bp.doc(security=SECURITY)
@bp.response(200, PriceListDetailOut)
def get_price_list(price_list_id: int):
    """A price list with its items."""
    return price_lists.get_price_list(price_list_id)


@bp.patch("/price-lists/<int:price_list_id>")
@bp.doc(security=SECURITY)
@bp.arguments(PriceListPatch)
@bp.response(200, PriceListDetailOut)
def patch_price_list(body: dict, price_list_id: int):
    """Change a list's name, currency, dates, active flag or default mark."""
    return price_lists.update_price_list(g.membership, price_list_id, body)


@bp.delete("/price-lists/<int:price_list_id>")
@bp.doc(security=SECURITY)
@bp.response(204)
def delete_price_list(price_list_id: int):
    """Delete a list and its items; quotes keep the prices they saved."""
    price_lists.delete_price_list(g.membership, price_list_id)


@bp.put("/price-lists/<int:price_list_id>/items")
@bp.doc(security=SECURITY)
@bp.arguments(PriceListItemsIn)
@bp.response(200, PriceListItemsOut)
def put_items(body: dict, price_list_id: int):
    """Replace all of the list's items (errors name each value: ``items[2].unit_price``)."""
    return {"items": price_lists.replace_items(g.membership, price_list_id, body["items"])}


@bp.get("/price-lists/<int:price_list_id>/price")
@bp.doc(security=SECURITY)
@bp.arguments(PriceQuery, location="query")
@bp.response(200, PriceOut)
def get_price(query: dict, price_list_id: int):
    """A product's unit price for a quantity from this list (its highest break not above the
    quantity, when the list applies on the day), else the product's own price."""
    plist = price_lists.get_price_list(price_list_id)
    quantity = price_lists.parse_quantity(query["quantity"])
    day = query.get("date") or price_lists.today()
    found = price_lists.unit_price_for(
        query["product"], quantity, plist.currency, day, price_list_id=plist.id
    )
    return found.to_dict()
