"""Data for ``bench.query``: one tenant with 1,000,000 accounts among 50 tenants of 5,000, each
account carrying 12 custom values, plus a reference table with the same values in typed columns.

The database (``kehu_bench`` on the configured server) is kept between runs: generation is
skipped when ``bench_meta`` says it holds this generation of the data. Tenants, members and
fields are made through the real API and services; records are written with COPY as the owner,
bypassing the record service but producing the rows it would (the stored JSON forms come from
the generator below and are checked against the field types' ``clean``/``to_storage`` and the
search text against ``search.record_text`` on a sample of every tenant). Audit events of record
creation are not generated.

    .venv/bin/python -m bench.query_data [--force]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from saas.config import Settings
from saas.records.search import pinyin_forms as _real_pinyin_forms

#: Bump when the data, the fields or the reference table change: the cached database is rebuilt.
GENERATION = 3
DATABASE = "kehu_bench"
BIG_RECORDS = 1_000_000
BIG_USERS = 100
SMALL_TENANTS = 50
SMALL_RECORDS = 5_000
SMALL_USERS = 5
PASSWORD = "bench passphrase 2026"  # noqa: S105 (generated accounts only)
#: Accounts created over these many days before the fixed "today" of the data.
HISTORY_DAYS = 5 * 365
#: Share of the big tenant's accounts in the recycle bin (the partial indexes leave them out).
DELETED_SHARE = 0.005
SAMPLE = 2_000


def _words(text: str) -> list[str]:
    return text.split()


TIERS = ["A", "B", "C", "D", "E"]
STAGES = ["lead", "qualified", "proposal", "negotiation", "won", "lost", "dormant", "churned"]
STAGE_WEIGHTS = [30, 20, 12, 8, 10, 10, 6, 4]
CHANNELS = ["web", "fair", "referral", "partner", "ads", "cold_call"]

FIELDS: list[dict[str, Any]] = [
    {"key": "tier", "type": "picklist", "label": {"en": "Tier", "zh": "等级"}, "values": TIERS},
    {"key": "stage", "type": "picklist", "label": {"en": "Stage", "zh": "阶段"}, "values": STAGES},
    {
        "key": "channels",
        "type": "multi_picklist",
        "label": {"en": "Channels", "zh": "渠道"},
        "values": CHANNELS,
    },
    {
        "key": "budget",
        "type": "currency",
        "label": {"en": "Budget", "zh": "预算"},
        "currency": "CNY",
    },
    {"key": "revenue", "type": "decimal", "label": {"en": "Revenue", "zh": "营收"}, "scale": 2},
    {"key": "employees", "type": "integer", "label": {"en": "Employees", "zh": "员工数"}},
    {"key": "signed_on", "type": "date", "label": {"en": "Signed on", "zh": "签约日期"}},
    {"key": "next_visit", "type": "date", "label": {"en": "Next visit", "zh": "下次拜访"}},
    {"key": "city", "type": "text", "label": {"en": "City", "zh": "城市"}},
    {"key": "keywords", "type": "text", "label": {"en": "Keywords", "zh": "关键词"}},
    {"key": "vip", "type": "boolean", "label": {"en": "VIP", "zh": "重点客户"}},
    {
        "key": "rep",
        "type": "lookup",
        "label": {"en": "Sales rep", "zh": "销售代表"},
        "target": "user",
    },
]

CITIES = _words(
    "上海 北京 广州 深圳 杭州 南京 苏州 成都 重庆 武汉 西安 天津 青岛 厦门 宁波 长沙 郑州 济南 "
    "合肥 福州 昆明 大连 沈阳 哈尔滨 长春 石家庄 太原 南昌 南宁 贵阳 兰州 海口 无锡 佛山 东莞 "
    "珠海 温州 绍兴 嘉兴 常州 扬州 徐州 烟台 潍坊 洛阳 芜湖 泉州 中山 惠州"
)
COMPANY_WORDS = _words(
    "华信 金桥 恒通 瑞丰 远景 星河 博远 天成 鼎盛 宏图 新元 海纳 嘉禾 同创 智联 安泰 "
    "永盛 汇达 众诚 和光 长风 云帆 正德 立信 思源 卓越 东方 中科 盛世 锦程"
)
COMPANY_KINDS = _words("科技 贸易 物流 制造 咨询 电子 食品 医药 建设 传媒")
KEYWORDS = _words(
    "cloud logistics retail export import fintech saas hardware software consulting "
    "packaging textile chemicals pharma biotech catering hotel education training media "
    "advertising printing furniture lighting solar battery automotive parts machinery "
    "robotics sensors semiconductors networking security payments insurance leasing "
    "wholesale ecommerce marketplace agriculture seafood dairy beverages cosmetics apparel "
    "footwear toys sports outdoor medical devices diagnostics clinics dental veterinary "
    "construction cement steel glass plastics rubber paper recycling water energy "
    "智能 零售 出口 物联网 新能源 医疗 教育 金融 餐饮 物流 制造 电商 农业 环保 建材"
)


@dataclass
class TenantInfo:
    slug: str
    tenant_id: int
    owner_id: int
    token: str
    user_ids: list[int]
    records: int


def servers():
    """The configured (or embedded) PostgreSQL and Redis; the caller stops them at the end."""
    from saas.devstack import ensure_services

    return ensure_services(database_name="postgres")


def bench_settings(admin_url: str, redis_url: str) -> Settings:
    """Settings of the benchmark database (the owner is the server's admin role)."""
    url = make_url(admin_url).set(database=DATABASE).render_as_string(hide_password=False)
    return Settings.from_env(
        database_url=url,
        redis_url=redis_url,
        secret_key="kehu-bench-secret",
        log_json=True,
        queue_prefix="kehubench",
        password_hash_profile="test",
        signup_rate_limit="100000 per minute",
        login_rate_limit="100000 per minute",
    )


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# ---------------------------------------------------------------- cache


def cached_meta(admin_url: str) -> dict[str, Any] | None:
    """What ``bench_meta`` says of the kept database, when it is this generation's."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone()
    if not exists:
        return None
    url = make_url(admin_url).set(database=DATABASE).render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as conn:
        table = conn.execute("SELECT to_regclass('bench_meta')").fetchone()[0]
        if table is None:
            return None
        row = conn.execute("SELECT meta FROM bench_meta WHERE generation = %s", (GENERATION,))
        found = row.fetchone()
    return found[0] if found else None


def tenants_from(meta: dict[str, Any]) -> tuple[TenantInfo, list[TenantInfo]]:
    big = TenantInfo(**meta["big"])
    return big, [TenantInfo(**t) for t in meta["small"]]


# ---------------------------------------------------------------- values


def _tenant_today() -> dt.date:
    return dt.date.today()


class Values:
    """Deterministic custom values of one tenant's accounts, in their stored JSON forms."""

    def __init__(self, seed: int, user_ids: list[int], today: dt.date):
        self.rng = random.Random(seed)
        self.users = user_ids
        self.today = today

    def row(self) -> tuple[str, int, dict[str, Any]]:
        """(name, owner id, data) of one account."""
        r = self.rng
        city = r.choice(CITIES)
        company = f"{city}{r.choice(COMPANY_WORDS)}{r.choice(COMPANY_KINDS)}有限公司"
        name = f"{company} {r.randrange(10**6):06d}"
        data: dict[str, Any] = {}
        if r.random() < 0.97:
            data["tier"] = r.choice(TIERS)
        if r.random() < 0.95:
            data["stage"] = r.choices(STAGES, STAGE_WEIGHTS)[0]
        if r.random() < 0.7:
            picked = set(r.sample(CHANNELS, r.randint(1, 3)))
            data["channels"] = [c for c in CHANNELS if c in picked]
        if r.random() < 0.9:
            # Log-uniform from 1,000 to 10,000,000 yuan: few large budgets, many small ones.
            data["budget"] = {"amount": f"{10 ** r.uniform(3, 7):.2f}", "currency": "CNY"}
        if r.random() < 0.8:
            data["revenue"] = f"{10 ** r.uniform(4, 9):.2f}"
        if r.random() < 0.85:
            data["employees"] = int(10 ** r.uniform(0, 4.7))
        if r.random() < 0.9:
            data["signed_on"] = (
                self.today - dt.timedelta(days=r.randrange(HISTORY_DAYS))
            ).isoformat()
        if r.random() < 0.6:
            data["next_visit"] = (self.today + dt.timedelta(days=r.randint(-365, 365))).isoformat()
        if r.random() < 0.95:
            data["city"] = city
        if r.random() < 0.8:
            data["keywords"] = " ".join(r.sample(KEYWORDS, r.randint(2, 4)))
        roll = r.random()
        if roll < 0.95:
            data["vip"] = roll < 0.1
        if r.random() < 0.9:
            data["rep"] = r.choice(self.users)
        return name, r.choice(self.users), data


def check_sample(app, tenant: TenantInfo, rows: list[tuple[str, int, dict[str, Any]]]) -> None:
    """The generated forms are those the record service stores: each value cleans to itself and
    the search text is ``record_text``'s."""
    from custom_fields import types
    from custom_fields.definitions import schemas
    from custom_fields.types import Context
    from saas.records import search
    from tenants.context import tenant_context

    ctx = Context(currency="CNY", timezone="Asia/Shanghai")
    with app.app_context(), tenant_context(tenant.tenant_id):
        schema = schemas(tenant.tenant_id)["account"]
        for name, _owner, data in rows:
            for info in schema.fields:
                if info.key not in data:
                    continue
                field_type = types.get(info.type)
                raw = field_type.to_api(field_type.from_storage(data[info.key]))
                stored = field_type.to_storage(field_type.clean(raw, info.spec, ctx))
                if stored != data[info.key]:
                    raise AssertionError(
                        f"{info.key}: generated {data[info.key]!r}, stored {stored!r}"
                    )
            with _cached_pinyin():
                fast = fast_search_text(name)
            if search.record_text(schema, name, data) != fast:
                raise AssertionError(f"search text of {name!r} differs")


@functools.lru_cache(maxsize=200_000)
def _pinyin(text: str) -> tuple[str, ...]:
    return tuple(_real_pinyin_forms(text))


def _memo_pinyin(text: str) -> list[str]:
    # Pinyin ignores everything but the Chinese: the name's number is left out of the key.
    head, _space, tail = text.rpartition(" ")
    return list(_pinyin(head if head and tail.isdigit() else text))


# ---------------------------------------------------------------- generation


def _signup(client, slug: str) -> dict[str, Any]:
    response = client.post(
        "/api/v1/signup",
        json={
            "company": f"Bench {slug}",
            "slug": slug,
            "email": f"{slug}@bench.example.com",
            "password": PASSWORD,
            "locale": "zh_CN",
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _make_tenant(app, client, slug: str, users: int, records: int) -> TenantInfo:
    from sqlalchemy import select

    from saas.accounts.models import User
    from saas.accounts.passwords import hash_password
    from saas.extensions import db
    from tenants.context import tenant_context
    from tenants.models import Membership
    from tenants.services import tenant_by_slug

    body = _signup(client, slug)
    headers = {"Authorization": f"Bearer {body['token']}"}
    for payload in FIELDS:
        response = client.post(
            f"/api/v1/t/{slug}/objects/account/fields", json=payload, headers=headers
        )
        assert response.status_code == 201, (payload, response.get_json())
    with app.app_context():
        tenant = tenant_by_slug(slug)
        owner = db.session.execute(
            select(User).where(User.email == f"{slug}@bench.example.com")
        ).scalar_one()
        ids = [owner.id]
        password_hash = hash_password(PASSWORD)
        with tenant_context(tenant.id, db.session):
            for n in range(1, users):
                user = User(
                    email=f"{slug}-rep{n}@bench.example.com",
                    password_hash=password_hash,
                    name=f"销售{n:03d}",
                )
                db.session.add(user)
                db.session.flush()
                db.session.add(Membership(user_id=user.id, role_key="member"))
                ids.append(user.id)
            db.session.commit()
        return TenantInfo(slug, tenant.id, owner.id, body["token"], ids, records)


class _Stream:
    """One tenant's rows in COPY order: its values, creation times spread over the history."""

    def __init__(self, tenant: TenantInfo, today: dt.date):
        self.tenant = tenant
        self.values = Values(tenant.tenant_id, tenant.user_ids, today)
        self.rng = random.Random(-tenant.tenant_id)
        self.start = dt.datetime.combine(today, dt.time(9), dt.UTC) - dt.timedelta(
            days=HISTORY_DAYS
        )
        self.step = dt.timedelta(days=HISTORY_DAYS) / tenant.records
        self.emitted = 0
        self.sample: list[tuple[str, int, dict[str, Any]]] = []
        self.sample_size = SAMPLE if tenant.records > SMALL_RECORDS else 200

    def next_row(self) -> tuple[Any, ...]:
        name, owner, data = self.values.row()
        if len(self.sample) < self.sample_size:
            self.sample.append((name, owner, data))
        created = self.start + self.step * self.emitted
        self.emitted += 1
        deleted = created + dt.timedelta(days=1) if self.rng.random() < DELETED_SHARE else None
        return (
            self.tenant.tenant_id,
            name,
            owner,
            owner,
            owner,
            created,
            deleted or created,
            2 if deleted else 1,
            deleted,
            json.dumps(data, ensure_ascii=False),
            fast_search_text(name),
        )


@contextmanager
def _cached_pinyin() -> Iterator[None]:
    """``search.build`` with pinyin memoised per company name: the same output, computed once
    per distinct name instead of once per row."""
    from saas.records import search

    original = search.pinyin_forms
    search.pinyin_forms = _memo_pinyin
    try:
        yield
    finally:
        search.pinyin_forms = original


def fast_search_text(name: str) -> str:
    """``search.record_text`` of these accounts: no field is searchable, so name and pinyin."""
    from saas.records import search

    return search.build(name, [])


#: Indexes the migrations put on ``accounts`` that make COPY slow; dropped and made again after.
_REBUILT = (
    "ix_accounts_search",
    "ix_accounts_tags",
    "ix_accounts_tenant_name",
    "ix_accounts_tenant_owner",
)


def _copy_accounts(settings: Settings, app, tenants: list[TenantInfo]) -> None:
    """COPY every tenant's accounts in one stream, tenants interleaved row by row as concurrent
    writers would leave them in the heap (a small tenant's rows are spread over many pages)."""
    today = _tenant_today()
    streams = [_Stream(t, today) for t in tenants]
    order = [i for i, t in enumerate(tenants) for _ in range(t.records)]
    random.Random(7).shuffle(order)
    with psycopg.connect(libpq(settings.database_url), autocommit=True) as conn:
        definitions = {
            name: conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (name,)
            ).fetchone()[0]
            for name in _REBUILT
        }
        for name in _REBUILT:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        columns = (
            "tenant_id, name, owner_id, created_by, updated_by, created_at, updated_at, "
            "version, deleted_at, data, search_text"
        )
        with (
            _cached_pinyin(),
            conn.cursor() as cur,
            cur.copy(f"COPY accounts ({columns}) FROM STDIN") as copy,
        ):
            for index in order:
                copy.write_row(streams[index].next_row())
        conn.execute("SET maintenance_work_mem = '512MB'")
        for definition in definitions.values():
            conn.execute(definition)
        conn.execute("VACUUM ANALYZE accounts")
    for stream in streams:
        check_sample(app, stream.tenant, stream.sample)


REFERENCE = "bench_reference_accounts"
#: The 12 fields as typed columns: (column type, SQL from the JSON value, B-tree indexed).
REFERENCE_COLUMNS = {
    "tier": ("varchar(60)", "data->>'tier'"),
    "stage": ("varchar(60)", "data->>'stage'"),
    "channels": ("jsonb", "data->'channels'"),
    "budget": ("numeric(18,2)", "(data#>>'{budget,amount}')::numeric"),
    "revenue": ("numeric(18,2)", "(data->>'revenue')::numeric"),
    "employees": ("bigint", "(data->>'employees')::bigint"),
    "signed_on": ("date", "(data->>'signed_on')::date"),
    "next_visit": ("date", "(data->>'next_visit')::date"),
    "city": ("varchar(255)", "data->>'city'"),
    "keywords": ("varchar(255)", "data->>'keywords'"),
    "vip": ("boolean", "(data->>'vip')::boolean"),
    "rep": ("bigint", "(data->>'rep')::bigint"),
}


def _reference_table(settings: Settings, big: TenantInfo) -> None:
    """The big tenant's accounts with the 12 values in typed columns (``data`` left empty), under
    the same row-level security as ``accounts`` (indexes: :func:`reference_indexes`)."""
    typed = ", ".join(f"{c} {t}" for c, (t, _e) in REFERENCE_COLUMNS.items())
    selected = ", ".join(f"{e}" for _t, e in REFERENCE_COLUMNS.values())
    app_role = make_url(settings.runtime_database_url).username
    with psycopg.connect(libpq(settings.database_url), autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {REFERENCE}")
        conn.execute(
            f"""
            CREATE TABLE {REFERENCE} (
                tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                id bigint NOT NULL,
                name varchar(255), owner_id bigint, created_by bigint, updated_by bigint,
                created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
                version integer NOT NULL, deleted_at timestamptz,
                data jsonb NOT NULL DEFAULT '{{}}', tags varchar(50)[] NOT NULL DEFAULT '{{}}',
                search_text text NOT NULL DEFAULT '',
                {typed},
                PRIMARY KEY (tenant_id, id)
            )
            """
        )
        conn.execute(
            f"""
            INSERT INTO {REFERENCE}
            SELECT tenant_id, id, name, owner_id, created_by, updated_by, created_at, updated_at,
                   version, deleted_at, '{{}}', tags, search_text, {selected}
            FROM accounts WHERE tenant_id = %s
            """,
            (big.tenant_id,),
        )
        conn.execute(f"ALTER TABLE {REFERENCE} ENABLE ROW LEVEL SECURITY")
        conn.execute(f"ALTER TABLE {REFERENCE} FORCE ROW LEVEL SECURITY")
        setting = "(SELECT NULLIF(current_setting('app.tenant_id', true), '')::bigint)"
        conn.execute(
            f"CREATE POLICY tenant_isolation ON {REFERENCE} USING (tenant_id = {setting}) "
            f"WITH CHECK (tenant_id = {setting})"
        )
        conn.execute(
            sql.SQL("GRANT SELECT ON {} TO {}").format(
                sql.Identifier(REFERENCE), sql.Identifier(app_role)
            )
        )
        conn.execute(f"VACUUM ANALYZE {REFERENCE}")


def reference_indexes(settings: Settings, indexed: tuple[str, ...]) -> None:
    """The reference table's indexes: those of ``accounts`` on name and owner, and for each field
    that the JSONB side indexes, the best B-tree on its typed column (tenant first, empty values
    first like the engine sorts, id last) and a trigram index for text. Other indexes go, so
    both sides have the same indexing decisions. Idempotent: a kept database gets this run's."""
    wanted = {
        f"ref_{REFERENCE}_name": "(tenant_id, name)",
        f"ref_{REFERENCE}_owner": "(tenant_id, owner_id)",
    }
    for column in indexed:
        wanted[f"ref_{REFERENCE}_{column}"] = f"(tenant_id, {column} NULLS FIRST, id)"
        if REFERENCE_COLUMNS[column][0].startswith("varchar(255)"):
            wanted[f"ref_{REFERENCE}_{column}_trgm"] = f"USING gin ({column} gin_trgm_ops)"
    with psycopg.connect(libpq(settings.database_url), autocommit=True) as conn:
        present = {
            name
            for (name,) in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname <> %s",
                (REFERENCE, f"{REFERENCE}_pkey"),
            )
        }
        # The list reader reads it like ``accounts`` (its role may be newer than the table).
        if conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", (settings.reader_db_role,)
        ).fetchone():
            conn.execute(
                sql.SQL("GRANT SELECT ON {} TO {}").format(
                    sql.Identifier(REFERENCE), sql.Identifier(settings.reader_db_role)
                )
            )
        conn.execute("SET maintenance_work_mem = '512MB'")
        for name in present - set(wanted):
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        for name, columns in wanted.items():
            if name not in present:
                conn.execute(f"CREATE INDEX {name} ON {REFERENCE} {columns}")
        if present != set(wanted):
            conn.execute(f"ANALYZE {REFERENCE}")


def generate(admin_url: str, settings: Settings) -> dict[str, Any]:
    """Make the benchmark database from nothing; returns what ``bench_meta`` keeps."""
    from saas.app import create_app
    from saas.database import migrate

    started = time.perf_counter()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    migrate(settings)
    app = create_app(settings, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    big = _make_tenant(app, client, "bench-big", BIG_USERS, BIG_RECORDS)
    small = [
        _make_tenant(app, client, f"bench-small-{n:02d}", SMALL_USERS, SMALL_RECORDS)
        for n in range(1, SMALL_TENANTS + 1)
    ]
    setup = time.perf_counter() - started
    print(f"  tenants, members and fields through the API: {setup:.0f} s", flush=True)
    _copy_accounts(settings, app, [big, *small])
    copied = time.perf_counter() - started
    print(
        f"  {BIG_RECORDS + SMALL_TENANTS * SMALL_RECORDS:,} accounts: {copied - setup:.0f} s",
        flush=True,
    )
    _reference_table(settings, big)
    print(f"  reference table: {time.perf_counter() - started - copied:.0f} s", flush=True)
    from saas.extensions import db

    with app.app_context():
        db.engine.dispose()
    meta = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started),
        "big": big.__dict__,
        "small": [t.__dict__ for t in small],
    }
    with psycopg.connect(libpq(settings.database_url), autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_meta (generation integer PRIMARY KEY, meta jsonb)")
        conn.execute(
            "INSERT INTO bench_meta VALUES (%s, %s)", (GENERATION, psycopg.types.json.Jsonb(meta))
        )
    return meta


def ensure(services, force: bool = False) -> tuple[Settings, dict[str, Any]]:
    """The benchmark database, generated unless a kept one is of this generation."""
    admin_url = libpq(services.database_url)
    settings = bench_settings(admin_url, services.redis_url)
    meta = None if force else cached_meta(admin_url)
    if meta is None:
        print(f"generating {DATABASE} (generation {GENERATION})…", flush=True)
        meta = generate(admin_url, settings)
        print(f"generated in {meta['seconds']} s", flush=True)
    else:
        from saas.database import migrate

        migrate(settings)  # a kept database gets migrations added since it was generated
        print(f"using the kept {DATABASE} (generated {meta['generated_at']})", flush=True)
    return settings, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--force", action="store_true", help="generate even when one is kept")
    args = parser.parse_args()
    services = servers()
    try:
        ensure(services, force=args.force)
    finally:
        services.stop()


if __name__ == "__main__":
    main()
