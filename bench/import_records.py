"""Importing 100,000 accounts with ten custom fields from a CSV file, through the real path.

Signs up a tenant, adds ten custom fields (text, unique text, picklist, integer, decimal,
currency, percent, date, boolean, URL; ``--contact`` adds an email and a mobile phone field),
generates a UTF-8 CSV with Chinese names, then times:

- the upload (``POST …/records/account/imports``: read, decode, normalise, guess the mapping),
- the preview of the first 20 rows,
- the import job run by an RQ worker in this process (validation of every value by the field
  types, owners, unique values claimed in bulk, auto-numbers, search text with pinyin, one
  INSERT per batch, audit, checkpoints), reported as rows per second.

    .venv/bin/python -m bench.import_records [--rows 100000] [--contact] [--profile]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import time

from bench.common import bench_database, machine

#: Characters of made-up brand names: 200 × 200 two-character names, so that names (as in real
#: files) rarely repeat, while the words around them (cities, trades, 有限公司) do.
BRAND = (
    "安百宝北博成诚达大德鼎东方丰福富光广海汉和恒红宏华汇吉佳嘉建金锦晶京景骏凯康科蓝乐力立利联良林隆龙"
    "美明南宁鹏平普齐启强青庆荣瑞润森山善上圣盛世顺思泰天通同万旺威维伟文祥鑫新信兴星旭轩雅亚耀一怡亿益"
    "银英永友宇远悦运泽展长正志中众洲卓资子紫尊佰邦彩辰创春聪翠道迪鼎帝典方飞枫峰凤福港高冠国禾浩合弘虹"
    "鸿环辉慧惠吉江杰捷津进晋久聚开昆莱朗雷蕾丽莲临灵领麟露茂梦敏铭沐纳宁诺欧派鹏琪奇勤清然仁融锐瑞三尚"
)
WORDS = ["贸易", "科技", "实业", "电子", "食品", "物流", "建材", "医药", "服装", "机械"]
CITIES = ["上海", "北京", "广州", "深圳", "杭州", "成都", "武汉", "南京", "苏州", "天津"]
FIELDS = [
    {"key": "city", "type": "text", "label": {"en": "City", "zh": "城市"}},
    {"key": "tax_no", "type": "text", "label": {"en": "Tax number", "zh": "税号"}, "unique": True},
    {
        "key": "sector",
        "type": "picklist",
        "label": {"en": "Sector", "zh": "所属行业"},
        "values": [
            {"code": "trade", "label": {"en": "Trade", "zh": "贸易"}},
            {"code": "tech", "label": {"en": "Technology", "zh": "科技"}},
            {"code": "food", "label": {"en": "Food", "zh": "食品"}},
            {"code": "other", "label": {"en": "Other", "zh": "其他"}},
        ],
    },
    {"key": "employees", "type": "integer", "label": {"en": "Employees", "zh": "员工数"}},
    {"key": "revenue", "type": "currency", "label": {"en": "Revenue", "zh": "营业额"}},
    {"key": "founded", "type": "date", "label": {"en": "Founded", "zh": "成立日期"}},
    {"key": "vip", "type": "boolean", "label": {"en": "VIP", "zh": "重要客户"}},
    {"key": "homepage", "type": "url", "label": {"en": "Homepage", "zh": "主页"}},
    {"key": "area", "type": "decimal", "label": {"en": "Floor area", "zh": "面积"}},
    {"key": "discount", "type": "percent", "label": {"en": "Discount", "zh": "折扣"}},
]
#: Validated with libphonenumber and email-validator: about 40 µs a value each.
CONTACT_FIELDS = [
    {"key": "contact_email", "type": "email", "label": {"en": "Contact email", "zh": "联系邮箱"}},
    {"key": "mobile", "type": "phone", "label": {"en": "Mobile", "zh": "手机"}},
]
HEADERS = ["名称", "城市", "税号", "所属行业", "员工数", "营业额", "成立日期", "重要客户", "主页"]
HEADERS += ["面积", "折扣", "标签"]
CONTACT_HEADERS = ["联系邮箱", "手机"]


def generate_csv(rows: int, seed: int = 7, contact: bool = False) -> bytes:
    rng = random.Random(seed)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS + (CONTACT_HEADERS if contact else []))
    industries = ["贸易", "科技", "食品", "其他", "trade", "tech"]
    for i in range(rows):
        brand = rng.choice(BRAND) + rng.choice(BRAND)
        name = f"{rng.choice(CITIES)}{brand}{rng.choice(WORDS)}有限公司"
        row = [
            name,
            rng.choice(CITIES),
            f"91310000{i:010d}",
            rng.choice(industries),
            str(rng.randint(1, 5000)),
            f"{rng.randint(1000, 10_000_000)}.{rng.randint(0, 99):02d}",
            f"{rng.randint(1980, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            rng.choice(["是", "否", "TRUE", "FALSE"]),
            f"www.company{i}.cn",
            f"{rng.randint(20, 20000)}.{rng.randint(0, 9)}",
            f"{rng.randint(0, 30)}%",
            rng.choice(["", "重点", "华东, 重点", "new"]),
        ]
        if contact:
            row += [
                f"contact{i}@example.com",
                f"13{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}",
            ]
        writer.writerow(row)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--contact", action="store_true", help="also an email and a mobile phone field"
    )
    parser.add_argument("--profile", action="store_true", help="profile the job with cProfile")
    args = parser.parse_args()

    with bench_database() as bench:
        import tempfile

        from saas.app import create_app

        app = create_app(
            bench.settings, WTF_CSRF_ENABLED=False, IMPORT_DIR=tempfile.mkdtemp(prefix="kehu-imp-")
        )
        client = app.test_client()
        slug = "import-bench"
        token = client.post(
            "/api/v1/signup",
            json={
                "company": slug,
                "slug": slug,
                "email": f"{slug}@example.com",
                "password": "bench passphrase 2026",
                "locale": "zh_CN",
            },
        ).get_json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        for field in FIELDS + (CONTACT_FIELDS if args.contact else []):
            response = client.post(
                f"/api/v1/t/{slug}/objects/account/fields", json=field, headers=headers
            )
            assert response.status_code == 201, response.get_json()

        content = generate_csv(args.rows, contact=args.contact)
        print(f"machine: {machine()}")
        columns = len(HEADERS) + (len(CONTACT_HEADERS) if args.contact else 0)
        print(f"file: {args.rows:,} rows, {len(content) / 1e6:.1f} MB, {columns} columns")
        base = f"/api/v1/t/{slug}/records/account/imports"

        start = time.perf_counter()
        response = client.post(
            base,
            data={"file": (io.BytesIO(content), "accounts.csv")},
            headers=headers,
            content_type="multipart/form-data",
        )
        upload_s = time.perf_counter() - start
        body = response.get_json()
        assert response.status_code == 201, body
        unmapped = [c for c, k in body["mapping"].items() if k is None]
        assert not unmapped, unmapped
        print(f"upload (read, decode, normalise, guess mapping): {upload_s:.2f} s")

        start = time.perf_counter()
        response = client.post(
            f"{base}/{body['id']}/preview",
            json={"mapping": body["mapping"], "match_on": None, "policy": "skip"},
            headers=headers,
        )
        preview_s = time.perf_counter() - start
        assert response.status_code == 200, response.get_json()
        errors = [r["errors"] for r in response.get_json()["rows"] if r["errors"]]
        assert not errors, errors[:3]
        print(f"preview (20 rows): {preview_s * 1000:.0f} ms")

        response = client.post(f"{base}/{body['id']}/run", json={}, headers=headers)
        assert response.status_code == 202, response.get_json()

        from rq import SimpleWorker

        from saas.jobs import queue, redis_connection

        with app.app_context():
            worker = SimpleWorker([queue("default")], connection=redis_connection())
            start = time.perf_counter()
            cpu_start = time.process_time()
            if args.profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                profiler.enable()
                worker.work(burst=True)
                profiler.disable()
                pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(
                    45
                )
            else:
                worker.work(burst=True)
            job_s = time.perf_counter() - start
            cpu_s = time.process_time() - cpu_start

        status = client.get(f"{base}/{body['id']}", headers=headers).get_json()
        assert status["status"] == "succeeded", status
        # Generated names repeat now and then: under "skip" those rows are possible duplicates.
        assert status["result"]["created"] + status["result"]["skipped"] == args.rows, status
        count = client.get(
            f"/api/v1/t/{slug}/records/account?limit=1&q=youxiangongsi", headers=headers
        ).get_json()
        print(f"job: {status['result']}")
        print(f"import job: {job_s:.2f} s → {args.rows / job_s:,.0f} rows/s")
        print(f"  of which CPU time of this (the worker's) process: {cpu_s:.2f} s")
        print(
            f"upload + job: {upload_s + job_s:.2f} s → {args.rows / (upload_s + job_s):,.0f} rows/s"
        )
        print(f"records found by pinyin quick search (youxiangongsi): {count.get('count')}")


if __name__ == "__main__":
    main()
