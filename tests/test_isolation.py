"""Two tenants, every route: tenant A's people and tokens can never read or change tenant B.

The walk covers every rule in the URL map. A new route fails this test until it is classified
(public, or tenant-scoped with a provider for each of its URL parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from saas.extensions import db
from tenants import services
from tenants.context import tenant_context
from tenants.models import ApiToken, Invitation, Membership

# Endpoints that are meant to be reachable without a tenant.
PUBLIC_ENDPOINTS = {
    "static",
    "health.healthz",
    "health.readyz",
    "accounts.index",
    "accounts.signup",
    "accounts.login",
    "accounts.logout",
    "accounts.forgot_password",
    "accounts.reset_password",
    "accounts.tenant_list",
    "accounts.account",
    "accounts.revoke_session",
    "accounts.set_locale",
    "api_public.signup",
    "api-docs.openapi_json",
}
# Tenant endpoints that deliberately work without membership (the invitation link itself).
TENANT_PUBLIC_ENDPOINTS = {"tenant.accept_invite"}

# Request bodies that would change something if tenant scoping failed.
FORM_BODY = {
    "role": "read_only",
    "email": "intruder@example.com",
    "name": "intruder",
    "password": "intruder password 123",
    "default_locale": "en",
    "timezone": "UTC",
    "currency": "USD",
}
# Extra form fields for particular UI endpoints (on top of FORM_BODY).
FORM_BODIES = {
    "admin.objects": {"key": "a_probe_object", "label_en": "Probe"},
    "admin.edit_object": {"label_en": "hijacked", "label_zh": "hijacked"},
    "admin.new_field": {"key": "a_probe_field", "label_en": "x"},
    "admin.edit_field": {"label_en": "hijacked", "label_zh": "hijacked"},
    "admin.move_field": {"direction": "up"},
    "admin.reorder": {"keys": "b_only_field"},
    "admin.save_values": {"values-0-code": "X", "values-0-label_en": "hijacked"},
    "admin.save_access": {"access-member": "hidden", "access-read_only": "hidden"},
    "admin.layout": {
        "section": "0",
        "section-0-title_en": "hijacked",
        "field": "b_only_field",
        "place-b_only_field": "0",
    },
    "records.create": {"field-b_only_field": "hijacked"},
    "records.edit": {"version": "1", "field-b_only_field": "hijacked"},
    "records.create_view": {"state": "q=Bravo", "name": "A probe view"},
    "records.update_view": {"action": "rename", "name": "hijacked"},
    # A bulk action over "all matching" must only ever count and change A's records.
    "list_actions.bulk": {
        "action": "delete",
        "all": "1",
        "q": "Bravo secret",
        "expected_count": "1",
    },
    "teams.index": {"name": "A probe team", "parent_id": ""},
    "teams.edit": {"name": "hijacked", "parent_id": ""},
    "teams.save_scopes": {"scope-manager": "own"},
    "teams.set_member_team": {"team_id": "", "position": "hijacked"},
    "price_lists.detail": {"name": "hijacked", "currency": "USD", "active": "on"},
    "price_lists.items": {"product": ["1"], "min_quantity": ["1"], "unit_price": ["0"]},
    "pool.release": {"reason": "hijacked"},
    "pool.assign": {"user_id": "1", "override_cap": "y"},
    "activities.post_reply": {"body": "A probe reply"},
    "activities.log": {"type": "visit", "status": "done", "result": "probe"},
    "activities.complete": {"result": "hijacked"},
    "contracts.change_status": {"action": "terminate", "text": "hijacked"},
    "contracts.plan": {"rows": "0"},
    "contracts.add_payment": {"received_on": "2026-01-02", "amount": "1"},
    "contracts.edit_payment": {"received_on": "2026-01-02", "amount": "999", "method": "cash"},
    "quotes.act": {"action": "reject", "comment": "hijacked"},
    "quotes.lines": {"version": "2", "line-0-name": "hijacked", "line-0-quantity": "1"},
    "leads.assign": {"user_id": "1"},
    "leads.convert": {"account-name": "A probe", "contact-name": "A probe"},
    "pipeline.move": {"stage": "lost", "version": "1", "lost_reason": "hijacked"},
    "tenant.transfer_records": {"to_user_id": "1", "objects": "account", "confirmed": "1"},
    # A merge names its records in the body: another company's ids are unknown records.
    "print_templates.index": {"object_key": "account", "name": "A probe template", "locale": "en"},
    "print_templates.editor": {"name": "hijacked", "source": "<p>hijacked</p>", "css": ""},
    "print_templates.set_state": {"active": "0"},
    "print_templates.preview": {"record_id": "1", "source": "<p>{{ record.name }}</p>"},
    "print_templates.print_batch": {"ids": ["1"]},
    "merge.run": {"survivor": "1", "ids": ["1", "2"], "confirm": "1", "version-1": "1"},
    "reports.new": {"state": "object=account&type=summary&g0=name", "name": "A probe report"},
    "reports.edit": {"state": "object=account&type=summary&g0=name", "name": "hijacked"},
    "reports.report_schedules": {"frequency": "daily", "time": "08:00"},
    "reports.dashboard_schedules": {"frequency": "daily", "time": "08:00"},
    "reports.change_schedule": {"action": "delete"},
    "reports.dashboards": {"name": "A probe dashboard"},
    "reports.edit_dashboard": {"name": "hijacked", "visibility": "private"},
    "reports.add_widget": {"report_id": "1", "kind": "report"},
    "reports.add_to_dashboard": {"dashboard_id": "1", "kind": "report"},
}
API_BODIES = {
    "api_metadata.convert_field": {"type": "integer", "clear_failures": True},
    "api_metadata.preview_conversion": {"type": "integer"},
    "api_records.create_record": {"name": "A's probe"},
    "api_records.update_record": {"name": "hijacked"},
    "api_metadata.create_field": {"key": "a_probe_field", "type": "text", "label": "x"},
    "api_metadata.update_field": {"label": "hijacked"},
    "api_metadata.reorder_fields": {"keys": ["b_only_field"]},
    "api_metadata.set_access": {"member": "hidden"},
    "api_metadata.put_layout": {"sections": [{"title_en": "hijacked", "fields": ["b_only_field"]}]},
    "api_tenant.patch_user": {"role": "read_only", "status": "deactivated"},
    "api_tenant.create_invitation": {"email": "intruder@example.com", "role": "owner"},
    "api_tenant.patch_settings": {"name": "hijacked"},
    "api_views.create_view": {"name": "A probe view", "visibility": "tenant"},
    "api_views.update_view": {"name": "hijacked", "visibility": "private"},
    "api_views.put_default": {"view": "mine"},
    "api_list_actions.export": {"q": "Bravo secret", "columns": ["name"]},
    "api_list_actions.bulk": {
        "action": "delete",
        "query": {"q": "Bravo secret"},
        "expected_count": 1,
    },
    "api_teams.create_team": {"name": "A probe team"},
    "api_teams.patch_team": {"name": "hijacked", "parent_id": None},
    "api_teams.patch_role": {"data_scope": "own"},
    "api_teams.patch_member": {"team_id": None, "position": "hijacked"},
    "api_price_lists.create_price_list": {"name": "A probe list", "currency": "CNY"},
    "api_price_lists.patch_price_list": {"name": "hijacked", "is_default": True},
    "api_price_lists.put_items": {"items": []},
    # A's duplicate check must never find (or count) B's customer of the same name.
    "api_duplicates.check": {"values": {"name": "Bravo secret customer"}},
    "api_pool.release": {"reason": "hijacked"},
    "api_pool.assign": {"user_id": 1, "override_cap": True},
    "api_activities.create_reply": {"body": "A probe reply"},
    "api_activities.complete_activity": {"result": "hijacked"},
    "api_activities.put_visit_targets": {"targets": [{"grade": "A", "days": 1}]},
    "api_contracts.put_plan": {"instalments": []},
    "api_contracts.record_payment": {"amount": "1", "received_on": "2026-01-02"},
    "api_contracts.correct_payment": {"amount": "999"},
    "api_contracts.reject": {"comment": "hijacked"},
    "api_contracts.terminate": {"reason": "hijacked"},
    "api_quotes.put_lines": {"lines": [{"name": "hijacked", "quantity": "1", "unit_price": "1"}]},
    "api_quotes.preview": {"lines": [{"name": "A probe", "quantity": "1", "unit_price": "1"}]},
    "api_quotes.approve_quote": {"comment": "hijacked"},
    "api_quotes.reject_quote": {"comment": "hijacked"},
    "api_leads.assign": {"user_id": 1},
    "api_leads.convert": {"opportunity": {}},
    "api_history.transfer_records": {"to_user_id": 1},
    "api_print.create_template": {"object_key": "account", "name": "A probe", "locale": "en"},
    "api_print.patch_template": {"name": "hijacked", "active": False},
    "api_print.preview_template": {"record_id": 1, "source": "<p>{{ record.name }}</p>"},
    "api_print.create_batch": {"ids": [1]},
    "api_merge.preview": {"survivor": 1, "others": [2]},
    "api_reports.create_report": {
        "name": "A probe report",
        "spec": {"object": "account", "type": "summary", "groups": [{"field": "name"}]},
    },
    "api_reports.patch_report": {"name": "hijacked", "visibility": "private"},
    "api_reports.copy_report": {"name": "A copy of B's report"},
    "api_reports.create_dashboard": {"name": "A probe dashboard"},
    "api_reports.patch_dashboard": {"name": "hijacked", "layout": []},
    "api_reports.create_schedule": {"report_id": 1, "frequency": "daily", "time": "08:00"},
    "api_reports.patch_schedule": {"active": False, "recipients": [1]},
    "api_merge.merge_records": {
        "survivor": 1,
        "others": [2],
        "expected_versions": {"1": 1, "2": 1},
    },
}
ALLOWED_STATUSES = {400, 401, 403, 404, 405}


@dataclass
class TenantB:
    slug: str
    name: str
    owner_id: int
    owner_email: str
    invitation_id: int
    invitation_token: str
    token_id: int
    token_prefix: str
    session_id: str
    field_key: str
    record_id: int
    job_id: str
    team_id: int = 0
    import_id: str = ""
    view_id: int = 0
    activity_id: int = 0
    reply_id: int = 0
    pool_account_id: int = 0
    notification_id: int = 0
    contract_id: int = 0
    payment_id: int = 0
    quote_id: int = 0
    lead_id: int = 0
    opportunity_id: int = 0
    price_list_id: int = 0
    share_id: int = 0
    file_id: int = 0
    template_id: int = 0
    document_id: int = 0
    report_id: int = 0
    dashboard_id: int = 0
    schedule_id: int = 0


@pytest.fixture
def two_tenants(app, make_company, login, drain_jobs, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_DIR", str(tmp_path / "imports"))
    a = make_company(name="Alpha Trading 甲")
    b = make_company(name="Bravo Secret 乙")
    with app.test_request_context(), tenant_context(b.tenant_id, db.session, b.owner_id):
        actor = services.membership(b.owner_id)
        invitation = services.invite(actor, "b-invitee@example.com", "member", "http://x")
        token, _ = services.create_token(actor, "B's integration")
        b_invitation_id, b_token_id, b_prefix = invitation.id, token.id, token.prefix
    # A raw invitation token for B: create one whose raw value we know.
    import secrets
    from datetime import UTC, datetime, timedelta

    raw = secrets.token_urlsafe(32)
    with app.app_context(), tenant_context(b.tenant_id, db.session):
        db.session.add(
            Invitation(
                email="b-second@example.com",
                role_key="member",
                token_hash=services.hash_token(raw),
                expires_at=datetime.now(UTC) + timedelta(days=1),
            )
        )
        db.session.commit()
    b_client = login(b.owner_email)
    with app.app_context():
        from saas.accounts.services import active_sessions

        b_session = active_sessions(b.owner_id)[0].id
    b_field_key = "b_only_field"
    with app.test_request_context(), tenant_context(b.tenant_id, db.session, b.owner_id):
        from custom_fields.services import create_field

        create_field(
            services.membership(b.owner_id),
            "account",
            {"key": b_field_key, "type": "text", "label": "Bravo secret field"},
        )
        from saas.records.services import create_record

        b_record_id = create_record(
            services.membership(b.owner_id),
            "account",
            {"name": "Bravo secret customer", b_field_key: "Bravo secret value"},
        ).id
        from custom_fields import maintenance
        from custom_fields.services import delete_field

        b_actor = services.membership(b.owner_id)
        from custom_fields.layouts import save_layout

        save_layout(
            b_actor,
            "account",
            [{"title_en": "Bravo secret section", "title_zh": "乙", "fields": [b_field_key]}],
        )
        create_field(b_actor, "account", {"key": "b_doomed", "type": "text", "label": "Doomed"})
        delete_field(b_actor, "account", "b_doomed")
        b_job_id = maintenance.purge_field(b_actor, "account", "b_doomed").id
        from tenants.teams import create_team, set_member_team

        b_team_id = create_team(b_actor, "Bravo secret team").id
        set_member_team(b_actor, b.owner_id, b_team_id)
        import io

        from saas.records import imports

        b_import_id = imports.upload(
            b_actor, "account", "bravo.csv", io.BytesIO("名称\nBravo secret import row\n".encode())
        ).id
        from saas.records.views import create_view

        b_pool_id = create_record(
            b_actor, "account", {"name": "Bravo secret pool customer", "owner_id": None}
        ).id
        from tenants import notifications

        note = notifications.notify(
            b.owner_id,
            "pool.returned",
            object_key="account",
            record_id=b_pool_id,
            params={"name": "Bravo secret pool customer", "days": 60},
        )
        db.session.commit()
        b_notification_id = note.id
        b_view_id = create_view(
            b_actor,
            "account",
            {
                "name": "Bravo secret view",
                "visibility": "tenant",
                "filter": {"field": b_field_key, "op": "eq", "value": "x"},
            },
        ).id
    with app.test_request_context(), tenant_context(b.tenant_id, db.session, b.owner_id):
        from saas.crm import activities
        from saas.records.services import create_record as create_b_record

        b_actor = services.membership(b.owner_id)
        b_activity_id = create_b_record(
            b_actor,
            "activity",
            {"name": "Bravo secret visit", "type": "visit", "status": "planned"},
        ).id
        b_reply_id = activities.reply(b_actor, "account", b_record_id, "Bravo secret reply").id
    with app.test_request_context(), tenant_context(b.tenant_id, db.session, b.owner_id):
        from saas.crm import contracts
        from saas.records.services import create_record as create_b_record

        b_actor = services.membership(b.owner_id)
        b_contract_id = create_b_record(
            b_actor,
            "contract",
            {
                "name": "Bravo secret contract",
                "amount": {"amount": "1000", "currency": "CNY"},
                "start_date": "2026-01-01",
                "end_date": "2026-12-31",
            },
        ).id
        contracts.submit(b_actor, b_contract_id)
        contracts.approve(b_actor, b_contract_id)
        contracts.set_plan(b_actor, b_contract_id, [{"due_date": "2026-03-01", "amount": "1000"}])
        b_payment_id = contracts.record_payment(
            b_actor,
            b_contract_id,
            {"amount": "10", "received_on": "2026-01-02", "note": "Bravo secret payment"},
        ).id
        b_quote_id = create_b_record(b_actor, "quote", {"name": "Bravo secret quote"}).id
        # B's quote has lines and waits for approval: A may neither see nor decide it.
        from saas.crm import quotes as b_quotes

        b_line = {"name": "Bravo secret line", "quantity": "1", "unit_price": "9", "discount": "50"}
        b_quotes.save_lines(b_actor, b_quote_id, [b_line], {}, 1)
        b_quotes.submit(b_actor, b_quote_id)
    with app.test_request_context(), tenant_context(b.tenant_id, db.session, b.owner_id):
        from saas.records.services import create_record as create_b_record

        b_actor = services.membership(b.owner_id)
        b_lead_id = create_b_record(
            b_actor, "lead", {"name": "Bravo secret lead", "company": "Bravo secret company"}
        ).id
        b_opportunity_id = create_b_record(
            b_actor, "opportunity", {"name": "Bravo secret deal", "stage": "proposal"}
        ).id
        from saas.crm import price_lists as b_price_lists

        b_product_id = create_b_record(
            b_actor, "product", {"name": "Bravo secret product", "code": "B-SECRET"}
        ).id
        b_price_list_id = b_price_lists.create_price_list(
            b_actor, {"name": "Bravo secret price list", "currency": "CNY", "is_default": True}
        ).id
        b_price_lists.replace_items(
            b_actor, b_price_list_id, [{"product": b_product_id, "unit_price": "7"}]
        )
        services.membership(b.owner_id).position = "Bravo secret position"
        db.session.commit()
        from saas.records import sharing as b_sharing
        from tenants import permissions as b_permissions

        b_share_id = b_sharing.share(
            b_actor, "account", b_record_id, team_id=b_team_id, access="edit"
        ).id
        b_permissions.set_matrix(
            b_actor,
            "manager",
            {"contact": {"view": True, "create": False, "edit": False, "delete": False}},
        )
    with app.test_request_context(), tenant_context(b.tenant_id, db.session, b.owner_id):
        import io

        from saas.files import services as b_files

        b_actor = services.membership(b.owner_id)
        b_file_id = b_files.upload(
            b_actor,
            "account",
            b_record_id,
            "Bravo secret file.txt",
            io.BytesIO(b"Bravo secret bytes"),
        ).id
        png = b"\x89PNG\r\n\x1a\n" + b"Bravo secret logo bytes"
        b_files.put_asset(b_actor, "logo", "Bravo secret logo.png", io.BytesIO(png))
    with app.test_request_context(), tenant_context(b.tenant_id, db.session, b.owner_id):
        from saas.reports import schedules as b_schedules
        from saas.reports import services as b_reports

        b_actor = services.membership(b.owner_id)
        b_report_id = b_reports.create_report(
            b_actor,
            {
                "name": "Bravo secret report",
                "visibility": "tenant",
                "spec": {"object": "account", "type": "summary", "groups": [{"field": "name"}]},
            },
        ).id
        b_dashboard_id = b_reports.create_dashboard(
            b_actor,
            {
                "name": "Bravo secret dashboard",
                "visibility": "tenant",
                "layout": [{"report_id": b_report_id, "title": "Bravo secret widget"}],
            },
        ).id
        b_schedule_id = b_schedules.create_schedule(
            b_actor, {"report_id": b_report_id, "frequency": "daily", "time": "08:00"}
        ).id
    with app.test_request_context(), tenant_context(b.tenant_id, db.session, b.owner_id):
        from flask import g

        from print_templates import jobs as b_print
        from print_templates import services as b_templates

        b_actor = services.membership(b.owner_id)
        g.tenant, g.membership = b_actor.tenant, b_actor
        b_template_id = b_templates.create_template(
            b_actor,
            {
                "object_key": "account",
                "name": "Bravo secret template",
                "locale": "en",
                "source": "<p>Bravo secret template {{ record.name }}</p>",
                "is_default": True,
            },
        ).id
        b_print.request_pdf(b_actor, "account", b_record_id, template_id=b_template_id)
    drain_jobs()
    with app.app_context(), tenant_context(b.tenant_id, db.session):
        from print_templates.models import PrintDocument

        b_document_id = db.session.execute(select(PrintDocument.id)).scalar_one()
    return (
        a,
        TenantB(
            b.slug,
            b.name,
            b.owner_id,
            b.owner_email,
            b_invitation_id,
            raw,
            b_token_id,
            b_prefix,
            b_session,
            b_field_key,
            b_record_id,
            b_job_id,
            team_id=b_team_id,
            import_id=b_import_id,
            view_id=b_view_id,
            activity_id=b_activity_id,
            reply_id=b_reply_id,
            pool_account_id=b_pool_id,
            notification_id=b_notification_id,
            contract_id=b_contract_id,
            payment_id=b_payment_id,
            quote_id=b_quote_id,
            lead_id=b_lead_id,
            opportunity_id=b_opportunity_id,
            price_list_id=b_price_list_id,
            share_id=b_share_id,
            file_id=b_file_id,
            report_id=b_report_id,
            dashboard_id=b_dashboard_id,
            schedule_id=b_schedule_id,
            template_id=b_template_id,
            document_id=b_document_id,
        ),
        b_client,
    )


def _params_for(rule, b: TenantB) -> dict[str, object]:
    providers = {
        "user_id": b.owner_id,
        "invitation_id": b.invitation_id,
        "token_id": b.token_id,
        "token": b.invitation_token,
        "session_id": b.session_id,
        "field_key": b.field_key,
        "record_id": b.record_id,
        "job_id": b.job_id,
        "team_id": b.team_id,
        "import_id": b.import_id,
        "view_id": b.view_id,
        "activity_id": b.activity_id,
        "reply_id": b.reply_id,
        "filename": "app.css",
        "account_id": b.pool_account_id,
        "notification_id": b.notification_id,
        "contract_id": b.contract_id,
        "payment_id": b.payment_id,
        "quote_id": b.quote_id,
        "lead_id": b.lead_id,
        "opportunity_id": b.opportunity_id,
        "price_list_id": b.price_list_id,
        "share_id": b.share_id,
        "file_id": b.file_id,
        "report_id": b.report_id,
        "dashboard_id": b.dashboard_id,
        "schedule_id": b.schedule_id,
        # B has a logo, A has none: every asset route must answer A with "no such asset".
        "name": "logo",
        "template_id": b.template_id,
        "version": 1,
        "document_id": b.document_id,
    }
    # Names that exist in every tenant: on their own they point at A's data, not B's.
    shared = {"object_key": "account", "role_key": "manager", "kind": "activities"}
    values = {}
    for name in rule.arguments:
        if name == "slug":
            continue
        if name in shared:
            values[name] = shared[name]
            continue
        assert name in providers, (
            f"route {rule.rule} has parameter <{name}> with no provider in the isolation "
            f"test: add one that points at tenant B's data"
        )
        values[name] = providers[name]
    return values


def _b_specific(params: dict[str, object]) -> bool:
    return any(name not in {"object_key", "role_key", "kind"} for name in params)


def _markers(b: TenantB) -> list[str]:
    return [
        b.name,
        b.owner_email,
        "b-invitee@example.com",
        "b-second@example.com",
        b.token_prefix,
        "B&#39;s integration",
        "B's integration",
        "Bravo secret field",
        "Bravo secret customer",
        "Bravo secret value",
        "Bravo secret section",
        "Bravo secret team",
        "Bravo secret import row",
        "Bravo secret view",
        "Bravo secret visit",
        "Bravo secret reply",
        "Bravo secret pool customer",
        "Bravo secret contract",
        "Bravo secret payment",
        "Bravo secret quote",
        "Bravo secret line",
        "Bravo secret lead",
        "Bravo secret company",
        "Bravo secret deal",
        "Bravo secret product",
        "Bravo secret price list",
        "Bravo secret position",
        "Bravo secret file",
        "Bravo secret bytes",
        "Bravo secret logo",
        "Bravo secret template",
        "Bravo secret report",
        "Bravo secret dashboard",
        "Bravo secret widget",
    ]


def _assert_no_leak(response, b: TenantB, where: str) -> None:
    body = response.get_data(as_text=True)
    for marker in _markers(b):
        assert marker not in body, f"{where} leaked {marker!r}"


def test_every_route_is_classified(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        assert "slug" in rule.arguments, (
            f"{rule.rule} ({rule.endpoint}) is neither tenant-scoped nor listed as public"
        )


def test_walk_every_route_as_tenant_a_with_tenant_b_ids(app, two_tenants, login, api):
    a, b, _ = two_tenants
    ui = login(a.owner_email)
    token_api = api(a.token)
    walked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        params = _params_for(rule, b)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            is_api = rule.rule.startswith("/api/")
            for slug in (a.slug, b.slug):
                path = rule.rule.replace("<slug>", slug)
                for name, value in params.items():
                    path = path.replace(f"<int:{name}>", str(value)).replace(
                        f"<{name}>", str(value)
                    )
                where = f"{method} {path} ({rule.endpoint})"
                if is_api:
                    body = API_BODIES.get(rule.endpoint, {})
                    kwargs = {"json": body} if method in {"POST", "PATCH", "PUT"} else {}
                    if method == "PATCH":
                        kwargs["headers"] = {"If-Match": '"v1"'}
                    response = getattr(token_api, method.lower())(path, **kwargs)
                else:
                    body = {**FORM_BODY, **FORM_BODIES.get(rule.endpoint, {})}
                    kwargs = {"data": body} if method == "POST" else {}
                    response = ui.open(path, method=method, **kwargs)
                walked += 1
                if rule.endpoint in TENANT_PUBLIC_ENDPOINTS and slug == b.slug:
                    continue  # B's own invitation link, used by its rightful holder
                has_ids = _b_specific(params)
                if slug == b.slug or has_ids:
                    assert response.status_code in ALLOWED_STATUSES, (
                        f"{where} answered {response.status_code}"
                    )
                else:
                    assert response.status_code < 500, f"{where} answered {response.status_code}"
                _assert_no_leak(response, b, where)
    assert walked > 40

    # Nothing of B's changed.
    from tenants.models import Tenant

    with app.app_context():
        tenant_b = db.session.execute(select(Tenant).where(Tenant.slug == b.slug)).scalar_one()
        assert tenant_b.name == b.name
        with tenant_context(tenant_b.id, db.session):
            owner = db.session.execute(
                select(Membership).where(Membership.user_id == b.owner_id)
            ).scalar_one()
            assert (owner.role_key, owner.status) == ("owner", "active")
            from tenants.models import Role, Team

            assert owner.team_id == b.team_id
            b_team = db.session.execute(select(Team).where(Team.id == b.team_id)).scalar_one()
            assert (b_team.name, b_team.parent_id) == ("Bravo secret team", None)
            scopes = set(db.session.execute(select(Role.data_scope)).scalars())
            assert scopes == {"all"}
            invitation = db.session.execute(
                select(Invitation).where(Invitation.id == b.invitation_id)
            ).scalar_one()
            assert invitation.is_pending
            from saas.records.models import SavedView, ViewPreference

            b_view = db.session.execute(
                select(SavedView).where(SavedView.id == b.view_id)
            ).scalar_one()
            assert (b_view.name, b_view.visibility, b_view.owner_id) == (
                "Bravo secret view",
                "tenant",
                b.owner_id,
            )
            assert db.session.execute(select(ViewPreference)).first() is None
            from saas import tracked
            from saas.records import imports

            assert tracked.get_job(f"import:{b.import_id}") is None  # never run by A
            assert imports.load(b.import_id).mapping == {"名称": "name"}
            token = db.session.execute(
                select(ApiToken).where(ApiToken.id == b.token_id)
            ).scalar_one()
            assert token.revoked_at is None
            from custom_fields.services import describe, get_field

            b_field = describe(get_field("account", b.field_key))
            assert (b_field["label_en"], b_field["deleted_at"], b_field["access"]) == (
                "Bravo secret field",
                None,
                {},
            )
            from custom_fields.services import get_object, list_objects

            assert get_object("account").label_en == "Customer"
            assert "a_probe_object" not in {o.key for o in list_objects()}
            from saas.records.models import Account
            from saas.records.services import get_record
            from tenants.notifications import Notification

            b_pool = db.session.get(Account, (tenant_b.id, b.pool_account_id))
            assert (b_pool.owner_id, b_pool.version) == (None, 1)
            b_note = db.session.get(Notification, (tenant_b.id, b.notification_id))
            assert (b_note.user_id, b_note.read_at) == (b.owner_id, None)
            b_record = get_record("account", b.record_id)
            assert (b_record.name, b_record.version, b_record.deleted_at) == (
                "Bravo secret customer",
                1,
                None,
            )
            from custom_fields.layouts import get_layout

            b_layout = get_layout("account")
            assert [(s.title_en, s.fields) for s in b_layout.sections] == [
                ("Bravo secret section", (b.field_key,))
            ]
            emails = [m.user.email for m in services.members()]
            assert emails == [b.owner_email]
            from saas.crm.activities import ActivityReply, current_targets

            b_activity = get_record("activity", b.activity_id)
            assert (b_activity.data["status"], b_activity.version) == ("planned", 1)
            b_reply = db.session.get(ActivityReply, (tenant_b.id, b.reply_id))
            assert (b_reply.body, b_reply.deleted_at) == ("Bravo secret reply", None)
            assert current_targets() == {"A": 7, "B": 14, "C": 30, "D": 90}
            from saas.crm import contracts

            b_contract = get_record("contract", b.contract_id)
            assert (b_contract.data["status"], b_contract.deleted_at) == ("signed", None)
            b_plan = [(p.amount, p.due_date.isoformat()) for p in contracts.plan_of(b.contract_id)]
            assert b_plan == [(1000, "2026-03-01")]
            b_payments = contracts.payments_of(b.contract_id)
            assert [(p.id, p.amount, p.note) for p in b_payments] == [
                (b.payment_id, 10, "Bravo secret payment")
            ]
            assert contracts.contract_for_quote(b.quote_id) is None
            from saas.crm import quotes as b_quotes

            b_quote = get_record("quote", b.quote_id)
            assert (b_quote.data["status"], b_quote.version, b_quote.deleted_at) == (
                "pending_approval",
                3,
                None,
            )
            assert [line.name for line in b_quotes.line_records(b.quote_id)] == [
                "Bravo secret line"
            ]
            from saas.crm.approvals import history as approval_history

            assert [a.decision for a in approval_history("quote", [b.quote_id])] == ["pending"]
            b_lead = get_record("lead", b.lead_id)
            assert (b_lead.data["status"], b_lead.owner_id, b_lead.version) == (
                "new",
                b.owner_id,
                1,
            )
            b_deal = get_record("opportunity", b.opportunity_id)
            assert (b_deal.data["stage"], b_deal.version) == ("proposal", 1)
            from saas.crm import price_lists as b_price_lists

            b_list = b_price_lists.get_price_list(b.price_list_id)
            assert (b_list.name, b_list.currency, b_list.is_default) == (
                "Bravo secret price list",
                "CNY",
                True,
            )
            assert [i["unit_price"] for i in b_price_lists.items(b.price_list_id)] == ["7"]
            assert owner.position == "Bravo secret position"
            from saas.records import sharing as b_sharing
            from tenants import permissions as b_permissions

            b_shares = b_sharing.list_shares(owner, "account", b.record_id)
            assert [(s.id, s.kind, s.access) for s in b_shares] == [(b.share_id, "team", "edit")]
            assert not b_permissions.grant("manager", "contact").create
            from saas.files import services as b_files

            b_file = b_files.get_file(owner, "account", b.record_id, b.file_id)
            assert b_file.filename == "Bravo secret file.txt"
            assert b_files.download(owner, "account", b.record_id, b.file_id)[1] == (
                b"Bravo secret bytes"
            )
            assert [(a.name, a.filename) for a in b_files.list_assets()] == [
                ("logo", "Bravo secret logo.png")
            ]
            from print_templates import services as b_templates
            from print_templates.models import PrintDocument

            b_template = b_templates.get_template(b.template_id)
            assert (b_template.name, b_template.current_version, b_template.active) == (
                "Bravo secret template",
                1,
                True,
            )
            assert b_template.is_default
            b_documents = db.session.execute(select(PrintDocument.id)).scalars().all()
            assert b_documents == [b.document_id]
            from saas.reports import schedules as b_schedules
            from saas.reports import services as b_reports

            b_report = b_reports.get_report(owner, b.report_id)
            assert (b_report.name, b_report.visibility, b_report.version) == (
                "Bravo secret report",
                "tenant",
                1,
            )
            b_board = b_reports.get_dashboard(owner, b.dashboard_id)
            assert (b_board.name, b_board.version, len(b_board.layout)) == (
                "Bravo secret dashboard",
                1,
                1,
            )
            b_schedule = b_schedules.get_schedule(owner, b.schedule_id)
            assert (b_schedule.active, b_schedule.version) == (True, 1)
        from saas.accounts.services import active_sessions

        assert b.session_id in {s.id for s in active_sessions(b.owner_id)}


def test_b_token_is_rejected_by_a_routes(two_tenants, api, make_company):
    a, _, _ = two_tenants
    other = make_company()
    response = api(other.token).get(f"/api/v1/t/{a.slug}/users")
    assert response.status_code == 401
    assert a.owner_email not in response.get_data(as_text=True)
