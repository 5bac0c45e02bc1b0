"""Quick search: a record's name, pinyin and searchable values in one trigram-indexed column.

Chinese names are also found by full pinyin and by initials: 张三 is kept as
``张三 zhangsan zs``, so ``zhangsan``, ``zs`` and ``张`` all find it. Phone numbers are kept as
digits too, so ``138 1234`` finds ``+86 138 1234 5678``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pypinyin import Style, lazy_pinyin
from sqlalchemy import ColumnElement

from custom_fields.query.operators import escape_like
from saas.jobs import job

_HAN = re.compile(r"[\u3400-\u9fff]")
MAX_SEARCH_TEXT = 4000
#: Field types always searched (besides the name and fields marked searchable).
ALWAYS_SEARCHED = frozenset({"email", "phone"})


def pinyin_forms(text: str) -> list[str]:
    """Full pinyin and initials of the Chinese in ``text`` (nothing when there is none)."""
    if not _HAN.search(text):
        return []
    syllables = [s for s in lazy_pinyin(text, errors="ignore") if s.strip()]
    initials = [s for s in lazy_pinyin(text, style=Style.FIRST_LETTER, errors="ignore") if s]
    return ["".join(syllables).lower(), "".join(initials).lower()]


def search_terms(text: str) -> str:
    """A label with its pinyin forms, for filtering dropdowns in the browser."""
    lowered = str(text).strip().lower()
    return " ".join([lowered, *pinyin_forms(lowered)])


def _flat(value: Any) -> Iterable[str]:
    if value is None:
        return ()
    if isinstance(value, dict):  # currency
        return (str(value.get("amount", "")),)
    if isinstance(value, list):
        return (str(v) for v in value)
    return (str(value),)


def build(name: str | None, values: Iterable[tuple[str, Any]]) -> str:
    """The search text of a record: ``values`` are (field type, stored value) pairs."""
    parts: list[str] = []
    for text in [name or ""] + [t for _type, v in values for t in _flat(v)]:
        text = text.strip().lower()
        if not text:
            continue
        parts.append(text)
        parts.extend(pinyin_forms(text))
        digits = re.sub(r"\D", "", text)
        if len(digits) >= 5 and digits != text:
            parts.append(digits)
    return " ".join(dict.fromkeys(parts))[:MAX_SEARCH_TEXT]


def _hidden_somewhere(info: Any) -> bool:
    """A field hidden from some role stays out of the shared search text, or members of that
    role could find records by a value they may not see."""
    return "hidden" in info.access.values()


def record_text(schema: Any, name: str | None, data: dict[str, Any]) -> str:
    """Search text for a record of ``schema`` (an ObjectSchema) with these values."""
    values = [
        (info.type, data.get(info.key))
        for info in schema.fields
        if (info.searchable or info.type in ALWAYS_SEARCHED) and not _hidden_somewhere(info)
    ]
    return build(name, values)


def normalise(query: str) -> str:
    text = query.strip().lower()
    # "zhang san" is typed for 张三: pinyin is kept without spaces.
    if text.isascii() and re.fullmatch(r"[a-z ]+", text):
        text = text.replace(" ", "")
    digits = re.sub(r"[\s\-()+]", "", text)
    return digits if digits.isdigit() else text


def search_clause(model: Any, query: str) -> ColumnElement[bool]:
    return model.search_text.like(f"%{escape_like(normalise(query)[:100])}%", escape="\\")


BATCH = 2000


def start_rebuild(object_id: int, created_by: int | None) -> Any:
    """Recompute the search text of an object's records after its searchable fields changed
    (a tracked job; one per object at a time)."""
    from saas import tracked

    return tracked.start(
        f"search-rebuild:{object_id}",
        "records.search_rebuild",
        run_rebuild,
        params={"object_id": object_id},
        created_by=created_by,
    )


def _rebuild(job_id: str, object_id: int) -> int:
    from sqlalchemy import select, update

    from custom_fields.definitions import schemas
    from custom_fields.models import ObjectDefinition
    from custom_fields.query.engine import model_for
    from saas import tracked
    from saas.extensions import db
    from saas.records.models import CustomRecord
    from tenants.context import current_tenant_id

    key = db.session.execute(
        select(ObjectDefinition.key).where(ObjectDefinition.id == object_id)
    ).scalar_one()
    schema = schemas(current_tenant_id())[key]
    model = model_for(schema)
    where = [model.object_id == object_id] if model is CustomRecord else []
    last, done = 0, 0
    while True:
        rows = db.session.execute(
            select(model.id, model.name, model.data)
            .where(*where, model.id > last)
            .order_by(model.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return done
        for record_id, name, data in rows:
            db.session.execute(
                update(model)
                .where(model.id == record_id)
                .values(search_text=record_text(schema, name, data or {}))
                .execution_options(synchronize_session=False)
            )
        db.session.commit()
        last, done = rows[-1][0], done + len(rows)
        tracked.progress(job_id, done)


@job
def run_rebuild(job_id: str, object_id: int) -> None:
    """The job behind :func:`start_rebuild`: a batch of records per transaction."""
    from saas import tracked
    from saas.errors import DomainError

    tracked.begin(job_id)
    try:
        tracked.finish(job_id, {"records": _rebuild(job_id, object_id)})
    except DomainError as exc:
        tracked.fail(job_id, exc.message)
    except Exception as exc:
        tracked.crashed(job_id, exc)
        raise
