"""The dependent-picklist matrix on the field page: which values each controlling value allows."""

from __future__ import annotations


def test_matrix_saves_and_is_enforced(make_company, login, api):
    company = make_company()
    rest = api(company.token)
    fields = f"/api/v1/t/{company.slug}/objects/account/fields"
    assert (
        rest.post(
            fields,
            json={"key": "country", "type": "picklist", "label": "Country", "values": ["cn", "us"]},
        ).status_code
        == 201
    )
    assert (
        rest.post(
            fields,
            json={
                "key": "city",
                "type": "picklist",
                "label": "City",
                "values": ["sh", "bj", "ny"],
                "controlling_field": "country",
            },
        ).status_code
        == 201
    )
    admin = login(company.owner_email)
    page_url = f"/t/{company.slug}/admin/objects/account/fields/city"
    page = admin.get(page_url).get_data(as_text=True)
    assert 'data-testid="dependencies-form"' in page
    response = admin.post(
        f"{page_url}/dependencies", data={"dep-cn": ["sh", "bj"], "dep-us": ["ny"]}
    )
    assert response.status_code == 302
    city = rest.get(f"{fields}/city").get_json()
    assert city["options"]["dependencies"] == {"cn": ["sh", "bj"], "us": ["ny"]}
    page = admin.get(page_url).get_data(as_text=True)
    assert 'name="dep-us" value="ny" aria-label="us → ny" checked' in page
    records = f"/api/v1/t/{company.slug}/records/account"
    refused = rest.post(records, json={"name": "X", "country": "us", "city": "sh"})
    assert refused.status_code == 400 and "city" in refused.get_json()["errors"]
    assert rest.post(records, json={"name": "Y", "country": "cn", "city": "sh"}).status_code == 201
    # Nothing ticked for a value: no restriction for it.
    assert admin.post(f"{page_url}/dependencies", data={"dep-cn": ["sh"]}).status_code == 302
    assert rest.post(records, json={"name": "Z", "country": "us", "city": "sh"}).status_code == 201


def test_matrix_only_for_dependent_picklists(make_company, login, api):
    company = make_company()
    rest = api(company.token)
    fields = f"/api/v1/t/{company.slug}/objects/account/fields"
    rest.post(fields, json={"key": "tier", "type": "picklist", "label": "Tier", "values": ["a"]})
    admin = login(company.owner_email)
    page_url = f"/t/{company.slug}/admin/objects/account/fields/tier"
    assert "dependencies-form" not in admin.get(page_url).get_data(as_text=True)
    assert admin.post(f"{page_url}/dependencies", data={}).status_code == 400
