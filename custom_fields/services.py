"""Reading and changing the metadata store (each public function is one unit of work)."""

from __future__ import annotations

from sqlalchemy import select

from custom_fields.models import ObjectDefinition
from saas.extensions import db


def list_objects() -> list[ObjectDefinition]:
    """The objects of the tenant in context, in display order."""
    return list(
        db.session.execute(select(ObjectDefinition).order_by(ObjectDefinition.position)).scalars()
    )
