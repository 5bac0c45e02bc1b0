"""Lead pages (``/t/<slug>/…``): converting a lead (a form prefilled from it, offering the
customers it may duplicate), assigning it from its record page, and the company's assignment
and scoring settings (owners and admins)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup

from custom_fields.query import operators as ops
from custom_fields.query.filters import split_list
from saas import tracked
from saas.crm import leads, pipeline
from saas.errors import DomainError, ValidationFailed
from saas.records import services as records
from saas.records import views as record_views
from saas.records.models import RecordColumns
from saas.web.forms import ConfirmForm
from tenants import services as tenant_services
from tenants import teams
from tenants.models import WRITE_ROLES
from tenants.resolution import attach_ui_tenant, require_admin, require_writer

bp = Blueprint("leads", __name__, url_prefix="/t/<slug>")
attach_ui_tenant(bp)

#: Empty rows the scoring editor offers for new rules.
BLANK_RULES = 3
CONTACT_FIELDS = ("name", "mobile", "email", "title")
OPPORTUNITY_FIELDS = ("name", "amount", "expected_close", "stage")


def _locale() -> str:
    return "zh_CN" if str(get_locale() or "en").startswith("zh") else "en"


def _confirmed() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400)


def _messages(err: DomainError) -> dict[str, list[str]]:
    return err.errors if isinstance(err, ValidationFailed) else {err.field or "": [err.message]}


def _lead_page(lead_id: int) -> Any:
    return redirect(url_for("records.detail", object_key="lead", record_id=lead_id))


# ---------------------------------------------------------------- conversion


def _values(prefix: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """The non-empty inputs ``<prefix>-<key>`` of the form."""
    found = {}
    for key in keys:
        value = request.form.get(f"{prefix}-{key}", "").strip()
        if value:
            found[key] = value
    return found


@bp.route("/leads/<int:lead_id>/convert", methods=["GET", "POST"])
@require_writer
def convert(lead_id: int):
    member = g.membership
    lead = records.get_record("lead", lead_id)
    drafts = leads.proposal(lead, member)  # type: ignore[arg-type]
    converted = (lead.data or {}).get("status") == leads.CONVERTED
    errors: dict[str, list[str]] = {}
    status = 200
    form: dict[str, Any] = {
        "account_id": "",
        "account": drafts["account"],
        "contact": drafts["contact"],
        "opportunity": drafts["opportunity"],
        "with_opportunity": True,
    }
    if request.method == "POST" and not converted:
        _confirmed()
        choice = request.form.get("account_id", "").strip()
        if choice == "other":
            choice = request.form.get("other_account_id", "").strip()
        account_id: Any = None
        if choice:
            account_id = int(choice) if choice.isdigit() and len(choice) < 19 else -1
        # Values the form does not show (source, region) still come from the lead.
        account = {**drafts["account"], **_values("account", ("name",))}
        contact = _values("contact", CONTACT_FIELDS)
        with_opportunity = request.form.get("with_opportunity") == "y"
        opportunity = _values("opportunity", OPPORTUNITY_FIELDS) if with_opportunity else None
        form = {
            "account_id": choice,
            "account": account,
            "contact": contact,
            "opportunity": opportunity or _values("opportunity", OPPORTUNITY_FIELDS),
            "with_opportunity": with_opportunity,
        }
        try:
            if account_id == -1:
                raise ValidationFailed({"account_id": [_("Enter the id of a customer.")]})
            done = leads.convert(
                member,
                lead_id,
                account=None if account_id else account,
                account_id=account_id,
                contact=contact,
                opportunity=opportunity,
            )
        except DomainError as err:
            if err.status == 404:
                raise
            if err.status == 409:
                flash(err.message, "error")
                return _lead_page(lead_id)
            errors, status = _messages(err), err.status
        else:
            flash(
                _(
                    "The lead is converted: customer “%(account)s”, contact “%(contact)s”.",
                    account=done.account.name,
                    contact=done.contact.name,
                ),
                "success",
            )
            return redirect(
                url_for("records.detail", object_key="account", record_id=done.account.id)
            )
    locale = _locale()
    return render_template(
        "crm/convert.html",
        lead=lead,
        converted=converted,
        form=form,
        errors=errors,
        candidates=leads.account_candidates(lead, member) if not converted else [],  # type: ignore[arg-type]
        stages=[s for s in pipeline.stages() if s.active],
        locale=locale,
        confirm=ConfirmForm(),
    ), status


# ---------------------------------------------------------------- assigning


@bp.post("/leads/<int:lead_id>/assign")
def assign(lead_id: int):
    _confirmed()
    raw = request.form.get("user_id", "").strip()
    user_id: Any = int(raw) if raw.isdigit() and len(raw) < 19 else raw
    try:
        lead = leads.assign(g.membership, lead_id, user_id)
    except DomainError as err:
        if err.status == 404:
            raise
        for messages in _messages(err).values():
            for message in messages:
                flash(message, "error")
        return _lead_page(lead_id)
    names = dict(leads.assignable_members(g.membership))
    flash(
        _(
            "“%(name)s” now belongs to %(person)s.",
            name=lead.name or lead.id,
            person=names.get(lead.owner_id, lead.owner_id),
        ),
        "success",
    )
    return _lead_page(lead_id)


@bp.app_context_processor
def _lead_helpers() -> dict[str, Any]:
    """``lead_actions(record)`` for the lead's record page (convert and assign), and
    ``lead_auto_assign()`` for the record form."""

    def lead_actions(record: RecordColumns) -> Markup:
        member = g.membership
        data = record.data or {}
        return Markup(  # noqa: S704 - a template of ours, autoescaped
            render_template(
                "crm/_lead_actions.html",
                record=record,
                converted=data.get("status") == leads.CONVERTED,
                converted_account=data.get("converted_account"),
                can_convert=member.role_key in WRITE_ROLES,
                assignees=leads.assignable_members(member),
                confirm=ConfirmForm(),
            )
        )

    def lead_auto_assign() -> bool:
        """Whether new leads may take their owner from the company's rule (the record form)."""
        return leads.assignment_settings().mode != "manual"

    return {"lead_actions": lead_actions, "lead_auto_assign": lead_auto_assign}


