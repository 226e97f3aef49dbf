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


def test_me_body_is_what_its_documented_schema_dumps(api, factory):
    """/me skips marshmallow for speed; its body must still be exactly MeOut().dump() of the same data."""
    from core.accounts import actor_for_user
    from core.models import Organisation, User
    from webui.api.me import MeOut

    parent = factory.org(OrgKind.HOSPITAL, name="三明市第一医院")
    org = factory.org(OrgKind.HOSPITAL, name="莘口镇卫生院", name_en=None, parent_id=parent.id)
    user = factory.user(org, roles=(Role.PHARMACY_MANAGER,), display_name="罗春兰")
    body = api(user).get("/api/v1/me").json
    who = actor_for_user(factory.db, user.id)
    expected = MeOut().dump(
        {
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "roles": sorted(r.value for r in who.roles),
            "groups": [g.value for g in who.groups],
            "organisation": factory.db.get(Organisation, org.id),
        }
    )
    assert body == expected and body["organisation"]["parent_id"] == parent.id
    assert factory.db.get(User, user.id).is_active and body["organisation"]["is_active"] is True


def test_only_reading_views_skip_the_write_lock(app):
    """GET views and POST /trace/verify (a question, never a write) begin read-only; writing POSTs do not."""
    views = app.view_functions
    assert getattr(views["trace_api.verify_pack"], "_yaolian_read_only", False)
    assert not getattr(views["trace_api.capture_events"], "_yaolian_read_only", False)
    assert not getattr(views["tenders_api.submit_bid"], "_yaolian_read_only", False)
