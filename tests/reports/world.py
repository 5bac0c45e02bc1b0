"""A company for the report tests, and an independent computation of every figure.

The company has accounts with a field of each groupable kind, a parent-account lookup (for
``parent.band``), a user lookup and a hidden field; 240 accounts with values chosen to sit on
the edges that time zones move: midnight, month, quarter and year ends, and the daylight saving
changes of Los Angeles. Amounts are mostly in CNY with some in USD. The owner owns a third of
the accounts, two salespeople ("sales", role member, data scope "own" in the tests that set it)
the rest.

:func:`expected` recomputes a summary or matrix in Python from the generated values (the
ground truth written to the database), with zoneinfo for days, and nothing from the engine.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tests.query.conftest import TokenClient, new_member, run_direct, run_sql, signup

BANDS = ["A", "B", "C"]
FIELDS = (
    {"key": "band", "type": "picklist", "label": "Band", "values": BANDS},
    {"key": "revenue", "type": "currency", "label": "Revenue"},
    {"key": "staff", "type": "integer", "label": "Staff"},
    {"key": "score", "type": "decimal", "label": "Score", "scale": 2},
    {"key": "rate", "type": "percent", "label": "Rate"},
    {"key": "signed", "type": "date", "label": "Signed"},
    {"key": "met_at", "type": "datetime", "label": "Met at"},
    {"key": "city", "type": "text", "label": "City"},
    {"key": "vip", "type": "boolean", "label": "VIP"},
    {"key": "rep", "type": "lookup", "label": "Rep", "target": "user"},
    {"key": "parent", "type": "lookup", "label": "Parent", "target": "account"},
    {"key": "secret", "type": "text", "label": "Secret"},
    {"key": "tags_pick", "type": "multi_picklist", "label": "Tags", "values": ["x", "y"]},
    {"key": "notes", "type": "long_text", "label": "Notes"},
)
ZONES = ("Asia/Shanghai", "America/Los_Angeles", "UTC")
#: Moments near the edges of days, months, quarters, years and DST changes in the three zones.
EDGES = [
    "2025-12-31T15:30:00Z",  # 23:30 Shanghai, Dec 31; 07:30 LA
    "2025-12-31T16:30:00Z",  # 00:30 Shanghai, Jan 1 2026
    "2026-01-01T07:59:59Z",  # Dec 31 23:59:59 in LA
    "2026-01-01T08:00:00Z",  # Jan 1 00:00 in LA
    "2026-03-08T09:59:59Z",  # LA: 01:59:59 PST, just before DST starts
    "2026-03-08T10:00:00Z",  # LA: 03:00 PDT
    "2026-03-09T06:59:59Z",  # LA: Mar 8 23:59:59 PDT
    "2026-03-09T07:00:00Z",  # LA: Mar 9 00:00 PDT
    "2026-03-31T16:00:00Z",  # Shanghai: Apr 1 00:00 (Q2); UTC/LA: Mar 31 (Q1)
    "2026-03-31T15:59:59Z",
    "2026-06-30T23:59:59Z",  # UTC: Q2's last second
    "2026-07-01T00:00:00Z",
    "2026-07-01T06:59:59Z",  # LA: Jun 30 23:59:59 PDT
    "2026-11-01T08:30:00Z",  # LA: 01:30 PDT (first pass)
    "2026-11-01T09:30:00Z",  # LA: 01:30 PST (second pass), the same local day
    "2026-11-02T07:59:59Z",  # LA: Nov 1 23:59:59 PST
    "2026-11-02T08:00:00Z",  # LA: Nov 2 00:00 PST
    "2026-09-27T16:00:00Z",  # Shanghai: Monday Sep 28 00:00; UTC: Sunday
    "2026-09-27T15:59:59Z",
    "2026-12-31T23:59:59Z",
]
DATES = [
    "2025-12-31",
    "2026-01-01",
    "2026-03-31",
    "2026-04-01",
    "2026-06-28",  # Sunday
    "2026-06-29",  # Monday
    "2026-09-30",
    "2026-10-01",
    "2026-12-31",
    "2027-01-01",
]
CITIES = ["Shanghai", "shanghai", "SHANGHAI", "Beijing", "北京", "Hangzhou", "50%_off"]
N_RECORDS = 240


def _money(rng: random.Random) -> dict[str, str] | None:
    roll = rng.random()
    if roll < 0.12:
        return None
    code = "USD" if roll > 0.85 else "CNY"
    return {"amount": f"{rng.randrange(0, 10_000_000) / 100:.2f}", "currency": code}


def make_values(rng: random.Random, users: list[int]) -> dict[str, Any]:
    """One account's stored values (the JSON forms the record service writes)."""
    data: dict[str, Any] = {}
    if rng.random() < 0.85:
        data["band"] = rng.choice(BANDS)
    money = _money(rng)
    if money is not None:
        data["revenue"] = money
    if rng.random() < 0.8:
        data["staff"] = rng.choice([0, 1, 5, 5, 12, 250, -3])
    if rng.random() < 0.8:
        data["score"] = rng.choice(["0.00", "1.50", "2.25", "99.99", "-4.10"])
    if rng.random() < 0.8:
        data["rate"] = rng.choice(["0", "12.5", "50", "100", "37.25"])
    if rng.random() < 0.85:
        data["signed"] = rng.choice(DATES)
    if rng.random() < 0.85:
        data["met_at"] = rng.choice(EDGES)
    if rng.random() < 0.9:
        data["city"] = rng.choice(CITIES)
    roll = rng.random()
    if roll < 0.8:
        data["vip"] = roll < 0.3
    if rng.random() < 0.8:
        data["rep"] = rng.choice(users)
    if rng.random() < 0.7:
        data["secret"] = rng.choice(["s1", "s2"])
    return data


