"""Marshmallow schemas of the REST API (request bodies and responses)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class StrictSchema(Schema):
    """Unknown keys are rejected with a 400 naming them."""

    class Meta:
        unknown = "raise"
        ordered = True


class SignupIn(StrictSchema):
    company = fields.String(required=True, validate=validate.Length(min=1, max=200))
    slug = fields.String(required=True, validate=validate.Length(min=1, max=40))
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    password = fields.String(
        required=True, validate=validate.Length(min=1, max=1024), load_only=True
    )
    locale = fields.String(load_default="zh_CN", validate=validate.OneOf(["zh_CN", "en"]))


class TenantOut(Schema):
    slug = fields.String()
    name = fields.String()
    default_locale = fields.String()
    timezone = fields.String()
    currency = fields.String()


class SignupOut(Schema):
    tenant = fields.Nested(TenantOut)
    token = fields.String(metadata={"description": "Owner API token; shown only once."})


class UserOut(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    locale = fields.String(allow_none=True)


class MemberOut(Schema):
    user = fields.Nested(UserOut)
    role = fields.String(attribute="role_key")
    status = fields.String()
    team_id = fields.Integer(allow_none=True)
    position = fields.String(allow_none=True)
    joined_at = fields.DateTime(attribute="created_at")


class MeOut(Schema):
    user = fields.Nested(UserOut)
    tenant = fields.Nested(TenantOut)
    role = fields.String()


class MemberPatch(StrictSchema):
    role = fields.String(validate=validate.Length(min=1, max=40))
    status = fields.String(validate=validate.OneOf(["active", "deactivated"]))
    team_id = fields.Integer(
        allow_none=True, metadata={"description": "A team of the company; null: no team"}
    )


class InvitationIn(StrictSchema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    role = fields.String(load_default="member", validate=validate.Length(min=1, max=40))


class InvitationOut(Schema):
    id = fields.Integer()
    email = fields.String()
    role = fields.String(attribute="role_key")
    created_at = fields.DateTime()
    expires_at = fields.DateTime()


class SettingsPatch(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    default_locale = fields.String()
    timezone = fields.String()
    currency = fields.String()
    duplicate_policy = fields.String(
        metadata={"description": "warn (save and report possible duplicates) or block"}
    )
    pool_return_days = fields.Integer(
        strict=True,
        metadata={
            "description": "Days without activity before an owned customer returns to the "
            "public pool; 0: never"
        },
    )
    pool_owner_cap = fields.Integer(
        strict=True, metadata={"description": "Most customers one person may own; 0: no limit"}
    )
    pool_review_days = fields.Integer(
        strict=True, metadata={"description": "Development window before review; 0: never"}
    )
    pool_exempt_stages = fields.List(
        fields.String(), metadata={"description": "Lifecycle stages that never return"}
    )
    pool_reclaim_days = fields.Integer(
        strict=True,
        metadata={"description": "Days before someone may claim back a customer they gave up"},
    )
    quote_discount_threshold = fields.Decimal(
        metadata={
            "description": "Percent (0–100): a quote discounted more needs a manager's approval"
        },
    )
    recycle_days = fields.Integer(
        strict=True,
        metadata={
            "description": "Days deleted records stay in the recycle bin (1–3650); 0: forever"
        },
    )


class SettingsOut(TenantOut):
    duplicate_policy = fields.String(
        metadata={"description": "What saving a possible duplicate does: warn or block."}
    )
    pool_return_days = fields.Integer()
    pool_owner_cap = fields.Integer()
    pool_review_days = fields.Integer()
    pool_exempt_stages = fields.List(fields.String())
    pool_reclaim_days = fields.Integer()
    quote_discount_threshold = fields.Decimal(
        as_string=True, metadata={"description": "Quote discount needing approval, percent."}
    )
    recycle_days = fields.Integer(
        metadata={"description": "Days deleted records stay in the recycle bin; 0: forever."}
    )


class ObjectOut(Schema):
    key = fields.String()
    label_en = fields.String()
    label_zh = fields.String()
    plural_en = fields.String()
    plural_zh = fields.String()
    icon = fields.String()
    is_standard = fields.Boolean()


class AuditOut(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor_user_id = fields.Integer(allow_none=True)
    actor_token_id = fields.Integer(allow_none=True)
    action = fields.String()
    target_type = fields.String()
    target_id = fields.String(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)


class AuditQuery(StrictSchema):
    before_id = fields.Integer(validate=validate.Range(min=1))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class JobOut(Schema):
    id = fields.String()
    kind = fields.String()
    status = fields.String(metadata={"description": "queued, running, succeeded or failed"})
    done = fields.Integer()
    total = fields.Integer(allow_none=True)
    percent = fields.Integer(allow_none=True)
    attempts = fields.Integer()
    result = fields.Dict(allow_none=True)
    error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    links = fields.Method(
        "_links",
        metadata={
            "description": "Where the outcome is, once there is one: `document` (a "
            "generated PDF or zip to download)."
        },
    )

    def _links(self, row) -> dict | None:
        from print_templates.jobs import result_links

        return result_links(row)
