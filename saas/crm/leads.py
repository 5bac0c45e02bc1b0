"""Leads (线索): who gets a new lead, what it is worth, and its conversion into a customer.

**Assignment.** The company's rule (:class:`LeadAssignment`, one row per company) is ``manual``
(the creator owns the lead, or whoever the creator names), ``round_robin`` (the members of the
rotation in turn) or ``by_region`` (the member, or the least-loaded member of the team, set for
the lead's region; other regions fall back to the rotation). A new lead takes the rule's owner
when its creation names none (or names ``"auto"``); members who are no longer active writers are
skipped. The rule's row is locked while a lead takes its turn, so concurrent creations get
different members in turn and "least loaded" counts the leads created just before. Managers
and admins reassign a lead (:func:`assign`); whoever gets a lead from someone else is notified.

**Scoring.** A rule is one filter condition of the query builder (the URL form
``source:eq:website`` or a JSON tree) and a number of points (−100…100). A lead's score is the
sum of the points of the active rules it matches, kept within the field's 0–100. The rules run
as SQL through the same engine as list filters: against the values being saved (a one-row
derived table, before the row is written, so a save stays one write and one version) and against
the stored leads in the rescore job (:func:`start_rescore`), which runs when the rules change.
Without active rules the score is left as people enter it.

**Conversion** (:func:`convert`) creates the customer (or uses an existing one, such as a
duplicate the form found), the contact at it and optionally an opportunity, marks the lead
converted with links to them, and links the lead's follow-ups to the new records, in one
transaction: any failure leaves nothing behind. A converted lead cannot be converted again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ColumnElement,
    DateTime,
    Identity,
    Integer,
    String,
    Text,
    and_,
    case,
    cast,
    column,
    delete,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, aliased, mapped_column

from custom_fields import types
from custom_fields.definitions import ObjectSchema, schemas
from custom_fields.query import engine
from custom_fields.query import operators as ops
from custom_fields.query.filters import Condition, Group, parse_tree, parse_url
from custom_fields.query.scope import scope_clause
from saas import tracked
from saas.crm import duplicates, pool
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.jobs import job
from saas.records.errors import RecordNotFound
from saas.records.models import Activity, Lead, RecordColumns
from tenants import audit, notifications, permissions
from tenants.context import TenantScoped, current_tenant_id
from tenants.errors import Forbidden
from tenants.models import (
    ADMIN_ROLES,
    WRITE_ROLES,
    Membership,
    MembershipStatus,
    RoleKey,
    Team,
    Tenant,
)

if TYPE_CHECKING:
    from saas.records.imports import Outcome
    from saas.records.services import Store

_log = logging.getLogger("kehu.leads")

MODES = ("manual", "round_robin", "by_region")
#: ``owner_id`` of a new lead meaning "whoever the company's rule gives it to".
AUTO = "auto"
#: Statuses of a lead still being worked: what "least loaded" counts.
OPEN_STATUSES = ("new", "contacted", "qualified")
CONVERTED = "converted"
MAX_MEMBERS = 200
MAX_RULES = 50
MAX_POINTS = 100
SCORE_MIN, SCORE_MAX = 0, 100
RESCORE_JOB = "lead-score:rescore"
RESCORE_KIND = "leads.rescore"
BATCH = 1000
#: Operators whose answer depends on who looks: a company-wide score cannot use them.
PERSONAL_OPERATORS = frozenset({"is_me", "is_not_me", "in_my_team", "in_my_team_and_below"})
#: Roles that reassign leads.
MANAGER_ROLES = pool.MANAGER_ROLES


class LeadAssignment(TenantScoped, db.Model):
    """How the company gives new leads an owner: ``mode`` (manual, round_robin, by_region), the
    rotation's ``members`` in order and ``cursor`` (the index of the next one), and ``regions``
    (a lead region code → ``{"user_id": n}`` or ``{"team_id": n}``). One row per company,
    locked while a new lead takes its turn; no row means manual."""

    __tablename__ = "lead_assignment"
    __table_args__ = (
        CheckConstraint("mode IN ('manual', 'round_robin', 'by_region')", name="mode"),
        CheckConstraint("cursor >= 0", name="cursor"),
    )

    mode: Mapped[str] = mapped_column(String(20), default="manual", server_default="manual")
    members: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), default=list, server_default="{}")
    cursor: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    regions: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LeadScoreRule(TenantScoped, db.Model):
    """A scoring rule: ``points`` for every lead matching ``condition`` (a filter tree of the
    query builder, as JSON). Rules are listed by ``position``; inactive ones do not count."""

    __tablename__ = "lead_score_rules"
    __table_args__ = (CheckConstraint("points BETWEEN -100 AND 100", name="points"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    condition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    points: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


notifications.register(
    "lead.assigned",
    lambda p: _(
        "%(actor)s gave you the lead “%(name)s”.",
        actor=notifications.actor_name(p),
        name=p.get("name") or _("a lead"),
    ),
)


def _require_admin(actor: Membership) -> None:
    if actor.role_key not in ADMIN_ROLES:
        raise Forbidden(_("Only owners and administrators can change this."))


def _require_writer(actor: Membership) -> None:
    from saas.records.services import require_writer  # imports this module

    require_writer(actor)
    permissions.require(actor, "lead", "edit")


def _lead_schema() -> ObjectSchema:
    return schemas(current_tenant_id())["lead"]


def _active_writers() -> set[int]:
    return set(
        db.session.execute(
            select(Membership.user_id).where(
                Membership.status == MembershipStatus.ACTIVE, Membership.role_key.in_(WRITE_ROLES)
            )
        ).scalars()
    )


def _is_id(raw: Any) -> bool:
    return isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw < 2**63


# ---------------------------------------------------------------- assignment settings


@dataclass(frozen=True)
class AssignmentSettings:
    """The company's assignment rule as the settings page and API show it."""

    mode: str = "manual"
    members: tuple[int, ...] = ()
    regions: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    next_member_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "members": list(self.members),
            "regions": {k: dict(v) for k, v in self.regions.items()},
            "next_member_id": self.next_member_id,
        }


