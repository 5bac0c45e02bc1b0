"""Customization without code (``/t/<slug>/admin/…``): objects, their custom fields, picklist
values and field access per role. Every page here is for owners and administrators.

The pages call the metadata services in :mod:`custom_fields.services`, which check everything;
the views only turn form posts into the payloads those services take and put each error they
report next to the input it names. The options part of a field form is built from the field
type's marshmallow ``options_schema``, so a new field type needs no template work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import fields as ma
from marshmallow import missing, validate
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from custom_fields import layouts, services, types
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.web.forms import ConfirmForm, FieldForm, ObjectForm
from tenants.models import ADMIN_ROLES
from tenants.resolution import attach_ui_tenant, require_admin

bp = Blueprint("admin", __name__, url_prefix="/t/<slug>/admin")
attach_ui_tenant(bp)


@bp.before_request
@require_admin
def _admins_only() -> None:
    """Runs after the tenant is resolved: members who are not admins get 403 on every page."""


TYPE_LABELS = {
    "text": _l("Text"),
    "long_text": _l("Long text"),
    "integer": _l("Whole number"),
    "decimal": _l("Decimal number"),
    "currency": _l("Money"),
    "percent": _l("Percentage"),
    "date": _l("Date"),
    "datetime": _l("Date and time"),
    "boolean": _l("Yes / no"),
    "picklist": _l("Picklist"),
    "multi_picklist": _l("Multi-select picklist"),
    "email": _l("Email address"),
    "phone": _l("Phone number"),
    "url": _l("Web address"),
    "lookup": _l("Lookup"),
    "auto_number": _l("Auto-number"),
    "formula": _l("Formula"),
}
TYPE_DESCRIPTIONS = {
    "text": _l("One line of text, such as a nickname or a reference."),
    "long_text": _l("Several lines of text, such as notes."),
    "integer": _l("A whole number, such as a number of employees."),
    "decimal": _l("An exact number with decimals, such as a weight or a score."),
    "currency": _l("An amount of money in a currency."),
    "percent": _l("A percentage, such as a discount."),
    "date": _l("A calendar date."),
    "datetime": _l("A date and time, shown in each person's time zone."),
    "boolean": _l("Yes or no."),
    "picklist": _l("One value from a list you define."),
    "multi_picklist": _l("Several values from a list you define."),
    "email": _l("An email address, checked and kept in lower case."),
    "phone": _l("A phone number, checked and stored in international form."),
    "url": _l("A link to a web page."),
    "lookup": _l("A link to a record of another object."),
    "auto_number": _l("A number the system assigns, such as Q-2026-0001."),
    "formula": _l("A value computed from other fields of the record."),
}
OPTION_LABELS = {
    "max_length": _l("Maximum length"),
    "regex": _l("Pattern (regular expression)"),
    "regex_message": _l("Message when the pattern does not match"),
    "precision": _l("Total digits"),
    "scale": _l("Digits after the decimal point"),
    "min": _l("Minimum"),
    "max": _l("Maximum"),
    "currency": _l("Currency"),
    "region": _l("Default region"),
    "target": _l("Links to"),
    "pattern": _l("Number pattern"),
    "start": _l("First number"),
    "reset": _l("Restart the counter"),
    "expression": _l("Expression"),
    "max_selected": _l("Most values one record may have"),
    "controlling_field": _l("Controlling field"),
}
OPTION_HELP = {
    "regex": _l("Values must match it, for example ^[A-Z]{3}-[0-9]+$."),
    "currency": _l("Leave empty to use the company's currency."),
    "region": _l("Numbers typed without a country code are read as numbers of this region."),
    "target": _l("The object whose records this field links to."),
    "pattern": _l("{YYYY} {YY} {MM} {DD} for the date, and one counter such as {0000}."),
    "expression": _l('For example budget / employees or IF(tier = "A", "key", "normal").'),
    "controlling_field": _l("The key of another picklist that limits this one's values."),
}
CHOICE_LABELS = {
    "never": _l("Never"),
    "yearly": _l("Every year"),
    "monthly": _l("Every month"),
    "daily": _l("Every day"),
}
ACCESS_LABELS = {
    "hidden": _l("Hidden"),
    "read_only": _l("Read-only"),
    "editable": _l("Editable"),
}
#: Keys the admin pages use in their own URLs (``…/fields/new``), so a field cannot take them.
UI_RESERVED_KEYS = frozenset({"new"})
DEFAULT_COLOUR = "#6c757d"
_ROW_CODE = re.compile(r"^values-(\d+)-code$")


def _zh() -> bool:
    return str(get_locale() or "en").startswith("zh")


def _locale() -> str:
    return "zh_CN" if _zh() else "en"


# --- options of a type, read from its marshmallow schema ---------------------------------


@dataclass(frozen=True)
class OptionInput:
    """One option of a field type as a form input: a pure reading of its marshmallow field."""

    name: str
    kind: str  # "boolean", "integer", "decimal", "text" or "select"
    required: bool = False
    allow_none: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: Any = None
    maximum: Any = None
    max_length: int | None = None

    @property
    def form_name(self) -> str:
        return f"opt_{self.name}"

    def payload_value(self, raw: Any) -> tuple[bool, Any]:
        """(send it?, value) for what the form holds; an empty input sends null when the option
        allows it, and otherwise nothing, so the type's default (or the saved value) applies."""
        if self.kind == "boolean":
            return True, bool(raw)
        text = "" if raw is None else str(raw).strip()
        if not text:
            return (True, None) if self.allow_none else (False, None)
        if self.kind == "integer":
            try:
                return True, int(text)
            except ValueError:
                return True, text
        return True, text

    def problem(self, raw: Any) -> str | None:
        """A message in the user's language for what is wrong with ``raw``, when this can tell
        (marshmallow's own messages are English); ``None`` keeps the service's message."""
        if self.kind == "boolean":
            return None
        text = "" if raw is None else str(raw).strip()
        if not text:
            return _("Fill in this field.") if self.required else None
        if self.kind in ("integer", "decimal"):
            try:
                number = Decimal(text)
            except InvalidOperation:
                number = None
            if number is None or not number.is_finite():
                return _("Enter a number.")
            if self.kind == "integer" and number != number.to_integral_value():
                return _("Enter a whole number.")
            low, high = self.minimum, self.maximum
            if (low is not None and number < low) or (high is not None and number > high):
                if low is not None and high is not None:
                    return _("Enter a number from %(min)s to %(max)s.", min=low, max=high)
                if low is not None:
                    return _("Enter a number of at least %(min)s.", min=low)
                return _("Enter a number of at most %(max)s.", max=high)
            return None
        if self.max_length is not None and len(text) > self.max_length:
            return _("Use at most %(n)d characters.", n=self.max_length)
        if self.choices and text not in self.choices:
            return _("Choose one of the listed values.")
        return None


