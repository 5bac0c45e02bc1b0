"""The data a print template sees: the context shape for quotes, contracts and any other record.

The renderer (:mod:`print_templates.render`) accepts plain data only — dicts, lists and tuples of
``str``, ``int``, ``Decimal``, ``bool``, ``None``, ``datetime.date`` and ``datetime.datetime``
(``float`` is accepted and turned into ``Decimal``). Anything else (ORM objects, functions,
classes) is refused before rendering. The context builder (:mod:`print_templates.context`) fills
the shape below from the records; templates read it with ``{{ company.name }}``,
``{% for line in lines %}`` and the filters of :mod:`print_templates.sandbox`.

Conventions

* **Money** is a ``Decimal`` (or a numeric string) in ``document.currency``; print it with
  ``{{ totals.total|money }}`` (the document's currency) or ``|money('USD')``.
* **Percentages** are numbers of percent: ``Decimal("12.5")`` means 12.5 %; print them with
  ``|percent``.
* **Dates** are ``datetime.date`` (or ISO strings); ``|date`` prints them per locale
  (``2025年3月1日`` / ``Mar 1, 2025``); ``|date('long')``, ``|date('yyyy-MM-dd')`` also work.
* **Optional values** may be ``None`` or missing from a dict:
  ``{{ customer.tax_id|default('—') }}``.
  A name that is not in the context at all is an error that names it (a typo shows at once).
* **Assets** (the company's uploaded logo and seal) are not in the context as bytes: a template
  refers to them as ``asset:logo`` / ``asset:seal``. ``company.logo`` and ``company.seal`` hold
  that URL when the asset exists and ``None`` otherwise, so ``{% if company.logo %}`` avoids a
  missing-image box.

The tables below are the contract between the context builder and the templates (including the
starters in ``print_templates/starters/``), and are shown to template authors in the editor's
field picker and in ``docs/templates.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

#: ``name: description`` per variable; nested names use dots, list items use ``[]``.
COMMON: Mapping[str, str] = MappingProxyType(
    {
        "company": "The company printing the document (the tenant).",
        "company.name": "Company name, e.g. 上海客户科技有限公司.",
        "company.address": "Postal address (one line or several lines separated by newlines).",
        "company.phone": "Phone number.",
        "company.email": "E-mail address.",
        "company.website": "Web site.",
        "company.tax_id": "Unified social credit code / tax number (统一社会信用代码).",
        "company.bank_name": "Bank of the company's account (开户行).",
        "company.bank_account": "Bank account number (账号).",
        "company.logo": "'asset:logo' when a logo was uploaded, else None.",
        "company.seal": "'asset:seal' when a seal (公章) image was uploaded, else None.",
        "owner": "The record's owner (the salesperson); None when the record has none.",
        "owner.name": "Name.",
        "owner.title": "Position, e.g. 客户经理.",
        "owner.phone": "Phone number.",
        "owner.email": "E-mail address.",
        "record": "Every field of the printed record by field key (standard and custom fields), "
        "values as the field types print them; e.g. record.name, record.cf_region.",
        "object": "The printed object: object.key (e.g. quote, cf_project) and object.label.",
        "fields": "Every field the person printing may see, in page order: a list of "
        "{key, label, value}, value as text (the generic print template loops over it).",
        "printed_at": "When the document was generated (datetime, company time zone).",
        "locale": "Language of the document: 'zh_CN' or 'en' (set by the renderer).",
    }
)

#: Quotes (报价单): the object key ``quote``.
QUOTE: Mapping[str, str] = MappingProxyType(
    {
        "customer": "The customer (account) the quote is for.",
        "customer.name": "Customer name.",
        "customer.code": "Customer code, if any.",
        "customer.address": "Postal address.",
        "customer.phone": "Phone number.",
        "customer.tax_id": "Tax number.",
        "customer.contact": "The contact person of the quote (may be None).",
        "customer.contact.name": "Contact name.",
        "customer.contact.title": "Contact position.",
        "customer.contact.phone": "Contact phone.",
        "customer.contact.email": "Contact e-mail.",
        "document": "The quote itself.",
        "document.kind": "'quote'.",
        "document.number": "Quote number, e.g. Q-2025-0042.",
        "document.title": "Subject of the quote.",
        "document.date": "Quote date (date).",
        "document.valid_until": "Valid until (date, may be None).",
        "document.revision": "Revision number (1, 2, …).",
        "document.status": "Status code: draft, pending_approval, approved, sent, accepted, "
        "rejected, expired.",
        "document.status_label": "Status in the document's language.",
        "document.approved": "True once the quote is approved (approved, sent or accepted): the "
        "starters print a DRAFT watermark while it is False.",
        "document.currency": "ISO currency code of all amounts, e.g. CNY.",
        "document.tax_mode": "'exclusive' (prices before tax) or 'inclusive' (prices include tax).",
        "document.payment_terms": "Payment terms text (may be None).",
        "document.delivery_terms": "Delivery terms text (may be None).",
        "document.notes": "Notes (may be None).",
        "lines": "Line items, in order (list).",
        "lines[].no": "Line number, from 1.",
        "lines[].product": "Product name.",
        "lines[].code": "Product code (may be None).",
        "lines[].spec": "Specification / model (规格型号, may be None).",
        "lines[].unit": "Unit of measure, e.g. 台, 套, pcs (may be None).",
        "lines[].quantity": "Quantity (Decimal).",
        "lines[].unit_price": "Unit price (money).",
        "lines[].discount": "Line discount in percent (Decimal, 0 when none).",
        "lines[].tax_rate": "Tax rate in percent, e.g. 13.",
        "lines[].line_total": "Line amount after its discount (money).",
        "lines[].notes": "Line notes (may be None).",
        "totals": "Totals of the quote (money).",
        "totals.subtotal": "Sum of the lines before the overall discount.",
        "totals.discount": "Overall discount amount (0 when none).",
        "totals.tax": "Tax amount.",
        "totals.total": "Amount due, tax included.",
        "terms": "Terms and conditions: a list of clauses (strings), may be empty.",
    }
)

#: Contracts (合同): the object key ``contract``. Same parties and lines as a quote, plus dates
#: and the payment plan.
CONTRACT: Mapping[str, str] = MappingProxyType(
    {
        **{k: v for k, v in QUOTE.items() if not k.startswith("document.")},
        "document": "The contract itself.",
        "document.kind": "'contract'.",
        "document.number": "Contract number, e.g. HT-2025-0007.",
        "document.title": "Contract title.",
        "document.date": "Contract date (date).",
        "document.signed_date": "Date signed (date, may be None).",
        "document.start_date": "Start of the term (date, may be None).",
        "document.end_date": "End of the term (date, may be None).",
        "document.status": "Status code of the contract.",
        "document.status_label": "Status in the document's language.",
        "document.approved": "True once the contract is approved or in force: the starters print "
        "a DRAFT watermark while it is False.",
        "document.currency": "ISO currency code of all amounts, e.g. CNY.",
        "document.tax_mode": "'exclusive' or 'inclusive'.",
        "document.payment_terms": "Payment terms text (may be None).",
        "document.delivery_terms": "Delivery terms text (may be None).",
        "document.notes": "Notes (may be None).",
        "document.quote_number": "Number of the quote the contract came from (may be None).",
        "payments": "Payment plan (list, may be empty).",
        "payments[].no": "Instalment number, from 1.",
        "payments[].due_date": "Due date (date).",
        "payments[].amount": "Amount (money).",
        "payments[].note": "What the instalment is for, e.g. 预付款 (may be None).",
    }
)

#: Variables per object key; other objects (custom ones included) get :data:`COMMON` only.
BY_OBJECT: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {"quote": QUOTE, "contract": CONTRACT}
)


def variables_for(object_key: str) -> dict[str, str]:
    """Every variable a template of ``object_key`` may use, with its description."""
    return {**COMMON, **BY_OBJECT.get(object_key, {})}


def sample_context(object_key: str = "quote", *, locale: str = "zh_CN") -> dict[str, Any]:
    """A complete example context (for tests, the benchmark and the editor's empty preview)."""
    from print_templates.samples import sample

    return sample(object_key, locale=locale)
