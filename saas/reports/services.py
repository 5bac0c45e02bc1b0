"""Stored reports and dashboards: who sees and changes them, validation, running them as the
viewer, dashboard-wide filters, built-in reports, and long reports as background jobs.

Sharing follows saved views (:mod:`saas.records.visibility`):

* ``private``: the owner (and the company's owners and administrators, who manage every
  report and dashboard);
* ``roles`` / ``teams``: members whose role, or whose team or a team above theirs, is listed in
  ``shared_with``; ``tenant``: everyone. Managers see every shared item, as with views;
* everyone creates private reports; sharing one takes an owner, administrator or manager; an
  item is changed by its owner and by administrators. Built-in reports are changed by nobody:
  they are copied.

A report always runs as the person looking at it (:func:`run_report`): the engine applies
their permission on the object, data scope and field access, so sharing a report shares a
definition, never figures. A dashboard ANDs its filters (a date range on a date field per
object, an owner, a team) into the filter of every widget's report (:func:`merge_filter`).

A report that runs out of the request's time (the engine's ``ReportTooSlow``) runs again as a
tracked job with a longer limit (:func:`start_background_run`); the pages poll it.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, has_request_context
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from custom_fields.query.filters import parse_tree
from custom_fields.reports import engine
from custom_fields.reports import spec as specs
from saas import tracked
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.jobs import job
from saas.records.visibility import clean_sharing, is_manager, reaches, team_and_above
from saas.reports import builtins
from saas.reports.models import Dashboard, ReportDefinition
from tenants import audit, permissions
from tenants.context import current_tenant_id
from tenants.errors import Forbidden
from tenants.models import ADMIN_ROLES, Membership, Team

MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_FOLDER = 100
#: Reports (and dashboards) one person may own: a list beyond that helps nobody find one.
MAX_OWNED = 1000
MAX_WIDGETS = 30
GRID_COLUMNS = 12
MAX_WIDGET_HEIGHT = 8
WIDGET_KINDS = ("report", "kpi")
#: Chart types a widget may override the report's with (``table``: no chart).
WIDGET_CHARTS = (*specs.CHARTS, "table")
#: Relative date ranges a dashboard offers (the query builder's operators).
PERIODS = (
    "today",
    "yesterday",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "this_quarter",
    "last_quarter",
    "this_year",
    "last_year",
)
#: Time limit of a report run in the background (the request's is ``QUERY_TIMEOUT_MS``).
BACKGROUND_TIMEOUT_MS = 300_000
#: A background result is shown instead of running again for this long.
FRESH_FOR = dt.timedelta(minutes=10)
RUN_JOB_KIND = "report-run"
_FOLDER_SPACES = re.compile(r"\s+")


class ReportNotFound(DomainError):
    """No such report, or one the person may not see (both are 404)."""

    status = 404


class StaleItem(DomainError):
    """Someone changed the report or dashboard since the caller read it (HTTP 412)."""

    status = 412


class DashboardNotFound(DomainError):
    """No such dashboard, or one the person may not see (both are 404)."""

    status = 404


# ---- who sees and changes what ----------------------------------------------------------------


def is_admin(actor: Membership) -> bool:
    return actor.role_key in ADMIN_ROLES


def can_see(
    item: ReportDefinition | Dashboard, actor: Membership, teams: set[int] | None = None
) -> bool:
    """Whether ``actor`` may open a report or dashboard (``teams``: theirs and those above)."""
    return item.owner_id == actor.user_id or is_admin(actor) or reaches(item, actor, teams)


def can_edit(item: ReportDefinition | Dashboard, actor: Membership) -> bool:
    if getattr(item, "builtin_key", None):
        return False
    if is_admin(actor):
        return True
    return item.owner_id == actor.user_id and (item.visibility == "private" or is_manager(actor))


# ---- cleaning common properties ---------------------------------------------------------------


def _clean_text(
    payload: Mapping[str, Any],
    key: str,
    most: int,
    errors: dict[str, list[str]],
    *,
    required: bool = False,
) -> str | None:
    raw = payload.get(key)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            errors[key] = [_("Enter a name.")]
        return None
    if not isinstance(raw, str):
        errors[key] = [_("Enter text.")]
        return None
    text = raw.strip() if key == "description" else _FOLDER_SPACES.sub(" ", raw).strip()
    if len(text) > most:
        errors[key] = [_("Use at most %(n)d characters.", n=most)]
        return None
    return text


def _clean_sharing(
    payload: Mapping[str, Any], current: Any, errors: dict[str, list[str]]
) -> dict[str, Any]:
    return clean_sharing(
        payload,
        current,
        errors,
        unlisted=_("Only items shared with roles or teams list whom."),
        unnamed=_("List the roles or teams to share with."),
    )


def _unknown_keys(payload: Mapping[str, Any], allowed: set[str], errors: dict) -> None:
    for key in sorted(set(payload) - allowed, key=str):
        errors[str(key)[:40]] = [_("Unknown key “%(key)s”.", key=str(key)[:40])]


def _check_sharing_right(actor: Membership, visibility: str) -> None:
    if visibility != "private" and not is_manager(actor):
        raise Forbidden(_("Only owners, administrators and managers share reports and dashboards."))


# ---- storing reports, dashboards and schedules ------------------------------------------------

#: What the audit trail records of an item (its state as a JSON object).
State = Callable[[Any], dict[str, Any]]


def by_id(model: Any, item_id: int) -> Any:
    """The row of ``model`` with this id in the company in context (None: none, or an id no
    row can have)."""
    if not 0 < item_id < 2**63:
        return None
    return db.session.execute(select(model).where(model.id == item_id)).scalar_one_or_none()


def add_item(item: Any, kind: str, state: State) -> None:
    """Insert a new item and audit it (``<kind>.created``); commits."""
    db.session.add(item)
    db.session.flush()
    audit.record(f"{kind}.created", kind, item.id, after=state(item))
    db.session.commit()


def require_version(item: Any, expected: int | None) -> None:
    """:class:`StaleItem` when the caller read another version than the stored one."""
    if expected is not None and expected != item.version:
        raise _stale()


def apply_changes(
    actor: Membership, item: Any, kind: str, state: State, values: Mapping[str, Any]
) -> bool:
    """Set checked ``values`` on an item; when its state changes, stamp it and audit the
    changed keys (``<kind>.updated``). Answers whether anything changed; the caller commits
    (:func:`commit_versioned`)."""
    before = state(item)
    for key, value in values.items():
        setattr(item, key, value)
    after = state(item)
    changed = sorted(k for k in after if before[k] != after[k])
    if changed:
        item.updated_at = func.now()
        item.updated_by = actor.user_id
        audit.record(
            f"{kind}.updated",
            kind,
            item.id,
            before={k: before[k] for k in changed},
            after={k: after[k] for k in changed},
        )
    return bool(changed)


def commit_versioned() -> None:
    """Commit a change; a concurrent change of the same item (its version) is :class:`StaleItem`."""
    from sqlalchemy.orm.exc import StaleDataError

    try:
        db.session.commit()
    except StaleDataError as exc:
        db.session.rollback()
        raise _stale() from exc


def _stale() -> StaleItem:
    return StaleItem(
        _("Someone else changed this meanwhile. Reload it and make your change again.")
    )


def delete_item(item: Any, kind: str, state: State) -> None:
    """Delete an item and audit it (``<kind>.deleted``); commits."""
    audit.record(f"{kind}.deleted", kind, item.id, before=state(item))
    db.session.delete(item)
    db.session.commit()


# ---- report definitions -----------------------------------------------------------------------

REPORT_KEYS = {"name", "description", "folder", "visibility", "shared_with", "spec"}


def _prefixed(errors: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The engine's error keys (``groups[1].field``) under the body's ``spec``."""
    out: dict[str, list[str]] = {}
    for key, messages in errors.items():
        where = "spec" if key in ("spec", "") else f"spec.{key}"
        out.setdefault(where, []).extend(str(m) for m in messages)
    return out