def _row(*, lock: bool = False) -> LeadAssignment | None:
    stmt = select(LeadAssignment)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return db.session.execute(stmt).scalar_one_or_none()


def assignment_settings() -> AssignmentSettings:
    row = _row()
    if row is None:
        return AssignmentSettings()
    members = tuple(row.members or ())
    return AssignmentSettings(
        mode=row.mode,
        members=members,
        regions=dict(row.regions or {}),
        next_member_id=members[row.cursor % len(members)] if members else None,
    )


def region_choices(locale: str) -> list[tuple[str, str]]:
    """(code, label) of the lead's ``region`` picklist, active values first in order."""
    info = _lead_schema().field("region")
    if info is None:
        return []
    return [(c.code, c.label(locale)) for c in info.spec.choices if c.active]


def _clean_members(raw: Any, writers: set[int], errors: dict[str, list[str]]) -> list[int]:
    if raw is None:
        return []
    if not isinstance(raw, (list, tuple)) or len(raw) > MAX_MEMBERS:
        errors["members"] = [_("Send a list of at most %(n)d member ids.", n=MAX_MEMBERS)]
        return []
    members: list[int] = []
    for item in raw:
        if not _is_id(item) or item not in writers:
            errors["members"] = [_("Choose active members who work leads.")]
            return []
        if item not in members:
            members.append(item)
    return members


