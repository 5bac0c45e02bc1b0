def test_smoke(crm):
    crm.add(name="张三科技", band="A", revenue={"amount": "100", "currency": "CNY"}, staff=3)
    crm.add(name="Beta", band="B", revenue={"amount": "300", "currency": "CNY"}, staff=10)
    crm.add(name="Gamma", band="A", staff=5)
    assert crm.where("band", "eq", "A") == ["Gamma", "张三科技"]
    body = crm.query(
        filter={"and": [{"field": "revenue", "op": "gt", "value": 50}]},
        sort=[{"field": "revenue", "dir": "desc"}],
    )
    assert [r["name"] for r in body["data"]] == ["Beta", "张三科技"]
    assert crm.names(q="zs") == ["张三科技"]
    assert crm.where("double_staff", "gte", 10) == ["Beta", "Gamma"]