def check_spec(actor: Membership, raw: Any) -> specs.ReportSpec:
    """A definition checked as ``actor`` would run it: shapes (the engine's schema), the
    object's view right, fields that exist and that the member may see. Errors are keyed by
    their place in the body (``spec.groups[0].field``)."""
    if raw is None:
        raise ValidationFailed({"spec": [_("Required.")]})
    try:
        spec = specs.load(raw)
    except ValidationFailed as exc:
        raise ValidationFailed(_prefixed(exc.errors)) from None
    permissions.require(actor, spec.object, "view")
    try:
        engine.compile_spec(spec, actor, engine.default_timezone(actor))
    except ValidationFailed as exc:
        raise ValidationFailed(_prefixed(exc.errors)) from None
    return spec


def _report_state(report: ReportDefinition) -> dict[str, Any]:
    return {
        "name": report.name,
        "description": report.description,
        "folder": report.folder,
        "visibility": report.visibility,
        "shared_with": list(report.shared_with or []),
        "spec": report.spec,
    }


def _clean_report(
    actor: Membership, payload: Mapping[str, Any], current: ReportDefinition | None
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    _unknown_keys(payload, REPORT_KEYS, errors)
    values: dict[str, Any] = {}
    if current is None or "name" in payload:
        name = _clean_text(payload, "name", MAX_NAME, errors, required=True)
        if name is not None:
            values["name"] = name
    for key, most in (("description", MAX_DESCRIPTION), ("folder", MAX_FOLDER)):
        if key in payload:
            values[key] = _clean_text(payload, key, most, errors)
    values.update(_clean_sharing(payload, current, errors))
    if current is None or "spec" in payload:
        try:
            spec = check_spec(actor, payload.get("spec"))
            values["spec"] = specs.dump(spec)
            values["object_key"] = spec.object
        except ValidationFailed as exc:
            for key, messages in exc.errors.items():
                errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationFailed(errors)
    return values


def ensure_builtins() -> int:
    """Give the company in context the built-in reports it lacks (idempotent by key)."""
    return install_builtins(db.session.connection(), current_tenant_id())


def install_builtins(connection: Any, tenant_id: int, user_id: int | None = None) -> int:
    """Insert the built-in reports missing for ``tenant_id`` in the caller's transaction; a
    Core statement with ``tenant_id`` set (row-level security is its guard), so signup can
    call it before the ORM knows the tenant. Answers how many were added."""
    table = ReportDefinition.__table__
    have = set(
        connection.execute(
            select(table.c.builtin_key).where(
                table.c.tenant_id == tenant_id, table.c.builtin_key.is_not(None)
            )
        ).scalars()
    )
    missing = [item for item in builtins.catalogue() if item.key not in have]
    if not missing:
        return 0
    rows = []
    for item in missing:
        spec = item.spec  # made for the company's stage table now
        rows.append(
            {
                "tenant_id": tenant_id,
                "name": item.name_en,
                "description": item.description_en,
                "object_key": spec["object"],
                "spec": spec,
                "visibility": "tenant",
                "shared_with": [],
                "owner_id": None,
                "builtin_key": item.key,
                "created_by": user_id,
                "updated_by": user_id,
                "version": 1,
            }
        )
    stmt = pg_insert(table).values(rows)
    stmt = stmt.on_conflict_do_nothing(
        index_elements=["tenant_id", "builtin_key"],
        index_where=table.c.builtin_key.is_not(None),
    )
    return connection.execute(stmt).rowcount or 0


def list_reports(actor: Membership) -> list[ReportDefinition]:
    """Every report ``actor`` may open: built-ins first, then by name (installs the built-in
    reports a company created before they existed)."""
    if ensure_builtins():
        db.session.commit()
    teams = team_and_above(actor.team_id)
    found = db.session.execute(
        select(ReportDefinition).order_by(
            ReportDefinition.builtin_key.is_(None),
            func.lower(ReportDefinition.name),
            ReportDefinition.id,
        )
    ).scalars()
    return [r for r in found if can_see(r, actor, teams)]


def get_report(actor: Membership, report_id: int) -> ReportDefinition:
    """A report ``actor`` may open; :class:`ReportNotFound` otherwise."""
    report = by_id(ReportDefinition, report_id)
    if report is None or not can_see(report, actor):
        raise ReportNotFound(_("There is no such report."))
    return report


def _owned(model: Any, actor: Membership) -> int:
    return db.session.execute(
        select(func.count()).select_from(model).where(model.owner_id == actor.user_id)
    ).scalar_one()


def create_report(actor: Membership, payload: Mapping[str, Any]) -> ReportDefinition:
    """Save a new report owned by ``actor`` (sharing it takes a manager or more)."""
    values = _clean_report(actor, payload, None)
    _check_sharing_right(actor, values["visibility"])
    if _owned(ReportDefinition, actor) >= MAX_OWNED:
        raise DomainError(_("You have too many reports; delete some first."), status=409)
    report = ReportDefinition(
        owner_id=actor.user_id,
        created_by=actor.user_id,
        updated_by=actor.user_id,
        name=values["name"],
        description=values.get("description"),
        folder=values.get("folder"),
        visibility=values["visibility"],
        shared_with=values["shared_with"],
        object_key=values["object_key"],
        spec=values["spec"],
    )
    add_item(report, "report", _report_state)
    return report


def update_report(
    actor: Membership,
    report_id: int,
    payload: Mapping[str, Any],
    expected_version: int | None = None,
) -> ReportDefinition:
    """Change a report the actor may edit, if nobody changed it since ``expected_version``."""
    report = get_report(actor, report_id)
    if not can_edit(report, actor):
        raise Forbidden(_("You may not change this report. Copy it to make your own."))
    require_version(report, expected_version)
    values = _clean_report(actor, payload, report)
    _check_sharing_right(actor, values.get("visibility", report.visibility))
    apply_changes(actor, report, "report", _report_state, values)
    commit_versioned()
    return report


def delete_report(actor: Membership, report_id: int) -> None:
    """Delete a report; its schedules go with it, dashboards show its widgets as gone."""
    report = get_report(actor, report_id)
    if report.builtin_key:
        raise DomainError(_("A built-in report cannot be deleted."), status=409)
    if not can_edit(report, actor):
        raise Forbidden(_("You may not delete this report."))
    delete_item(report, "report", _report_state)


def copy_report(actor: Membership, report_id: int, name: str | None = None) -> ReportDefinition:
    """A private copy of a report the actor may open (how a built-in report is changed)."""
    source = get_report(actor, report_id)
    return create_report(
        actor,
        {
            "name": name or _("Copy of %(name)s", name=display_name(source))[:MAX_NAME],
            "description": source.description,
            "folder": source.folder,
            "visibility": "private",
            "spec": effective_spec(source),
        },
    )


def display_name(report: ReportDefinition, locale: str | None = None) -> str:
    """A report's name in the reader's language (built-in reports have both)."""
    if report.builtin_key:
        item = builtins.by_key(report.builtin_key)
        if item is not None:
            return item.name(locale or _locale())
    return report.name


def display_description(report: ReportDefinition, locale: str | None = None) -> str | None:
    if report.builtin_key:
        item = builtins.by_key(report.builtin_key)
        if item is not None:
            return item.description(locale or _locale())
    return report.description


def _locale() -> str:
    from flask_babel import get_locale

    if has_request_context():
        return "zh_CN" if str(get_locale() or "en").startswith("zh") else "en"
    return "en"


# ---- running ----------------------------------------------------------------------------------


def merge_filter(spec_json: Mapping[str, Any], extra: list[Any]) -> dict[str, Any]:
    """A copy of a definition whose filter is its own filter AND every condition of ``extra``
    (one flat AND when the report's filter is one already, so nesting grows by at most one
    level). The report's filter is read in any of its forms (tree or numbered conditions)."""
    merged = copy.deepcopy(dict(spec_json))
    if not extra:
        return merged
    tree = parse_tree(merged.get("filter"))
    own = engine.tree_json(tree)
    if own is None:
        parts: list[Any] = []
    elif isinstance(own, Mapping) and set(own) == {"and"}:
        parts = list(own["and"])
    else:
        parts = [own]
    parts += copy.deepcopy(extra)
    merged["filter"] = parts[0] if len(parts) == 1 else {"and": parts}
    return merged


def run_spec(
    actor: Membership,
    spec_json: Mapping[str, Any] | specs.ReportSpec,
    *,
    timezone: str | None = None,
    cursor: str | None = None,
    timeout_ms: int | None = None,
    locale: str | None = None,
) -> engine.Result:
    """Run a definition as ``actor`` (their scope and field access)."""
    return engine.run(
        spec_json, actor, timezone=timezone, cursor=cursor, timeout_ms=timeout_ms, locale=locale
    )


@dataclass
class Outcome:
    """A run: its result as JSON, or the background job computing it (too slow for a
    request), or the reason it cannot run."""

    result: dict[str, Any] | None = None
    job: tracked.TrackedJob | None = None
    error: str | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def pending(self) -> bool:
        return self.result is None and self.job is not None and self.job.status in tracked.ACTIVE


def run_key(actor: Membership, spec_json: Mapping[str, Any], **params: Any) -> str:
    """The tracked job id of a background run: the same person, definition and parameters
    give the same job; and the same access (role, team, the role's rights and scope on the
    object, the company's field definitions and access), so a stored result never outlives a
    change of what the person may see."""
    from tenants import permissions
    from tenants.models import Tenant

    object_key = str(spec_json.get("object") or "") if isinstance(spec_json, Mapping) else ""
    access = {
        "role": actor.role_key,
        "team": actor.team_id,
        "grant": permissions.grant(actor.role_key, object_key).as_dict() if object_key else None,
        "scope": permissions.object_scope(actor.role_key, object_key) if object_key else None,
        "metadata": db.session.get(Tenant, current_tenant_id()).metadata_version,
    }
    body = json.dumps(
        {"user": actor.user_id, "spec": spec_json, "access": access, **params},
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return f"{RUN_JOB_KIND}:{hashlib.sha256(body.encode()).hexdigest()[:32]}"


def _fresh_result(job_id: str, actor: Membership) -> tuple[tracked.TrackedJob | None, Any]:
    row = tracked.get_job(job_id)
    if row is None or row.kind != RUN_JOB_KIND:
        return None, None
    if (row.params or {}).get("requester", {}).get("user_id") != actor.user_id:
        return None, None
    if row.status == "succeeded" and row.finished_at is not None:
        now = db.session.execute(select(func.now())).scalar_one()
        if now - row.finished_at <= FRESH_FOR and row.result:
            return row, row.result.get("result")
    return row, None


def run_or_queue(
    actor: Membership,
    spec_json: Mapping[str, Any],
    *,
    timezone: str | None = None,
    cursor: str | None = None,
) -> Outcome:
    """Run in the request; when the engine runs out of time, run as a tracked job instead
    (a finished job's result is used for :data:`FRESH_FOR`). Refusals and bad definitions
    (a field hidden since, a deleted object) come back as the outcome's error."""
    key = run_key(actor, spec_json, timezone=timezone, cursor=cursor)
    row, stored = _fresh_result(key, actor)
    if stored is not None:
        return Outcome(result=stored, job=row)
    if row is not None and row.status in tracked.ACTIVE and tracked.is_active(key):
        return Outcome(job=row)
    try:
        result = run_spec(actor, spec_json, timezone=timezone, cursor=cursor)
    except engine.ReportTooSlow:
        return Outcome(job=start_background_run(actor, spec_json, key, timezone, cursor))
    except ValidationFailed as exc:
        messages = [m for ms in exc.errors.values() for m in ms]
        return Outcome(error=" ".join(messages), errors=dict(exc.errors))
    except DomainError as exc:
        if exc.status >= 500:
            raise
        return Outcome(error=exc.message)
    return Outcome(result=result.to_json())


def start_background_run(
    actor: Membership,
    spec_json: Mapping[str, Any],
    key: str,
    timezone: str | None,
    cursor: str | None,
) -> tracked.TrackedJob:
    """Queue the run as a tracked job (the same one while it is queued or running)."""
    from saas.records.requester import Requester

    requester = (
        Requester.current() if has_request_context() and _has_member() else Requester(actor.user_id)
    )
    row = tracked.start(
        key,
        RUN_JOB_KIND,
        run_in_background,
        params={
            "requester": requester.to_json(),
            "spec": dict(spec_json),
            "timezone": timezone,
            "cursor": cursor,
            "locale": _locale(),
        },
        created_by=actor.user_id,
        timeout=BACKGROUND_TIMEOUT_MS // 1000 + 60,
    )
    db.session.commit()
    return row


def _has_member() -> bool:
    from flask import g

    return g.get("membership") is not None


@job
def run_in_background(
    job_id: str,
    requester: dict[str, Any],
    spec: dict[str, Any],
    timezone: str | None = None,
    cursor: str | None = None,
    locale: str | None = None,
) -> None:
    """Worker side: run the definition as the person who asked, with a longer time limit,
    and keep the result on the job."""
    from saas.records.requester import Requester, acting_as

    tracked.begin(job_id)
    try:
        with acting_as(Requester.from_json(requester)) as member:
            result = run_spec(
                member,
                spec,
                timezone=timezone,
                cursor=cursor,
                locale=locale,
                timeout_ms=BACKGROUND_TIMEOUT_MS,
            )
            body = result.to_json()
    except DomainError as exc:
        tracked.fail(job_id, exc.message)
        return
    except Exception as exc:
        tracked.crashed(job_id, exc)
        raise
    tracked.finish(job_id, {"result": body})


def effective_spec(report: ReportDefinition) -> dict[str, Any]:
    """What runs: a built-in report's current definition (made for the company's stage table
    now), a company's report as stored."""
    if report.builtin_key:
        item = builtins.by_key(report.builtin_key)
        if item is not None:
            return builtins.spec_for(item.key)
    return dict(report.spec)


def own_query(report: ReportDefinition) -> bool:
    """A built-in report that is a query of its own (no definition; no extra filters)."""
    item = builtins.by_key(report.builtin_key) if report.builtin_key else None
    return item is not None and item.own_query


def _run_own(actor: Membership, report: ReportDefinition, timezone: str | None) -> Outcome:
    try:
        result = builtins.run_own(report.builtin_key or "", actor, timezone=timezone)
    except DomainError as exc:
        if exc.status >= 500:
            raise
        return Outcome(error=exc.message)
    return Outcome(result=result.to_json())


def run_report(
    actor: Membership,
    report: ReportDefinition,
    *,
    extra: list[Any] | None = None,
    timezone: str | None = None,
    cursor: str | None = None,
) -> Outcome:
    """A stored report run as ``actor`` (never as its author), with ``extra`` conditions."""
    if own_query(report):
        return _run_own(actor, report, timezone)
    spec_json = merge_filter(effective_spec(report), extra or [])
    return run_or_queue(actor, spec_json, timezone=timezone, cursor=cursor)


def result_json(
    actor: Membership, report: ReportDefinition, *, extra: list[Any] | None = None
) -> dict[str, Any]:
    """The whole result in this process (a fresh background result when there is one, else a
    run with the background time limit if the request's is too short): for exports and
    scheduled deliveries."""
    if own_query(report):
        outcome = _run_own(actor, report, None)
        if outcome.error:
            raise DomainError(outcome.error, status=400)
        assert outcome.result is not None
        return outcome.result
    spec_json = merge_filter(effective_spec(report), extra or [])
    key = run_key(actor, spec_json, timezone=None, cursor=None)
    _row, stored = _fresh_result(key, actor)
    if stored is not None:
        return stored
    try:
        return run_spec(actor, spec_json).to_json()
    except engine.ReportTooSlow:
        return run_spec(actor, spec_json, timeout_ms=BACKGROUND_TIMEOUT_MS).to_json()


def export_report(
    actor: Membership, report: ReportDefinition, *, extra: list[Any] | None = None
) -> bytes:
    """The report as an Excel workbook (needs the export right on its object)."""
    from saas.reports import xlsx

    permissions.require(actor, report.object_key, "export")
    return xlsx.workbook([(display_name(report), result_json(actor, report, extra=extra))])


# ---- dashboards -------------------------------------------------------------------------------

DASHBOARD_KEYS = {"name", "description", "visibility", "shared_with", "layout", "filters"}
FILTER_KEYS = {"date_fields", "period", "date_from", "date_to", "owner_id", "team_id"}


@dataclass(frozen=True)
class DashboardFilter:
    """Values of a dashboard's filter bar: a period or a date range (on each object's date
    field), an owner, a team (its members and those of the teams below it)."""

    period: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    owner_id: int | None = None
    team_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "owner_id": self.owner_id,
            "team_id": self.team_id,
        }

    @property
    def empty(self) -> bool:
        return not any((self.period, self.date_from, self.date_to, self.owner_id, self.team_id))


def _int_or_none(raw: Any, key: str, errors: dict[str, list[str]]) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(raw) if not isinstance(raw, bool) else -1
    except (TypeError, ValueError):
        value = -1
    if not 0 < value < 2**63:
        errors[key] = [_("Choose one from the list.")]
        return None
    return value


def _date_or_none(raw: Any, key: str, errors: dict[str, list[str]]) -> dt.date | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw))
    except ValueError:
        errors[key] = [_("Enter a date as YYYY-MM-DD.")]
        return None


