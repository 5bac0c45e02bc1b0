"""The standard objects every tenant starts with."""

from __future__ import annotations

from custom_fields.models import ObjectDefinition

# key, English label, English plural, Chinese label, Chinese plural, icon
STANDARD_OBJECTS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("account", "Customer", "Customers", "客户", "客户", "building"),
    ("contact", "Contact", "Contacts", "联系人", "联系人", "person"),
    ("lead", "Lead", "Leads", "线索", "线索", "funnel"),
    ("opportunity", "Opportunity", "Opportunities", "商机", "商机", "graph-up"),
    ("activity", "Activity", "Activities", "跟进记录", "跟进记录", "calendar-event"),
    ("product", "Product", "Products", "产品", "产品", "box"),
    ("quote", "Quote", "Quotes", "报价单", "报价单", "file-earmark-text"),
    ("quote_line", "Quote line", "Quote lines", "报价明细", "报价明细", "list-ul"),
    ("contract", "Contract", "Contracts", "合同", "合同", "file-earmark-check"),
)


def standard_object_definitions() -> list[ObjectDefinition]:
    """Fresh, unsaved definitions for a new tenant (the caller's transaction saves them)."""
    return [
        ObjectDefinition(
            key=key,
            label_en=label_en,
            plural_en=plural_en,
            label_zh=label_zh,
            plural_zh=plural_zh,
            icon=icon,
            is_standard=True,
            position=index,
        )
        for index, (key, label_en, plural_en, label_zh, plural_zh, icon) in enumerate(
            STANDARD_OBJECTS
        )
    ]