def option_inputs(type_name: str) -> list[OptionInput]:
    """The options of a type that a form can edit, in the schema's order. Integer, decimal,
    string and boolean fields become inputs, ``OneOf`` a select; other kinds (dicts, lists) are
    left to the API."""
    schema = types.get(type_name).options_schema()
    inputs = []
    for name, declared in schema.fields.items():
        if isinstance(declared, ma.Boolean):
            kind = "boolean"
        elif isinstance(declared, ma.Integer):
            kind = "integer"
        elif isinstance(declared, ma.Number):
            kind = "decimal"
        elif isinstance(declared, ma.String):
            kind = "text"
        else:
            continue
        default = declared.load_default
        if callable(default) or default is missing:
            default = None
        minimum = maximum = max_length = None
        choices: tuple[str, ...] = ()
        for validator in declared.validators:
            if isinstance(validator, validate.Range):
                minimum, maximum = validator.min, validator.max
            elif isinstance(validator, validate.Length):
                max_length = validator.max
            elif isinstance(validator, validate.OneOf):
                choices = tuple(str(c) for c in validator.choices)
                kind = "select"
        if name in CHOICE_PROVIDERS:
            kind = "select"
        inputs.append(
            OptionInput(
                name=name,
                kind=kind,
                required=declared.required,
                allow_none=declared.allow_none,
                default=default,
                choices=choices,
                minimum=minimum,
                maximum=maximum,
                max_length=max_length,
            )
        )
    return inputs


def _object_choices() -> list[tuple[str, str]]:
    objects = [(o.key, f"{o.label(_locale())} ({o.key})") for o in services.list_objects()]
    return [*objects, ("user", _("A member of the company (user)"))]


def _currency_choices() -> list[tuple[str, str]]:
    from babel.numbers import list_currencies

    names = get_locale().currencies
    return [("", _("The company's currency"))] + [
        (code, f"{code} · {names.get(code, code)}") for code in sorted(list_currencies())
    ]


def _region_choices() -> list[tuple[str, str]]:
    import phonenumbers

    names = get_locale().territories
    regions = sorted(phonenumbers.SUPPORTED_REGIONS, key=lambda r: names.get(r, r))
    return [("", _("None: numbers need a country code"))] + [
        (code, f"{names.get(code, code)} ({code})") for code in regions
    ]


#: Options that are picked from a list the tenant or the locale provides, whatever their type.
CHOICE_PROVIDERS = {
    "target": _object_choices,
    "currency": _currency_choices,
    "region": _region_choices,
}


def _select(label: Any, pairs: list[tuple[str, Any]]) -> SelectField:
    """A select whose value the service checks (so WTForms does not refuse unknown ones)."""
    return SelectField(
        label, choices=[SelectChoice(value, text) for value, text in pairs], validate_choice=False
    )


