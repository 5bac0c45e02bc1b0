"""PDF rendering: Chinese quotes of 20 and 200 lines through the zh-CN quote starter, in a warm
process (fonts loaded, template compiled), as a render job does it.

Targets (issue 7): a 20-line Chinese quote ≤ 300 ms p50 and ≤ 300 KB; 200 lines ≤ 3 s; 100
quotes through 2 processes ≤ 60 s; memory ≤ 500 MB. Anchor: WeasyPrint with the full Noto Sans
CJK font took 13–14 s for one 20-line quote (``--baseline`` measures that again when Debian's
fonts-noto-cjk is installed).

WeasyPrint subsets fonts with HarfBuzz when ``libharfbuzz-subset`` is installed and falls back
to fontTools otherwise, which :mod:`print_templates.subsetting` replaces for our fonts. All three
are timed (the last two by hiding the library from WeasyPrint). No database or Redis is needed.

    .venv/bin/python -m bench.render_pdf [--runs 30] [--long-runs 8] [--baseline]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bench.common import machine

# Words for product names and specifications: varied, as real catalogues are, so that a quote
# uses a few hundred distinct characters (the embedded subset grows with them).
_NOUNS = [
    "笔记本电脑",
    "台式主机",
    "显示器",
    "服务器",
    "交换机",
    "路由器",
    "防火墙",
    "存储阵列",
    "打印机",
    "扫描仪",
    "投影仪",
    "会议平板",
    "摄像头",
    "耳麦",
    "键盘",
    "鼠标",
    "固态硬盘",
    "内存条",
    "机柜",
    "不间断电源",
    "办公桌",
    "会议桌",
    "文件柜",
    "人体工学椅",
    "沙发",
    "茶几",
    "空气净化器",
    "饮水机",
    "碎纸机",
    "装订机",
    "考勤机",
    "门禁系统",
    "监控录像机",
    "无线接入点",
    "光纤模块",
    "配线架",
    "网线",
    "电源适配器",
    "扩展坞",
    "软件许可",
    "云服务器",
    "数据库授权",
    "实施服务",
    "技术支持",
    "培训课程",
    "驻场运维",
    "数据迁移",
    "系统集成",
    "安全评估",
    "等保测评",
]
_ADJECTIVES = [
    "高性能",
    "企业级",
    "商用",
    "轻薄",
    "防尘",
    "静音",
    "节能",
    "智能",
    "双频",
    "千兆",
    "万兆",
    "冗余",
    "模块化",
    "可升级",
    "国产化",
    "定制",
    "标准版",
    "专业版",
    "旗舰版",
    "经济型",
]
_SPECS = [
    "i7-13700/32G/1T",
    "27英寸",
    "2K",
    "144Hz",
    "48口",
    "4×10G",
    "3kVA",
    "在线式",
    "42U",
    "600×1000",
    "A4",
    "双面",
    "每用户每年",
    "含安装调试",
    "三年质保",
    "七乘二十四小时",
    "华东区域",
    "不含税运费",
    "黑色",
    "灰白色",
]
_UNITS = ("台", "套", "个", "把", "张", "项", "人天", "年", "米", "箱")
_CENT = Decimal("0.01")


def quote_context(lines: int, *, seed: int = 1) -> dict[str, Any]:
    """A Chinese quote with ``lines`` generated line items, in the shape of
    :mod:`print_templates.variables`."""
    from print_templates import samples

    rng = random.Random(seed)
    context = samples.sample("quote", locale="zh_CN", lines=1, approved=False)
    items = []
    subtotal = tax = Decimal(0)
    for index in range(lines):
        quantity = Decimal(rng.choice((1, 1, 2, 3, 4, 5, 8, 10, 12, 20, 50, 100)))
        unit_price = (Decimal(rng.randrange(1_000, 5_000_000)) / 100).quantize(_CENT)
        discount = Decimal(rng.choice((0, 0, 0, 3, 5, 8, 10)))
        tax_rate = Decimal(rng.choice((13, 13, 13, 9, 6)))
        line_total = (quantity * unit_price * (100 - discount) / 100).quantize(
            _CENT, rounding=ROUND_HALF_UP
        )
        subtotal += line_total
        tax += (line_total * tax_rate / 100).quantize(_CENT, rounding=ROUND_HALF_UP)
        items.append(
            {
                "no": index + 1,
                "product": rng.choice(_ADJECTIVES) + rng.choice(_NOUNS),
                "code": f"P{rng.randrange(10_000, 99_999)}",
                "spec": " / ".join(rng.sample(_SPECS, 2)),
                "unit": rng.choice(_UNITS),
                "quantity": quantity,
                "unit_price": unit_price,
                "discount": discount,
                "tax_rate": tax_rate,
                "line_total": line_total,
                "notes": None,
            }
        )
    context["lines"] = items
    context["totals"] = {
        "subtotal": subtotal,
        "discount": Decimal(0),
        "tax": tax,
        "total": subtotal + tax,
    }
    return context


def _render(lines: int, seed: int = 1) -> tuple[float, int, int]:
    from print_templates import samples, starters
    from print_templates.render import render_pdf

    starter = starters.load("quote.zh_CN")
    context = quote_context(lines, seed=seed)
    started = time.perf_counter()
    rendered = render_pdf(
        starter.source, context, locale="zh_CN", assets=samples.demo_assets, css=starter.css
    )
    return time.perf_counter() - started, len(rendered.pdf), rendered.pages


def _series(lines: int, runs: int, warmup: int = 3) -> dict[str, float]:
    for index in range(warmup):
        _render(lines, seed=1000 + index)
    times, sizes, pages = [], [], 0
    for index in range(runs):
        seconds, size, pages = _render(lines, seed=index)
        times.append(seconds)
        sizes.append(size)
    times.sort()
    return {
        "p50": statistics.median(times) * 1000,
        "p95": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))] * 1000,
        "max": times[-1] * 1000,
        "size": statistics.median(sizes) / 1024,
        "pages": pages,
    }


def _html_only(lines: int, runs: int) -> float:
    from print_templates import starters
    from print_templates.render import render_html

    starter = starters.load("quote.zh_CN")
    context = quote_context(lines)
    render_html(starter.source, context)
    started = time.perf_counter()
    for _ in range(runs):
        render_html(starter.source, context)
    return (time.perf_counter() - started) / runs * 1000


def _batch_worker(count: int) -> float:
    started = time.perf_counter()
    for index in range(count):
        _render(20, seed=index)
    return time.perf_counter() - started


def _baseline() -> str:
    """The anchor: the same 20-line quote with the system's full Noto Sans CJK font."""
    import subprocess

    found = subprocess.run(
        ["fc-list", ":family=Noto Sans CJK SC"], capture_output=True, text=True, check=False
    ).stdout
    if not found.strip():
        return "skipped: Debian's fonts-noto-cjk is not installed"
    import weasyprint.pdf.fonts as pdf_fonts
    from weasyprint import CSS, HTML

    from print_templates import starters
    from print_templates.render import render_html

    starter = starters.load("quote.zh_CN")
    html = render_html(starter.source, quote_context(20))
    css = starter.css + "\nhtml { font-family: 'Noto Sans CJK SC'; }"
    figures = []
    saved = pdf_fonts.harfbuzz_subset
    for label, library in (("HarfBuzz", saved), ("fontTools", None)):
        if label == "HarfBuzz" and library is None:
            continue
        pdf_fonts.harfbuzz_subset = library
        try:
            started = time.perf_counter()
            pdf = HTML(string=html).write_pdf(stylesheets=[CSS(string=css)])
        finally:
            pdf_fonts.harfbuzz_subset = saved
        seconds = time.perf_counter() - started
        figures.append(f"{seconds * 1000:,.0f} ms and {len(pdf) / 1024:,.0f} KB with {label}")
    return "; ".join(figures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="timed 20-line renders per path")
    parser.add_argument("--long-runs", type=int, default=8, help="timed 200-line renders")
    parser.add_argument("--batch", type=int, default=100, help="quotes through 2 processes")
    parser.add_argument("--baseline", action="store_true", help="also time the full system font")
    args = parser.parse_args(argv)

    import weasyprint
    import weasyprint.pdf.fonts as pdf_fonts

    from print_templates import fonts, subsetting

    load = os.getloadavg()
    started = time.perf_counter()
    fonts.font_config()
    first_seconds, _, _ = _render(20)
    cold = (time.perf_counter() - started) * 1000
    has_harfbuzz = pdf_fonts.harfbuzz_subset is not None

    results: dict[str, dict[str, float]] = {}
    if has_harfbuzz:
        results["20 lines, HarfBuzz subsetting"] = _series(20, args.runs)
        results["200 lines, HarfBuzz subsetting"] = _series(200, args.long_runs, warmup=1)
    saved = pdf_fonts.harfbuzz_subset
    pdf_fonts.harfbuzz_subset = None  # as on a machine without the library
    try:
        results["20 lines, no HarfBuzz: Kehu's subsetter"] = _series(20, args.runs)
        results["200 lines, no HarfBuzz: Kehu's subsetter"] = _series(200, args.long_runs, warmup=1)
        with subsetting.stock():
            results["20 lines, no HarfBuzz: WeasyPrint's fontTools"] = _series(
                20, max(args.runs // 3, 3), warmup=1
            )
    finally:
        pdf_fonts.harfbuzz_subset = saved
    html_ms = _html_only(20, 20), _html_only(200, 5)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    batch_seconds = None
    if args.batch:
        with ProcessPoolExecutor(2) as pool:
            batch_started = time.perf_counter()
            list(pool.map(_batch_worker, [args.batch // 2, args.batch - args.batch // 2]))
            batch_seconds = time.perf_counter() - batch_started

    print(f"## PDF rendering: Chinese quotes through the zh-CN starter ({dt.date.today()})\n")
    print(
        "`.venv/bin/python -m bench.render_pdf" + (" --baseline" if args.baseline else "") + "`\n"
    )
    print(f"- {machine()}; load average at start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}.")
    print(
        f"- WeasyPrint {weasyprint.__version__}, HarfBuzz subsetter "
        f"{'present' if has_harfbuzz else 'absent'}; fonts prepared by print_templates/fonts.py "
        f"(recipe {fonts.RECIPE})."
    )
    print(
        f"- First render in a new process (fonts loaded, template compiled): {cold:,.0f} ms "
        f"(of which the render {first_seconds * 1000:,.0f} ms). Filling in the template alone: "
        f"{html_ms[0]:.1f} ms (20 lines), {html_ms[1]:.1f} ms (200 lines).\n"
    )
    print("| quote | p50 | p95 | max | PDF size | pages |")
    print("|---|---|---|---|---|---|")
    for name, row in results.items():
        print(
            f"| {name} | {row['p50']:,.0f} ms | {row['p95']:,.0f} ms | {row['max']:,.0f} ms "
            f"| {row['size']:,.0f} KB | {row['pages']:.0f} |"
        )
    print(f"\nPeak RSS of the measuring process: {rss:,.0f} MB.")
    if batch_seconds is not None:
        print(
            f"{args.batch} 20-line quotes through 2 processes (each loading fonts and compiling "
            f"once): {batch_seconds:,.1f} s."
        )
    if args.baseline:
        print(
            f"Anchor, the system's full Noto Sans CJK SC for the same 20-line quote: {_baseline()}."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
