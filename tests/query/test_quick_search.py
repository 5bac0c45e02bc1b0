"""Quick search: names, phones, emails, searchable fields and pinyin (full and initials)."""

from __future__ import annotations


def test_pinyin_full_and_initials(crm):
    crm.add(name="张三")
    crm.add(name="李四")
    assert crm.names(q="zhangsan") == ["张三"]
    assert crm.names(q="zs") == ["张三"]
    assert crm.names(q="Zhang San") == ["张三"]
    assert crm.names(q="张") == ["张三"]
    assert crm.names(q="ls") == ["李四"]


def test_phone_digits_and_email(crm):
    crm.add(name="Acme", tel="138 1234 5678", mail="Sales@Acme.example")
    crm.add(name="Other")
    assert crm.names(q="1381234") == ["Acme"]
    assert crm.names(q="138-1234") == ["Acme"]
    assert crm.names(q="sales@acme") == ["Acme"]


def test_wildcards_are_literal(crm):
    crm.add(name="100% cotton")
    crm.add(name="1000 cotton")
    assert crm.names(q="100%") == ["100% cotton"]


def test_searchable_field_rebuilds_existing_records(crm, drain_jobs):
    crm.add(name="Acme", city="Hangzhou")
    assert crm.names(q="hangzhou") == []
    fields = f"/api/v1/t/{crm.slug}/objects/account/fields/city"
    assert crm.client.patch(fields, json={"searchable": True}).status_code == 200
    drain_jobs()
    assert crm.names(q="hangzhou") == ["Acme"]
    assert crm.names(q="hz") == []  # pinyin is for Chinese text only
    crm.add(name="Beta", city="杭州")
    assert crm.names(q="hz") == ["Beta"]


def test_lookup_typeahead_finds_by_pinyin(crm, login):
    crm.add(name="张三科技")
    crm.add(name="Other")
    client = login(crm.company.owner_email)
    body = client.get(f"/t/{crm.slug}/o/account/lookup?q=zskj").get_json()
    assert [r["name"] for r in body["results"]] == ["张三科技"]
    users = client.get(f"/t/{crm.slug}/o/user/lookup?q=").get_json()["results"]
    assert [u["id"] for u in users] == [crm.company.owner_id]


def test_fields_hidden_from_a_role_are_not_searched(crm, add_member, api, drain_jobs):
    crm.add(name="Acme", mail="secret@acme.example")
    assert crm.names(q="secret@") == ["Acme"]
    access = f"/api/v1/t/{crm.slug}/objects/account/fields/mail/access"
    response = crm.client.put(access, json={"member": "hidden"})
    assert response.status_code == 200, response.get_json()
    drain_jobs()
    assert crm.names(q="secret@") == []
    crm.add(name="Beta", mail="secret@beta.example")
    assert crm.names(q="secret@") == []