def _option_field(option: OptionInput) -> Any:
    label = OPTION_LABELS.get(option.name, option.name.replace("_", " ").capitalize())
    if option.kind == "boolean":
        return BooleanField(label)
    if option.kind == "select":
        if option.name in CHOICE_PROVIDERS:
            choices = CHOICE_PROVIDERS[option.name]()
        else:
            choices = [(c, CHOICE_LABELS.get(c, c)) for c in option.choices]
            if option.allow_none:
                choices.insert(0, ("", "—"))
        return _select(label, choices)
    render_kw: dict[str, Any] = {}
    if option.kind == "integer":
        render_kw.update(type="number", step="1", inputmode="numeric")
        if option.minimum is not None:
            render_kw["min"] = option.minimum
        if option.maximum is not None:
            render_kw["max"] = option.maximum
    elif option.kind == "decimal":
        render_kw["inputmode"] = "decimal"
    if option.max_length and option.max_length > 300:
        return TextAreaField(label, render_kw={"rows": 3, "spellcheck": "false"})
    return StringField(label, render_kw=render_kw)


def _default_field(field_type: types.FieldType, choices: list[tuple[str, str]] | None) -> Any:
    label = _l("Default value")
    if field_type.name == "boolean":
        return _select(label, [("", "—"), ("true", _l("Yes")), ("false", _l("No"))])
    if choices is not None and field_type.name == "picklist":
        return _select(label, [("", "—"), *choices])
    render_kw = {
        "date": {"type": "date"},
        "integer": {"inputmode": "numeric"},
        "decimal": {"inputmode": "decimal"},
        "percent": {"inputmode": "decimal"},
        "currency": {"inputmode": "decimal"},
        "email": {"type": "email"},
        "url": {"type": "url"},
        "phone": {"type": "tel"},
    }.get(field_type.name, {})
    return StringField(label, render_kw=render_kw)


DEFAULT_HELP = {
    "picklist": _l("The code of one of the values."),
    "multi_picklist": _l("Codes of values, separated by ;"),
    "lookup": _l("The id of a record."),
    "datetime": _l("For example 2026-03-05 09:30, in your time zone."),
    "currency": _l("An amount in the field's currency."),
}


def _build_form(
    type_name: str,
    *,
    creating: bool,
    value_choices: list[tuple[str, str]] | None = None,
    data: dict[str, Any] | None = None,
) -> tuple[FieldForm, list[OptionInput]]:
    """The field form of ``type_name``: common properties plus one input per option."""
    field_type = types.get(type_name)
    options = option_inputs(type_name)
    attrs = {o.form_name: _option_field(o) for o in options}
    attrs["default"] = _default_field(field_type, value_choices)
    form_class = type(f"FieldForm_{type_name}", (FieldForm,), attrs)
    form = form_class(data=data) if data is not None else form_class()
    if creating:
        del form.active
    else:
        form.key.render_kw = {"readonly": True}
    if not field_type.editable:
        del form.required
        del form.unique
        del form.default
    return form, options


# --- turning forms into service payloads -------------------------------------------------


def _texts(prefix: str, chinese: str | None, english: str | None) -> dict[str, str]:
    """Both languages, or one text for both when only one is given (``""`` when neither)."""
    chinese, english = (chinese or "").strip(), (english or "").strip()
    if chinese and english:
        return {f"{prefix}_zh": chinese, f"{prefix}_en": english}
    return {prefix: chinese or english}


def _field_payload(
    form: FieldForm,
    options: list[OptionInput],
    *,
    type_name: str,
    creating: bool,
    initial_default: str = "",
) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if creating:
        payload["key"] = (form.key.data or "").strip()
        payload["type"] = type_name
    payload.update(_texts("label", form.label_zh.data, form.label_en.data))
    payload.update(_texts("help", form.help_zh.data, form.help_en.data))
    for name in ("required", "unique", "indexed", "searchable", "active"):
        if name in form:
            payload[name] = bool(form[name].data)
    if "default" in form:
        text = (form.default.data or "").strip()
        if creating and text:
            payload["default"] = text
        elif not creating and text != initial_default:
            payload["default"] = text or None
    for option in options:
        send, value = option.payload_value(form[option.form_name].data)
        if send:
            payload[option.name] = value
    return payload


def _default_text(stored: Any) -> str:
    """A stored default as the form shows it."""
    if stored is None:
        return ""
    if isinstance(stored, bool):
        return "true" if stored else "false"
    if isinstance(stored, dict) and "amount" in stored:
        return str(stored["amount"])
    if isinstance(stored, list):
        return ";".join(str(v) for v in stored)
    return str(stored)


def _attach(form: Any, err: DomainError, aliases: dict[str, list[str]]) -> dict[str, list[str]]:
    """Put each message of a service error next to the input it names (``aliases`` maps error
    keys to form field names); keys no input has go to the top. Picklist value errors
    (``values``, ``values.N…``) are returned for the value editor."""
    errors = err.errors if isinstance(err, ValidationFailed) else {err.field or "": [err.message]}
    left: dict[str, list[str]] = {}
    for key, raw_messages in errors.items():
        messages = list(dict.fromkeys(str(m) for m in raw_messages))
        if key == "values" or key.startswith("values."):
            left[key] = messages
            continue
        placed = False
        for name in aliases.get(key, [key]) if key else []:
            if name in form:
                form[name].errors = [*form[name].errors, *messages]
                placed = True
        if not placed:
            form.form_errors.extend(m for m in messages if m not in form.form_errors)
    return left