# ---------------------------------------------------------------- assignment settings


def _members() -> list[tuple[int, str]]:
    return [
        (m.user_id, m.user.display_name)
        for m in tenant_services.members()
        if m.is_active and m.role_key in WRITE_ROLES
    ]


@bp.route("/settings/lead-assignment", methods=["GET", "POST"])
@require_admin
def assignment():
    current = leads.assignment_settings()
    errors: dict[str, list[str]] = {}
    status = 200
    chosen = list(current.members)
    regions = {code: target for code, target in current.regions.items()}
    mode = current.mode
    if request.method == "POST":
        _confirmed()
        mode = request.form.get("mode", "")
        chosen = []
        for raw in request.form.getlist("members"):
            if raw.isdigit() and len(raw) < 19 and int(raw) not in chosen:
                chosen.append(int(raw))
        regions = {}
        for code, _label in leads.region_choices("en"):
            kind, _sep, value = request.form.get(f"region-{code}", "").partition(":")
            if kind in ("user", "team") and value.isdigit() and len(value) < 19:
                regions[code] = {f"{kind}_id": int(value)}
        try:
            leads.update_assignment(g.membership, mode=mode, members=chosen, regions=regions)
        except DomainError as err:
            errors, status = _messages(err), err.status
        else:
            flash(_("Lead assignment saved."), "success")
            return redirect(url_for("leads.assignment"))
    members = _members()
    order = {uid: i for i, uid in enumerate(chosen)}
    return render_template(
        "crm/lead_assignment.html",
        mode=mode,
        modes=leads.MODES,
        chosen=chosen,
        members=sorted(members, key=lambda m: (order.get(m[0], len(order)), m[1].casefold())),
        regions=regions,
        region_choices=leads.region_choices(_locale()),
        teams=[(t.id, t.path_label) for t in teams.list_teams()],
        next_member_id=current.next_member_id,
        errors=errors,
        confirm=ConfirmForm(),
    ), status


# ---------------------------------------------------------------- scoring settings


