"""Generated demo data: a few hundred customers with contacts, activities and opportunities, so
the demo company looks like a CRM in use.

Everything goes through the record services (validation, duplicate keys, search text, audit),
as a user would create it. The generator is seeded, so every demo company gets the same data.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from tenants.models import Membership

CITIES = (
    "上海", "北京", "深圳", "杭州", "苏州", "成都", "武汉", "南京", "广州", "天津",
    "重庆", "西安", "青岛", "厦门", "宁波", "长沙", "合肥", "郑州", "济南", "大连",
)  # fmt: skip
WORDS = (
    "明远", "华康", "云栈", "天府", "恒信", "瑞丰", "博远", "金桥", "鼎盛", "启航",
    "嘉禾", "泰和", "中科", "新元", "宏达", "星辰", "海纳", "远景", "润泽", "卓越",
    "东方", "联创", "万通", "安和", "汇智",
)  # fmt: skip
#: Business line → industry code of the system picklist.
LINES = (
    ("精密制造", "manufacturing"), ("科技", "it"), ("医疗器械", "healthcare"),
    ("商贸", "retail"), ("新材料", "manufacturing"), ("数码", "it"), ("物流", "logistics"),
    ("能源", "energy"), ("建设工程", "construction"), ("教育科技", "education"),
    ("生物医药", "healthcare"), ("汽车零部件", "manufacturing"), ("信息技术", "it"),
)  # fmt: skip
SUFFIXES = ("有限公司", "股份有限公司", "有限责任公司")
EN_NAMES = (
    "Northwind", "Contoso", "Fabrikam", "Adventure Works", "Tailspin", "Litware", "Proseware",
    "Wingtip", "Alpine Ski", "Blue Yonder", "Coho Vineyard", "Lucerne", "Trey Research",
    "Wide World", "Woodgrove", "Humongous", "VanArsdel", "Relecloud",
)  # fmt: skip
EN_LINES = (
    ("Trading", "retail"), ("Software", "it"), ("Health", "healthcare"),
    ("Logistics", "logistics"), ("Electronics", "manufacturing"), ("Energy", "energy"),
)  # fmt: skip
EN_SUFFIXES = ("Co., Ltd.", "Inc.", "GmbH", "Ltd.", "LLC")
CITY_REGION = {
    "上海": "east", "杭州": "east", "苏州": "east", "南京": "east", "宁波": "east",
    "合肥": "east", "青岛": "east", "济南": "east", "厦门": "east", "北京": "north",
    "天津": "north", "深圳": "south", "广州": "south", "成都": "southwest",
    "重庆": "southwest", "武汉": "central", "长沙": "central", "郑州": "central",
    "西安": "northwest", "大连": "northeast",
}  # fmt: skip
AREA_CODES = {
    "上海": "21", "北京": "10", "深圳": "755", "杭州": "571", "苏州": "512", "成都": "28",
    "武汉": "27", "南京": "25", "广州": "20", "天津": "22", "重庆": "23", "西安": "29",
    "青岛": "532", "厦门": "592", "宁波": "574", "长沙": "731", "合肥": "551",
    "郑州": "371", "济南": "531", "大连": "411",
}  # fmt: skip
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛",
    "明", "超", "霞", "平", "刚", "建华", "志强", "晓东", "海燕", "文博", "子涵", "雨桐",
    "浩然", "思远", "嘉怡", "俊杰",
)  # fmt: skip
EN_FIRST = ("Emma", "Liam", "Olivia", "Noah", "Sophia", "Lucas", "Mia", "Ethan", "Anna", "Max")
EN_LAST = ("Smith", "Müller", "Johnson", "Brown", "Schmidt", "Taylor", "Wilson", "Weber")
TITLES = ("总经理", "采购经理", "技术总监", "财务经理", "IT 经理", "运营总监", "项目经理")
EN_TITLES = ("CEO", "Purchasing Manager", "CTO", "Finance Manager", "IT Manager")
MOBILE_PREFIXES = ("138", "139", "135", "136", "137", "150", "151", "158", "186", "187", "188")
SOURCES = ("website", "referral", "exhibition", "cold_call", "advertising", "partner")
STAGES = ("qualification", "needs_analysis", "proposal", "negotiation", "won", "lost")
STAGE_WEIGHTS = (20, 18, 16, 12, 20, 14)
LOST_REASONS = ("价格高于竞品", "预算取消", "选择了竞争对手", "需求变更，项目暂停")
VISIT_NOTES = (
    ("visit", "上门拜访，介绍产品方案", "客户对方案感兴趣，需要内部讨论", "发送详细报价"),
    ("call", "电话沟通采购计划", "确认下季度有采购预算", "约下周上门演示"),
    ("meeting", "与技术团队会议，梳理需求", "需求基本确认", "准备技术方案"),
    ("email", "发送产品资料和案例", "客户已查收", "电话跟进反馈"),
    ("message", "微信沟通交付时间", "客户希望提前一周交付", "协调生产排期"),
    ("visit", "回访使用情况", "运行稳定，客户满意", "推荐增购配件"),
)  # fmt: skip
PRODUCTS = (
    ("P-1001", "工业控制器", "KC-200", "台", "12800.00", "13"),
    ("P-1002", "工业控制器", "KC-500", "台", "25600.00", "13"),
    ("P-1003", "温度传感器", "TS-10 (-40~125℃)", "个", "380.00", "13"),
    ("P-1004", "压力传感器", "PS-30 0-10MPa", "个", "620.00", "13"),
    ("P-1005", "数据采集网关", "DG-8 8 路", "台", "4200.00", "13"),
    ("P-2001", "设备管理软件", "标准版 / 年", "套", "36000.00", "6"),
    ("P-2002", "设备管理软件", "企业版 / 年", "套", "88000.00", "6"),
    ("P-2003", "实施服务", "按人天", "人天", "2500.00", "6"),
    ("P-2004", "培训服务", "现场 1 天", "次", "6000.00", "6"),
    ("P-3001", "Industrial controller", "KC-500 export", "pcs", "3600.00", "0"),
)  # fmt: skip


@dataclass
class Counts:
    """What the generator made, for the run command's log."""

    accounts: int = 0
    contacts: int = 0
    activities: int = 0
    opportunities: int = 0
    products: int = 0
    extra: dict[str, int] = field(default_factory=dict)