def _text_aliases(form: Any, prefix: str) -> list[str]:
    """Which of the two language inputs a label, plural or help error belongs to: the too long
    ones (or, for a label, the empty ones), else both."""
    names = [f"{prefix}_zh", f"{prefix}_en"]
    limit = 100 if prefix in ("label", "plural") else 2000

    def bad(name: str) -> bool:
        text = (form[name].data or "").strip()
        return len(text) > limit or (prefix == "label" and not text)

    return [n for n in names if n in form and bad(n)] or names


def _field_aliases(form: FieldForm, options: list[OptionInput]) -> dict[str, list[str]]:
    aliases = {o.name: [o.form_name] for o in options}
    aliases["label"] = _text_aliases(form, "label")
    aliases["help"] = _text_aliases(form, "help")
    return aliases


def _better_option_messages(form: FieldForm, options: list[OptionInput]) -> None:
    """Replace marshmallow's English messages on option inputs by ones in the user's language
    wherever the problem can be named here."""
    for option in options:
        bound = form[option.form_name]
        if bound.errors:
            better = option.problem(bound.data)
            if better:
                bound.errors = [better]


# --- picklist values ---------------------------------------------------------------------


@dataclass
class ValueRow:
    code: str = ""
    label_zh: str = ""
    label_en: str = ""
    colour: str = DEFAULT_COLOUR
    active: bool = True
    saved: bool = False
    #: A value the CRM relies on: it stays active.
    protected: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def blank(self) -> bool:
        return not (self.code or self.label_zh or self.label_en)

    def payload(self) -> dict[str, Any]:
        item: dict[str, Any] = {"code": self.code, "colour": self.colour, "active": self.active}
        if self.label_zh and self.label_en:
            item.update(label_zh=self.label_zh, label_en=self.label_en)
        elif self.label_zh or self.label_en:
            item["label"] = self.label_zh or self.label_en
        return item


def _saved_rows(described: dict[str, Any]) -> list[ValueRow]:
    return [
        ValueRow(
            code=v["code"],
            label_zh=v["label_zh"],
            label_en=v["label_en"],
            colour=v["colour"] or DEFAULT_COLOUR,
            active=v["active"],
            saved=True,
            protected=bool(v.get("is_system")),
        )
        for v in described.get("values") or []
    ]


def _rows_from_form(
    form: MultiDict, saved_codes: set[str], protected: frozenset[str] = frozenset()
) -> list[ValueRow]:
    """The value rows in the order the browser sent them (the order on screen: rows that were
    dragged or moved keep their original input names), blank rows dropped. A ``move`` button
    (``N:up`` / ``N:down``, N being a row's input number) swaps that row with its neighbour."""
    numbers = [m.group(1) for name in form if (m := _ROW_CODE.match(name))]
    rows: list[tuple[str, ValueRow]] = []
    for number in numbers:
        prefix = f"values-{number}-"
        code = form.get(prefix + "code", "").strip()
        colour = form.get(prefix + "colour", "").strip() or DEFAULT_COLOUR
        row = ValueRow(
            code=code,
            label_zh=form.get(prefix + "label_zh", "").strip(),
            label_en=form.get(prefix + "label_en", "").strip(),
            colour=colour,
            active=prefix + "active" in form,
            saved=code in saved_codes,
            protected=code in protected,
        )
        if not row.blank:
            rows.append((number, row))
    number, _sep, direction = form.get("move", "").partition(":")
    position = next((i for i, (n, _row) in enumerate(rows) if n == number), None)
    if position is not None and direction in ("up", "down"):
        other = position - 1 if direction == "up" else position + 1
        if 0 <= other < len(rows):
            rows[position], rows[other] = rows[other], rows[position]
    return [row for _n, row in rows]


def _row_errors(rows: list[ValueRow], errors: dict[str, list[str]]) -> list[str]:
    """Spread ``values.N.part`` errors onto the rows; answers the list-wide ones."""
    general: list[str] = []
    for key, messages in errors.items():
        parts = key.split(".")
        if len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) < len(rows):
            part = parts[2] if len(parts) > 2 else "code"
            part = "label" if part in ("label_zh", "label_en") else part
            rows[int(parts[1])].errors.setdefault(part, []).extend(messages)
        else:
            general.extend(messages)
    return general


def _with_blank_rows(rows: list[ValueRow]) -> list[ValueRow]:
    return [*rows, *(ValueRow() for _ in range(1 if rows else 3))]


# --- objects -----------------------------------------------------------------------------