class World:
    """The company: ids of its people, its accounts as generated, a way to run reports."""

    def __init__(self, app: Any, seed: int = 6):
        self.app = app
        self.tenant_id, self.slug, self.owner, token = signup(app, "Reports Co")
        self.client = TokenClient(app, token)
        self.base = f"/api/v1/t/{self.slug}"
        for payload in FIELDS:
            response = self.client.post(f"{self.base}/objects/account/fields", json=payload)
            assert response.status_code == 201, (payload, response.get_json())
        response = self.client.put(
            f"{self.base}/objects/account/fields/secret/access", json={"member": "hidden"}
        )
        assert response.status_code == 200, response.get_json()
        self.people = {"owner": self.owner}
        self.clients = {"owner": self.client}
        for person in ("sales", "sales2"):
            user_id, raw = new_member(app, self.tenant_id, "member", name=f"Rep {person}")
            self.people[person] = user_id
            self.clients[person] = TokenClient(app, raw)
        rng = random.Random(seed)
        users = list(self.people.values())
        owners = [self.people[p] for p in ("owner", "sales", "sales2")]
        self.records: list[dict[str, Any]] = []
        rows = []
        for n in range(N_RECORDS):
            data = make_values(rng, users)
            rows.append(
                {
                    "name": f"acc-{n:03d}",
                    "owner": owners[n % 3],
                    "created_at": rng.choice(EDGES),
                    "data": data,
                }
            )
        ids = self._insert(rows)
        for row, record_id in zip(rows, ids, strict=True):
            self.records.append({**row, "id": record_id})
        # Parents: a lookup to another account (some deleted, some of another owner).
        for record in self.records:
            if rng.random() < 0.6:
                record["data"]["parent"] = rng.choice(self.records[:60])["id"]
        run_sql(
            app,
            self.tenant_id,
            "UPDATE accounts a SET data = a.data || jsonb_build_object('parent', (r->>1)::bigint)"
            " FROM jsonb_array_elements(CAST(:rows AS jsonb)) r WHERE a.id = (r->>0)::bigint",
            rows=json.dumps(
                [[r["id"], r["data"]["parent"]] for r in self.records if "parent" in r["data"]]
            ),
        )
        # Two accounts in the recycle bin: reports never count them.
        self.deleted = {self.records[5]["id"], self.records[40]["id"]}
        run_sql(
            app,
            self.tenant_id,
            "UPDATE accounts SET deleted_at = now() WHERE id = ANY(:ids)",
            ids=sorted(self.deleted),
        )

    def _insert(self, rows: list[dict[str, Any]]) -> list[int]:
        result = run_sql(
            self.app,
            self.tenant_id,
            "INSERT INTO accounts (tenant_id, name, owner_id, created_by, updated_by, version,"
            " created_at, updated_at, data)"
            " SELECT :tenant, r->>'name', (r->>'owner')::bigint, (r->>'owner')::bigint,"
            " (r->>'owner')::bigint, 1, (r->>'created_at')::timestamptz,"
            " (r->>'created_at')::timestamptz, r->'data'"
            " FROM jsonb_array_elements(CAST(:rows AS jsonb)) WITH ORDINALITY AS x(r, n)"
            " ORDER BY n RETURNING id",
            tenant=self.tenant_id,
            rows=json.dumps(rows),
        )
        return [r[0] for r in result]

    def scope(self, **scopes: str) -> None:
        for role in ("owner", "admin", "manager", "member", "read_only"):
            run_sql(
                self.app,
                self.tenant_id,
                "UPDATE roles SET data_scope = :s WHERE key = :k",
                s=scopes.get(role, "all"),
                k=role,
            )

    # ---- running --------------------------------------------------------------------------

    def run(self, spec: dict[str, Any], person: str = "owner", **options: Any) -> Any:
        """The engine's result (or the DomainError it raised) inside a request of ``person``."""
        from flask import g

        from custom_fields.reports import engine
        from saas.errors import DomainError
        from saas.extensions import db
        from tenants import services
        from tenants.context import tenant_context
        from tenants.models import Tenant

        user_id = self.people[person]
        with self.app.test_request_context(), tenant_context(self.tenant_id, db.session, user_id):
            g.tenant = db.session.get(Tenant, self.tenant_id)
            g.membership = services.membership(user_id)
            try:
                return engine.run(spec, g.membership, **options)
            except DomainError as exc:
                return exc
            finally:
                db.session.rollback()

    def drill_count(self, drill: Any, person: str = "owner", timezone: str = "UTC") -> int:
        """How many records the list shows for a drill-down filter."""
        body = {"filter": drill, "limit": 1, "count": True}
        response = run_direct(self.app, self.tenant_id, self.people[person], "account", body=body)
        assert response.status_code == 200, (drill, response.get_json())
        return response.get_json()["count"]

    def visible(self, person: str = "owner", scoped: bool = False) -> list[dict[str, Any]]:
        """The live accounts ``person`` sees (all, or their own when ``scoped``)."""
        return [
            r
            for r in self.records
            if r["id"] not in self.deleted and (not scoped or r["owner"] == self.people[person])
        ]

    def by_id(self) -> dict[int, dict[str, Any]]:
        return {r["id"]: r for r in self.records}


