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


def record_text(schema: Any, name: str | None, data: dict[str, Any]) -> str:
    """Search text for a record of ``schema`` (an ObjectSchema) with these values."""
    values = [
        (info.type, data.get(info.key))
        for info in schema.fields
        if info.searchable or info.type in ALWAYS_SEARCHED
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