def _object_payload(form: ObjectForm, *, creating: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if creating:
        payload["key"] = (form.key.data or "").strip()
    payload.update(_texts("label", form.label_zh.data, form.label_en.data))
    plural = _texts("plural", form.plural_zh.data, form.plural_en.data)
    if plural != {"plural": ""}:
        payload.update(plural)
    icon = (form.icon.data or "").strip()
    if icon:
        payload["icon"] = icon
    return payload


def _object_aliases(form: ObjectForm) -> dict[str, list[str]]:
    return {"label": _text_aliases(form, "label"), "plural": _text_aliases(form, "plural")}


def _render_objects(form: ObjectForm, status: int = 200):
    objects = services.list_objects()
    counts = {o.key: len(services.list_fields(o.key)) for o in objects}
    return render_template("admin/objects.html", objects=objects, counts=counts, form=form), status


@bp.route("/objects", methods=["GET", "POST"])
def objects():
    form = ObjectForm()
    if request.method == "GET":
        return _render_objects(form)
    if not form.validate_on_submit():
        return _render_objects(form, 400)
    try:
        obj = services.create_object(g.membership, _object_payload(form, creating=True))
    except DomainError as err:
        _attach(form, err, _object_aliases(form))
        return _render_objects(form, err.status)
    flash(_("The object “%(name)s” was created. Now add its fields.", name=obj.label(_locale())))
    return redirect(url_for(".fields", object_key=obj.key))


@bp.route("/objects/<object_key>", methods=["GET", "POST"])
def edit_object(object_key: str):
    obj = services.get_object(object_key)
    form = ObjectForm(obj=obj if request.method == "GET" else None)
    del form.key
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                services.update_object(
                    g.membership, object_key, _object_payload(form, creating=False)
                )
            except DomainError as err:
                _attach(form, err, _object_aliases(form))
                status = err.status
            else:
                flash(_("The names were saved."), "success")
                return redirect(url_for(".objects"))
        else:
            status = 400
    return render_template("admin/object.html", obj=obj, form=form), status


# --- field manager -----------------------------------------------------------------------


@bp.get("/objects/<object_key>/fields")
def fields(object_key: str):
    obj = services.get_object(object_key)
    return render_template(
        "admin/fields.html",
        obj=obj,
        fields=services.list_fields(object_key),
        deleted=services.list_fields(object_key, deleted=True),
        type_labels=TYPE_LABELS,
        confirm=ConfirmForm(),
        focus=request.args.get("focus", ""),
    )


def _confirmed() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400)


@bp.post("/objects/<object_key>/fields/<field_key>/move")
def move_field(object_key: str, field_key: str):
    target = services.get_field(object_key, field_key)
    _confirmed()
    direction = request.form.get("direction")
    keys = [f.key for f in services.list_fields(object_key)]
    if target.key not in keys or direction not in ("up", "down"):
        abort(400)
    here = keys.index(target.key)
    there = here - 1 if direction == "up" else here + 1
    if 0 <= there < len(keys):
        keys[here], keys[there] = keys[there], keys[here]
        services.reorder_fields(g.membership, object_key, keys)
        flash(_("The order was saved."), "success")
    return redirect(url_for(".fields", object_key=object_key, focus=f"{field_key}-{direction}"))


@bp.post("/objects/<object_key>/order")
def reorder(object_key: str):
    services.get_object(object_key)
    _confirmed()
    try:
        services.reorder_fields(g.membership, object_key, request.form.getlist("keys"))
    except DomainError as err:
        flash(err.message, "error")
    else:
        flash(_("The order was saved."), "success")
    return redirect(url_for(".fields", object_key=object_key))


@bp.post("/objects/<object_key>/fields/<field_key>/delete")
def delete_field(object_key: str, field_key: str):
    target = services.get_field(object_key, field_key)
    _confirmed()
    try:
        services.delete_field(g.membership, object_key, field_key)
    except DomainError as err:
        flash(err.message, "error")
    else:
        flash(
            _(
                "The field “%(name)s” was deleted. Its values are kept: you can restore it below.",
                name=target.label(_locale()),
            ),
            "info",
        )
    return redirect(url_for(".fields", object_key=object_key))


@bp.post("/objects/<object_key>/fields/<field_key>/restore")
def restore_field(object_key: str, field_key: str):
    target = services.get_field(object_key, field_key)
    _confirmed()
    try:
        services.restore_field(g.membership, object_key, field_key)
    except DomainError as err:
        flash(err.message, "error")
    else:
        flash(_("The field “%(name)s” was restored.", name=target.label(_locale())), "success")
    return redirect(url_for(".fields", object_key=object_key))


# --- new field ---------------------------------------------------------------------------