def _company_names(rng: random.Random, count: int) -> list[tuple[str, str, str]]:
    """(name, industry code, city or "") — distinct after normalisation, Chinese and English."""
    from saas.crm.dedupe import company_key

    names: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    while len(names) < count:
        if rng.random() < 0.82:
            city = rng.choice(CITIES)
            line, industry = rng.choice(LINES)
            name = f"{city}{rng.choice(WORDS)}{line}{rng.choice(SUFFIXES)}"
        else:
            city = ""
            line, industry = rng.choice(EN_LINES)
            name = f"{rng.choice(EN_NAMES)} {line} {rng.choice(EN_SUFFIXES)}"
        key = company_key(name)
        if key in seen:
            continue
        seen.add(key)
        names.append((name, industry, city))
    return names


def _mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _landline(rng: random.Random, area: str) -> str:
    digits = 7 if area == "592" else 8  # Xiamen still has seven-digit numbers
    rest = rng.randrange(10 ** (digits - 2), 10 ** (digits - 1))
    return f"+86 {area} {rng.randrange(5, 9)}{rest}"


def _person(rng: random.Random, english: bool) -> tuple[str, str]:
    if english:
        return f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}", rng.choice(EN_TITLES)
    return rng.choice(SURNAMES) + rng.choice(GIVEN), rng.choice(TITLES)


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def populate(
    owner: Membership,
    sellers: Sequence[Membership],
    *,
    customers: int = 300,
    seed: int = 2026,
    now: dt.datetime | None = None,
) -> Counts:
    """Create ``customers`` customers owned round the ``sellers`` (about one in ten left in the
    public pool), their contacts, a history of activities, opportunities across every stage and
    a product catalogue. Each record is created and committed through the record service."""
    from saas.records.services import create_record

    rng = random.Random(seed)  # noqa: S311 (made-up demo data, repeatable on purpose)
    now = now or dt.datetime.now(dt.UTC)
    counts = Counts()
    for code, name, spec, unit, price, tax in PRODUCTS:
        create_record(
            owner,
            "product",
            {
                "name": name,
                "code": code,
                "specification": spec,
                "unit": unit,
                "price": {"amount": price, "currency": "USD" if code == "P-3001" else "CNY"},
                "tax_rate": tax,
            },
        )
        counts.products += 1
    by_seller = {m.user_id: m for m in sellers}
    for name, industry, city in _company_names(rng, customers):
        english = not city
        in_pool = rng.random() < 0.1
        seller = rng.choice(sellers)
        grade = rng.choices("ABCD", weights=(12, 28, 45, 15))[0]
        stage = rng.choices(
            ("potential", "intent", "customer", "renewal", "lost"), weights=(30, 30, 28, 7, 5)
        )[0]
        values = {
            "name": name,
            "grade": grade,
            "lifecycle_stage": stage,
            "industry": industry,
            "source": rng.choice(SOURCES),
            "region": CITY_REGION.get(city, "overseas"),
            "phone": (
                _landline(rng, AREA_CODES[city])
                if city
                else f"+1 206 555 {rng.randrange(1000, 9999)}"
            ),
            "annual_budget": {
                "amount": str(rng.randrange(5, 300) * 10_000),
                "currency": "USD" if english else "CNY",
            },
            "owner_id": None if in_pool else seller.user_id,
            "tags": ["重点跟进"] if grade == "A" and rng.random() < 0.5 else [],
        }
        account = create_record(owner, "account", values)
        counts.accounts += 1
        actor = owner if in_pool else by_seller[seller.user_id]
        contacts = []
        for index in range(rng.choice((1, 1, 2, 2, 3))):
            person, title = _person(rng, english)
            contact = create_record(
                actor,
                "contact",
                {
                    "name": person,
                    "title": title,
                    "account": account.id,
                    "is_primary": index == 0,
                    "mobile": None if english else _mobile(rng),
                    "email": f"contact{account.id}.{index}@example.com",
                    "owner_id": account.owner_id or owner.user_id,
                },
            )
            contacts.append(contact)
            counts.contacts += 1
        if in_pool:
            continue
        _activities(rng, actor, account, contacts, now, counts)
        if stage in ("intent", "customer", "renewal") or rng.random() < 0.2:
            _opportunity(rng, actor, account, english, now, counts)
    _leads(rng, sellers, customers // 6, counts)
    return counts


def _leads(rng: random.Random, sellers: Sequence[Membership], count: int, counts: Counts) -> None:
    """Leads at every status, from companies that are not customers yet."""
    from saas.records.services import create_record

    names = _company_names(random.Random(rng.random()), count)  # noqa: S311 (demo data)
    for name, _industry, city in names:
        english = not city
        person, _title = _person(rng, english)
        seller = rng.choice(sellers)
        create_record(
            seller,
            "lead",
            {
                "name": person,
                "company": name,
                "mobile": None if english else _mobile(rng),
                "email": f"lead{rng.randrange(10**6)}@example.com",
                "source": rng.choice(SOURCES),
                "status": rng.choices(
                    ("new", "contacted", "qualified", "unqualified"), weights=(40, 30, 20, 10)
                )[0],
                "region": CITY_REGION.get(city, "overseas"),
                "owner_id": seller.user_id,
            },
        )
        counts.extra["leads"] = counts.extra.get("leads", 0) + 1


def _activities(rng, actor, account, contacts, now, counts: Counts) -> None:
    """Done activities over the last four months, and one planned (some of them overdue)."""
    from saas.records.services import create_record

    for _ in range(rng.randrange(0, 6)):
        kind, content, result, next_step = rng.choice(VISIT_NOTES)
        done = now - dt.timedelta(days=rng.randrange(1, 120), hours=rng.randrange(0, 9))
        create_record(
            actor,
            "activity",
            {
                "name": content,
                "type": kind,
                "status": "done",
                "due_at": _utc(done),
                "done_at": _utc(done),
                "account": account.id,
                "contact": rng.choice(contacts).id,
                "content": content,
                "result": result,
                "next_step": next_step,
                "owner_id": account.owner_id,
            },
        )
        counts.activities += 1
    if rng.random() < 0.6:
        kind, content, _result, _next = rng.choice(VISIT_NOTES)
        due = now + dt.timedelta(days=rng.randrange(-5, 15), hours=rng.randrange(1, 8))
        create_record(
            actor,
            "activity",
            {
                "name": content,
                "type": kind,
                "status": "planned",
                "due_at": _utc(due),
                "account": account.id,
                "contact": rng.choice(contacts).id,
                "content": content,
                "owner_id": account.owner_id,
            },
        )
        counts.activities += 1


def _opportunity(rng, actor, account, english: bool, now, counts: Counts) -> None:
    from saas.records.services import create_record

    stage = rng.choices(STAGES, weights=STAGE_WEIGHTS)[0]
    amount = Decimal(rng.randrange(3, 200) * 5_000)
    close = (now + dt.timedelta(days=rng.randrange(-60, 120))).date()
    values = {
        "name": f"{account.name} — {'Project' if english else '项目'} {close.year}",
        "account": account.id,
        "stage": stage,
        "amount": {"amount": str(amount), "currency": "USD" if english else "CNY"},
        "expected_close": close.isoformat(),
        "owner_id": account.owner_id,
    }
    if stage == "lost":
        values["lost_reason"] = rng.choice(LOST_REASONS)
    opportunity = create_record(actor, "opportunity", values)
    counts.opportunities += 1
    if stage in ("proposal", "negotiation", "won") and not english:
        _quote(rng, actor, account, opportunity, stage, now, counts)


def _quote(rng, actor, account, opportunity, stage: str, now, counts: Counts) -> None:
    """A quote of a few catalogue products; a won deal's quote is accepted and becomes a
    contract with a payment plan, signed by the manager, partly paid."""
    from saas.crm import contracts, quotes
    from saas.records.services import create_record
    from tenants.services import members

    products = _catalogue()
    quote = create_record(
        actor,
        "quote",
        {
            "name": f"{account.name} 报价",
            "account": account.id,
            "opportunity": opportunity.id,
            "valid_until": (now + dt.timedelta(days=30)).date().isoformat(),
        },
    )
    chosen = rng.sample(products, rng.randrange(1, 4))
    lines = [{"product": pid, "quantity": str(rng.randrange(1, 20))} for pid in chosen]
    discount = rng.choice(("0", "0", "5", "8", "12"))
    quote = quotes.save_lines(actor, quote.id, lines, {"header_discount": discount}, quote.version)
    counts.extra["quotes"] = counts.extra.get("quotes", 0) + 1
    if stage == "proposal":
        return  # still a draft
    approver = next(
        m
        for m in sorted(members(), key=lambda m: m.role_key != "manager")
        if m.role_key in ("manager", "owner") and m.user_id != actor.user_id
    )
    quote = quotes.submit(actor, quote.id)
    if quotes.status_of(quote) == "pending_approval":
        if stage == "negotiation" and rng.random() < 0.5:
            return  # waiting in the manager's inbox
        quote = quotes.approve(approver, quote.id, "同意")
    quote = quotes.send(actor, quote.id)
    if stage != "won":
        return
    quote = quotes.accept(actor, quote.id)
    contract = contracts.from_quote(actor, quote.id)
    start = (now - dt.timedelta(days=rng.randrange(10, 150))).date()
    _set_contract_dates(actor, contract, start)
    total = Decimal(str(contract.data["amount"]["amount"]))
    first = (total * Decimal("0.3")).quantize(Decimal("0.01"))
    plan = [
        {"due_date": (start + dt.timedelta(days=15)).isoformat(), "amount": str(first)},
        {"due_date": (start + dt.timedelta(days=120)).isoformat(), "amount": str(total - first)},
    ]
    result = contracts.set_plan(actor, contract.id, plan)
    contracts.submit(actor, contract.id)
    contracts.approve(approver, contract.id, "同意签约")
    contracts.activate(actor, contract.id)
    counts.extra["contracts"] = counts.extra.get("contracts", 0) + 1
    if rng.random() < 0.8:
        contracts.record_payment(
            actor,
            contract.id,
            {
                "received_on": min(
                    start + dt.timedelta(days=rng.randrange(5, 30)), now.date()
                ).isoformat(),
                "amount": str(first),
                "method": "bank_transfer",
                "plan_id": result.plan[0].id,
            },
        )


def _set_contract_dates(actor, contract, start: dt.date) -> None:
    from saas.records.services import update_record

    update_record(
        actor,
        "contract",
        contract.id,
        {
            "start_date": start.isoformat(),
            "end_date": (start + dt.timedelta(days=365)).isoformat(),
            "signed_on": start.isoformat(),
        },
        contract.version,
    )


def _catalogue() -> list[int]:
    """Ids of the demo's CNY products."""
    from sqlalchemy import select

    from saas.extensions import db
    from saas.records.models import Product

    rows = db.session.execute(select(Product.id, Product.data).order_by(Product.id)).all()
    return [pid for pid, data in rows if (data.get("price") or {}).get("currency") == "CNY"]
