"""Record pages of every object (``/t/<slug>/o/<object_key>/…``): list, detail, create, edit,
delete, recycle bin and restore.

Pages and forms follow the object's page layout (:mod:`custom_fields.layouts`) and each field's
access for the person's role: hidden fields are never rendered, read-only ones are shown
disabled and never sent. Each page needs its right on the object (``tenants.permissions``:
view, create, edit, delete), and changing a record needs it in the member's data scope or shared
with them to edit. The record
services check every value; the views turn form posts into the payloads those services take and
show each error next to the input it names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from custom_fields import layouts, types
from custom_fields.definitions import FieldInfo
from custom_fields.errors import NotFound
from custom_fields.types.lookup import USER_TARGET
from saas.crm import duplicates
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.records import history, retention, services, sharing
from saas.records import views as saved_views
from saas.records.errors import StaleVersion
from saas.web import lists
from saas.web.forms import ConfirmForm
from tenants import permissions
from tenants import services as tenant_services
from tenants.errors import Forbidden
from tenants.resolution import attach_ui_tenant, require_right

bp = Blueprint("records", __name__, url_prefix="/t/<slug>/o/<object_key>")
attach_ui_tenant(bp)

PAGE_SIZE = 50
#: A lookup offers a select of the target's records up to this many, else an id input.
LOOKUP_CHOICES = 200
#: Widgets a type may declare → how the form renders it; anything else is a text input.
WIDGETS = {
    "text": "text",
    "textarea": "textarea",
    "integer": "integer",
    "decimal": "decimal",
    "percent": "percent",
    "currency": "currency",
    "date": "date",
    "datetime": "datetime",
    "checkbox": "boolean",
    "select": "select",
    "multiselect": "multiselect",
    "email": "email",
    "tel": "tel",
    "url": "url",
    "lookup": "lookup",
    "readonly": "computed",
}


def _locale() -> str:
    return "zh_CN" if str(get_locale() or "en").startswith("zh") else "en"


@bp.context_processor
def _record_helpers() -> dict[str, Any]:
    """``can_write``: the member's role may change records of the page's object."""
    member = g.get("membership")
    object_key = (request.view_args or {}).get("object_key")
    return {
        "can_write": member is not None
        and object_key is not None
        and permissions.allowed(member, object_key, "edit")
    }


# --- inputs of the record form -------------------------------------------------------------


@dataclass
class Input:
    """One field of the record form: how to render it, its value and its errors."""

    info: FieldInfo
    widget: str
    help: str = ""
    value: Any = ""  # text, or a list of codes for a multi-select
    currency: str = ""
    #: The value and currency the form was loaded with (posted back as ``orig-…`` inputs).
    orig_value: Any = ""
    orig_currency: str = ""
    disabled: bool = False  # read-only for this role: shown, never sent
    display: str = ""  # what a computed or read-only value looks like
    choices: list[tuple[str, str]] = field(default_factory=list)
    link: str | None = None
    search_url: str | None = None  # typeahead of a lookup (name, phone, email, pinyin)
    errors: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.info.key

    @property
    def name(self) -> str:
        return f"field-{self.info.key}"

    @property
    def label(self) -> str:
        return self.info.spec.label(_locale())

    @property
    def required(self) -> bool:
        return self.info.spec.required and types.get(self.info.type).editable

    @property
    def sends(self) -> bool:
        """Whether a post carries this input (editable by the role, typed in by people)."""
        return not self.disabled and self.widget != "computed"


def _api_value(info: FieldInfo, stored: Any) -> Any:
    if stored is None:
        return None
    field_type = types.get(info.type)
    return field_type.to_api(field_type.from_storage(stored))


def _initial(info: FieldInfo, widget: str, value: Any, timezone: str) -> tuple[Any, str]:
    """(input value, currency) that shows ``value`` (the API form) in the form."""
    if widget == "currency":
        if value is None:
            return "", ""
        if isinstance(value, dict):
            return str(value.get("amount", "")), str(value.get("currency", ""))
        return str(value), ""
    if value is None:
        return ([] if widget == "multiselect" else ""), ""
    if widget == "multiselect":
        return [str(v) for v in value], ""
    if widget == "boolean":
        return ("true" if value else "false"), ""
    if widget == "datetime" and isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value, ""
        local = moment.astimezone(ZoneInfo(timezone)) if moment.tzinfo else moment
        return local.strftime("%Y-%m-%dT%H:%M"), ""
    return str(value), ""


def _currency_choices(selected: str) -> list[tuple[str, str]]:
    from babel.numbers import list_currencies

    names = get_locale().currencies
    codes = sorted(list_currencies() | ({selected} if selected else set()))
    return [(code, f"{code} · {names.get(code, code)}") for code in codes]


def _picklist_choices(info: FieldInfo, current: list[str]) -> list[tuple[str, str]]:
    locale = _locale()
    choices = []
    for choice in info.spec.choices:
        if choice.active:
            choices.append((choice.code, choice.label(locale)))
        elif choice.code in current:
            choices.append((choice.code, _("%(label)s (retired)", label=choice.label(locale))))
    known = {code for code, _label in choices}
    choices += [(code, code) for code in current if code not in known]
    return choices


def _lookup_input(inp: Input) -> None:
    """A select of the target's newest records, or an id input with a link to the list when
    the target has more than :data:`LOOKUP_CHOICES` records."""
    target = inp.info.spec.options.get("target", "")
    inp.search_url = url_for("lookups.lookup", object_key=target)
    if target == USER_TARGET:
        inp.choices = [(str(uid), name) for uid, name in _member_names().items()]
    else:
        try:
            rows, more = services.list_records(target, limit=LOOKUP_CHOICES)
        except NotFound:
            inp.widget = "lookup_id"
            return
        if more is not None:
            inp.widget = "lookup_id"
            inp.link = url_for("records.index", object_key=target)
            if inp.value:
                inp.display = _lookup_name(target, inp.value)
            return
        inp.choices = [(str(r.id), r.name or f"#{r.id}") for r in rows]
    if inp.value and inp.value not in {value for value, _label in inp.choices}:
        inp.choices.append((inp.value, f"#{inp.value}"))


def _lookup_name(target: str, value: str) -> str:
    try:
        return services.get_record(target, int(value)).name or f"#{value}"
    except (DomainError, ValueError):
        return f"#{value}"


def build_inputs(
    st: services.Store,
    sections: list[layouts.PageSection],
    record: Any | None,
    display: dict[str, str],
) -> dict[str, Input]:
    """An :class:`Input` per field the person may see, showing the record's values (or the
    field defaults for a new record)."""
    from custom_fields.services import list_fields

    ctx = services.context()
    role = g.membership.role_key
    help_texts = {
        f.key: (f.help_zh if ctx.locale.startswith("zh") else f.help_en) or ""
        for f in list_fields(st.schema.key)
    }
    inputs: dict[str, Input] = {}
    for section in sections:
        for info in section.fields:
            field_type = types.get(info.type)
            widget = WIDGETS.get(field_type.widget, "text")
            if not field_type.editable:
                widget = "computed"
            stored = record.data.get(info.key) if record is not None else info.default
            value, currency = _initial(info, widget, _api_value(info, stored), ctx.timezone)
            inp = Input(
                info=info,
                widget=widget,
                help=help_texts.get(info.key, ""),
                value=value,
                currency=currency,
                disabled=info.access_for(role) == "read_only",
                display=display.get(info.key, ""),
            )
            if widget == "currency":
                inp.currency = currency or info.spec.options.get("currency") or ctx.currency
                inp.choices = _currency_choices(inp.currency)
            elif widget in ("select", "multiselect"):
                current = value if isinstance(value, list) else [value] if value else []
                inp.choices = _picklist_choices(info, current)
            elif widget == "lookup":
                _lookup_input(inp)
            inp.orig_value, inp.orig_currency = inp.value, inp.currency
            inputs[info.key] = inp
    return inputs


def _posted(inp: Input, form: MultiDict, prefix: str = "") -> tuple[Any, str]:
    """What the form holds for ``inp`` (``prefix="orig-"``: what it was loaded with)."""
    name = prefix + inp.name
    if inp.widget == "multiselect":
        return [v for v in form.getlist(name) if v], ""
    raw = form.get(name, "")
    raw = raw.replace("\r\n", "\n") if inp.widget == "textarea" else raw.strip()
    if inp.widget == "currency":
        return raw, form.get(f"{name}-currency", "").strip()
    return raw, ""


def _payload_value(inp: Input, raw: Any, currency: str) -> Any:
    """The value the record service takes for what the form holds (empty input → None)."""
    if inp.widget == "multiselect":
        return list(raw) or None
    if isinstance(raw, str) and not raw.strip():
        return None
    if inp.widget == "currency":
        return {"amount": raw, "currency": currency} if currency else raw
    if inp.widget == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    return raw


def read_form(inputs: dict[str, Input], form: MultiDict, *, creating: bool) -> dict[str, Any]:
    """The payload of a post.

    On creation: every input the person may change. On an edit: only the inputs the person
    changed, i.e. whose value differs from the one the form was loaded with (posted back in
    ``orig-…`` inputs; without them, from the record's value now). So a value nobody touched,
    such as a retired picklist value, stays as it is, and after a conflict only the person's own
    changes are applied. Disabled and computed inputs are never sent.

    The inputs take the changed values, to show them again if the service refuses something;
    the others keep the record's values now (the other person's, after a conflict)."""
    payload: dict[str, Any] = {}
    loaded = "has_orig" in form
    for key, inp in inputs.items():
        if not inp.sends:
            continue
        raw, currency = _posted(inp, form)
        if loaded:
            before = _posted(inp, form, "orig-")
        else:
            before = (inp.value, inp.currency if inp.widget == "currency" else "")
        if inp.widget != "currency":
            changed = raw != before[0]
        elif not raw and not before[0]:
            changed = False  # no amount before or after: the currency alone means nothing
        else:
            changed = (raw, currency) != before
        if creating or changed:
            inp.value = raw
            if inp.widget == "currency" and currency:
                inp.currency = currency
            payload[key] = _payload_value(inp, raw, currency)
    return payload


# --- system fields: name and owner -----------------------------------------------------------


@dataclass
class SystemInputs:
    name: str = ""
    owner_id: str = ""
    name_errors: list[str] = field(default_factory=list)
    owner_errors: list[str] = field(default_factory=list)


def _owner_choices(current: str) -> list[tuple[str, str]]:
    """Active members; the current owner stays listed (or "—" when there is none), so that
    saving a form never changes the owner by accident."""
    members = tenant_services.members()
    choices = [(str(m.user_id), m.user.display_name) for m in members if m.is_active]
    if current not in {value for value, _text in choices}:
        names = {str(m.user_id): m.user.display_name for m in members}
        choices.insert(0, (current, names.get(current, f"#{current}") if current else "—"))
    return choices


def _member_names() -> dict[int, str]:
    return {m.user_id: m.user.display_name for m in tenant_services.members()}


def _attach_errors(err: DomainError, inputs: dict[str, Input], system: SystemInputs) -> list[str]:
    """Put each message next to the input it names; answers the rest (shown at the top)."""
    errors = err.errors if isinstance(err, ValidationFailed) else {err.field or "": [err.message]}
    general: list[str] = []
    for key, messages in errors.items():
        if key == "name":
            system.name_errors.extend(messages)
        elif key == "owner_id":
            system.owner_errors.extend(messages)
        elif key in inputs:
            inputs[key].errors.extend(messages)
        else:
            general.extend(messages)
    return general


# --- pages ---------------------------------------------------------------------------------


def _display(st: services.Store, record: Any) -> dict[str, str]:
    """Field key → the value as text in the person's language (hidden fields left out)."""
    return {info.key: text for info, text in services.display_values(st, record, g.membership)}