@bp.route("/objects/<object_key>/fields/new", methods=["GET", "POST"])
def new_field(object_key: str):
    obj = services.get_object(object_key)
    type_name = request.args.get("type", "")
    if type_name not in types.REGISTRY:
        choices = [
            (name, TYPE_LABELS.get(name, name), TYPE_DESCRIPTIONS.get(name, ""))
            for name in types.TYPE_NAMES
        ]
        status = 400 if request.method == "POST" or type_name else 200
        return render_template("admin/field_types.html", obj=obj, choices=choices), status
    form, options = _build_form(type_name, creating=True)
    is_picklist = type_name in ("picklist", "multi_picklist")
    rows: list[ValueRow] = []
    values_errors: list[str] = []
    note = None
    status = 200
    if request.method == "POST":
        rows = _rows_from_form(request.form, set()) if is_picklist else []
        if "move" in request.form:
            note = _("The order of the values changed. Save to keep it.")
        elif not form.validate_on_submit():
            status = 400
        else:
            payload = _field_payload(form, options, type_name=type_name, creating=True)
            if is_picklist:
                payload["values"] = [row.payload() for row in rows]
            try:
                if payload["key"] in UI_RESERVED_KEYS:
                    raise ValidationFailed(
                        {"key": [_("“%(key)s” is reserved. Choose another key.", key="new")]}
                    )
                created = services.create_field(g.membership, object_key, payload)
            except DomainError as err:
                db.session.rollback()
                values_errors = _row_errors(rows, _attach(form, err, _field_aliases(form, options)))
                _better_option_messages(form, options)
                status = err.status
            else:
                flash(
                    _("The field “%(name)s” was added.", name=created.label(_locale())),
                    "success",
                )
                return redirect(url_for(".fields", object_key=object_key))
    else:
        for option in options:
            if option.default is not None and option.kind != "boolean":
                form[option.form_name].data = option.default
    return render_template(
        "admin/field_form.html",
        obj=obj,
        form=form,
        options=options,
        option_help=OPTION_HELP,
        default_help=DEFAULT_HELP.get(type_name),
        type_name=type_name,
        type_label=TYPE_LABELS.get(type_name, type_name),
        type_description=TYPE_DESCRIPTIONS.get(type_name, ""),
        creating=True,
        is_picklist=is_picklist,
        rows=_with_blank_rows(rows) if is_picklist else [],
        values_errors=values_errors,
        empty_row=ValueRow(),
        note=note,
    ), status


# --- edit field: properties, picklist values, access -------------------------------------


def _access_roles() -> list[tuple[str, str]]:
    from tenants.services import roles

    return [(r.key, r.name_zh if _zh() else r.name_en) for r in roles() if r.key not in ADMIN_ROLES]


def _edit_form(described: dict[str, Any], post: bool) -> tuple[FieldForm, list[OptionInput]]:
    value_choices = None
    if described["type"] == "picklist":
        value_choices = [
            (v["code"], v["label_zh"] if _zh() else v["label_en"])
            for v in described["values"] or []
            if v["active"]
        ]
    data = None
    if not post:
        data = {
            **{k: described[k] for k in ("key", "label_zh", "label_en", "help_zh", "help_en")},
            **{k: described[k] for k in ("required", "unique", "indexed", "searchable", "active")},
            "default": _default_text(described["default"]),
            **{f"opt_{k}": v for k, v in described["options"].items()},
        }
    form, options = _build_form(
        described["type"], creating=False, value_choices=value_choices, data=data
    )
    if post:
        form.key.data = described["key"]
    if described.get("is_system"):
        # What the CRM relies on is not offered: required, active and a lookup's target.
        for name in ("required", "active"):
            if name in form:
                delattr(form, name)
        if "opt_target" in form:
            form.opt_target.render_kw = {"disabled": True}
    return form, options


def _render_edit(
    obj: Any,
    target: Any,
    *,
    form: FieldForm | None = None,
    options: list[OptionInput] | None = None,
    rows: list[ValueRow] | None = None,
    values_errors: list[str] | None = None,
    access_errors: dict[str, list[str]] | None = None,
    access: dict[str, str] | None = None,
    note: str | None = None,
    dependency_errors: list[str] | None = None,
    status: int = 200,
):
    described = services.describe(target)
    if form is None or options is None:
        form, options = _edit_form(described, post=False)
    is_picklist = described["type"] in ("picklist", "multi_picklist")
    if rows is None:
        rows = _saved_rows(described)
    return render_template(
        "admin/field_form.html",
        dependencies=_dependency_matrix(obj.key, target) if is_picklist else None,
        dependency_errors=dependency_errors or [],
        obj=obj,
        field=target,
        described=described,
        form=form,
        options=options,
        option_help=OPTION_HELP,
        default_help=DEFAULT_HELP.get(described["type"]),
        type_name=described["type"],
        type_label=TYPE_LABELS.get(described["type"], described["type"]),
        type_description=TYPE_DESCRIPTIONS.get(described["type"], ""),
        creating=False,
        is_picklist=is_picklist,
        rows=_with_blank_rows(rows) if is_picklist else [],
        values_errors=values_errors or [],
        empty_row=ValueRow(),
        values_form=ConfirmForm(),
        access_roles=_access_roles(),
        access=access if access is not None else described["access"],
        access_errors=access_errors or {},
        access_labels=ACCESS_LABELS,
        note=note,
        confirm=ConfirmForm(),
    ), status


