"""Relative date ranges (today, last month, next 30 days, ...) in the user's time zone.

A range is half-open, ``[start, end)`` in days. Weeks start on Monday (ISO 8601, as in China).
"Last N days" is the N days ending today (today included); "next N days" the N days after today.
"""

from __future__ import annotations

import datetime as dt

RELATIVE = (
    "today",
    "yesterday",
    "tomorrow",
    "this_week",
    "last_week",
    "next_week",
    "this_month",
    "last_month",
    "next_month",
    "this_quarter",
    "last_quarter",
    "next_quarter",
    "this_year",
    "last_year",
    "next_year",
)
WITH_DAYS = ("last_n_days", "next_n_days")
MAX_DAYS = 36600


def _month_start(year: int, month: int) -> dt.date:
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return dt.date(year, month, 1)


def day_range(op: str, today: dt.date, days: int | None = None) -> tuple[dt.date, dt.date]:
    """``[start, end)`` of a relative period seen from ``today``."""
    one = dt.timedelta(days=1)
    if op in ("today", "yesterday", "tomorrow"):
        start = today + one * {"today": 0, "yesterday": -1, "tomorrow": 1}[op]
        return start, start + one
    if op == "last_n_days":
        return today - one * (days - 1), today + one
    if op == "next_n_days":
        return today + one, today + one * (days + 1)
    when, unit = op.split("_", 1)
    shift = {"this": 0, "last": -1, "next": 1}[when]
    if unit == "week":
        start = today - one * today.weekday() + dt.timedelta(weeks=shift)
        return start, start + dt.timedelta(weeks=1)
    if unit == "month":
        return _month_start(today.year, today.month + shift), _month_start(
            today.year, today.month + shift + 1
        )
    if unit == "quarter":
        first = (today.month - 1) // 3 * 3 + 1 + 3 * shift
        return _month_start(today.year, first), _month_start(today.year, first + 3)
    if unit == "year":
        return dt.date(today.year + shift, 1, 1), dt.date(today.year + shift + 1, 1, 1)
    raise ValueError(op)