def clean_filter_values(raw: Mapping[str, Any]) -> DashboardFilter:
    """Filter bar values (from a URL, a form or a body); :class:`ValidationFailed` names each
    problem. Owners and teams must be the company's."""
    errors: dict[str, list[str]] = {}
    period = raw.get("period") or None
    if period is not None and period not in PERIODS:
        errors["period"] = [_("Choose one of: %(choices)s.", choices=", ".join(PERIODS))]
        period = None
    date_from = _date_or_none(raw.get("date_from"), "date_from", errors)
    date_to = _date_or_none(raw.get("date_to"), "date_to", errors)
    if date_from and date_to and date_to < date_from:
        errors["date_to"] = [_("The end comes before the start.")]
    if period and (date_from or date_to):
        errors["period"] = [_("Choose a period or dates, not both.")]
    owner_id = _int_or_none(raw.get("owner_id"), "owner_id", errors)
    if owner_id is not None:
        known = db.session.execute(
            select(Membership.user_id).where(Membership.user_id == owner_id)
        ).first()
        if known is None:
            errors["owner_id"] = [_("Choose a member of this company.")]
    team_id = _int_or_none(raw.get("team_id"), "team_id", errors)
    if (
        team_id is not None
        and db.session.execute(select(Team.id).where(Team.id == team_id)).first() is None
    ):
        errors["team_id"] = [_("Choose a team of this company.")]
    if errors:
        raise ValidationFailed(errors)
    return DashboardFilter(period, date_from, date_to, owner_id, team_id)


