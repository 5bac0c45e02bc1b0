"""Who a shared definition reaches: saved views (:mod:`saas.records.views`), reports and
dashboards (:mod:`saas.reports.services`) are shared the same way.

An item has an owner, a ``visibility`` and ``shared_with``:

* ``private``: nobody but its owner (reports and dashboards add owners and administrators);
* ``roles`` / ``teams``: members whose role, or whose team or a team above theirs, is listed in
  ``shared_with`` (role keys, team ids);
* ``tenant``: everyone in the company.

Managers (:data:`MANAGER_ROLES`: owners, administrators and managers) see every shared item.
What the owner and others may change stays with each kind of item.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from flask_babel import gettext as _
from sqlalchemy import select

from saas.extensions import db
from tenants.models import ADMIN_ROLES, Membership, Role, RoleKey, Team

VISIBILITIES = ("private", "roles", "teams", "tenant")
#: Roles that share items beyond themselves and see every shared item.
MANAGER_ROLES = frozenset(ADMIN_ROLES | {RoleKey.MANAGER})
#: Roles or teams one item may list.
MAX_SHARED = 200


class Shared(Protocol):
    """What sharing reads of an item."""

    owner_id: Any
    visibility: str
    shared_with: Any


def is_manager(actor: Membership) -> bool:
    return actor.role_key in MANAGER_ROLES


def team_and_above(team_id: int | None) -> set[int]:
    """The team and every team above it (an item shared with a region reaches its cities)."""
    if team_id is None:
        return set()
    parents = dict(db.session.execute(select(Team.id, Team.parent_id)).all())
    found: set[int] = set()
    current: int | None = team_id
    while current is not None and current not in found:
        found.add(current)
        current = parents.get(current)
    return found


def reaches(item: Shared, actor: Membership, teams: set[int] | None = None) -> bool:
    """Whether the item's sharing reaches ``actor``, its owner aside (``teams``: the actor's
    team and those above it, when the caller has read them already)."""
    if item.visibility == "private":
        return False
    if item.visibility == "tenant" or is_manager(actor):
        return True
    shared = set(item.shared_with or [])
    if item.visibility == "roles":
        return actor.role_key in shared
    if item.visibility == "teams":
        teams = team_and_above(actor.team_id) if teams is None else teams
        return bool(teams & shared)
    return False


def clean_sharing(
    payload: Mapping[str, Any],
    current: Shared | None,
    errors: dict[str, list[str]],
    *,
    unlisted: str,
    unnamed: str,
) -> dict[str, Any]:
    """The checked ``visibility`` and ``shared_with`` of a create (``current`` None) or of a
    change naming either; ``{}`` for a change naming neither, or with problems (put in
    ``errors``). A change of ``visibility`` alone keeps ``shared_with`` only when the
    visibility stays. ``unlisted``: the message for a private or company-wide item that lists
    whom; ``unnamed``: for a role or team share that lists nobody."""
    if current is not None and "visibility" not in payload and "shared_with" not in payload:
        return {}
    visibility = payload.get("visibility", current.visibility if current is not None else "private")
    shared = payload.get("shared_with")
    if "shared_with" not in payload and current is not None and visibility == current.visibility:
        shared = current.shared_with
    if visibility not in VISIBILITIES:
        errors["visibility"] = [_("Choose private, roles, teams or tenant.")]
        return {}
    if visibility in ("private", "tenant"):
        if shared not in (None, []):
            errors["shared_with"] = [str(unlisted)]
            return {}
        return {"visibility": visibility, "shared_with": []}
    if not isinstance(shared, list) or not shared or len(shared) > MAX_SHARED:
        errors["shared_with"] = [str(unnamed)]
        return {}
    if visibility == "roles":
        known = set(db.session.execute(select(Role.key)).scalars())
        if not all(isinstance(r, str) and r in known for r in shared):
            errors["shared_with"] = [_("Share with roles of this company (by their key).")]
            return {}
        return {"visibility": visibility, "shared_with": sorted(set(shared))}
    team_ids: list[int] = []
    for raw in shared:
        try:
            team_ids.append(int(raw) if not isinstance(raw, bool) else 0)
        except (TypeError, ValueError):
            team_ids.append(0)
    known_teams = set(db.session.execute(select(Team.id)).scalars())
    if not all(t in known_teams for t in team_ids):
        errors["shared_with"] = [_("Share with teams of this company (by their id).")]
        return {}
    return {"visibility": visibility, "shared_with": sorted(set(team_ids))}