def _store(object_key: str) -> services.Store:
    return services.store(object_key)


def _cursor(name: str = "cursor") -> int | None:
    try:
        value = int(request.args.get(name, ""))
    except ValueError:
        return None
    return value if value > 0 else None


@bp.get("/")
@require_right("view")
def index(object_key: str):
    """The list: a view (saved or built-in) with the overrides of its URL, as a table or a
    board (:mod:`saas.web.lists`)."""
    return lists.render(object_key)


def _back_to_list(object_key: str, state: str, view_key: str | None = None):
    args = lists.state_args(state)
    if view_key is not None:
        args = MultiDict([("view", view_key)])
    return redirect(lists.list_url(object_key, args.items(multi=True)))


def _flash_error(err: DomainError) -> None:
    errors = err.errors if isinstance(err, ValidationFailed) else {"": [err.message]}
    for messages in errors.values():
        for message in messages:
            flash(message, "error")


@bp.post("/views")
def create_view(object_key: str):
    """Save the list as it is (its URL, posted as ``state``) as a new view."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    form = request.form
    state = form.get("state", "")
    try:
        current = saved_views.list_state(g.membership, object_key, lists.state_args(state))
        payload = {
            **current.view_payload(),
            "name": form.get("name", ""),
            **lists.share_payload(form),
        }
        view = saved_views.create_view(g.membership, object_key, payload)
    except saved_views.ViewNotFound:
        raise
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
        return _back_to_list(object_key, state)
    flash(_("The view “%(name)s” was saved.", name=view.name), "success")
    return _back_to_list(object_key, state, str(view.id))


@bp.post("/views/<int:view_id>")
def update_view(object_key: str, view_id: int):
    """``action=save``: store the list as it is into the view; ``rename``; ``share``."""
    saved_views.get_view(g.membership, object_key, view_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    form = request.form
    state = form.get("state", "")
    action = form.get("action", "save")
    try:
        if action == "rename":
            payload: dict[str, Any] = {"name": form.get("name", "")}
        elif action == "share":
            payload = lists.share_payload(form)
        else:
            current = saved_views.list_state(g.membership, object_key, lists.state_args(state))
            payload = current.view_payload()
        view = saved_views.update_view(g.membership, object_key, view_id, payload)
    except saved_views.ViewNotFound:
        raise
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
        return _back_to_list(object_key, state)
    flash(_("The view “%(name)s” was saved.", name=view.name), "success")
    if action == "save":
        return _back_to_list(object_key, state, str(view.id))
    return _back_to_list(object_key, state)


@bp.post("/views/<int:view_id>/delete")
def delete_view(object_key: str, view_id: int):
    view = saved_views.get_view(g.membership, object_key, view_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    name = view.name
    try:
        saved_views.delete_view(g.membership, object_key, view_id)
    except saved_views.ViewNotFound:
        raise
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
        return _back_to_list(object_key, request.form.get("state", ""))
    flash(_("The view “%(name)s” was deleted.", name=name), "info")
    return _back_to_list(object_key, "", "all")


@bp.post("/views/default")
def set_default_view(object_key: str):
    """Star a view: it opens when the list is opened without naming one."""
    services.store(object_key)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    state = request.form.get("state", "")
    try:
        saved_views.set_default(g.membership, object_key, request.form.get("view", ""))
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
        return _back_to_list(object_key, state)
    flash(_("This view now opens first."), "success")
    return _back_to_list(object_key, state)


@bp.get("/query-fields")
def query_fields(object_key: str):
    """The fields the person may filter, sort and show, with operators, labels and choices."""
    return jsonify(fields=saved_views.query_fields(g.membership, object_key, _locale()))


@bp.patch("/<int:record_id>")
@require_right("edit")
def patch_record(object_key: str, record_id: int):
    """Change some values from a script (the kanban board): JSON body, ``If-Match`` with the
    version read; ``412`` with the current record when it changed meanwhile."""
    services.get_record(object_key, record_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400)
    version = services.parse_version(request.headers.get("If-Match"))
    record = services.update_record(g.membership, object_key, record_id, body, version)
    st = _store(object_key)
    response = jsonify(services.serialize(st, record, g.membership))
    response.headers["ETag"] = f'"v{record.version}"'
    return response


@bp.get("/<int:record_id>")
def detail(object_key: str, record_id: int):
    st = _store(object_key)
    record = services.get_record(object_key, record_id)
    page = render_template(
        "records/detail.html",
        schema=st.schema,
        record=record,
        sections=layouts.page_sections(object_key, g.membership.role_key, _locale()),
        display=_display(st, record),
        owners=_member_names(),
        confirm=ConfirmForm(),
        record_editable=services.may_change(g.membership, object_key, record),
        can_share_record=sharing.may_share(g.membership, object_key, record),
    )
    saved_views.note_recent(g.membership, object_key, record_id)  # "Recently viewed"
    return page


def _render_form(
    st: services.Store,
    sections: list[layouts.PageSection],
    inputs: dict[str, Input],
    system: SystemInputs,
    *,
    record: Any | None,
    version: int | None,
    general: list[str] | None = None,
    conflict: dict[str, Any] | None = None,
    possible_duplicates: duplicates.DuplicateFound | None = None,
    status: int = 200,
):
    return render_template(
        "records/form.html",
        possible_duplicates=possible_duplicates,
        schema=st.schema,
        record=record,
        sections=sections,
        inputs=inputs,
        system=system,
        owner_choices=_owner_choices(system.owner_id),
        version=version,
        general_errors=general or [],
        conflict=conflict,
        timezone=services.context().timezone,
    ), status


def _prefill(inputs: dict[str, Input], args: MultiDict) -> None:
    """Values given in the URL (``/o/contact/new?account=42`` from a customer's page), checked
    like form input: a value the field refuses, or a record the person cannot see, is dropped."""
    ctx = services.context()
    for key, inp in inputs.items():
        raw = args.get(key, "").strip()
        if not raw or not inp.sends or inp.widget in ("multiselect", "currency"):
            continue
        try:
            value = types.get(inp.info.type).clean(raw, inp.info.spec, ctx)
        except types.FieldValueError:
            continue
        if value is None:
            continue
        if inp.info.type == "lookup":
            target = inp.info.spec.options.get("target", "")
            if target != USER_TARGET:
                try:
                    name = services.get_record(target, int(value)).name or f"#{value}"
                except (DomainError, ValueError):
                    continue
                inp.display = name
                if inp.widget == "lookup" and str(value) not in {v for v, _l in inp.choices}:
                    inp.choices.append((str(value), name))
        if isinstance(value, bool):
            value = "true" if value else "false"
        inp.value = inp.orig_value = str(value)


@bp.route("/new", methods=["GET", "POST"])
@require_right("create")
def create(object_key: str):
    st = _store(object_key)
    sections = layouts.page_sections(object_key, g.membership.role_key, _locale())
    inputs = build_inputs(st, sections, None, {})
    system = SystemInputs(owner_id=str(g.membership.user_id))
    if request.method == "GET":
        _prefill(inputs, request.args)
        return _render_form(st, sections, inputs, system, record=None, version=None)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    payload = read_form(inputs, request.form, creating=True)
    system.name = request.form.get("name", "").strip()
    system.owner_id = request.form.get("owner_id", "").strip()
    if not st.schema.name_pattern:
        payload["name"] = system.name
    if system.owner_id:
        payload["owner_id"] = system.owner_id
    # Possible duplicates are shown before saving; ticking "Save anyway" saves (see the policy).
    check = duplicates.Check(allow=request.form.get("save_anyway") == "1", confirm=True)
    try:
        record = services.create_record(g.membership, object_key, payload, duplicate_check=check)
    except duplicates.DuplicateFound as err:
        db.session.rollback()
        return _render_form(
            st,
            sections,
            inputs,
            system,
            record=None,
            version=None,
            possible_duplicates=err,
            status=err.status,
        )
    except DomainError as err:
        db.session.rollback()
        general = _attach_errors(err, inputs, system)
        return _render_form(
            st,
            sections,
            inputs,
            system,
            record=None,
            version=None,
            general=general,
            status=err.status,
        )
    flash(_("“%(name)s” was created.", name=record.name), "success")
    return redirect(url_for(".detail", object_key=object_key, record_id=record.id))


def _conflict(st: services.Store, object_key: str, record_id: int) -> dict[str, Any]:
    """The record as the other person saved it, for the "someone else changed this" notice."""
    current = services.get_record(object_key, record_id)
    return {
        "record": current,
        "values": [
            (info, text) for info, text in services.display_values(st, current, g.membership)
        ],
        "updated_by": _member_names().get(current.updated_by or 0, ""),
    }


@bp.route("/<int:record_id>/edit", methods=["GET", "POST"])
@require_right("edit")
def edit(object_key: str, record_id: int):
    st = _store(object_key)
    record = services.get_record(object_key, record_id)
    if not services.may_change(g.membership, object_key, record):
        raise Forbidden(_("This record is shared with you to read only."))
    sections = layouts.page_sections(object_key, g.membership.role_key, _locale())
    inputs = build_inputs(st, sections, record, _display(st, record))
    system = SystemInputs(name=record.name or "", owner_id=str(record.owner_id or ""))
    if request.method == "GET":
        return _render_form(st, sections, inputs, system, record=record, version=record.version)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        abort(400)
    payload = read_form(inputs, request.form, creating=False)
    name = request.form.get("name", "").strip()
    owner_id = request.form.get("owner_id", "").strip()
    if not st.schema.name_pattern and name != system.name:
        payload["name"] = name
    if owner_id and owner_id != system.owner_id:
        payload["owner_id"] = owner_id
    system.name, system.owner_id = name, owner_id or system.owner_id
    check = duplicates.Check(allow=request.form.get("save_anyway") == "1", confirm=True)
    try:
        record = services.update_record(
            g.membership, object_key, record_id, payload, version, duplicate_check=check
        )
    except duplicates.DuplicateFound as err:
        db.session.rollback()
        return _render_form(
            st,
            sections,
            inputs,
            system,
            record=record,
            version=version,
            possible_duplicates=err,
            status=err.status,
        )
    except StaleVersion as err:
        db.session.rollback()
        conflict = _conflict(st, object_key, record_id)
        return _render_form(
            st,
            sections,
            inputs,
            system,
            record=conflict["record"],
            version=conflict["record"].version,
            general=[err.message],
            conflict=conflict,
            status=err.status,
        )
    except DomainError as err:
        db.session.rollback()
        general = _attach_errors(err, inputs, system)
        return _render_form(
            st,
            sections,
            inputs,
            system,
            record=record,
            version=version,
            general=general,
            status=err.status,
        )
    flash(_("“%(name)s” was saved.", name=record.name), "success")
    return redirect(url_for(".detail", object_key=object_key, record_id=record.id))


@bp.post("/<int:record_id>/delete")
@require_right("delete")
def delete(object_key: str, record_id: int):
    record = services.get_record(object_key, record_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    name = record.name
    services.delete_record(g.membership, object_key, record_id)
    flash(_("“%(name)s” was moved to the recycle bin.", name=name), "info")
    return redirect(url_for(".index", object_key=object_key))


@bp.get("/bin")
@require_right("view")
def recycle_bin(object_key: str):
    st = _store(object_key)
    cursor = _cursor()
    rows, next_cursor = services.list_records(
        object_key, limit=PAGE_SIZE, before_id=cursor, deleted=True
    )
    return render_template(
        "records/bin.html",
        schema=st.schema,
        rows=rows,
        owners=_member_names(),
        cursor=cursor,
        next_cursor=next_cursor,
        confirm=ConfirmForm(),
        recycle_days=retention.retention_days(),
    )


@bp.post("/<int:record_id>/restore")
@require_right("delete")
def restore(object_key: str, record_id: int):
    services.get_record(object_key, record_id, deleted=True)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    record = services.restore_record(g.membership, object_key, record_id)
    flash(_("“%(name)s” was restored.", name=record.name), "success")
    return redirect(url_for(".detail", object_key=object_key, record_id=record.id))


# --- history and removal for good ----------------------------------------------------------


@bp.context_processor
def _history_helpers() -> dict[str, Any]:
    def record_history(object_key: str, record_id: int) -> dict[str, Any]:
        """The first page of the record's history for its page's panel."""
        entries, next_cursor = history.history(g.membership, object_key, record_id)
        return {"entries": entries, "next_cursor": next_cursor}

    return {"record_history": record_history}


@bp.get("/<int:record_id>/history")
def record_history(object_key: str, record_id: int):
    """The record's history page by page ("Show more" of the record page's panel)."""
    st = _store(object_key)
    record = services.get_record(object_key, record_id)
    entries, next_cursor = history.history(g.membership, object_key, record_id, _cursor())
    return render_template(
        "records/_history_page.html",
        schema=st.schema,
        record=record,
        entries=entries,
        next_cursor=next_cursor,
    )


@bp.post("/<int:record_id>/purge")
def purge(object_key: str, record_id: int):
    """Remove a record from the recycle bin for good (owners and admins, after confirming)."""
    record = services.get_record(object_key, record_id, deleted=True)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    name = record.name
    retention.purge_record(g.membership, object_key, record_id)
    flash(_("“%(name)s” was removed for good.", name=name), "info")
    return redirect(url_for(".recycle_bin", object_key=object_key))
