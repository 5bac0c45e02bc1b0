"""Row-level security, checked in the database itself as the app role, table by table."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from saas.extensions import db
from tenants.context import tenant_context
from tenants.errors import MissingTenantContext, TenantMismatch
from tenants.models import Membership, Role


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _tenant_tables(owner) -> list[str]:
    return [
        row[0]
        for row in owner.execute(
            "SELECT table_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name = 'tenant_id' ORDER BY table_name"
        )
    ]


@pytest.fixture
def populated(app, make_company, drain_jobs, login, api):
    """Two companies with a row in every tenant table (invitations, mail, tokens, audit,
    fields, picklists, access, page layouts, records of every object, unique claims, counters,
    jobs, teams, saved views, default views, recently viewed records, the duplicate keys
    the records of customers, contacts and leads get, a pool event, a notification, a reply
    on a record, the visit targets every company starts with, a contract's payment plan
    and payment, a quote's lines and approval request, the lead assignment and scoring rules,
    the opportunity stage table and stage history, a price list with an item, a role's
    permission row, a shared record, a file on a record and a company asset with their
    bytes, a report, dashboard, report schedule and delivery, and the print templates every
    company starts with and a quote's PDF with its bytes)."""
    from custom_fields.services import list_objects

    a, b = make_company(), make_company()
    for company in (a, b):
        client = login(company.owner_email)
        client.post(
            f"/t/{company.slug}/users/invite",
            data={"email": f"x-{company.slug}@example.com", "role": "member"},
        )
        rest = api(company.token)
        base = f"/api/v1/t/{company.slug}"
        rest.post(f"{base}/objects", json={"key": "vehicle", "label": "Vehicle"})
        fields = f"{base}/objects/account/fields"
        for payload in (
            {"key": "tax_no", "type": "text", "label": "Tax", "unique": True},
            {"key": "no", "type": "auto_number", "label": "No", "pattern": "{000}"},
            {"key": "tier", "type": "picklist", "label": "Tier", "values": ["A", "B"]},
            {"key": "doomed", "type": "text", "label": "Doomed"},
        ):
            assert rest.post(fields, json=payload).status_code == 201
        rest.put(f"{fields}/tier/access", json={"member": "read_only"})
        layout = [{"title_en": "Main", "fields": ["tier", "tax_no"]}]
        response = rest.put(f"{base}/objects/account/layout", json={"sections": layout})
        assert response.status_code == 200, response.get_json()
        rest.delete(f"{fields}/doomed")
        rest.post(f"{fields}/doomed/purge")
        with app.app_context(), tenant_context(company.tenant_id, db.session):
            keys = [o.key for o in list_objects()]
        created: dict[str, int] = {}
        for key in keys:
            body = {"name": f"{key} of {company.slug}"}
            if key == "account":
                body["tax_no"] = f"T-{company.slug}"
            elif key == "product":
                body["code"] = f"P-{company.slug}"  # required system fields
            elif key == "quote_line":
                continue  # written through their quote (_quote_with_lines)
            elif key == "contract":
                body.update(
                    amount={"amount": "100", "currency": "CNY"},
                    start_date="2026-01-01",
                    end_date="2026-12-31",
                )
            response = rest.post(f"{base}/records/{key}", json=body)
            assert response.status_code == 201, (key, response.get_json())
            created[key] = response.get_json()["id"]
        team = rest.post(f"{base}/teams", json={"name": f"Team of {company.slug}"})
        assert team.status_code == 201, team.get_json()
        thread = f"{base}/replies/account/{created['account']}"
        reply = rest.post(thread, json={"body": f"Reply in {company.slug}"})
        assert reply.status_code == 201, reply.get_json()
        released = rest.post(
            f"{base}/accounts/{created['account']}/release", json={"reason": "to the pool"}
        )
        assert released.status_code == 200, released.get_json()  # a pool event
        _notification(app, company)
        _views_and_recent(app, company)
        _plan_and_payment(rest, base, created["contract"])
        _quote_with_lines(rest, base, created["quote"])
        _lead_rules(rest, base, company.owner_id)
        _price_list(rest, base, created["product"])
        _permission_and_share(rest, base, created["account"], team.get_json()["id"])
        _file_and_asset(rest, base, created["account"])
        _report_dashboard_schedule(app, company, rest, base)
        _print_document(rest, base, created["quote"])
    drain_jobs()
    return a, b


def _lead_rules(rest, base: str, owner_id: int) -> None:
    """The lead assignment rule and a scoring rule (the opportunity stage table comes with
    signup, and the opportunity created above has its first stage history row)."""
    body = {"mode": "round_robin", "members": [owner_id]}
    response = rest.put(f"{base}/settings/lead-assignment", json=body)
    assert response.status_code == 200, response.get_json()
    rules = [{"condition": "source:eq:website", "points": 10}]
    response = rest.put(f"{base}/settings/lead-scoring", json={"rules": rules})
    assert response.status_code == 202, response.get_json()


def _print_document(rest, base: str, quote_id: int) -> None:
    """A quote's PDF (rendered by the workers the fixture drains) from the starter templates
    signup installs."""
    response = rest.post(f"{base}/records/quote/{quote_id}/pdf", json={})
    assert response.status_code == 202, response.get_json()


def _report_dashboard_schedule(app, company, rest, base: str) -> None:
    """A saved report (built-in ones come with signup), a dashboard showing it, a schedule
    sending it, and one delivery of it (the clock moved past its time; mailed by the workers
    the fixture drains)."""
    import datetime as dt

    spec = {"object": "account", "type": "summary", "groups": [{"field": "name"}]}
    response = rest.post(f"{base}/reports", json={"name": "Report", "spec": spec})
    assert response.status_code == 201, response.get_json()
    report_id = response.get_json()["id"]
    response = rest.post(
        f"{base}/dashboards", json={"name": "Board", "layout": [{"report_id": report_id}]}
    )
    assert response.status_code == 201, response.get_json()
    response = rest.post(
        f"{base}/report-schedules",
        json={"report_id": report_id, "frequency": "daily", "time": "08:00"},
    )
    assert response.status_code == 201, response.get_json()
    due = dt.datetime.fromisoformat(response.get_json()["next_run_at"])
    from saas.reports import schedules

    with app.app_context(), tenant_context(company.tenant_id, db.session):
        schedules.queue_due(due + dt.timedelta(minutes=1))
        db.session.commit()


def _file_and_asset(rest, base: str, account_id: int) -> None:
    """A file attached to a customer and the company's logo (metadata and bytes rows)."""
    import io

    response = rest.post(
        f"{base}/records/account/{account_id}/files",
        data={"file": (io.BytesIO(b"contract scan"), "scan.txt")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    response = rest.put(
        f"{base}/assets/logo",
        data={"file": (io.BytesIO(png), "logo.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()


def _price_list(rest, base: str, product_id: int) -> None:
    """A price list with an item."""
    response = rest.post(f"{base}/price-lists", json={"name": "List", "currency": "CNY"})
    assert response.status_code == 201, response.get_json()
    items = [{"product": product_id, "unit_price": "9"}]
    response = rest.put(
        f"{base}/price-lists/{response.get_json()['id']}/items", json={"items": items}
    )
    assert response.status_code == 200, response.get_json()


def _permission_and_share(rest, base: str, account_id: int, team_id: int) -> None:
    """A role's permission row and a record shared with a team."""
    rights = {"view": True, "create": False, "edit": False, "delete": False, "export": False}
    response = rest.put(f"{base}/roles/member/permissions", json={"objects": {"product": rights}})
    assert response.status_code == 200, response.get_json()
    response = rest.post(
        f"{base}/records/account/{account_id}/shares", json={"team_id": team_id, "access": "read"}
    )
    assert response.status_code == 201, response.get_json()


def _quote_with_lines(rest, base: str, quote_id: int) -> None:
    """A quote line, and the quote waiting for approval of its discount (an approval row)."""
    line = {"name": "Line", "quantity": "1", "unit_price": "100", "discount": "50"}
    response = rest.put(
        f"{base}/quotes/{quote_id}/lines", json={"lines": [line]}, headers={"If-Match": '"v1"'}
    )
    assert response.status_code == 200, response.get_json()
    response = rest.post(f"{base}/quotes/{quote_id}/submit", json={})
    assert response.get_json()["quote"]["status"] == "pending_approval", response.get_json()


def _plan_and_payment(rest, base: str, contract_id: int) -> None:
    """A signed contract with a payment plan and a payment received."""
    for action in ("submit", "approve"):
        response = rest.post(f"{base}/contracts/{contract_id}/{action}", json={})
        assert response.status_code == 200, response.get_json()
    plan = [{"due_date": "2026-06-30", "amount": "100"}]
    response = rest.put(f"{base}/contracts/{contract_id}/plan", json={"instalments": plan})
    assert response.status_code == 200, response.get_json()
    payment = {"amount": "40", "received_on": "2026-01-05"}
    response = rest.post(f"{base}/contracts/{contract_id}/payments", json=payment)
    assert response.status_code == 201, response.get_json()


def _notification(app, company) -> None:
    from tenants import notifications

    with app.app_context(), tenant_context(company.tenant_id, db.session):
        notifications.notify(company.owner_id, "pool.returned", params={"name": "x", "days": 1})
        db.session.commit()


def _views_and_recent(app, company) -> None:
    """A saved view, a default view and a recently viewed record, written directly."""
    from custom_fields.models import ObjectDefinition
    from saas.records.models import Account, RecentRecord, SavedView, ViewPreference

    with app.app_context(), tenant_context(company.tenant_id, db.session):
        object_id = db.session.execute(
            select(ObjectDefinition.id).where(ObjectDefinition.key == "account")
        ).scalar_one()
        record_id = db.session.execute(select(Account.id).limit(1)).scalar_one()
        owner = company.owner_id
        db.session.add_all(
            [
                SavedView(object_id=object_id, name="Mine", owner_id=owner, columns=[], sort=[]),
                ViewPreference(user_id=owner, object_id=object_id, default_view="all"),
                RecentRecord(user_id=owner, object_id=object_id, record_id=record_id),
            ]
        )
        db.session.commit()


def test_app_role_is_unprivileged(settings):
    with psycopg.connect(_libpq(settings.runtime_database_url)) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
            "WHERE rolname = current_user"
        ).fetchone()
        assert row == (False, False, False, False)
        owned = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
            "WHERE r.rolname = current_user"
        ).fetchone()[0]
        assert owned == 0


def test_every_tenant_table_forces_rls(settings):
    with psycopg.connect(_libpq(settings.database_url)) as owner:
        tables = _tenant_tables(owner)
        assert len(tables) >= 7
        for table in tables:
            enabled, forced = owner.execute(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = %s::regclass",
                (table,),
            ).fetchone()
            assert enabled and forced, f"{table} lacks FORCE ROW LEVEL SECURITY"
            pk = owner.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
                "ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
                "WHERE i.indrelid = %s::regclass AND i.indisprimary",
                (table,),
            ).fetchone()[0]
            assert pk == "tenant_id", f"{table}'s primary key does not lead with tenant_id"


def test_app_role_sees_nothing_without_context_and_cannot_write_across(settings, populated):
    a, b = populated
    with psycopg.connect(_libpq(settings.database_url)) as owner:
        tables = _tenant_tables(owner)
        for table in tables:
            count = owner.execute(
                f"SELECT count(*) FROM {table} WHERE tenant_id = %s",
                (a.tenant_id,),
            ).fetchone()[0]
            assert count > 0, f"fixture left {table} empty for tenant A: the test would be vacuous"

    with psycopg.connect(_libpq(settings.runtime_database_url)) as app_conn:
        for table in tables:
            with app_conn.transaction():
                count = app_conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                assert count == 0, f"{table} returned rows with no tenant in context"
            with app_conn.transaction():
                app_conn.execute(
                    "SELECT set_config('app.tenant_id', %s, true)", (str(a.tenant_id),)
                )
                tenants_seen = {
                    r[0] for r in app_conn.execute(f"SELECT DISTINCT tenant_id FROM {table}")
                }
                assert tenants_seen == {a.tenant_id}, f"{table} showed {tenants_seen}"
            # Copy one of A's rows as B's, or move A's rows to B: WITH CHECK must refuse both.
            for statement in (
                f"INSERT INTO {table} SELECT (jsonb_populate_record(NULL::{table}, "
                f"to_jsonb(x) || jsonb_build_object('tenant_id', %s::bigint))).* "
                f"FROM {table} x LIMIT 1",
                f"UPDATE {table} SET tenant_id = %s",
            ):
                with (
                    pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"),
                    app_conn.transaction(),
                ):
                    app_conn.execute(
                        "SELECT set_config('app.tenant_id', %s, true)", (str(a.tenant_id),)
                    )
                    app_conn.execute(statement, (b.tenant_id,))


def test_context_does_not_leak_to_the_next_transaction(app, make_company):
    a = make_company()
    with app.app_context():
        with tenant_context(a.tenant_id, db.session):
            assert db.session.execute(select(Role)).scalars().all()
            db.session.commit()
        # Same pooled connection, new transaction, no context: Postgres shows nothing.
        from sqlalchemy import text

        assert db.session.execute(text("SELECT count(*) FROM roles")).scalar_one() == 0


def test_orm_query_without_tenant_raises(app, make_company):
    make_company()
    with app.app_context(), pytest.raises(MissingTenantContext):
        db.session.execute(select(Membership)).all()


def test_orm_scoping_adds_the_tenant_filter(app, make_company):
    a, _ = make_company(), make_company()
    with app.app_context(), tenant_context(a.tenant_id, db.session):
        tenants_seen = {m.tenant_id for m in db.session.execute(select(Membership)).scalars()}
        assert tenants_seen == {a.tenant_id}


def test_writing_a_row_for_another_tenant_raises(app, make_company):
    a, b = make_company(), make_company()
    with app.app_context(), tenant_context(a.tenant_id, db.session):
        db.session.add(Membership(tenant_id=b.tenant_id, user_id=a.owner_id, role_key="member"))
        with pytest.raises(TenantMismatch):
            db.session.flush()
        db.session.rollback()


def test_orm_scoping_works_even_as_a_role_that_bypasses_rls(app, settings, make_company):
    """The ORM filter alone must hold: checked with the owner connection, which bypasses RLS."""
    from saas.app import create_app

    a, _ = make_company(), make_company()
    owner_app = create_app(settings, SQLALCHEMY_DATABASE_URI=settings.owner_database_url)
    with owner_app.app_context():
        with tenant_context(a.tenant_id, db.session):
            seen = {m.tenant_id for m in db.session.execute(select(Membership)).scalars()}
        assert seen == {a.tenant_id}
        db.session.remove()
        db.engine.dispose()


def test_orm_scoping_covers_counts_and_subqueries(app, settings, make_company, add_member):
    """select_from() and subqueries name no tenant entity; the filter must still apply."""
    from sqlalchemy import func

    from saas.accounts.models import User
    from saas.app import create_app
    from tenants.models import Membership

    a, b = make_company(), make_company()
    add_member(b, "member")
    owner_app = create_app(settings, SQLALCHEMY_DATABASE_URI=settings.owner_database_url)
    with owner_app.app_context():  # the owner bypasses RLS: only the ORM filter is tested
        with tenant_context(a.tenant_id, db.session):
            count = db.session.execute(select(func.count()).select_from(Membership)).scalar_one()
            emails = (
                db.session.execute(
                    select(User.email).where(User.id.in_(select(Membership.user_id)))
                )
                .scalars()
                .all()
            )
        assert count == 1
        assert emails == [a.owner_email]
        with pytest.raises(MissingTenantContext):
            db.session.execute(select(func.count()).select_from(Membership))
        db.session.remove()
        db.engine.dispose()
