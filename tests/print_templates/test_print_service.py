"""Print template services: starters at signup and on first use, versions that only grow,
validation with the renderer (422 naming the line), one default per object and language (also in
the database), archiving, choosing the template to print with, the context a template sees
(field access, lookups, quote money, contract plan, approval), and snapshots that cannot change."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import delete, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from print_templates import context as contexts
from print_templates import services as templates
from print_templates.models import PrintTemplate
from saas.crm import quotes
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.records import services as records
from tenants import services as tenant_services
from tenants.context import tenant_context
from tenants.errors import Forbidden
from tenants.models import AuditEvent
from tests.print_templates.conftest import LINES

D = Decimal
SOURCE = "<h1>{{ record.name }}</h1>\n<p>{{ company.name }}</p>\n"


@pytest.fixture
def inside(app):
    """Run a block as a member of a company, inside a request (as the services expect)."""

    def enter(company, user_id: int | None = None):
        from contextlib import ExitStack

        from flask import g

        stack = ExitStack()
        stack.enter_context(app.test_request_context())
        stack.enter_context(
            tenant_context(company.tenant_id, db.session, user_id or company.owner_id)
        )
        member = tenant_services.membership(user_id or company.owner_id)
        g.tenant, g.membership = member.tenant, member
        return stack, member

    return enter


def _new(member, **body):
    body = {"object_key": "account", "name": "Customer card", "locale": "en", **body}
    return templates.create_template(member, body)


def test_signup_installs_the_starters_once(app, make_company, inside):
    company = make_company()
    stack, _member = inside(company)
    with stack:
        found = templates.list_templates()
        starters = {(t.object_key, t.locale): t for t in found if t.starter}
        assert set(starters) == {
            ("quote", "zh_CN"),
            ("quote", "en"),
            ("contract", "zh_CN"),
            ("contract", "en"),
        }
        assert all(t.is_default and t.current_version == 1 for t in starters.values())
        version = templates.current(starters[("quote", "zh_CN")])
        assert version.source == templates.starter_source("quote.zh_CN")[0]
        assert version.note == "starter"
        # Installing again adds nothing, even after the process forgets it did.
        templates._complete.discard(company.tenant_id)
        assert templates.ensure_starters() == 0
        assert len(templates.list_templates()) == len(found)


def test_existing_company_gets_the_starters_on_first_use(app, make_company, inside):
    company = make_company()
    stack, _member = inside(company)
    with stack:
        # As if the company had signed up before print templates existed.
        db.session.execute(delete(PrintTemplate))
        db.session.commit()
        templates._complete.discard(company.tenant_id)
        assert templates.list_templates() != []
        assert {t.starter for t in templates.list_templates()} >= {"quote.zh_CN", "contract.en"}
        events = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "print_template.starters_installed")
        ).scalars()
        assert [e.after["n"] for e in events] == [4]


def test_every_save_is_a_new_version_and_old_ones_stay(app, make_company, inside):
    company = make_company()
    stack, member = inside(company)
    with stack:
        template = _new(member, source=SOURCE, css="h1 { color: red; }")
        assert template.current_version == 1
        same = templates.update_template(member, template.id, {"source": SOURCE})
        assert same.current_version == 1  # nothing changed: no version
        changed = templates.update_template(
            member, template.id, {"source": SOURCE + "<p>v2</p>", "base_version": 1}
        )
        assert changed.current_version == 2
        assert templates.get_version(template.id, 1).source == SOURCE
        assert templates.get_version(template.id, 2).css == "h1 { color: red; }"
        # Someone saved version 2 meanwhile: an edit of version 1 is refused.
        with pytest.raises(DomainError) as stale:
            templates.update_template(member, template.id, {"source": "x", "base_version": 1})
        assert stale.value.status == 409
        restored = templates.restore_version(member, template.id, 1)
        assert restored.current_version == 3
        assert templates.current(restored).source == SOURCE
        assert templates.current(restored).note == "Restored from version 1"
        assert [v.version for v in templates.history(template.id)] == [3, 2, 1]
        actions = [
            e.action
            for e in db.session.execute(
                select(AuditEvent)
                .where(AuditEvent.target_type == "print_template")
                .order_by(AuditEvent.id)
            ).scalars()
        ]
        assert actions == [
            "print_template.created",
            "print_template.updated",
            "print_template.restored",
        ]


def test_a_template_that_does_not_compile_is_refused_with_its_line(app, make_company, inside):
    company = make_company()
    stack, member = inside(company)
    with stack:
        with pytest.raises(templates.TemplateInvalid) as refused:
            _new(member, source="<p>ok</p>\n<p>{% for x in %}</p>\n")
        assert refused.value.status == 422
        assert list(refused.value.errors) == ["source"]
        assert "2" in refused.value.errors["source"][0]  # the line
        template = _new(member, source=SOURCE)
        with pytest.raises(templates.TemplateInvalid):
            templates.update_template(member, template.id, {"source": "{{ record.name "})
        assert templates.get_template(template.id).current_version == 1
        with pytest.raises(ValidationFailed) as bad:
            _new(member, object_key="no_such_object", name="", locale="fr")
        assert set(bad.value.errors) == {"object_key", "name", "locale"}


def test_only_owners_and_admins_change_templates(app, make_company, add_member, inside):
    company = make_company()
    rep = add_member(company, "member")
    stack, member = inside(company, rep.id)
    with stack:
        with pytest.raises(Forbidden):
            _new(member, source=SOURCE)
        starter = templates.list_templates("quote")[0]
        with pytest.raises(Forbidden):
            templates.update_template(member, starter.id, {"name": "mine"})
        with pytest.raises(Forbidden):
            templates.restore_version(member, starter.id, 1)
        assert templates.list_templates("quote")  # reading is for everyone


def test_one_default_per_object_and_language(app, make_company, inside, settings):
    company = make_company()
    stack, member = inside(company)
    with stack:
        first = _new(member, source=SOURCE, is_default=True)
        second = _new(member, name="Second", source=SOURCE, is_default=True)
        other_language = _new(member, name="Chinese", locale="zh_CN", is_default=True)
        db.session.expire_all()
        assert not templates.get_template(first.id).is_default
        assert templates.get_template(second.id).is_default
        assert templates.get_template(other_language.id).is_default
        # Archiving drops the mark; an archived template cannot take it.
        templates.update_template(member, second.id, {"active": False})
        assert not templates.get_template(second.id).is_default
        with pytest.raises(ValidationFailed):
            templates.update_template(member, second.id, {"is_default": True})
        assert second.id not in {t.id for t in templates.list_templates("account")}
        assert second.id in {t.id for t in templates.list_templates("account", archived=True)}
        templates.update_template(member, first.id, {"is_default": True})
        # The database holds the rule too.
        db.session.add(
            PrintTemplate(
                object_key="account", name="Sneaky", locale="en", is_default=True, active=True
            )
        )
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_choosing_the_template_to_print_with(app, make_company, inside):
    company = make_company()
    stack, member = inside(company)
    with stack:
        # No template for customers: the generic one, in the language asked for.
        generic = templates.choose("account", None, "en")
        assert generic.generic and generic.locale == "en"
        assert "fields" in templates.source_of(generic)[0]
        chinese = _new(member, locale="zh_CN", source=SOURCE, is_default=True)
        # No English default: the Chinese one.
        assert templates.choose("account", None, "en").template_id == chinese.id
        english = _new(member, source=SOURCE, is_default=True)
        assert templates.choose("account", None, "en").template_id == english.id
        picked = templates.choose("account", chinese.id, "en")
        assert (picked.template_id, picked.version, picked.locale) == (chinese.id, 1, "zh_CN")
        quote_template = templates.list_templates("quote")[0]
        with pytest.raises(ValidationFailed):
            templates.choose("account", quote_template.id, "en")  # another object's
        templates.update_template(member, chinese.id, {"active": False})
        with pytest.raises(ValidationFailed):
            templates.choose("account", chinese.id, "en")  # archived
        with pytest.raises(DomainError):
            templates.choose("no_such_object", None, "en")


def test_snapshots_cannot_change(app, make_company, inside, settings):
    company = make_company()
    stack, member = inside(company)
    with stack:
        template_id = _new(member, source=SOURCE).id
    url = make_url(settings.runtime_database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(company.tenant_id),))
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="cannot be"):
            conn.execute(
                "UPDATE print_template_versions SET source = 'changed' WHERE template_id = %s",
                (template_id,),
            )
        conn.rollback()
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(company.tenant_id),))
        rows = conn.execute(
            "SELECT source FROM print_template_versions WHERE template_id = %s", (template_id,)
        ).fetchall()
        assert rows == [(SOURCE,)]


# ---------------------------------------------------------------- the context


def test_quote_context_has_lines_totals_parties_and_approval(shop, inside):
    quote_id = shop.quote("Q-2026-0007", LINES, submit=False)
    stack, member = inside(shop.company)
    with stack:
        record = records.get_record("quote", quote_id)
        draft = contexts.build(member, "quote", record, locale="zh_CN")
        priced = quotes.price_of(record)
        assert draft["document"]["approved"] is False
        assert draft["document"]["status"] == "draft"
        assert draft["document"]["number"] == "Q-2026-0007"
        assert draft["document"]["currency"] == "CNY"
        assert [line["product"] for line in draft["lines"]] == ["服务器 R740", "安装调试服务"]
        assert draft["lines"][0]["quantity"] == D("2")
        assert draft["lines"][0]["unit_price"] == D("38000")
        assert draft["lines"][0]["line_total"] == D("76000.00")  # before tax, as priced
        assert draft["lines"][1]["line_total"] == D("5000.00")
        assert draft["totals"] == {
            "subtotal": D("81000.00"),
            "discount": priced.header_discount,
            "tax": priced.tax_total,
            "total": priced.total,
        }
        assert priced.tax_total == D("10180.00")  # 76000 × 13 % + 5000 × 6 %
        assert draft["totals"]["total"] == D("91180.00")
        assert draft["customer"]["name"] == "北京示例贸易有限公司"
        assert draft["customer"]["phone"] == "010 1234 5678"  # as the record page shows it
        assert draft["customer"]["contact"]["name"] == "王小明"
        assert draft["customer"]["contact"]["phone"].replace(" ", "") == "13800000000"
        assert draft["company"]["name"] == "上海客户科技有限公司"
        assert draft["owner"]["email"] == shop.company.owner_email
        assert draft["record"]["name"] == "Q-2026-0007"
        assert draft["record"]["account"] == "北京示例贸易有限公司"  # a lookup shows its name
        assert {f["key"] for f in draft["fields"]} >= {"account", "status", "total"}
        # Plain data only: the renderer refuses anything else.
        from print_templates.sandbox import plain_context

        plain_context(draft)
    shop.owner.post(shop.url(f"/quotes/{quote_id}/submit"), json={})
    stack, member = inside(shop.company)
    with stack:
        approved = contexts.build(
            member, "quote", records.get_record("quote", quote_id), locale="en"
        )
        assert approved["document"]["approved"] is True
        assert approved["document"]["status_label"] == "Approved"


def test_hidden_fields_never_reach_the_template(shop, inside):
    response = shop.owner.post(
        shop.url("/objects/account/fields"),
        json={"key": "credit_note", "type": "text", "label": "Credit note"},
    )
    assert response.status_code == 201, response.get_json()
    assert (
        shop.owner.put(
            shop.url("/objects/account/fields/credit_note/access"), json={"member": "hidden"}
        ).status_code
        == 200
    )
    assert (
        shop.owner.put(
            shop.url("/objects/quote_line/fields/unit_price/access"), json={"member": "hidden"}
        ).status_code
        == 200
    )
    response = shop.owner.patch(
        shop.url(f"/records/account/{shop.customer_id}"),
        json={"credit_note": "slow payer"},
        headers={"If-Match": '"v1"'},
    )
    assert response.status_code == 200, response.get_json()
    quote_id = shop.quote("Q-hidden", LINES)
    stack, rep = inside(shop.company, shop.rep_id)
    with stack:
        account = records.get_record("account", shop.customer_id)
        seen = contexts.build(rep, "account", account, locale="en")
        assert "credit_note" not in seen["record"]
        assert "slow payer" not in repr(seen)
        quote = contexts.build(rep, "quote", records.get_record("quote", quote_id), locale="en")
        assert all(line["unit_price"] is None for line in quote["lines"])
    stack, owner = inside(shop.company)
    with stack:
        account = records.get_record("account", shop.customer_id)
        assert contexts.build(owner, "account", account, locale="en")["record"]["credit_note"] == (
            "slow payer"
        )


def test_contract_context_has_its_plan_and_the_quote_lines(shop, inside):
    quote_id = shop.quote("Q-for-contract", LINES)
    contract_id = shop.record(
        "contract",
        name="HT-test",
        account=shop.customer_id,
        quote=quote_id,
        amount={"amount": "91180", "currency": "CNY"},
        start_date="2026-01-01",
        end_date="2026-12-31",
    )
    base = f"/contracts/{contract_id}"
    for action in ("submit", "approve"):
        assert shop.owner.post(shop.url(f"{base}/{action}"), json={}).status_code == 200
    plan = [
        {"due_date": "2026-02-01", "amount": "45590", "note": "预付款"},
        {"due_date": "2026-06-01", "amount": "45590"},
    ]
    response = shop.owner.put(shop.url(f"{base}/plan"), json={"instalments": plan})
    assert response.status_code == 200, response.get_json()
    stack, member = inside(shop.company)
    with stack:
        context = contexts.build(
            member, "contract", records.get_record("contract", contract_id), locale="zh_CN"
        )
        assert context["document"]["approved"] is True
        assert context["document"]["status"] == "signed"
        assert context["document"]["quote_number"] == "Q-for-contract"
        assert [(p["no"], p["amount"], p["note"]) for p in context["payments"]] == [
            (1, D("45590"), "预付款"),
            (2, D("45590"), None),
        ]
        assert context["totals"]["total"] == D("91180")
        assert len(context["lines"]) == 2
        assert context["customer"]["name"] == "北京示例贸易有限公司"


def test_a_template_cannot_reach_another_company(app, make_company, shop, inside):
    """A lookup holding another company's record id finds nothing: the context is built in the
    company's own scope (ORM filter and row-level security)."""
    other = make_company(name="Other company 乙")
    stack, member = inside(other)
    with stack:
        foreign = records.create_record(member, "account", {"name": "Bravo secret account"})
        foreign_id = foreign.id
    quote_id = shop.record("quote", name="Q-cross")
    stack, member = inside(shop.company)
    with stack:
        quote = records.get_record("quote", quote_id)
        quote.data = {**quote.data, "account": foreign_id}  # forged past the record service
        db.session.flush()
        context = contexts.build(member, "quote", quote, locale="en")
        assert context["customer"] is None
        assert "Bravo secret" not in repr(context)
        assert context["company"]["name"] == shop.company.name
        db.session.rollback()
