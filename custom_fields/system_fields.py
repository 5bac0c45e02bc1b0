"""System fields: the fields every tenant has on the standard objects, which the CRM's own
workflows (public pool, leads, quotes, contracts, activities) read by key.

The catalogue below is one declarative table per object. Keys are stable API. Signup installs
the catalogue with the standard objects (:func:`install`), and migration 0008 gives it to the
companies that existed before (:func:`backfill`), leaving alone a key a company already uses for a
field of its own.

Rules (enforced in ``custom_fields/services.py``): a system field cannot be deleted, purged,
converted, re-keyed, deactivated or made (un)required, and a lookup keeps its target. Labels,
help, position, access, layout, ``indexed``, ``searchable``, ``unique``, the default, the other
type options and picklist values stay the company's to change, except that the picklist codes
marked ``protected`` here (the codes workflows test, such as quote statuses) cannot be
deactivated.

Both functions write with Core on table constructs of their own, not the ORM models: the
migration must insert exactly the columns revision 0008 has, whatever later revisions add.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from custom_fields import types
from custom_fields.types import Choice, Context, FieldSpec


@dataclass(frozen=True)
class Value:
    """A picklist value; ``protected`` codes are ones the product relies on."""

    code: str
    en: str
    zh: str
    colour: str | None = None
    protected: bool = False


@dataclass(frozen=True)
class SystemField:
    """One catalogue entry. ``computed`` marks the values the quote and lead workflows will
    calculate; the metadata store has no read-only flag yet, so today they are editable."""

    key: str
    type: str
    en: str
    zh: str
    options: Mapping[str, Any] = field(default_factory=dict)
    values: tuple[Value, ...] = ()
    default: Any = None
    required: bool = False
    searchable: bool = False
    computed: bool = False

    def payload(self) -> dict[str, Any]:
        """The entry as ``custom_fields.services.create_field`` takes it."""
        payload: dict[str, Any] = {
            "key": self.key,
            "type": self.type,
            "label": {"en": self.en, "zh": self.zh},
            "required": self.required,
            "searchable": self.searchable,
            **self.options,
        }
        if self.values:
            payload["values"] = [
                {"code": v.code, "label": {"en": v.en, "zh": v.zh}, "colour": v.colour}
                for v in self.values
            ]
        if self.default is not None:
            payload["default"] = self.default
        return payload


def _lookup(key: str, target: str, en: str, zh: str, **extra: Any) -> SystemField:
    return SystemField(key, "lookup", en, zh, options={"target": target}, **extra)


def _percent(key: str, en: str, zh: str, **extra: Any) -> SystemField:
    return SystemField(key, "percent", en, zh, options={"min": "0", "max": "100"}, **extra)


def _protected(*values: Value) -> tuple[Value, ...]:
    return tuple(Value(v.code, v.en, v.zh, v.colour, protected=True) for v in values)


SOURCES = (
    Value("website", "Website", "官网"),
    Value("referral", "Referral", "转介绍"),
    Value("exhibition", "Exhibition", "展会"),
    Value("cold_call", "Cold call", "电话陌拜"),
    Value("advertising", "Advertising", "广告"),
    Value("partner", "Partner", "合作伙伴"),
    Value("other", "Other", "其他"),
)
REGIONS = (
    Value("north", "North China", "华北"),
    Value("east", "East China", "华东"),
    Value("south", "South China", "华南"),
    Value("central", "Central China", "华中"),
    Value("southwest", "Southwest China", "西南"),
    Value("northwest", "Northwest China", "西北"),
    Value("northeast", "Northeast China", "东北"),
    Value("overseas", "Overseas", "海外"),
)
INDUSTRIES = (
    Value("manufacturing", "Manufacturing", "制造业"),
    Value("retail", "Wholesale and retail", "批发零售"),
    Value("it", "Software and IT services", "软件与信息服务"),
    Value("finance", "Finance", "金融"),
    Value("healthcare", "Healthcare", "医疗健康"),
    Value("education", "Education", "教育培训"),
    Value("construction", "Construction and real estate", "建筑与房地产"),
    Value("logistics", "Transport and logistics", "交通物流"),
    Value("energy", "Energy and chemicals", "能源化工"),
    Value("government", "Government and public sector", "政府与公共事业"),
    Value("other", "Other", "其他"),
)

ACCOUNT = (
    SystemField(
        "grade",
        "picklist",
        "Grade",
        "客户等级",
        # Visit frequency and reviews go by grade.
        values=_protected(
            Value("A", "A — key", "A 重点", "#d62728"),
            Value("B", "B — important", "B 重要", "#ff7f0e"),
            Value("C", "C — normal", "C 一般", "#1f77b4"),
            Value("D", "D — credit risk", "D 信用风险", "#7f7f7f"),
        ),
        default="C",
    ),
    SystemField(
        "lifecycle_stage",
        "picklist",
        "Lifecycle stage",
        "生命周期",
        values=_protected(
            Value("potential", "Potential", "潜在", "#9467bd"),
            Value("intent", "Intent", "意向", "#1f77b4"),
            Value("customer", "Customer", "成交", "#2ca02c"),
            Value("renewal", "Renewal", "续约", "#17becf"),
            Value("lost", "Lost", "流失", "#7f7f7f"),
        ),
        default="potential",
    ),
    SystemField("source", "picklist", "Source", "客户来源", values=SOURCES),
    SystemField("industry", "picklist", "Industry", "行业", values=INDUSTRIES),
    SystemField("region", "picklist", "Region", "区域", values=REGIONS),
    _lookup("parent_account", "account", "Parent customer", "上级客户"),
    SystemField("phone", "phone", "Phone", "电话"),
    SystemField("email", "email", "Email", "邮箱"),
    SystemField("website", "url", "Website", "网址"),
    SystemField("address", "text", "Address", "地址", options={"max_length": 500}),
)
CONTACT = (
    _lookup("account", "account", "Customer", "所属客户"),
    SystemField("is_primary", "boolean", "Primary contact", "主联系人"),
    SystemField("title", "text", "Job title", "职务"),
    SystemField("mobile", "phone", "Mobile", "手机"),
    SystemField("phone", "phone", "Phone", "电话"),
    SystemField("email", "email", "Email", "邮箱"),
    SystemField("wechat", "text", "WeChat", "微信", options={"max_length": 60}),
)
LEAD = (
    SystemField("company", "text", "Company", "公司名称", searchable=True),
    SystemField("mobile", "phone", "Mobile", "手机"),
    SystemField("email", "email", "Email", "邮箱"),
    SystemField("source", "picklist", "Source", "线索来源", values=SOURCES),
    SystemField(
        "status",
        "picklist",
        "Status",
        "线索状态",
        values=_protected(
            Value("new", "New", "新线索", "#1f77b4"),
            Value("contacted", "Contacted", "已联系", "#ff7f0e"),
            Value("qualified", "Qualified", "已确认", "#2ca02c"),
            Value("unqualified", "Unqualified", "无效", "#7f7f7f"),
            Value("converted", "Converted", "已转化", "#9467bd"),
        ),
        default="new",
    ),
    SystemField("region", "picklist", "Region", "区域", values=REGIONS),
    SystemField("score", "integer", "Score", "评分", options={"min": 0, "max": 100}, computed=True),
    _lookup("converted_account", "account", "Converted customer", "转化的客户"),
    _lookup("converted_contact", "contact", "Converted contact", "转化的联系人"),
    _lookup("converted_opportunity", "opportunity", "Converted opportunity", "转化的商机"),
)
OPPORTUNITY = (
    _lookup("account", "account", "Customer", "客户"),
    SystemField(
        "stage",
        "picklist",
        "Stage",
        "销售阶段",
        # Companies name their own open stages; the funnel needs to know the closed ones.
        values=(
            Value("qualification", "Qualification", "初步接洽", "#aec7e8"),
            Value("needs_analysis", "Needs analysis", "需求确认", "#6baed6"),
            Value("proposal", "Proposal", "方案报价", "#3182bd"),
            Value("negotiation", "Negotiation", "谈判审核", "#08519c"),
            *_protected(
                Value("won", "Won", "赢单", "#2ca02c"),
                Value("lost", "Lost", "输单", "#7f7f7f"),
            ),
        ),
        default="qualification",
    ),
    SystemField("amount", "currency", "Amount", "金额"),
    SystemField("expected_close", "date", "Expected close date", "预计成交日期"),
    _percent("probability", "Probability", "赢率"),
    SystemField("lost_reason", "text", "Reason lost", "输单原因"),
)
ACTIVITY = (
    SystemField(
        "type",
        "picklist",
        "Type",
        "跟进方式",
        values=(
            Value("call", "Call", "电话", "#1f77b4"),
            # Visit frequency by customer grade counts visits.
            *_protected(Value("visit", "Visit", "拜访", "#2ca02c")),
            Value("email", "Email", "邮件", "#ff7f0e"),
            Value("meeting", "Meeting", "会议", "#9467bd"),
            Value("message", "Message", "消息", "#17becf"),
        ),
    ),
    SystemField(
        "status",
        "picklist",
        "Status",
        "状态",
        values=_protected(
            Value("planned", "Planned", "计划中", "#1f77b4"),
            Value("done", "Done", "已完成", "#2ca02c"),
        ),
        default="planned",
    ),
    SystemField("due_at", "datetime", "Due", "计划时间"),
    SystemField("done_at", "datetime", "Done at", "完成时间"),
    _lookup("account", "account", "Customer", "客户"),
    _lookup("contact", "contact", "Contact", "联系人"),
    _lookup("opportunity", "opportunity", "Opportunity", "商机"),
    # A follow-up of a lead; converting the lead links it to the new customer and contact.
    _lookup("lead", "lead", "Lead", "线索"),
    SystemField("content", "long_text", "Content", "跟进内容"),
    SystemField("result", "long_text", "Result", "跟进结果"),
    SystemField("next_step", "text", "Next step", "下一步"),
)
PRODUCT = (
    SystemField("code", "text", "Product code", "产品编码", required=True, searchable=True),
    SystemField("specification", "text", "Specification", "规格型号"),
    SystemField("unit", "text", "Unit", "单位", options={"max_length": 20}),
    SystemField("price", "currency", "Price", "单价"),
    _percent("tax_rate", "Tax rate", "税率", default="13"),
)
QUOTE = (
    _lookup("account", "account", "Customer", "客户"),
    _lookup("opportunity", "opportunity", "Opportunity", "商机"),
    SystemField(
        "status",
        "picklist",
        "Status",
        "报价状态",
        values=_protected(
            Value("draft", "Draft", "草稿", "#7f7f7f"),
            Value("pending_approval", "Pending approval", "待审批", "#ff7f0e"),
            Value("approved", "Approved", "已审批", "#17becf"),
            Value("sent", "Sent", "已发送", "#1f77b4"),
            Value("accepted", "Accepted", "已接受", "#2ca02c"),
            Value("rejected", "Rejected", "已拒绝", "#d62728"),
            Value("expired", "Expired", "已过期", "#8c564b"),
        ),
        default="draft",
    ),
    SystemField("valid_until", "date", "Valid until", "有效期至"),
    SystemField(
        "tax_mode",
        "picklist",
        "Prices",
        "价格含税方式",
        values=_protected(
            Value("exclusive", "Tax exclusive", "不含税"),
            Value("inclusive", "Tax inclusive", "含税"),
        ),
        default="exclusive",
    ),
    _percent("header_discount", "Overall discount", "整单折扣"),
    SystemField("subtotal", "currency", "Subtotal", "小计", computed=True),
    SystemField("tax_total", "currency", "Tax", "税额", computed=True),
    SystemField("total", "currency", "Total", "总计", computed=True),
    # "version" is the record's own concurrency counter: the quote's version is its revision.
    SystemField(
        "revision", "integer", "Version", "版本", options={"min": 1}, default=1, computed=True
    ),
    # The revision chain (saas.crm.quotes.revise): a superseded quote is frozen.
    _lookup("previous_quote", "quote", "Previous version", "上一版本", computed=True),
    _lookup("superseded_by", "quote", "Superseded by", "新版本", computed=True),
)
QUOTE_LINE = (
    _lookup("quote", "quote", "Quote", "报价单", required=True),
    _lookup("product", "product", "Product", "产品"),
    SystemField("quantity", "decimal", "Quantity", "数量", options={"scale": 4}),
    SystemField("unit_price", "currency", "Unit price", "单价"),
    _percent("discount", "Discount", "折扣"),
    _percent("tax_rate", "Tax rate", "税率"),
    SystemField("line_total", "currency", "Line total", "金额", computed=True),
    SystemField("position", "integer", "Line No.", "行号", options={"min": 1}, computed=True),
)
CONTRACT = (
    SystemField(
        "number",
        "auto_number",
        "Contract No.",
        "合同编号",
        options={"pattern": "HT-{YYYY}-{0000}", "reset": "yearly"},
        searchable=True,
    ),
    _lookup("account", "account", "Customer", "客户"),
    _lookup("quote", "quote", "Quote", "报价单"),
    SystemField("amount", "currency", "Amount", "合同金额"),
    SystemField("start_date", "date", "Start date", "开始日期"),
    SystemField("end_date", "date", "End date", "结束日期"),
    SystemField("signed_on", "date", "Signed on", "签订日期"),
    SystemField(
        "status",
        "picklist",
        "Status",
        "合同状态",
        values=_protected(
            Value("draft", "Draft", "草稿", "#7f7f7f"),
            Value("in_approval", "In approval", "审批中", "#ff7f0e"),
            Value("signed", "Signed", "已签订", "#1f77b4"),
            Value("active", "Active", "执行中", "#2ca02c"),
            Value("expired", "Expired", "已到期", "#8c564b"),
            Value("terminated", "Terminated", "已终止", "#d62728"),
        ),
        default="draft",
    ),
)

#: The catalogue: standard object key → its system fields, in page order.
CATALOGUE: dict[str, tuple[SystemField, ...]] = {
    "account": ACCOUNT,
    "contact": CONTACT,
    "lead": LEAD,
    "opportunity": OPPORTUNITY,
    "activity": ACTIVITY,
    "product": PRODUCT,
    "quote": QUOTE,
    "quote_line": QUOTE_LINE,
    "contract": CONTRACT,
}


def entry(object_key: str, field_key: str) -> SystemField | None:
    """The catalogue entry of a field, if the catalogue has one."""
    return next((f for f in CATALOGUE.get(object_key, ()) if f.key == field_key), None)


def protected_codes(object_key: str, field_key: str) -> frozenset[str]:
    """Picklist codes of a system field that cannot be deactivated."""
    found = entry(object_key, field_key)
    return frozenset(v.code for v in found.values if v.protected) if found else frozenset()


# --- writing the catalogue ---------------------------------------------------------------

#: The columns as revision 0008 leaves them (see the module docstring).
_fields = sa.table(
    "field_definitions",
    sa.column("tenant_id", sa.BigInteger),
    sa.column("id", sa.BigInteger),
    sa.column("object_id", sa.BigInteger),
    sa.column("key", sa.String),
    sa.column("type", sa.String),
    sa.column("label_en", sa.String),
    sa.column("label_zh", sa.String),
    sa.column("help_en", sa.Text),
    sa.column("help_zh", sa.Text),
    sa.column("required", sa.Boolean),
    sa.column("unique", sa.Boolean),
    sa.column("indexed", sa.Boolean),
    sa.column("searchable", sa.Boolean),
    sa.column("default", JSONB(none_as_null=True)),
    sa.column("options", JSONB),
    sa.column("position", sa.Integer),
    sa.column("active", sa.Boolean),
    sa.column("is_system", sa.Boolean),
)
_values = sa.table(
    "picklist_values",
    sa.column("tenant_id", sa.BigInteger),
    sa.column("field_id", sa.BigInteger),
    sa.column("code", sa.String),
    sa.column("label_en", sa.String),
    sa.column("label_zh", sa.String),
    sa.column("colour", sa.String),
    sa.column("position", sa.Integer),
    sa.column("active", sa.Boolean),
)
_objects = sa.table(
    "object_definitions",
    sa.column("tenant_id", sa.BigInteger),
    sa.column("id", sa.BigInteger),
    sa.column("key", sa.String),
    sa.column("is_standard", sa.Boolean),
)
_layouts = sa.table(
    "page_layouts",
    sa.column("tenant_id", sa.BigInteger),
    sa.column("object_id", sa.BigInteger),
    sa.column("sections", JSONB),
)
_tenants = sa.table(
    "tenants", sa.column("id", sa.BigInteger), sa.column("metadata_version", sa.Integer)
)
#: The title of the layout section that receives system fields a company did not have.
SECTION_EN, SECTION_ZH = "Details", "详细信息"
MAX_SECTIONS = 20  # as custom_fields.layouts


@cache
def _definition(object_key: str, field_key: str) -> tuple[dict[str, Any], Any]:
    """A field's options and default in their stored forms, checked by its type like an admin's
    request would be (a catalogue mistake fails the first signup, loudly)."""
    spec_entry = entry(object_key, field_key)
    assert spec_entry is not None
    field_type = types.get(spec_entry.type)
    options = field_type.load_options(spec_entry.options)
    default = None
    if spec_entry.default is not None:
        spec = FieldSpec(
            key=spec_entry.key,
            type=spec_entry.type,
            label_en=spec_entry.en,
            label_zh=spec_entry.zh,
            options=options,
            choices=tuple(Choice(v.code, v.en, v.zh, v.colour, True) for v in spec_entry.values),
        )
        default = field_type.to_storage(field_type.clean(spec_entry.default, spec, Context()))
    return options, default


def _recordset(rows: list[dict[str, Any]], *columns: sa.ColumnClause[Any]) -> Any:
    """``rows`` as a table from one JSON parameter: one short statement, whatever the count
    (a multi-row VALUES would bind some 1,500 parameters at every signup)."""
    return (
        sa.func.jsonb_to_recordset(sa.literal(rows, JSONB))
        .table_valued(*columns)
        .render_derived(name="r", with_types=True)
    )


def _install(
    connection: sa.Connection,
    tenant_id: int,
    objects: Mapping[str, int],
    *,
    skip: Iterable[tuple[int, str]] = (),
    positions: Mapping[int, int] | None = None,
) -> dict[int, list[str]]:
    """Insert the catalogue's fields (but the ``skip`` ones) and their picklist values for the
    ``objects`` (key → id) of one tenant, numbered from ``positions`` (object id → first free
    position). Answers the keys added per object id, in catalogue order."""
    taken = set(skip)
    fields: list[dict[str, Any]] = []
    values: list[dict[str, Any]] = []
    added: dict[int, list[str]] = {}
    for object_key, entries in CATALOGUE.items():
        object_id = objects.get(object_key)
        if object_id is None:
            continue
        position = (positions or {}).get(object_id, 0)
        for item in entries:
            if (object_id, item.key) in taken:
                continue
            options, default = _definition(object_key, item.key)
            fields.append(
                {
                    "object_id": object_id,
                    "key": item.key,
                    "type": item.type,
                    "label_en": item.en,
                    "label_zh": item.zh,
                    "required": item.required,
                    "searchable": item.searchable,
                    "default": default,
                    "options": options,
                    "position": position,
                }
            )
            values.extend(
                {
                    "object_id": object_id,
                    "key": item.key,
                    "code": v.code,
                    "label_en": v.en,
                    "label_zh": v.zh,
                    "colour": v.colour,
                    "position": index,
                }
                for index, v in enumerate(item.values)
            )
            added.setdefault(object_id, []).append(item.key)
            position += 1
    if not fields:
        return {}
    tenant = sa.literal(tenant_id, sa.BigInteger)
    r = _recordset(
        fields,
        sa.column("object_id", sa.BigInteger),
        sa.column("key", sa.Text),
        sa.column("type", sa.Text),
        sa.column("label_en", sa.Text),
        sa.column("label_zh", sa.Text),
        sa.column("required", sa.Boolean),
        sa.column("searchable", sa.Boolean),
        sa.column("default", JSONB),
        sa.column("options", JSONB),
        sa.column("position", sa.Integer),
    )
    connection.execute(
        sa.insert(_fields).from_select(
            [c.name for c in _fields.c if c.name != "id"],
            sa.select(
                tenant,
                r.c.object_id,
                r.c.key,
                r.c.type,
                r.c.label_en,
                r.c.label_zh,
                sa.literal(""),
                sa.literal(""),
                r.c.required,
                sa.false(),
                sa.false(),
                r.c.searchable,
                r.c.default,
                r.c.options,
                r.c.position,
                sa.true(),
                sa.true(),
            ),
        )
    )
    if values:
        v = _recordset(
            values,
            sa.column("object_id", sa.BigInteger),
            sa.column("key", sa.Text),
            sa.column("code", sa.Text),
            sa.column("label_en", sa.Text),
            sa.column("label_zh", sa.Text),
            sa.column("colour", sa.Text),
            sa.column("position", sa.Integer),
        )
        connection.execute(
            sa.insert(_values).from_select(
                [c.name for c in _values.c],
                sa.select(
                    tenant,
                    _fields.c.id,
                    v.c.code,
                    v.c.label_en,
                    v.c.label_zh,
                    v.c.colour,
                    v.c.position,
                    sa.true(),
                ).join_from(
                    v,
                    _fields,
                    sa.and_(
                        _fields.c.tenant_id == tenant,
                        _fields.c.object_id == v.c.object_id,
                        _fields.c.key == v.c.key,
                    ),
                ),
            )
        )
    return added


def install(connection: sa.Connection, tenant_id: int, objects: Mapping[str, int]) -> None:
    """Give a new tenant the whole catalogue, in the caller's transaction (signup). New tenants
    have no stored page layouts, so the default layout shows these fields first, in order."""
    _install(connection, tenant_id, objects)


def backfill(connection: sa.Connection) -> dict[int, int]:
    """Give every existing tenant the system fields it lacks (migration 0008): a key the tenant
    already uses on that object (a field of its own, even a deleted one) is left as it is.
    New fields go after the existing ones, into a "Details" section of a stored page layout,
    and the tenant's metadata version goes up. Answers the number of fields added per tenant.

    Runs on the owner's connection; ``app.tenant_id`` is set per tenant so that row-level
    security (forced on a table's owner too, unless the owner is a superuser) lets it in.
    """
    added_per_tenant: dict[int, int] = {}
    tenant_ids = connection.execute(sa.select(_tenants.c.id).order_by(_tenants.c.id)).scalars()
    for tenant_id in list(tenant_ids):
        connection.execute(sa.select(sa.func.set_config("app.tenant_id", str(tenant_id), True)))
        objects = dict(
            connection.execute(
                sa.select(_objects.c.key, _objects.c.id).where(
                    _objects.c.tenant_id == tenant_id,
                    _objects.c.is_standard.is_(True),
                    _objects.c.key.in_(list(CATALOGUE)),
                )
            ).all()
        )
        if not objects:
            continue
        existing = connection.execute(
            sa.select(_fields.c.object_id, _fields.c.key).where(
                _fields.c.tenant_id == tenant_id,
                _fields.c.object_id.in_(list(objects.values())),
            )
        ).all()
        positions = dict(
            connection.execute(
                sa.select(_fields.c.object_id, sa.func.max(_fields.c.position) + 1)
                .where(
                    _fields.c.tenant_id == tenant_id,
                    _fields.c.object_id.in_(list(objects.values())),
                )
                .group_by(_fields.c.object_id)
            ).all()
        )
        added = _install(
            connection,
            tenant_id,
            objects,
            skip=[(object_id, key) for object_id, key in existing],
            positions=positions,
        )
        if not added:
            continue
        _place_in_layouts(connection, tenant_id, added)
        connection.execute(
            sa.update(_tenants)
            .where(_tenants.c.id == tenant_id)
            .values(metadata_version=_tenants.c.metadata_version + 1)
        )
        added_per_tenant[tenant_id] = sum(len(keys) for keys in added.values())
    connection.execute(sa.select(sa.func.set_config("app.tenant_id", "", True)))
    return added_per_tenant


def _place_in_layouts(
    connection: sa.Connection, tenant_id: int, added: Mapping[int, list[str]]
) -> None:
    """Stored layouts list their fields: add the new ones to the "Details" section (created at
    the end when there is none, or the last section when a layout is full)."""
    stored = connection.execute(
        sa.select(_layouts.c.object_id, _layouts.c.sections).where(
            _layouts.c.tenant_id == tenant_id, _layouts.c.object_id.in_(list(added))
        )
    ).all()
    for object_id, sections in stored:
        sections = [dict(s) for s in sections or []]
        placed = {key for s in sections for key in s.get("fields", [])}
        keys = [k for k in added[object_id] if k not in placed]
        if not keys:
            continue
        target = next((s for s in sections if s.get("title_en") == SECTION_EN), None)
        if target is None and len(sections) < MAX_SECTIONS:
            target = {"title_en": SECTION_EN, "title_zh": SECTION_ZH, "columns": 1, "fields": []}
            sections.append(target)
        elif target is None:
            target = sections[-1]
        target["fields"] = [*target.get("fields", []), *keys]
        connection.execute(
            sa.update(_layouts)
            .where(_layouts.c.tenant_id == tenant_id, _layouts.c.object_id == object_id)
            .values(sections=sections)
        )