# ---- the independent computation ----------------------------------------------------------


def truncate(day: dt.date, granularity: str) -> dt.date:
    if granularity == "day":
        return day
    if granularity == "week":
        return day - dt.timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    if granularity == "quarter":
        return dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return dt.date(day.year, 1, 1)


def value_of(
    world: World,
    record: dict[str, Any],
    path: str,
    *,
    person: str = "owner",
    scoped: bool = False,
) -> Any:
    """A field's value from the generated data; ``parent.x`` follows the lookup to a live
    parent the person may see (else empty), as the list views do."""
    if "." in path:
        head, rest = path.split(".", 1)
        target_id = record["data"].get(head)
        target = world.by_id().get(target_id) if target_id is not None else None
        if target is None or target["id"] in world.deleted:
            return None
        if scoped and target["owner"] != world.people[person]:
            return None
        return value_of(world, target, rest)
    if path == "owner_id":
        return record["owner"]
    if path == "created_at":
        return dt.datetime.fromisoformat(record["created_at"].replace("Z", "+00:00"))
    if path == "name":
        return record["name"]
    value = record["data"].get(path)
    if value is None:
        return None
    kind = {f["key"]: f["type"] for f in FIELDS}.get(path)
    if kind == "currency":
        return (Decimal(value["amount"]), value["currency"])
    if kind in ("decimal", "percent"):
        return Decimal(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "datetime":
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def type_of(path: str) -> str | None:
    """The field type at the end of a path (``name`` is text)."""
    last = path.rsplit(".", 1)[-1]
    return "text" if last == "name" else {f["key"]: f["type"] for f in FIELDS}.get(last)


def group_key(value: Any, granularity: str | None, timezone: str, path: str = "") -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return truncate(value.astimezone(ZoneInfo(timezone)).date(), granularity or "day")
    if isinstance(value, dt.date):
        return truncate(value, granularity or "day")
    if type_of(path) == "text":
        return value.lower()  # text groups ignore case, as the list's "equals" does
    return value


def aggregate(fn: str, values: list[Any]) -> Any:
    """One aggregate over the records' values (None: no value), as SQL computes it."""
    present = [v for v in values if v is not None]
    if fn == "count":
        return len(present)
    if fn == "count_distinct":
        return len({v.lower() if isinstance(v, str) else v for v in present})  # text fields
    if not present:
        return None
    if fn in ("sum", "weighted_sum"):
        return sum(present, Decimal(0))
    if fn == "avg":
        return sum((Decimal(v) for v in present), Decimal(0)) / len(present)
    return min(present) if fn == "min" else max(present)


def figures(
    world: World,
    records: Iterable[dict[str, Any]],
    aggregates: list[dict[str, Any]],
    **where: Any,
) -> dict[str, Any]:
    """``{"_n": count, key: value}`` over ``records``; currency aggregates as {code: value}."""
    records = list(records)
    types = {f["key"]: f["type"] for f in FIELDS}
    out: dict[str, Any] = {"_n": len(records)}
    for spec in aggregates:
        fn, path = spec["fn"], spec.get("field")
        key = spec.get("key") or "_".join(
            [fn, *(p for p in (path, spec.get("weight")) if p)]
        ).replace(".", "__")
        if fn == "count" and not path:
            out[key] = len(records)
            continue
        values = [value_of(world, r, path, **where) for r in records]
        if spec.get("weight"):
            weights = [value_of(world, r, spec["weight"], **where) for r in records]
            factor = Decimal(100) if types.get(spec["weight"]) == "percent" else Decimal(1)
            values = [
                None
                if v is None or w is None
                else (v[0] * Decimal(w) / factor, v[1])
                if isinstance(v, tuple)
                else Decimal(v) * Decimal(w) / factor
                for v, w in zip(values, weights, strict=True)
            ]
        if types.get(path) == "currency" and fn != "count" and fn != "count_distinct":
            per: dict[str, list[Any]] = defaultdict(list)
            for v in values:
                if v is not None:
                    per[v[1]].append(v[0])
            out[key] = {code: aggregate(fn, vs) for code, vs in per.items()}
            continue
        if types.get(path) == "currency":
            values = [None if v is None else v[0] for v in values]
        out[key] = aggregate(fn, values)
    return out


def expected(
    world: World,
    records: list[dict[str, Any]],
    levels: list[dict[str, Any]],
    aggregates: list[dict[str, Any]],
    timezone: str,
    columns: list[dict[str, Any]] | None = None,
    **where: Any,
) -> dict[tuple[tuple[Any, ...], tuple[Any, ...]], dict[str, Any]]:
    """Every group at every level, keyed by (row keys, column keys): each prefix of the row
    keys with each prefix of the column keys; the grand total at ``((), ())``."""
    columns = columns or []

    def keys(record: dict[str, Any], chosen: list[dict[str, Any]]) -> tuple[Any, ...]:
        return tuple(
            group_key(
                value_of(world, record, level["field"], **where),
                level.get("granularity"),
                timezone,
                level["field"],
            )
            for level in chosen
        )

    keyed: dict[tuple[tuple[Any, ...], tuple[Any, ...]], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        row, column = keys(record, levels), keys(record, columns)
        for i in range(len(levels) + 1):
            for j in range(len(columns) + 1):
                keyed[(row[:i], column[:j])].append(record)
    if not records:
        keyed[((), ())] = []
    return {path: figures(world, rows, aggregates, **where) for path, rows in keyed.items()}


def percent(value: Any, total: Any) -> Decimal | None:
    if value is None or not total:
        return None
    return (Decimal(value) * 100 / Decimal(total)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def same(actual: Any, wanted: Any) -> bool:
    """Figures agree: exact for counts, sums, minimums and maximums; averages to 1e-12."""
    if isinstance(wanted, dict):
        return (
            isinstance(actual, dict)
            and set(actual) == set(wanted)
            and all(same(actual[k], wanted[k]) for k in wanted)
        )
    if wanted is None or actual is None:
        return wanted is None and actual is None
    if isinstance(wanted, Decimal) or isinstance(actual, Decimal):
        return abs(Decimal(actual) - Decimal(wanted)) <= Decimal("1e-12")
    return actual == wanted


def walk(nodes: list[Any], path: tuple[Any, ...] = ()) -> Iterable[tuple[tuple[Any, ...], Any]]:
    """Every group of a result's row (or column) tree with its key path."""
    for node in nodes:
        here = (*path, "__others__" if node.others else node.key)
        yield here, node
        yield from walk(node.children, here)