def team_members(team_id: int) -> list[int]:
    """User ids of the team's members and of the teams below it (deactivated members too:
    their records still belong to the team's figures)."""
    children: dict[int | None, list[int]] = {}
    for tid, parent in db.session.execute(select(Team.id, Team.parent_id)).all():
        children.setdefault(parent, []).append(tid)
    teams, stack = set(), [team_id]
    while stack:
        current = stack.pop()
        if current in teams:
            continue
        teams.add(current)
        stack.extend(children.get(current, []))
    return sorted(
        db.session.execute(
            select(Membership.user_id).where(Membership.team_id.in_(teams))
        ).scalars()
    )


def filter_conditions(
    settings: Mapping[str, Any], values: DashboardFilter, object_key: str
) -> list[Any]:
    """The conditions a dashboard's filter adds to a report on ``object_key``: the period or
    date range on that object's date field (``created_at`` unless the dashboard names
    another), the owner, and the team's members."""
    out: list[Any] = []
    date_field = (settings.get("date_fields") or {}).get(object_key) or "created_at"
    if values.period:
        out.append({"field": date_field, "op": values.period})
    if values.date_from:
        out.append({"field": date_field, "op": "gte", "value": values.date_from.isoformat()})
    if values.date_to:
        # For a date-and-time field a date is that whole local day: "up to its end".
        out.append({"field": date_field, "op": "lte", "value": values.date_to.isoformat()})
    if values.owner_id:
        out.append({"field": "owner_id", "op": "eq", "value": values.owner_id})
    if values.team_id:
        members = team_members(values.team_id)
        if members:
            out.append({"field": "owner_id", "op": "in", "value": members})
        else:  # a team without members owns nothing
            out.append(
                {
                    "and": [
                        {"field": "owner_id", "op": "is_empty"},
                        {"field": "owner_id", "op": "is_not_empty"},
                    ]
                }
            )
    return out


