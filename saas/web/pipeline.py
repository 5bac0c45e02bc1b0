"""Pipeline pages (``/t/<slug>/…``): the board (a column per stage with its count, amount and
weighted amount; cards dragged between stages, or moved with their stage select), the stage
history on an opportunity's page, and the stage settings (owners and admins)."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import format_currency, format_timedelta, get_locale
from flask_babel import gettext as _
from markupsafe import Markup

from saas.crm import pipeline
from saas.errors import DomainError, ValidationFailed
from saas.records.models import RecordColumns
from saas.web.forms import ConfirmForm
from saas.web.helpers import safe_next
from tenants import services as tenant_services
from tenants import teams
from tenants.models import WRITE_ROLES
from tenants.resolution import attach_ui_tenant, require_admin

bp = Blueprint("pipeline", __name__, url_prefix="/t/<slug>")
attach_ui_tenant(bp)

#: The expected close periods the board offers.
BOARD_PERIODS = ("this_month", "next_month", "this_quarter", "next_quarter", "this_year")


def _locale() -> str:
    return "zh_CN" if str(get_locale() or "en").startswith("zh") else "en"


def _messages(err: DomainError) -> dict[str, list[str]]:
    return err.errors if isinstance(err, ValidationFailed) else {err.field or "": [err.message]}


def _money(amount: Any, currency: str) -> str:
    return format_currency(amount, currency)


def _period_labels() -> dict[str, str]:
    return {
        "this_month": _("This month"),
        "next_month": _("Next month"),
        "this_quarter": _("This quarter"),
        "next_quarter": _("Next quarter"),
        "this_year": _("This year"),
    }


@bp.get("/pipeline")
def board():
    member = g.membership
    errors: dict[str, list[str]] = {}
    status = 200
    raw = {
        k: request.args.get(k, "")
        for k in ("owner_id", "team_id", "period", "close_from", "close_to")
    }
    try:
        filters = pipeline.clean_filters(raw)
        result = pipeline.board(member, filters)
    except ValidationFailed as err:
        errors, status = err.errors, 400
        result = pipeline.board(member)
    members = sorted(
        ((m.user_id, m.user.display_name) for m in tenant_services.members() if m.is_active),
        key=lambda item: item[1].casefold(),
    )
    return render_template(
        "crm/board.html",
        result=result,
        locale=_locale(),
        raw=raw,
        errors=errors,
        members=members,
        teams=[(t.id, t.path_label) for t in teams.list_teams()],
        periods=_period_labels(),
        can_write=member.role_key in WRITE_ROLES,
        lost_codes=[
            c.code for c in result.columns if c.stage is not None and c.stage.kind == "lost"
        ],
        money=_money,
        totals={kind: result.totals(kind) for kind in pipeline.KINDS},
        confirm=ConfirmForm(),
    ), status


@bp.post("/pipeline/<int:opportunity_id>/move")
def move(opportunity_id: int):
    """Move a card: JSON for the board's script (errors too, by the error handler), else back
    to the board with a message."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    wants_json = request.accept_mimetypes.best == "application/json"
    version = request.form.get("version", "")
    if not version.isdigit() or len(version) > 9:
        raise ValidationFailed({"version": [_("Reload the board and try again.")]})
    stage = request.form.get("stage", "")
    try:
        record = pipeline.move(
            g.membership, opportunity_id, stage, int(version), request.form.get("lost_reason")
        )
    except DomainError as err:
        if wants_json or err.status == 404:
            raise
        for messages in _messages(err).values():
            for message in messages:
                flash(message, "error")
        return redirect(safe_next(request.form.get("next"), url_for("pipeline.board")))
    if wants_json:
        return {
            "id": record.id,
            "version": record.version,
            "stage": (record.data or {}).get("stage"),
        }
    flash(_("“%(name)s” moved.", name=record.name or record.id), "success")
    return redirect(safe_next(request.form.get("next"), url_for("pipeline.board")))


# ---------------------------------------------------------------- stage history


def _duration(seconds: int) -> str:
    return format_timedelta(seconds, threshold=1.0, granularity="minute")


@bp.app_context_processor
def _pipeline_helpers() -> dict[str, Any]:
    """``stage_history_panel(record)`` for the opportunity's record page."""

    def stage_history_panel(record: RecordColumns) -> Markup:
        rows = pipeline.history(g.membership, record.id)
        locale = _locale()
        labels = {s.code: s.label(locale) for s in pipeline.stages()}
        people = {m.user_id: m.user.display_name for m in tenant_services.members()}
        return Markup(  # noqa: S704 - a template of ours, autoescaped
            render_template(
                "crm/_stage_history.html",
                rows=list(reversed(rows)),
                labels=labels,
                people=people,
                duration=_duration,
                money=_money,
            )
        )

    return {"stage_history_panel": stage_history_panel}


# ---------------------------------------------------------------- settings


def _offsets(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,，、]+", text.strip()) if part]


@bp.route("/settings/opportunity-stages", methods=["GET", "POST"])
@require_admin
def stage_settings():
    stages = pipeline.stages()
    errors: dict[str, list[str]] = {}
    status = 200
    values = {s.code: {"probability": s.probability, "kind": s.kind} for s in stages}
    offsets_text = ", ".join(pipeline.followup_offsets())
    if request.method == "POST":
        if not ConfirmForm().validate_on_submit():
            abort(400)
        rows = []
        for stage in stages:
            raw = request.form.get(f"stage-{stage.code}-probability")
            if raw is None:  # not on the form: as it is
                if stage.probability is None:
                    continue
                raw = str(stage.probability)
            raw = raw.strip()
            kind = request.form.get(f"stage-{stage.code}-kind", stage.kind)
            probability: Any = int(raw) if raw.isdigit() and len(raw) < 5 else raw
            values[stage.code] = {"probability": raw, "kind": kind}
            rows.append({"code": stage.code, "probability": probability, "kind": kind})
        offsets_text = request.form.get("followup_offsets", "")
        try:
            pipeline.update_stages(g.membership, rows, _offsets(offsets_text))
        except DomainError as err:
            status = err.status
            for key, messages in _messages(err).items():
                position, _sep, part = key.removeprefix("stages[").partition("].")
                if position.isdigit() and int(position) < len(rows):
                    errors[f"stage-{rows[int(position)]['code']}-{part}"] = messages
                else:
                    errors[key] = messages
        else:
            flash(_("Stages saved."), "success")
            return redirect(url_for("pipeline.stage_settings"))
    return render_template(
        "crm/opportunity_stages.html",
        stages=stages,
        values=values,
        kinds=pipeline.KINDS,
        offsets_text=offsets_text,
        locale=_locale(),
        errors=errors,
        confirm=ConfirmForm(),
    ), status
