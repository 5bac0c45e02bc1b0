"""The metadata store: the objects each tenant works with.

Standard objects are created for every tenant at signup; tenant admins will add custom ones.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Identity,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from saas.extensions import db
from tenants.context import TenantScoped


class ObjectDefinition(TenantScoped, db.Model):
    """An object type of one tenant (account, contact, … or a custom one), keyed by ``key``."""

    __tablename__ = "object_definitions"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    key: Mapped[str] = mapped_column(String(60))
    label_en: Mapped[str] = mapped_column(String(100))
    label_zh: Mapped[str] = mapped_column(String(100))
    plural_en: Mapped[str] = mapped_column(String(100))
    plural_zh: Mapped[str] = mapped_column(String(100))
    icon: Mapped[str] = mapped_column(String(40), default="box")
    is_standard: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def label(self, locale: str) -> str:
        return self.label_zh if locale.startswith("zh") else self.label_en

    def plural(self, locale: str) -> str:
        return self.plural_zh if locale.startswith("zh") else self.plural_en