def effective_filter(dashboard: Dashboard, raw: Mapping[str, Any] | None) -> DashboardFilter:
    """The dashboard's saved filter values, replaced by those given (a URL's or a body's)."""
    saved = {k: v for k, v in (dashboard.filters or {}).items() if k != "date_fields"}
    given = {k: v for k, v in (raw or {}).items() if k in FILTER_KEYS - {"date_fields"}}
    return clean_filter_values(given or saved)


def _number(
    item: Mapping[str, Any],
    where: str,
    errors: dict[str, list[str]],
    key: str,
    low: int,
    high: int,
    default: int,
) -> int:
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors[f"{where}.{key}"] = [_("From %(low)d to %(high)d.", low=low, high=high)]
        return default
    return value


def _clean_layout(actor: Membership, raw: Any) -> list[dict[str, Any]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, list):
        raise ValidationFailed({"layout": [_("Expected a list of widgets.")]})
    if len(raw) > MAX_WIDGETS:
        raise ValidationFailed({"layout": [_("At most %(n)d widgets.", n=MAX_WIDGETS)]})
    widgets: list[dict[str, Any]] = []
    ids: set[str] = set()
    teams = team_and_above(actor.team_id)
    for i, item in enumerate(raw):
        where = f"layout[{i}]"
        if not isinstance(item, Mapping):
            errors[where] = [_("Expected an object.")]
            continue
        unknown = set(item) - {
            "id",
            "kind",
            "report_id",
            "x",
            "y",
            "w",
            "h",
            "chart",
            "aggregate",
            "title",
        }
        if unknown:
            errors[where] = [_("Unknown key “%(key)s”.", key=str(sorted(unknown, key=str)[0])[:40])]
            continue
        kind = item.get("kind", "report")
        if kind not in WIDGET_KINDS:
            errors[f"{where}.kind"] = [_("Choose report or kpi.")]
            continue
        report_id = item.get("report_id")
        report = None
        if isinstance(report_id, int) and not isinstance(report_id, bool):
            report = by_id(ReportDefinition, report_id)
        if report is None or not can_see(report, actor, teams):
            errors[f"{where}.report_id"] = [_("Choose a report you may open.")]
            continue

        w = _number(item, where, errors, "w", 1, GRID_COLUMNS, 6 if kind == "report" else 3)
        h = _number(item, where, errors, "h", 1, MAX_WIDGET_HEIGHT, 4 if kind == "report" else 1)
        x = _number(item, where, errors, "x", 0, GRID_COLUMNS - 1, 0)
        y = _number(item, where, errors, "y", 0, 10_000, i)
        if x + w > GRID_COLUMNS:
            errors[f"{where}.w"] = [_("A widget ends within the %(n)d columns.", n=GRID_COLUMNS)]
        chart = item.get("chart")
        if chart not in (None, "", *WIDGET_CHARTS):
            errors[f"{where}.chart"] = [
                _("Choose one of: %(choices)s.", choices=", ".join(WIDGET_CHARTS))
            ]
        aggregate = item.get("aggregate") or None
        keys = [
            a.get("key") or specs.default_key(a["fn"], a.get("field"), a.get("weight"))
            for a in effective_spec(report).get("aggregates") or [{"fn": "count"}]
        ]
        if aggregate is not None and aggregate not in keys:
            errors[f"{where}.aggregate"] = [_("The key of one of the report's aggregates.")]
        title = item.get("title")
        if title is not None and (not isinstance(title, str) or len(title) > MAX_NAME):
            errors[f"{where}.title"] = [_("Use at most %(n)d characters.", n=MAX_NAME)]
        widget_id = item.get("id")
        if (
            not isinstance(widget_id, str)
            or not re.fullmatch(r"[a-z0-9_-]{1,40}", widget_id)
            or widget_id in ids
        ):
            widget_id = _new_widget_id(ids)
        ids.add(widget_id)
        widgets.append(
            {
                "id": widget_id,
                "kind": kind,
                "report_id": report.id,
                "x": x,
                "y": y,
                "w": w,
                "h": h,
                "chart": chart or None,
                "aggregate": aggregate,
                "title": (title or "").strip() or None,
            }
        )
    if errors:
        raise ValidationFailed(errors)
    return widgets