@bp.route("/objects/<object_key>/fields/<field_key>", methods=["GET", "POST"])
def edit_field(object_key: str, field_key: str):
    obj = services.get_object(object_key)
    target = services.get_field(object_key, field_key)
    if request.method == "GET":
        return _render_edit(obj, target)
    described = services.describe(target)
    form, options = _edit_form(described, post=True)
    if not form.validate_on_submit():
        return _render_edit(obj, target, form=form, options=options, status=400)
    payload = _field_payload(
        form,
        options,
        type_name=described["type"],
        creating=False,
        initial_default=_default_text(described["default"]),
    )
    try:
        services.update_field(g.membership, object_key, field_key, payload)
    except DomainError as err:
        db.session.rollback()
        _attach(form, err, _field_aliases(form, options))
        _better_option_messages(form, options)
        return _render_edit(obj, target, form=form, options=options, status=err.status)
    flash(_("The field “%(name)s” was saved.", name=target.label(_locale())), "success")
    return redirect(url_for(".fields", object_key=object_key))


@bp.post("/objects/<object_key>/fields/<field_key>/values")
def save_values(object_key: str, field_key: str):
    obj = services.get_object(object_key)
    target = services.get_field(object_key, field_key)
    _confirmed()
    if target.type not in ("picklist", "multi_picklist"):
        abort(400)
    saved = _saved_rows(services.describe(target))
    rows = _rows_from_form(
        request.form,
        {row.code for row in saved},
        frozenset(row.code for row in saved if row.protected),
    )
    if "move" in request.form:
        note = _("The order of the values changed. Save to keep it.")
        return _render_edit(obj, target, rows=rows, note=note)
    try:
        services.update_field(
            g.membership, object_key, field_key, {"values": [row.payload() for row in rows]}
        )
    except DomainError as err:
        db.session.rollback()
        errors = err.errors if isinstance(err, ValidationFailed) else {"values": [err.message]}
        general = _row_errors(rows, errors)
        return _render_edit(obj, target, rows=rows, values_errors=general, status=err.status)
    flash(_("The values were saved."), "success")
    return redirect(url_for(".edit_field", object_key=object_key, field_key=field_key))


@dataclass
class DependencyMatrix:
    """Which values of a dependent picklist each value of its controlling field allows."""

    controlling_label: str
    parents: list[tuple[str, str]]
    children: list[tuple[str, str]]
    allowed: dict[str, set[str]]


def _value_label(value: Any, locale: str) -> str:
    return value.label_zh if locale.startswith("zh") else value.label_en


def _dependency_matrix(object_key: str, target: Any) -> DependencyMatrix | None:
    options = target.options or {}
    controlling_key = options.get("controlling_field")
    if not controlling_key:
        return None
    try:
        controlling = services.get_field(object_key, controlling_key)
    except DomainError:
        return None
    locale = _locale()
    if controlling.type == "boolean":
        parents = [("true", _("Yes")), ("false", _("No"))]
    else:
        parents = [(v.code, _value_label(v, locale)) for v in services.picklist_values(controlling)]
    children = [(v.code, _value_label(v, locale)) for v in services.picklist_values(target)]
    allowed = {k: set(v) for k, v in (options.get("dependencies") or {}).items()}
    return DependencyMatrix(controlling.label(locale), parents, children, allowed)


@bp.post("/objects/<object_key>/fields/<field_key>/dependencies")
def save_dependencies(object_key: str, field_key: str):
    """Save the matrix: a controlling value with nothing ticked allows every value."""
    obj = services.get_object(object_key)
    target = services.get_field(object_key, field_key)
    _confirmed()
    matrix = _dependency_matrix(object_key, target)
    if matrix is None:
        abort(400)
    mapping = {
        parent: request.form.getlist(f"dep-{parent}")
        for parent, _label in matrix.parents
        if request.form.getlist(f"dep-{parent}")
    }
    try:
        services.update_field(g.membership, object_key, field_key, {"dependencies": mapping})
    except DomainError as err:
        db.session.rollback()
        errors = err.errors if isinstance(err, ValidationFailed) else {"": [err.message]}
        messages = [m for ms in errors.values() for m in ms]
        return _render_edit(obj, target, dependency_errors=messages, status=err.status)
    flash(_("The dependencies were saved."), "success")
    return redirect(url_for(".edit_field", object_key=object_key, field_key=field_key))


@bp.post("/objects/<object_key>/fields/<field_key>/access")
def save_access(object_key: str, field_key: str):
    obj = services.get_object(object_key)
    target = services.get_field(object_key, field_key)
    _confirmed()
    access = {
        role: request.form.get(f"access-{role}", "editable") for role, _name in _access_roles()
    }
    try:
        services.set_field_access(g.membership, object_key, field_key, access)
    except DomainError as err:
        db.session.rollback()
        errors = err.errors if isinstance(err, ValidationFailed) else {"": [err.message]}
        return _render_edit(obj, target, access=access, access_errors=errors, status=err.status)
    flash(_("Field access was saved."), "success")
    return redirect(url_for(".edit_field", object_key=object_key, field_key=field_key))


# --- page layout editor ------------------------------------------------------------------


