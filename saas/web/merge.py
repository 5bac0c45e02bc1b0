"""The merge page (``/t/<slug>/o/<object_key>/merge?ids=…``): with one record, its possible
duplicates to pick from; with two to five, the records side by side with a choice per field, what
would move, and a confirmation. Merging leads to the survivor's page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from saas.crm import duplicates, merge
from saas.errors import DomainError, ValidationFailed
from saas.records import services
from saas.web.forms import ConfirmForm
from tenants.resolution import attach_ui_tenant

bp = Blueprint("merge", __name__, url_prefix="/t/<slug>/o/<object_key>")
attach_ui_tenant(bp)


def _ids(values: list[str]) -> list[int]:
    ids: list[int] = []
    for raw in values:
        try:
            value = int(raw)
        except ValueError:
            continue
        if 0 < value < 2**63 and value not in ids:
            ids.append(value)
    return ids[: merge.MAX_OTHERS + 1]


def _candidates(object_key: str, record_id: int) -> list[duplicates.Candidate]:
    """Possible duplicates of one record among the records of its own object."""
    record = services.get_record(object_key, record_id)
    st = services.store(object_key)
    values: dict[str, Any] = {
        k: v
        for k, v in services.serialize(st, record, g.membership).items()
        if k not in services.SYSTEM_KEYS or k == "name"
    }
    found = duplicates.find_duplicates(object_key, values, record_id, g.membership)
    return [c for c in found.candidates if c.object_key == object_key]


def _show(object_key: str, ids: list[int], survivor: int | None, status: int = 200):
    if object_key not in merge.OBJECTS:
        abort(404)
    if len(ids) < 2:
        if not ids:
            abort(404)
        return render_template(
            "merge/find.html",
            object_key=object_key,
            schema=services.store(object_key).schema,
            record=services.get_record(object_key, ids[0]),
            candidates=_candidates(object_key, ids[0]),
        ), status
    survivor = survivor if survivor in ids else ids[0]
    found = merge.preview(g.membership, object_key, survivor, [i for i in ids if i != survivor])
    return render_template(
        "merge/page.html",
        object_key=object_key,
        schema=services.store(object_key).schema,
        preview=found,
        chosen={k: int(v) for k, v in _choices().items() if str(v).isdigit()},
        confirm=ConfirmForm(),
    ), status


def _choices() -> dict[str, str]:
    return {
        k.removeprefix("choice-"): v
        for k, v in request.values.items()
        if k.startswith("choice-") and v
    }


@bp.get("/merge")
def page(object_key: str):
    survivor = request.args.get("survivor", type=int)
    return _show(object_key, _ids(request.args.getlist("ids")), survivor)


@bp.post("/merge")
def run(object_key: str):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    ids = _ids(request.form.getlist("ids"))
    survivor = request.form.get("survivor", type=int)
    if survivor not in ids:
        abort(400)
    if not request.form.get("confirm"):
        flash(_("Tick the confirmation to merge."), "error")
        return _show(object_key, ids, survivor, 400)
    versions = {str(i): request.form.get(f"version-{i}", type=int) for i in ids}
    try:
        merge.merge(
            g.membership,
            object_key,
            survivor,
            [i for i in ids if i != survivor],
            {k: int(v) if v.isdigit() else v for k, v in _choices().items()},
            {k: v for k, v in versions.items() if v is not None},
        )
    except DomainError as err:
        if err.status in (403, 404):
            raise
        if isinstance(err, ValidationFailed):
            for messages in err.errors.values():
                for message in messages:
                    flash(message, "error")
        else:
            flash(err.message, "error")
        return _show(object_key, ids, survivor, err.status)
    flash(_("Merged. The other records are in the recycle bin."), "success")
    return redirect(url_for("records.detail", object_key=object_key, record_id=survivor))
