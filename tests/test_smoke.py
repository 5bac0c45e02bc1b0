def test_signup_and_me(make_company, api):
    company = make_company()
    response = api(company.token).get(f"/api/v1/t/{company.slug}/me")
    assert response.status_code == 200
    assert response.get_json()["role"] == "owner"
