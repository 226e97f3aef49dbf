from core.roles import OrgKind, Role


def test_me_returns_the_caller_and_its_organisation(api, factory):
    org = factory.org(OrgKind.HOSPITAL, name="厦门市第一医院")
    user = factory.user(org, roles=(Role.PHARMACIST, Role.PHARMACY_MANAGER))
    response = api(user).get("/api/v1/me")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["username"] == user.username
    assert body["organisation"]["name"] == "厦门市第一医院"
    assert body["roles"] == ["pharmacist", "pharmacy_manager"]
    assert body["groups"] == ["pharmacy"]