@dataclass
class LayoutSection:
    """A section of the layout editor; ``fields`` are keys in order."""

    title_zh: str = ""
    title_en: str = ""
    columns: int = 1
    fields: list[str] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {
            "title_zh": self.title_zh,
            "title_en": self.title_en,
            "columns": self.columns,
            "fields": list(self.fields),
        }


def _saved_sections(layout: layouts.Layout) -> tuple[list[LayoutSection], list[str]]:
    sections = [
        LayoutSection(s.title_zh, s.title_en, s.columns, list(s.fields)) for s in layout.sections
    ]
    return sections, list(layout.unplaced)


def _sections_from_form(form: MultiDict, live: list[str]) -> tuple[list[LayoutSection], list[str]]:
    """The editor's state as posted. Each section is named by an id (``section`` inputs, in
    screen order); each field row posts its key (``field``, in screen order) and the id of the
    section it goes to (``place-<key>``, empty for none). Then one editing action, if a button
    asked for it: ``add_section``, ``remove_section=<id>``, ``move=<key>:up|down`` or
    ``move_section=<id>:up|down``."""
    by_id: dict[str, LayoutSection] = {}
    for sid in form.getlist("section"):
        if sid in by_id:
            continue
        columns = form.get(f"section-{sid}-columns", "1")
        by_id[sid] = LayoutSection(
            title_zh=form.get(f"section-{sid}-title_zh", "").strip(),
            title_en=form.get(f"section-{sid}-title_en", "").strip(),
            columns=2 if columns == "2" else 1,
        )
    unplaced: list[str] = []
    seen: set[str] = set()
    for key in [*form.getlist("field"), *live]:  # fields added meanwhile come last
        if key not in live or key in seen:
            continue
        seen.add(key)
        target = by_id.get(form.get(f"place-{key}", ""))
        (target.fields if target is not None else unplaced).append(key)
    if "add_section" in form and len(by_id) < layouts.MAX_SECTIONS:
        by_id[f"new{len(by_id)}"] = LayoutSection()
    removed = by_id.pop(form.get("remove_section", ""), None)
    if removed is not None:
        unplaced.extend(removed.fields)
    ids = list(by_id)
    sid, _sep, direction = form.get("move_section", "").partition(":")
    if sid in by_id and direction in ("up", "down"):
        here = ids.index(sid)
        there = here - 1 if direction == "up" else here + 1
        if 0 <= there < len(ids):
            ids[here], ids[there] = ids[there], ids[here]
    key, _sep, direction = form.get("move", "").partition(":")
    for section in by_id.values():
        if key in section.fields and direction in ("up", "down"):
            here = section.fields.index(key)
            there = here - 1 if direction == "up" else here + 1
            if 0 <= there < len(section.fields):
                keys = section.fields
                keys[here], keys[there] = keys[there], keys[here]
    return [by_id[i] for i in ids], unplaced


LAYOUT_ACTIONS = ("add_section", "remove_section", "move", "move_section")


def _layout_errors(sections: list[LayoutSection], err: DomainError) -> list[str]:
    """Spread ``sections.N.part`` errors onto the sections; answers the layout-wide ones."""
    errors = err.errors if isinstance(err, ValidationFailed) else {"": [err.message]}
    general: list[str] = []
    for key, messages in errors.items():
        parts = key.split(".")
        if len(parts) >= 2 and parts[0] == "sections" and parts[1].isdigit():
            index = int(parts[1])
            if index < len(sections):
                part = parts[2] if len(parts) > 2 else "section"
                sections[index].errors.setdefault(part, []).extend(messages)
                continue
        general.extend(messages)
    return general


@bp.route("/objects/<object_key>/layout", methods=["GET", "POST"])
def layout(object_key: str):
    obj = services.get_object(object_key)
    saved = layouts.get_layout(object_key)
    infos = {f.key: f for f in layouts.live_fields(object_key)}
    live = list(infos)
    general: list[str] = []
    note = None
    status = 200
    if request.method == "GET":
        sections, unplaced = _saved_sections(saved)
    else:
        _confirmed()
        sections, unplaced = _sections_from_form(request.form, live)
        if any(action in request.form for action in LAYOUT_ACTIONS):
            note = _("The layout changed. Save to keep it.")
        else:
            try:
                layouts.save_layout(g.membership, object_key, [s.payload() for s in sections])
            except DomainError as err:
                db.session.rollback()
                general = _layout_errors(sections, err)
                status = err.status
            else:
                flash(_("The page layout was saved."), "success")
                return redirect(url_for(".layout", object_key=object_key))
    return render_template(
        "admin/layout.html",
        obj=obj,
        sections=sections,
        unplaced=unplaced,
        infos=infos,
        type_labels=TYPE_LABELS,
        is_default=saved.is_default,
        general_errors=general,
        note=note,
        max_sections=layouts.MAX_SECTIONS,
        confirm=ConfirmForm(),
        focus=request.form.get("move", "") or request.form.get("move_section", ""),
    ), status