def _clean_regions(
    raw: Any, writers: set[int], errors: dict[str, list[str]]
) -> dict[str, dict[str, int]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        errors["regions"] = [_("Send the regions as an object of region codes.")]
        return {}
    codes = {code for code, _label in region_choices("en")}
    team_ids = set(db.session.execute(select(Team.id)).scalars())
    regions: dict[str, dict[str, int]] = {}
    for code, target in raw.items():
        where = f"regions.{str(code)[:60]}"
        if code not in codes:
            errors[where] = [_("There is no region “%(code)s”.", code=str(code)[:60])]
            continue
        if not isinstance(target, Mapping) or len(target) != 1:
            errors[where] = [_("Name one member (user_id) or one team (team_id).")]
            continue
        kind, value = next(iter(target.items()))
        if kind == "user_id" and _is_id(value) and value in writers:
            regions[code] = {"user_id": value}
        elif kind == "team_id" and _is_id(value) and value in team_ids:
            regions[code] = {"team_id": value}
        elif kind == "team_id":
            errors[where] = [_("There is no such team.")]
        else:
            errors[where] = [_("Choose an active member who works leads, or a team.")]
    return regions


def update_assignment(
    actor: Membership,
    *,
    mode: Any,
    members: Any = None,
    regions: Any = None,
) -> AssignmentSettings:
    """Set the company's assignment rule (owners and admins). Changing the rotation starts it
    again from its first member."""
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    if mode not in MODES:
        errors["mode"] = [_("Choose manual, round_robin or by_region.")]
    writers = _active_writers()
    cleaned_members = _clean_members(members, writers, errors)
    cleaned_regions = _clean_regions(regions, writers, errors)
    if mode == "round_robin" and not cleaned_members and "members" not in errors:
        errors["members"] = [_("Choose the members who take leads in turn.")]
    if mode == "by_region" and not cleaned_regions and not errors:
        errors["regions"] = [_("Choose a member or a team for at least one region.")]
    if errors:
        raise ValidationFailed(errors)
    row = _row(lock=True)
    before = assignment_settings().to_json() if row is not None else AssignmentSettings().to_json()
    if row is None:
        row = LeadAssignment()
        db.session.add(row)
    if list(row.members or []) != cleaned_members:
        row.cursor = 0
    row.mode, row.members, row.regions = mode, cleaned_members, cleaned_regions
    row.updated_at = func.now()
    db.session.flush()
    after = assignment_settings().to_json()
    if after != before:
        audit.record(
            "leads.assignment_changed", "tenant", current_tenant_id(), before=before, after=after
        )
    db.session.commit()
    return assignment_settings()


# ---------------------------------------------------------------- picking an owner


def _teams_below(team_id: int) -> set[int]:
    children: dict[int | None, list[int]] = {}
    for tid, parent in db.session.execute(select(Team.id, Team.parent_id)):
        children.setdefault(parent, []).append(tid)
    found, todo = set(), [team_id]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(children.get(current, ()))
    return found


@dataclass
class _TeamLoad:
    """The active writers of a team (and the teams below it) and their open leads (an import
    batch reads them once and counts its own new leads as it gives them)."""

    members: list[Any]
    load: dict[int, int]

    def least_loaded(self, given: Mapping[int, int] | None = None) -> int | None:
        """The member with the fewest open leads (with ``given`` more each); ties go to the
        member who joined first."""
        given = given or {}
        if not self.members:
            return None
        return min(
            self.members,
            key=lambda m: (
                self.load.get(m.user_id, 0) + given.get(m.user_id, 0),
                m.created_at,
                m.user_id,
            ),
        ).user_id


def _team_load(team_id: int, writers: set[int]) -> _TeamLoad:
    members = [
        m
        for m in db.session.execute(
            select(Membership.user_id, Membership.created_at).where(
                Membership.team_id.in_(_teams_below(team_id))
            )
        ).all()
        if m.user_id in writers
    ]
    load: dict[int, int] = {}
    if members:
        status = Lead.data["status"].astext
        load = dict(
            db.session.execute(
                select(Lead.owner_id, func.count())
                .where(
                    Lead.owner_id.in_([m.user_id for m in members]),
                    Lead.deleted_at.is_(None),
                    status.in_(OPEN_STATUSES),
                )
                .group_by(Lead.owner_id)
            ).all()
        )
    return _TeamLoad(members, load)


def _least_loaded(team_id: int, writers: set[int]) -> int | None:
    """The active writer of the team (or a team below it) with the fewest open leads; ties go
    to the member who joined first."""
    return _team_load(team_id, writers).least_loaded()


def _next_in_turn(row: LeadAssignment, writers: set[int]) -> int | None:
    members = list(row.members or [])
    for step in range(len(members)):
        index = (row.cursor + step) % len(members)
        if members[index] in writers:
            row.cursor = (index + 1) % len(members)
            return members[index]
    return None


def pick_owner(region: str | None) -> int | None:
    """The member the company's rule gives a new lead of ``region`` (``None``: manual, or
    nobody fits). Locks the rule's row until the caller's transaction ends."""
    mode = db.session.execute(select(LeadAssignment.mode)).scalar_one_or_none()
    if mode in (None, "manual"):
        return None
    row = _row(lock=True)
    if row is None or row.mode == "manual":
        return None
    writers = _active_writers()
    target = (row.regions or {}).get(region) if row.mode == "by_region" and region else None
    if target:
        if "user_id" in target and target["user_id"] in writers:
            return target["user_id"]
        if "team_id" in target:
            chosen = _least_loaded(target["team_id"], writers)
            if chosen is not None:
                return chosen
    return _next_in_turn(row, writers)


def is_auto_owner(object_key: str, raw: Any, *, creating: bool) -> bool:
    """Whether an ``owner_id`` sent with a new record means "by the company's rule"."""
    return creating and object_key == "lead" and raw == AUTO


def assignable_members(actor: Membership) -> list[tuple[int, str]]:
    """(user id, name) of the members ``actor`` may give leads to (managers: their scope)."""
    return pool.assignable_members(actor)


def _lock_lead(actor: Membership, lead_id: int) -> Lead:
    stmt = select(Lead).where(Lead.id == lead_id, Lead.deleted_at.is_(None))
    scope = scope_clause(Lead, actor, "lead")
    if scope is not None:
        stmt = stmt.where(scope)
    lead = db.session.execute(
        stmt.with_for_update(of=Lead).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if lead is None:
        raise RecordNotFound(_("There is no such lead."))
    from saas.records import services as records  # imports this module

    records.require_change(actor, "lead", lead)  # a lead shared to read is not assigned
    return lead


def assign(actor: Membership, lead_id: int, user_id: Any) -> Lead:
    """Give a lead to a member (managers within their data scope, owners and admins); the new
    owner is notified."""
    if actor.role_key not in MANAGER_ROLES:
        raise Forbidden(_("Only managers and administrators can assign leads."))
    try:
        lead = _lock_lead(actor, lead_id)
        allowed = {uid for uid, _name in assignable_members(actor)}
        if not _is_id(user_id) or user_id not in allowed:
            raise ValidationFailed({"user_id": [_("Choose an active member who works leads.")]})
        previous = lead.owner_id
        if previous != user_id:
            lead.owner_id = user_id
            lead.updated_by = actor.user_id
            lead.updated_at = func.now()
            audit.record(
                "lead.assigned",
                "lead",
                lead.id,
                before={"owner_id": previous},
                after={"owner_id": user_id},
            )
            if user_id != actor.user_id:
                _notify(lead, user_id, actor)
    except DomainError:
        db.session.rollback()
        raise
    db.session.commit()
    return lead


def _notify(lead: RecordColumns, user_id: int, actor: Membership) -> None:
    notifications.notify(
        user_id,
        "lead.assigned",
        object_key="lead",
        record_id=lead.id,
        params={"name": lead.name, "actor": actor.user.display_name},
    )


# ---------------------------------------------------------------- scoring rules


@dataclass(frozen=True)
class _System:
    """Whoever evaluates the rules for the company: every field, nobody's own records."""

    user_id: int = 0
    role_key: str = RoleKey.OWNER
    team_id: int | None = None


SYSTEM = _System()


def _env() -> ops.Env:
    timezone = db.session.get(Tenant, current_tenant_id()).timezone
    return engine.make_env(SYSTEM, timezone)  # type: ignore[arg-type]


def _parse_condition(raw: Any) -> tuple[Any, dict[str, Any]]:
    """A rule's condition as a parsed tree and as the JSON stored (the URL form becomes one
    condition object)."""
    if isinstance(raw, str):
        tree = parse_url([raw], None)
        if isinstance(tree, Group) and len(tree.children) == 1:
            tree = tree.children[0]
        assert isinstance(tree, Condition)
        return tree, {"field": tree.field, "op": tree.op, "value": tree.value}
    if not isinstance(raw, Mapping) or not raw:
        raise ValidationFailed(
            {"filter": [_("Write the condition as field:operator:value or a filter tree.")]}
        )
    return parse_tree(dict(raw)), dict(raw)


def _personal(node: Any) -> str | None:
    if isinstance(node, Group):
        return next((op for c in node.children if (op := _personal(c))), None)
    return node.op if isinstance(node, Condition) and node.op in PERSONAL_OPERATORS else None


def _condition_sql(tree: Any, entity: Any, schema: ObjectSchema, env: ops.Env):
    resolver = engine.Resolver(schema, SYSTEM, entity)  # type: ignore[arg-type]
    return engine.build_filter(tree, resolver, env)


def clean_rules(raw: Any) -> list[dict[str, Any]]:
    """Check scoring rules as sent (``[{"condition", "points", "active"}]``); errors are keyed
    ``rules[i].condition`` and so on."""
    if not isinstance(raw, (list, tuple)):
        raise ValidationFailed({"rules": [_("Send the rules as a list.")]})
    if len(raw) > MAX_RULES:
        raise ValidationFailed({"rules": [_("At most %(n)d rules.", n=MAX_RULES)]})
    schema, env = _lead_schema(), _env()
    errors: dict[str, list[str]] = {}
    rules: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        where = f"rules[{i}]"
        if not isinstance(item, Mapping) or set(item) - {"condition", "points", "active"}:
            errors[where] = [_("A rule has a condition, points and whether it is active.")]
            continue
        points, active = item.get("points"), item.get("active", True)
        if isinstance(points, bool) or not isinstance(points, int) or abs(points) > MAX_POINTS:
            errors[f"{where}.points"] = [
                _("Enter whole points from %(low)d to %(high)d.", low=-MAX_POINTS, high=MAX_POINTS)
            ]
        if not isinstance(active, bool):
            errors[f"{where}.active"] = [_("Enter true or false.")]
        try:
            tree, stored = _parse_condition(item.get("condition"))
            personal = _personal(tree)
            if personal:
                raise ValidationFailed(
                    {"filter": [_("“%(op)s” depends on who looks; a score cannot.", op=personal)]}
                )
            if tree is None or _condition_sql(tree, Lead, schema, env) is None:
                raise ValidationFailed({"filter": [_("The condition is empty.")]})
        except ValidationFailed as exc:
            errors[f"{where}.condition"] = [m for ms in exc.errors.values() for m in ms]
            continue
        rules.append({"condition": stored, "points": points, "active": active})
    if errors:
        raise ValidationFailed(errors)
    return rules


def list_rules() -> list[LeadScoreRule]:
    return list(
        db.session.execute(
            select(LeadScoreRule).order_by(LeadScoreRule.position, LeadScoreRule.id)
        ).scalars()
    )


def _active_rules() -> list[LeadScoreRule]:
    return [r for r in list_rules() if r.active]


def condition_text(condition: Mapping[str, Any]) -> str:
    """A stored condition as people write it: ``field:op:value`` when it is one condition
    (list values comma-separated, commas and backslashes escaped), else its JSON."""
    import json

    if set(condition) <= {"field", "op", "value"} and "field" in condition:
        value = condition.get("value")
        if value is None:
            return f"{condition['field']}:{condition['op']}"

        def escaped(v: Any) -> str:
            return str(v).replace("\\", "\\\\").replace(",", "\\,")

        text = ",".join(map(escaped, value)) if isinstance(value, list) else escaped(value)
        return f"{condition['field']}:{condition['op']}:{text}"
    return json.dumps(condition, ensure_ascii=False)


def replace_rules(actor: Membership, raw: Any) -> tuple[list[LeadScoreRule], tracked.TrackedJob]:
    """Replace the company's scoring rules (owners and admins) and rescore every lead in a
    background job."""
    _require_admin(actor)
    rules = clean_rules(raw)
    before = [_rule_json(r) for r in list_rules()]
    db.session.execute(delete(LeadScoreRule))
    rows = [LeadScoreRule(position=i, **rule) for i, rule in enumerate(rules)]
    db.session.add_all(rows)
    db.session.flush()
    after = [_rule_json(r) for r in rows]
    if after != before:
        audit.record(
            "leads.score_rules_changed",
            "tenant",
            current_tenant_id(),
            before={"rules": before},
            after={"rules": after},
        )
    job_row = _start_rescore(actor.user_id)
    db.session.commit()
    return rows, job_row


def _rule_json(rule: LeadScoreRule) -> dict[str, Any]:
    return {"condition": rule.condition, "points": rule.points, "active": rule.active}


def start_rescore(actor: Membership) -> tracked.TrackedJob:
    """Recompute every lead's score in a background job (owners and admins)."""
    _require_admin(actor)
    row = _start_rescore(actor.user_id)
    db.session.commit()
    return row


def _start_rescore(created_by: int | None) -> tracked.TrackedJob:
    return tracked.start(RESCORE_JOB, RESCORE_KIND, run_rescore, params={}, created_by=created_by)


def score_sql(entity: Any, rules: Sequence[LeadScoreRule], env: ops.Env) -> ColumnElement[int]:
    """The score of ``entity``'s lead row: matched points summed, kept within 0–100."""
    schema = _lead_schema()
    total: ColumnElement[int] = literal(0, Integer)
    for rule in rules:
        tree, _stored = _parse_condition(rule.condition)
        condition = _condition_sql(tree, entity, schema, env)
        if condition is None:
            continue
        total = total + case((condition.is_(true()), rule.points), else_=0)
    return func.least(SCORE_MAX, func.greatest(SCORE_MIN, total))


def _values_of(record: RecordColumns) -> Any:
    """The record's values as a one-row derived table shaped like the leads table, so that
    conditions resolved against it read the values being saved."""
    now = func.now()
    created = record.created_at if isinstance(record.created_at, datetime) else None
    row = select(
        literal(current_tenant_id(), BigInteger).label("tenant_id"),
        literal(record.id or 0, BigInteger).label("id"),
        literal(record.name, String).label("name"),
        literal(record.owner_id, BigInteger).label("owner_id"),
        literal(record.created_by, BigInteger).label("created_by"),
        literal(record.updated_by, BigInteger).label("updated_by"),
        (literal(created, DateTime(timezone=True)) if created else now).label("created_at"),
        now.label("updated_at"),
        literal(list(record.tags or []), ARRAY(String)).label("tags"),
        literal(dict(record.data or {}), JSONB).label("data"),
        literal(None, DateTime(timezone=True)).label("deleted_at"),
    ).subquery("lead_values")
    return aliased(Lead, row, adapt_on_names=True)


def score(record: RecordColumns, rules: Sequence[LeadScoreRule] | None = None) -> int | None:
    """The score the active rules give this lead's current values (``None``: no rules)."""
    rules = _active_rules() if rules is None else rules
    if not rules:
        return None
    entity = _values_of(record)
    return db.session.execute(select(score_sql(entity, rules, _env()))).scalar_one()


def _rescore(job_id: str) -> dict[str, int]:
    rules = _active_rules()
    total = db.session.execute(select(func.count()).select_from(Lead)).scalar_one()
    db.session.commit()
    tracked.progress(job_id, 0, total)
    if not rules:
        return {"leads": total, "changed": 0}
    expr = score_sql(Lead, rules, _env())
    new = func.to_jsonb(expr)
    last = done = changed = 0
    while True:
        ids = list(
            db.session.execute(
                select(Lead.id).where(Lead.id > last).order_by(Lead.id).limit(BATCH)
            ).scalars()
        )
        if not ids:
            break
        result = db.session.execute(
            update(Lead)
            .where(Lead.id.in_(ids), Lead.data["score"].is_distinct_from(new))
            .values(
                data=Lead.data.op("||")(func.jsonb_build_object("score", expr)),
                version=Lead.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        last, done, changed = ids[-1], done + len(ids), changed + result.rowcount
        tracked.progress(job_id, done)
    return {"leads": done, "changed": changed}


@job
def run_rescore(job_id: str) -> None:
    """The job behind :func:`start_rescore`: a batch of leads per transaction; a lead whose
    score changes gets a new version."""
    tracked.begin(job_id)
    try:
        tracked.finish(job_id, _rescore(job_id))
    except DomainError as exc:
        tracked.fail(job_id, exc.message)
    except Exception as exc:
        tracked.crashed(job_id, exc)
        raise


# ---------------------------------------------------------------- record hooks


def before_save(
    st: Store,
    record: RecordColumns,
    actor: Membership,
    payload: Mapping[str, Any],
    before: tuple[int | None, Mapping[str, Any]] | None,
) -> None:
    """Before a lead is written: a new lead without an owner takes the company's rule's, and the
    score follows the rules. Called by the record service before the flush."""
    if st.schema.key != "lead":
        return
    # The record is not written yet: a flush now would write it (and count a version) twice.
    with db.session.no_autoflush:
        if before is None and payload.get("owner_id", AUTO) == AUTO:
            owner = pick_owner((record.data or {}).get("region"))
            if owner is not None:
                record.owner_id = owner
        value = score(record)
    if value is not None and st.schema.field("score") is not None:
        record.data = {**(record.data or {}), "score": value}


def after_save(
    st: Store,
    record: RecordColumns,
    actor: Membership,
    before: tuple[int | None, Mapping[str, Any]] | None,
) -> None:
    """After a lead is written: whoever got it from someone else is told."""
    if st.schema.key != "lead" or record.owner_id is None or record.owner_id == actor.user_id:
        return
    if before is None or before[0] != record.owner_id:
        _notify(record, record.owner_id, actor)


# ---------------------------------------------------------------- import hooks
#
# An import writes its rows a batch at a time with set-based SQL (saas.records.imports), so the
# record hooks above run there once per batch instead of once per record. The rows are the
# import's outcomes (``saas.records.imports.Outcome``): ``action``, ``system`` (name, owner,
# tags), ``data``, ``record_id``, ``auto_owner`` and, for updates, ``before``.


def _leads_link(row: notifications.Notification) -> str | None:
    from flask import url_for

    return url_for("records.index", object_key="lead", f="owner_id:is_me")


notifications.register(
    "lead.imported",
    lambda p: ngettext(
        "%(n)d lead was assigned to you by an import.",
        "%(n)d leads were assigned to you by an import.",
        int(p.get("n", 0)),
        n=int(p.get("n", 0)),
    ),
    _leads_link,
)


def rule_assigns() -> bool:
    """Whether the company's rule gives new leads their owner (a mode other than manual). Reads
    without locking: the import preview shows "by the assignment rule" and takes no turn."""
    mode = db.session.execute(select(LeadAssignment.mode)).scalar_one_or_none()
    return mode not in (None, "manual")


def _pick_import_owners(creates: Sequence[Outcome]) -> None:
    """Owners for a batch's new leads, in file order, exactly as :func:`pick_owner` would give
    them one create at a time: the rule's row is locked once (until the batch's transaction
    ends), the rotation advances once per lead that takes a turn, and "least loaded" counts the
    open leads given earlier in the batch (rows naming their owner included)."""
    if not any(o.auto_owner for o in creates) or not rule_assigns():
        return
    row = _row(lock=True)
    if row is None or row.mode == "manual":
        return
    writers = _active_writers()
    regions = (row.regions or {}) if row.mode == "by_region" else {}
    teams: dict[int, _TeamLoad] = {}
    given: dict[int, int] = {}  # open leads of this batch per owner, so far
    # The rotation of _next_in_turn, kept in locals for the batch and stored once.
    rotation = list(row.members or [])
    cursor = row.cursor

    def next_in_turn() -> int | None:
        nonlocal cursor
        for step in range(len(rotation)):
            index = (cursor + step) % len(rotation)
            if rotation[index] in writers:
                cursor = (index + 1) % len(rotation)
                return rotation[index]
        return None

    for outcome in creates:
        data = outcome.data or {}
        if outcome.auto_owner:
            owner: int | None = None
            region = data.get("region")
            target = regions.get(region) if region else None
            if target and "user_id" in target and target["user_id"] in writers:
                owner = target["user_id"]
            elif target and "team_id" in target:
                team = teams.get(target["team_id"])
                if team is None:
                    team = teams[target["team_id"]] = _team_load(target["team_id"], writers)
                owner = team.least_loaded(given)
            if owner is None:
                owner = next_in_turn()
            if owner is not None:
                outcome.system["owner_id"] = owner
        owner_id = outcome.system.get("owner_id")
        if owner_id is not None and data.get("status") in OPEN_STATUSES:
            given[owner_id] = given.get(owner_id, 0) + 1
    if cursor != row.cursor:
        row.cursor = cursor


def _import_scores(
    rows: Sequence[Outcome], rules: Sequence[LeadScoreRule], actor_id: int
) -> dict[int, int]:
    """The scores of a batch's leads in one statement: the rules run against the values being
    written, a derived table of the batch shaped like ``leads`` (an updated lead keeps its
    creation time and creator)."""
    tenant_id = current_tenant_id()
    values = [
        {
            "id": o.record_id,
            "name": o.system.get("name"),
            "owner_id": o.system.get("owner_id"),
            "tags": list(o.system.get("tags") or []),
            "data": o.data or {},
        }
        for o in rows
    ]
    encoded = json.dumps(values, ensure_ascii=False)
    batch = (
        func.jsonb_to_recordset(cast(literal(encoded, Text), JSONB))
        .table_valued(
            column("id", BigInteger),
            column("name", Text),
            column("owner_id", BigInteger),
            column("tags", ARRAY(Text)),
            column("data", JSONB),
        )
        .render_derived(name="r", with_types=True)
    )
    created_by: Any = literal(actor_id, BigInteger)
    created_at: Any = func.now()
    source: Any = batch
    if any(o.action == "update" for o in rows):
        stored = Lead.__table__.alias("stored")
        created_by = func.coalesce(stored.c.created_by, created_by)
        created_at = func.coalesce(stored.c.created_at, created_at)
        source = batch.outerjoin(
            stored, and_(stored.c.tenant_id == tenant_id, stored.c.id == batch.c.id)
        )
    derived = (
        select(
            literal(tenant_id, BigInteger).label("tenant_id"),
            batch.c.id.label("id"),
            batch.c.name.label("name"),
            batch.c.owner_id.label("owner_id"),
            created_by.label("created_by"),
            literal(actor_id, BigInteger).label("updated_by"),
            created_at.label("created_at"),
            func.now().label("updated_at"),
            batch.c.tags.label("tags"),
            batch.c.data.label("data"),
            literal(None, DateTime(timezone=True)).label("deleted_at"),
        )
        .select_from(source)
        .subquery("lead_values")
    )
    entity = aliased(Lead, derived, adapt_on_names=True)
    return dict(
        db.session.execute(select(entity.id, score_sql(entity, rules, _env()))).tuples().all()
    )


def before_import(st: Store, rows: Sequence[Outcome], actor: Membership) -> None:
    """Before a batch of leads is written (:func:`before_save` for a batch): new leads whose row
    names no owner take the rule's, in file order, and every lead's score follows the rules.
    Called by the import writer in the batch's transaction, after the new records got their
    ids and before anything of theirs is written."""
    if st.schema.key != "lead" or not rows:
        return
    with db.session.no_autoflush:
        _pick_import_owners([o for o in rows if o.action == "create"])
        rules = _active_rules()
        if not rules or st.schema.field("score") is None:
            return
        scores = _import_scores(rows, rules, actor.user_id)
    for outcome in rows:
        value = scores.get(outcome.record_id)
        if value is not None:
            outcome.data["score"] = value


def after_import(
    st: Store, creates: Sequence[Outcome], updates: Sequence[Outcome], actor: Membership
) -> dict[int, int]:
    """After a batch of leads is written: how many each member got from someone else (new
    leads, and leads whose owner the import changed), as :func:`after_save` would tell them
    one by one. The import adds the batches up and tells each member once
    (:func:`notify_imported`)."""
    if st.schema.key != "lead":
        return {}
    given: dict[int, int] = {}
    for outcome in [*creates, *updates]:
        owner = outcome.system.get("owner_id")
        previous = (outcome.before or {}).get("owner_id") if outcome.action == "update" else None
        if owner is None or owner == actor.user_id or owner == previous:
            continue
        given[owner] = given.get(owner, 0) + 1
    return given


def notify_imported(given: Mapping[int, int], actor: Membership, import_id: str) -> int:
    """One notification per member who got leads from an import ("%(n)d leads were assigned
    to you by an import"), in the caller's transaction; answers how many were added."""
    name = actor.user.display_name if actor.user is not None else None
    return notifications.notify_many(
        {
            "user_id": int(user_id),
            "kind": "lead.imported",
            "object_key": "lead",
            "params": {"n": int(n), "actor": name, "import": import_id},
        }
        for user_id, n in sorted(given.items())
        if n > 0
    )


# ---------------------------------------------------------------- conversion


@dataclass
class Conversion:
    """What a conversion made: the lead, the customer (``account_created``: new), the contact,
    the opportunity (if asked for) and the follow-ups it linked to them."""

    lead: Lead
    account: RecordColumns
    account_created: bool
    contact: RecordColumns
    opportunity: RecordColumns | None
    activities: list[int]


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value.strip() or None if isinstance(value, str) else None


def proposal(lead: Lead, actor: Membership) -> dict[str, dict[str, Any]]:
    """What the conversion form starts from: the customer named after the lead's company, the
    contact after the lead (its mobile and email), the opportunity after the company; only
    fields ``actor`` may edit."""
    data = lead.data or {}
    company = _text(data, "company") or lead.name or ""
    drafts = {
        "account": {"name": company, "source": data.get("source"), "region": data.get("region")},
        "contact": {"name": lead.name, "mobile": data.get("mobile"), "email": data.get("email")},
        "opportunity": {"name": company},
    }
    all_schemas = schemas(current_tenant_id())
    result: dict[str, dict[str, Any]] = {}
    for object_key, draft in drafts.items():
        schema = all_schemas[object_key]
        result[object_key] = {
            key: value
            for key, value in draft.items()
            if value not in (None, "")
            and (
                key == "name"
                or (
                    (info := schema.field(key)) is not None
                    and info.access_for(actor.role_key) == "editable"
                )
            )
        }
    return result


def account_candidates(lead: Lead, actor: Membership) -> list[duplicates.Candidate]:
    """Customers the lead may already be (same company name, phone or email) that ``actor``
    may open: the conversion form offers them instead of a new customer."""
    data = lead.data or {}
    values: dict[str, Any] = {"name": _text(data, "company") or lead.name or ""}
    account = schemas(current_tenant_id())["account"]
    for key, lead_key in (("phone", "mobile"), ("email", "email")):
        info = account.field(key)
        if info is not None and info.access_for(actor.role_key) != "hidden" and data.get(lead_key):
            values[key] = data[lead_key]
    try:
        found = duplicates.find_duplicates("account", values, actor=actor)
    except ValidationFailed:
        return []
    return [c for c in found.candidates if c.object_key == "account"]


def _prefixed(exc: ValidationFailed, prefix: str) -> ValidationFailed:
    return ValidationFailed({f"{prefix}.{k}": v for k, v in exc.errors.items()})


def _owner_for(lead: Lead, actor: Membership) -> int:
    """New records belong to the lead's owner while that is an active writer, else the actor."""
    if lead.owner_id is not None and lead.owner_id in _active_writers():
        return lead.owner_id
    return actor.user_id


def convert(
    actor: Membership,
    lead_id: int,
    *,
    account: Mapping[str, Any] | None = None,
    account_id: int | None = None,
    contact: Mapping[str, Any] | None = None,
    opportunity: Mapping[str, Any] | None = None,
) -> Conversion:
    """Convert a lead in one transaction: a new customer (``account``: its values, by default
    from the lead) or an existing one (``account_id``), a contact at it (``contact``), an
    opportunity when ``opportunity`` is given (``{}``: from the lead), the lead marked converted
    and linked to them, and its follow-ups linked to the new records. 409 when the lead was
    converted already; any failure rolls everything back."""
    from saas.records import services as records

    _require_writer(actor)
    try:
        if account is not None and account_id is not None:
            raise ValidationFailed(
                {"account_id": [_("Choose an existing customer or describe a new one, not both.")]}
            )
        lead = _lock_lead(actor, lead_id)
        data = dict(lead.data or {})
        old_status = data.get("status")
        if data.get("status") == CONVERTED or data.get("converted_account") is not None:
            raise DomainError(_("This lead has been converted already."), status=409)
        drafts = proposal(lead, actor)
        owner = _owner_for(lead, actor)

        def payload(object_key: str, given: Mapping[str, Any] | None) -> dict[str, Any]:
            values = dict(drafts[object_key]) if given is None else dict(given)
            if not values.get("name"):
                values["name"] = drafts[object_key].get("name") or lead.name
            values.setdefault("owner_id", owner)
            return values

        if account_id is not None:
            try:
                customer = records.get_record("account", account_id)
            except RecordNotFound:
                raise ValidationFailed({"account_id": [_("There is no such customer.")]}) from None
            created = False
        else:
            try:
                customer = records.create_record(
                    actor, "account", payload("account", account), commit=False
                )
            except ValidationFailed as exc:
                raise _prefixed(exc, "account") from None
            created = True
        try:
            person = records.create_record(
                actor,
                "contact",
                {**payload("contact", contact), "account": customer.id},
                commit=False,
            )
        except ValidationFailed as exc:
            raise _prefixed(exc, "contact") from None
        deal = None
        if opportunity is not None:
            try:
                deal = records.create_record(
                    actor,
                    "opportunity",
                    {**payload("opportunity", opportunity), "account": customer.id},
                    commit=False,
                )
            except ValidationFailed as exc:
                raise _prefixed(exc, "opportunity") from None
        links = {
            "status": CONVERTED,
            "converted_account": customer.id,
            "converted_contact": person.id,
            "converted_opportunity": deal.id if deal is not None else None,
        }
        schema = _lead_schema()
        for key, value in links.items():
            if schema.field(key) is not None and value is not None:
                data[key] = value
        lead.data = data
        lead.updated_by = actor.user_id
        lead.updated_at = func.now()
        with db.session.no_autoflush:
            value = score(lead)
        if value is not None and schema.field("score") is not None:
            lead.data = {**lead.data, "score": value}
        relinked = _relink_activities(lead, actor, customer.id, person.id, deal)
        audit.record(
            "lead.converted",
            "lead",
            lead.id,
            before={"status": old_status},
            after={
                "status": CONVERTED,
                "account_id": customer.id,
                "account_created": created,
                "contact_id": person.id,
                "opportunity_id": deal.id if deal is not None else None,
                "activities": relinked,
            },
        )
        db.session.flush()
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return Conversion(lead, customer, created, person, deal, relinked)


def _relink_activities(
    lead: Lead,
    actor: Membership,
    account_id: int,
    contact_id: int,
    deal: RecordColumns | None,
) -> list[int]:
    """Follow-ups of the lead get the new customer, contact and opportunity where they name
    none, so the customer's history starts with the lead's (the lead link stays)."""
    schema = schemas(current_tenant_id())["activity"]
    info = schema.field("lead")
    if info is None:
        return []
    ref = types.get("lookup").sql(Activity.data, "lead", info.spec)
    found = db.session.execute(
        select(Activity).where(ref == lead.id).order_by(Activity.id).with_for_update()
    ).scalars()
    targets = {"account": account_id, "contact": contact_id}
    if deal is not None:
        targets["opportunity"] = deal.id
    relinked = []
    for activity in found:
        old = dict(activity.data or {})
        data = dict(old)
        for key, value in targets.items():
            if schema.field(key) is not None and data.get(key) is None:
                data[key] = value
        if data == old:
            continue
        owner = activity.owner_id
        activity.data = data
        activity.updated_by = actor.user_id
        activity.updated_at = func.now()
        # A follow-up already done now counts for the customer's activity clock.
        pool.on_save("activity", activity, actor, (owner, old))
        relinked.append(activity.id)
    return relinked