def _rule_rows() -> tuple[list[dict[str, Any]], list[tuple[int, dict[str, Any]]], dict]:
    """The editor's rows as typed, and the rules they make: (form index, rule); rows without a
    field are left out. Errors are keyed by the inputs' names."""
    rows: list[dict[str, Any]] = []
    rules: list[tuple[int, dict[str, Any]]] = []
    errors: dict[str, list[str]] = {}
    indexes = sorted(
        {
            int(key.split("-")[1])
            for key in request.form
            if key.startswith("rule-") and key.split("-")[1].isdigit() and len(key) < 30
        }
    )[: leads.MAX_RULES + BLANK_RULES]
    for i in indexes:
        row = {
            "field": request.form.get(f"rule-{i}-field", "").strip(),
            "op": request.form.get(f"rule-{i}-op", "").strip(),
            "value": request.form.get(f"rule-{i}-value", ""),
            "points": request.form.get(f"rule-{i}-points", "").strip(),
            "active": request.form.get(f"rule-{i}-active") == "y",
        }
        index = len(rows)
        rows.append(row)
        if not row["field"]:
            continue
        try:
            points = int(row["points"])
        except ValueError:
            errors[f"rule-{index}-points"] = [_("Enter whole points from -100 to 100.")]
            continue
        operator = ops.OPERATORS.get(row["op"])
        value: Any = row["value"].strip()
        if operator is not None and operator.arity == "none":
            value = None
        elif operator is not None and operator.arity in ("list", "two"):
            value = [v.strip() for v in split_list(value)]
        condition = {"field": row["field"], "op": row["op"]}
        if value is not None:
            condition["value"] = value
        rules.append((index, {"condition": condition, "points": points, "active": row["active"]}))
    return rows, rules, errors


def _tree_rules() -> list[dict[str, Any]]:
    """Rules kept as trees (written through the API): the page sends them back unchanged."""
    rules = []
    for tree, points, active in zip(
        request.form.getlist("tree"),
        request.form.getlist("tree-points"),
        request.form.getlist("tree-active"),
        strict=False,
    ):
        try:
            rules.append(
                {"condition": json.loads(tree), "points": int(points), "active": active == "y"}
            )
        except ValueError:
            abort(400)
    return rules


def _stored_rows() -> list[dict[str, Any]]:
    rows = []
    for rule in leads.list_rules():
        condition = rule.condition
        simple = set(condition) <= {"field", "op", "value"} and "field" in condition
        value = condition.get("value") if simple else None
        rows.append(
            {
                "field": condition.get("field", "") if simple else "",
                "op": condition.get("op", "") if simple else "",
                "value": ", ".join(map(str, value)) if isinstance(value, list) else value or "",
                "points": str(rule.points),
                "active": rule.active,
                "tree": None if simple else json.dumps(condition, ensure_ascii=False),
            }
        )
    return rows


@bp.route("/settings/lead-scoring", methods=["GET", "POST"])
@require_admin
def scoring():
    errors: dict[str, list[str]] = {}
    status = 200
    rows = _stored_rows()
    if request.method == "POST":
        _confirmed()
        rows, rules, errors = _rule_rows()
        # Rules kept as trees (written through the API) come back unchanged.
        trees = _tree_rules()
        if not errors:
            try:
                leads.replace_rules(g.membership, [r for _i, r in rules] + trees)
            except DomainError as err:
                status = err.status
                for key, messages in _messages(err).items():
                    # rules[n].condition → the row's value input; rules[n].points → its points
                    position, _sep, part = key.removeprefix("rules[").partition("]")
                    if position.isdigit() and int(position) < len(rules):
                        index = rules[int(position)][0]
                        name = "points" if part == ".points" else "value"
                        errors[f"rule-{index}-{name}"] = messages
                    else:
                        errors[key] = messages
            else:
                flash(_("Scoring rules saved. Every lead is being scored again."), "success")
                return redirect(url_for("leads.scoring"))
        else:
            status = 400
    fields = [
        f for f in record_views.query_fields(g.membership, "lead", _locale()) if f["key"] != "score"
    ]
    for field in fields:
        field["operators"] = [
            o for o in field["operators"] if o["op"] not in leads.PERSONAL_OPERATORS
        ]
    return render_template(
        "crm/lead_scoring.html",
        rows=[r for r in rows if r.get("tree") is None]
        + [{"field": "", "op": "", "value": "", "points": "", "active": True}] * BLANK_RULES,
        trees=[r for r in rows if r.get("tree")],
        fields=fields,
        fields_json=json.dumps(
            {f["key"]: [o["op"] for o in f["operators"]] for f in fields}, ensure_ascii=False
        ),
        operators=sorted(
            {o["op"]: o["label"] for f in fields for o in f["operators"]}.items(),
            key=lambda item: list(ops.OPERATORS).index(item[0]),
        ),
        job=tracked.get_job(leads.RESCORE_JOB),
        errors=errors,
        confirm=ConfirmForm(),
    ), status


@bp.post("/settings/lead-scoring/rescore")
@require_admin
def rescore():
    _confirmed()
    leads.start_rescore(g.membership)
    flash(_("Every lead is being scored again."), "success")
    return redirect(url_for("leads.scoring"))
