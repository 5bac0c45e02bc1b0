"""Example contexts in the shape of :mod:`print_templates.variables`: the editor's preview
without a record, the tests and the benchmark (``bench/render_pdf.py``). Deterministic: the same
arguments give the same data."""

from __future__ import annotations

import datetime as dt
import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

_CENT = Decimal("0.01")

_PRODUCTS_ZH = (
    ("联想 ThinkPad 笔记本电脑", "T14 Gen 5 / i7 / 32G / 1T", "台"),
    ("戴尔 27 英寸显示器", "U2724D 2560×1440", "台"),
    ("华为企业级交换机", "S5735-L48T4X-A1 48 口", "台"),
    ("客户关系管理软件年度许可", "专业版 / 每用户每年", "套"),
    ("实施服务", "需求调研、配置、数据迁移", "人天"),
    ("现场培训", "管理员及业务员培训，含教材", "场"),
    ("人体工学办公椅", "网背 / 可调扶手 / 黑色", "把"),
    ("升降办公桌", "1400×700 毫米 电动双电机", "张"),
    ("激光打印机", "A4 黑白 双面 网络", "台"),
    ("不间断电源", "3kVA 在线式 含电池组", "套"),
    ("机柜", "42U 600×1000 含 PDU", "台"),
    ("年度技术支持", "7×24 小时 电话及远程", "年"),
)
_PRODUCTS_EN = (
    ("ThinkPad laptop", "T14 Gen 5 / i7 / 32 GB / 1 TB", "pcs"),
    ("27-inch monitor", "U2724D 2560×1440", "pcs"),
    ("Enterprise switch", "48 ports, 4×10G uplinks", "pcs"),
    ("CRM software licence", "Professional, per user per year", "set"),
    ("Implementation services", "Analysis, configuration, data migration", "day"),
    ("On-site training", "Administrators and sales staff", "session"),
    ("Ergonomic office chair", "Mesh back, adjustable arms, black", "pcs"),
    ("Height-adjustable desk", "1400×700 mm, dual motor", "pcs"),
    ("Laser printer", "A4 mono, duplex, network", "pcs"),
    ("UPS", "3 kVA online, with battery pack", "set"),
    ("Server rack", "42U 600×1000 with PDU", "pcs"),
    ("Annual support", "24×7 phone and remote", "year"),
)


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def sample(
    object_key: str = "quote",
    *,
    locale: str = "zh_CN",
    lines: int = 8,
    approved: bool = False,
    currency: str = "CNY",
    seed: int = 7,
) -> dict[str, Any]:
    """A complete context for a quote or a contract (any other object gets the common part)."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    zh = locale == "zh_CN"
    products = _PRODUCTS_ZH if zh else _PRODUCTS_EN
    items = []
    subtotal = Decimal(0)
    tax = Decimal(0)
    for index in range(lines):
        name, spec, unit = products[index % len(products)]
        quantity = Decimal(rng.choice((1, 2, 3, 5, 10, 20, 50)))
        unit_price = Decimal(rng.randrange(9_900, 2_000_000)) / 100
        discount = Decimal(rng.choice((0, 0, 0, 5, 10)))
        tax_rate = Decimal(rng.choice((13, 13, 6)))
        line_total = _money(quantity * unit_price * (100 - discount) / 100)
        subtotal += line_total
        tax += _money(line_total * tax_rate / 100)
        items.append(
            {
                "no": index + 1,
                "product": name
                + (f" #{index // len(products) + 1}" if index >= len(products) else ""),
                "code": f"P-{1000 + index}",
                "spec": spec,
                "unit": unit,
                "quantity": quantity,
                "unit_price": unit_price,
                "discount": discount,
                "tax_rate": tax_rate,
                "line_total": line_total,
                "notes": None,
            }
        )
    header_discount = _money(subtotal * Decimal("0.02")) if lines > 3 else Decimal(0)
    total = subtotal - header_discount + tax
    company = {
        "name": "上海客户信息科技有限公司" if zh else "Kehu Information Technology Co., Ltd.",
        "address": "上海市浦东新区张江高科技园区碧波路 690 号 3 号楼 5 层"
        if zh
        else "5F, Building 3, 690 Bibo Road, Zhangjiang Hi-Tech Park, Shanghai",
        "phone": "021-5080 1234",
        "email": "sales@kehu.example",
        "website": "www.kehu.example",
        "tax_id": "91310115MA1K4ABC2X",
        "bank_name": "招商银行上海张江支行" if zh else "China Merchants Bank, Shanghai Zhangjiang",
        "bank_account": "1219 0876 5410 201",
        "logo": "asset:logo",
        "seal": "asset:seal",
    }
    customer = {
        "name": "北京鹏程万里贸易有限公司" if zh else "Pengcheng Trading (Beijing) Co., Ltd.",
        "code": "C-00042",
        "address": "北京市海淀区中关村大街 27 号中关村大厦 1102 室"
        if zh
        else "Room 1102, Zhongguancun Tower, 27 Zhongguancun Street, Beijing",
        "phone": "010-6255 8888",
        "tax_id": "91110108MA01XYZ12Q",
        "contact": {
            "name": "王晓明" if zh else "Wang Xiaoming",
            "title": "采购经理" if zh else "Purchasing manager",
            "phone": "138 0013 8000",
            "email": "wang.xm@pengcheng.example",
        },
    }
    owner = {
        "name": "李娜" if zh else "Li Na",
        "title": "客户经理" if zh else "Account manager",
        "phone": "139 1234 5678",
        "email": "li.na@kehu.example",
    }
    terms = (
        [
            "本报价有效期为 30 天，自报价日期起算。",
            "价格含 13% 增值税专用发票（服务类 6%）。",
            "交货期：合同签订并收到预付款后 15 个工作日内。",
            "质保：硬件产品原厂质保三年，软件提供一年免费升级。",
        ]
        if zh
        else [
            "This quotation is valid for 30 days from its date.",
            "Prices include VAT at 13% (services 6%).",
            "Delivery within 15 working days of the signed contract and the down payment.",
            "Warranty: three years on hardware; one year of software updates.",
        ]
    )
    if object_key == "contract":
        terms = (
            [
                "乙方保证所供产品为原厂正品，符合国家标准及合同约定的规格。",
                "甲方应在到货后 5 个工作日内验收，逾期未提出书面异议视为验收合格。",
                "任何一方违约，应向守约方支付合同总额 5% 的违约金。",
            ]
            if zh
            else [
                "The Seller warrants the products are genuine and meet the agreed specifications.",
                "The Buyer inspects the goods within 5 working days of delivery; no written "
                "objection by then means acceptance.",
                "A party in breach pays the other 5% of the contract total as damages.",
            ]
        )
    day = dt.date(2025, 3, 1)
    status = "approved" if approved else "draft"
    document: dict[str, Any] = {
        "kind": object_key,
        "number": ("Q-2025-0042" if object_key != "contract" else "HT-2025-0007"),
        "title": ("办公设备及软件采购" if zh else "Office equipment and software"),
        "date": day,
        "valid_until": day + dt.timedelta(days=30),
        "revision": 1,
        "status": status,
        "status_label": ({"approved": "已批准", "draft": "草稿"} if zh else {}).get(
            status, status.replace("_", " ").capitalize()
        ),
        "approved": approved,
        "currency": currency,
        "tax_mode": "exclusive",
        "payment_terms": "合同签订后预付 30%，到货验收后付 70%。"
        if zh
        else "30% on signing, 70% on acceptance of delivery.",
        "delivery_terms": "送货至需方指定地点（北京市内），运费由供方承担。"
        if zh
        else "Delivered to the buyer's site in Beijing, freight paid by the seller.",
        "notes": None,
    }
    context: dict[str, Any] = {
        "company": company,
        "owner": owner,
        "record": {"name": document["title"], "number": document["number"]},
        "printed_at": dt.datetime(2025, 3, 1, 14, 5, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    }
    if object_key not in ("quote", "contract"):
        return context
    context.update(
        customer=customer,
        document=document,
        lines=items,
        totals={
            "subtotal": _money(subtotal),
            "discount": header_discount,
            "tax": _money(tax),
            "total": _money(total),
        },
        terms=terms,
    )
    if object_key == "contract":
        down = _money(total * Decimal("0.3"))
        document.update(
            signed_date=day if approved else None,
            start_date=day,
            end_date=dt.date(2026, 2, 28),
            quote_number="Q-2025-0042",
        )
        context["payments"] = [
            {
                "no": 1,
                "due_date": day + dt.timedelta(days=7),
                "amount": down,
                "note": "预付款" if zh else "Down payment",
            },
            {
                "no": 2,
                "due_date": day + dt.timedelta(days=45),
                "amount": _money(total) - down,
                "note": "验收款" if zh else "On acceptance",
            },
        ]
    return context


_LOGO_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="240" height="80" viewBox="0 0 240 80">
<rect x="0" y="8" width="64" height="64" rx="14" fill="#1d4ed8"/>
<text x="32" y="52" font-size="30" font-weight="bold" fill="#fff"
 text-anchor="middle">客</text>
<text x="78" y="50" font-size="30" font-weight="bold" fill="#1f2328">Kehu 客户</text>
</svg>"""

_SEAL_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200"
 viewBox="0 0 200 200">
<circle cx="100" cy="100" r="92" fill="none" stroke="#d7262e" stroke-width="7"/>
<polygon fill="#d7262e"
 points="100,52 111,86 147,86 118,107 129,141 100,120 71,141 82,107 53,86 89,86"/>
<text x="100" y="172" font-size="19" fill="#d7262e" text-anchor="middle">合同专用章</text>
</svg>"""


def demo_assets(name: str) -> tuple[bytes, str] | None:
    """An asset loader with a made-up logo and seal (tests, benchmark, samples)."""
    found = {"logo": _LOGO_SVG, "seal": _SEAL_SVG}.get(name)
    return (found.encode(), "image/svg+xml") if found is not None else None