def _new_widget_id(taken: set[str]) -> str:
    n = len(taken) + 1
    while f"w{n}" in taken:
        n += 1
    return f"w{n}"


def _clean_settings(actor: Membership, raw: Any) -> dict[str, Any]:
    """Saved filters: the date field per object and the default filter values."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValidationFailed({"filters": [_("Expected an object.")]})
    errors: dict[str, list[str]] = {}
    for key in sorted(set(raw) - FILTER_KEYS, key=str):
        errors[f"filters.{str(key)[:40]}"] = [_("Unknown key “%(key)s”.", key=str(key)[:40])]
    date_fields: dict[str, str] = {}
    given = raw.get("date_fields") or {}
    if not isinstance(given, Mapping):
        errors["filters.date_fields"] = [_("Expected an object.")]
        given = {}
    from custom_fields.definitions import schemas
    from custom_fields.query import engine as query

    known = schemas(current_tenant_id())
    for object_key, field_key in given.items():
        where = f"filters.date_fields.{str(object_key)[:60]}"
        schema = known.get(object_key) if isinstance(object_key, str) else None
        if schema is None:
            errors[where] = [_("There is no object “%(key)s”.", key=str(object_key)[:60])]
            continue
        if field_key in (None, ""):
            continue
        try:
            resolved = query.Resolver(schema, actor, query.model_for(schema)).resolve(
                str(field_key)
            )
        except DomainError as exc:
            errors[where] = [exc.message]
            continue
        if resolved.kind not in ("date", "datetime"):
            errors[where] = [_("Choose a date or date-and-time field.")]
            continue
        date_fields[object_key] = str(field_key)
    values: DashboardFilter | None = None
    try:
        values = clean_filter_values({k: v for k, v in raw.items() if k != "date_fields"})
    except ValidationFailed as exc:
        for key, messages in exc.errors.items():
            errors[f"filters.{key}"] = messages
    if errors:
        raise ValidationFailed(errors)
    assert values is not None
    return {"date_fields": date_fields, **{k: v for k, v in values.to_json().items() if v}}


def _dashboard_state(board: Dashboard) -> dict[str, Any]:
    return {
        "name": board.name,
        "description": board.description,
        "visibility": board.visibility,
        "shared_with": list(board.shared_with or []),
        "layout": list(board.layout or []),
        "filters": dict(board.filters or {}),
    }


def _clean_dashboard(
    actor: Membership, payload: Mapping[str, Any], current: Dashboard | None
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    _unknown_keys(payload, DASHBOARD_KEYS, errors)
    values: dict[str, Any] = {}
    if current is None or "name" in payload:
        name = _clean_text(payload, "name", MAX_NAME, errors, required=True)
        if name is not None:
            values["name"] = name
    if "description" in payload:
        values["description"] = _clean_text(payload, "description", MAX_DESCRIPTION, errors)
    values.update(_clean_sharing(payload, current, errors))
    for key, clean in (
        ("layout", lambda raw: _clean_layout(actor, raw)),
        ("filters", lambda raw: _clean_settings(actor, raw)),
    ):
        if key in payload:
            try:
                values[key] = clean(payload[key])
            except ValidationFailed as exc:
                for k, messages in exc.errors.items():
                    errors.setdefault(k, []).extend(messages)
    if errors:
        raise ValidationFailed(errors)
    return values


def list_dashboards(actor: Membership) -> list[Dashboard]:
    teams = team_and_above(actor.team_id)
    found = db.session.execute(
        select(Dashboard).order_by(func.lower(Dashboard.name), Dashboard.id)
    ).scalars()
    return [d for d in found if can_see(d, actor, teams)]


def get_dashboard(actor: Membership, dashboard_id: int) -> Dashboard:
    board = by_id(Dashboard, dashboard_id)
    if board is None or not can_see(board, actor):
        raise DashboardNotFound(_("There is no such dashboard."))
    return board


def create_dashboard(actor: Membership, payload: Mapping[str, Any]) -> Dashboard:
    values = _clean_dashboard(actor, payload, None)
    _check_sharing_right(actor, values["visibility"])
    if _owned(Dashboard, actor) >= MAX_OWNED:
        raise DomainError(_("You have too many dashboards; delete some first."), status=409)
    board = Dashboard(
        owner_id=actor.user_id,
        created_by=actor.user_id,
        updated_by=actor.user_id,
        name=values["name"],
        description=values.get("description"),
        visibility=values["visibility"],
        shared_with=values["shared_with"],
        layout=values.get("layout", []),
        filters=values.get("filters", {}),
    )
    add_item(board, "dashboard", _dashboard_state)
    return board


def update_dashboard(
    actor: Membership,
    dashboard_id: int,
    payload: Mapping[str, Any],
    expected_version: int | None = None,
) -> Dashboard:
    board = get_dashboard(actor, dashboard_id)
    if not can_edit(board, actor):
        raise Forbidden(_("You may not change this dashboard."))
    require_version(board, expected_version)
    values = _clean_dashboard(actor, payload, board)
    _check_sharing_right(actor, values.get("visibility", board.visibility))
    apply_changes(actor, board, "dashboard", _dashboard_state, values)
    commit_versioned()
    return board


def add_widget(actor: Membership, dashboard_id: int, widget: Mapping[str, Any]) -> Dashboard:
    """Put a widget below the others (or where it says)."""
    board = get_dashboard(actor, dashboard_id)
    layout = list(board.layout or [])
    bottom = max((w["y"] + w["h"] for w in layout), default=0)
    item = {"y": bottom, "x": 0, **dict(widget)}
    return update_dashboard(actor, dashboard_id, {"layout": [*layout, item]}, board.version)


def remove_widget(actor: Membership, dashboard_id: int, widget_id: str) -> Dashboard:
    board = get_dashboard(actor, dashboard_id)
    layout = [w for w in board.layout or [] if w.get("id") != widget_id]
    if len(layout) == len(board.layout or []):
        raise DomainError(_("There is no such widget."), status=404)
    return update_dashboard(actor, dashboard_id, {"layout": layout}, board.version)


def delete_dashboard(actor: Membership, dashboard_id: int) -> None:
    board = get_dashboard(actor, dashboard_id)
    if not can_edit(board, actor):
        raise Forbidden(_("You may not delete this dashboard."))
    delete_item(board, "dashboard", _dashboard_state)


@dataclass
class WidgetData:
    """One widget of a dashboard as the viewer sees it."""

    widget: dict[str, Any]
    report: ReportDefinition | None
    outcome: Outcome

    @property
    def title(self) -> str:
        if self.widget.get("title"):
            return self.widget["title"]
        if self.report is not None:
            return display_name(self.report)
        return _("Report no longer available")


def dashboard_data(
    actor: Membership, board: Dashboard, values: DashboardFilter
) -> list[WidgetData]:
    """Every widget's result as ``actor`` sees it, with the dashboard's filter ANDed into its
    report. A widget whose report is gone, hidden or failing carries its message instead."""
    teams = team_and_above(actor.team_id)
    ids = {w["report_id"] for w in board.layout or []}
    reports = (
        {
            r.id: r
            for r in db.session.execute(
                select(ReportDefinition).where(ReportDefinition.id.in_(ids))
            ).scalars()
        }
        if ids
        else {}
    )
    out: list[WidgetData] = []
    settings = board.filters or {}
    for widget in sorted(board.layout or [], key=lambda w: (w["y"], w["x"])):
        report = reports.get(widget["report_id"])
        if report is None or not can_see(report, actor, teams):
            out.append(
                WidgetData(widget, None, Outcome(error=_("This report is not available to you.")))
            )
            continue
        extra = [] if own_query(report) else filter_conditions(settings, values, report.object_key)
        out.append(WidgetData(widget, report, run_report(actor, report, extra=extra)))
    return out


def company_timezone() -> str:
    from tenants.models import Tenant

    return db.session.get(Tenant, current_tenant_id()).timezone


def query_timeout_ms() -> int:
    return int(current_app.config.get("QUERY_TIMEOUT_MS", 10_000))
