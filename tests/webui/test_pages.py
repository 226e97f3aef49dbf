"""Pages every signed-in user meets: sign-in, the home page of each group, the catalogue and API tokens."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from core.models import ApiToken, AuditRecord, LoginAttempt, Organisation
from core.roles import OrgKind, Role
from procurement.catalogue import Product
from tests.factories import PASSWORD


class _CsrfFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.token: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("name") == "csrf_token" and self.token is None:
            self.token = values.get("value")


def csrf_token(client, path: str) -> str:
    """Open a page and return the CSRF token of its first form."""
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    finder = _CsrfFinder()
    finder.feed(response.get_data(as_text=True))
    assert finder.token, f"no csrf_token on {path}"
    return finder.token


def sign_in(client, user, password: str = PASSWORD):
    """Sign in through the login form, as a browser would."""
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"csrf_token": token, "username": user.username, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def post_form(client, path: str, data: dict, *, form_page: str | None = None, **kwargs):
    """Post a form with the CSRF token taken from the page that shows it."""
    return client.post(path, data={"csrf_token": csrf_token(client, form_page or path), **data}, **kwargs)


GROUP_USERS = {
    "pharmacy": (OrgKind.HOSPITAL, (Role.PHARMACIST,)),
    "supplier": (OrgKind.MANUFACTURER, (Role.SUPPLIER_REP,)),
    "auditor": (OrgKind.INSURANCE_BUREAU, (Role.AUDITOR,)),
    "organiser": (OrgKind.PROCUREMENT_OFFICE, (Role.ORGANISER,)),
    "admin": (OrgKind.PROCUREMENT_OFFICE, (Role.ADMIN,)),
}

ORIENTATION = {
    "pharmacy": "药学部门人员代表医院采购药品",
    "supplier": "企业代表代表药品生产企业或配送企业",
    "auditor": "审核人员来自医疗保障局",
    "organiser": "采购组织人员为一组医院组织药品联合采购",
    "admin": "平台管理员为全体用户运营药联平台",
}


def group_user(factory, group: str, **org_fields):
    kind, roles = GROUP_USERS[group]
    return factory.user(factory.org(kind, **org_fields), roles=roles)


def test_signed_out_visitor_is_sent_to_sign_in_with_a_message(client):
    response = client.get("/home/pharmacy")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "请先登录" in page


@pytest.mark.parametrize(
    ("target", "lands_on"),
    [
        ("/orders?status=open", "/orders?status=open"),  # a page of this site: kept
        ("/%09/evil.example", "/"),  # a tab the browser would drop: //evil.example
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),  # a backslash the browser reads as a slash
        ("https://evil.example/", "/"),
        ("/%0d%0aSet-Cookie:x", "/"),
    ],
)
def test_signing_in_returns_only_to_a_page_of_this_site(client, factory, target, lands_on):
    user = group_user(factory, "pharmacy")
    token = csrf_token(client, "/login")
    response = client.post(f"/login?next={target}", data={"csrf_token": token, "username": user.username,
                                                           "password": PASSWORD})  # fmt: skip
    assert response.status_code == 302 and response.headers["Location"] == lands_on


def test_a_session_cookie_copied_before_signing_out_no_longer_signs_in(app, client, factory):
    from core.models import AuditRecord

    user = group_user(factory, "pharmacy")
    sign_in(client, user)
    assert client.get("/home/pharmacy").status_code == 200
    copied = client.get_cookie("session").value  # as taken from a shared counter's browser
    post_form(client, "/logout", {}, form_page="/home/pharmacy")
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/home/pharmacy").status_code == 302  # sent to sign in
    assert factory.db.exec(sa.select(AuditRecord).where(AuditRecord.action == "user.signed_out")).first()
    sign_in(client, user)  # signing in again works, with a new session
    assert client.get("/home/pharmacy").status_code == 200


def test_wrong_password_is_refused_on_the_form(client, factory):
    user = group_user(factory, "pharmacy")
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"csrf_token": token, "username": user.username, "password": "nope"})
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)


@pytest.mark.parametrize("group", list(GROUP_USERS))
def test_each_group_sees_its_home_page_with_real_data(client, factory, group):
    user = group_user(factory, group, name=f"测试机构-{group}", region_name="厦门市")
    response = sign_in(client, user)
    assert response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == f"/home/{group}"
    page = client.get(f"/home/{group}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    org = factory.db.get(Organisation, user.organisation_id)
    assert f"测试机构-{group}" in html
    assert org.uscc in html
    assert "厦门市" in html
    assert ORIENTATION[group] in html
    assert "登录系统" in html  # the sign-in just made is the organisation's latest activity
    assert user.username in html


def test_hospital_home_shows_grade_and_parent_organisation(client, factory):
    parent = factory.org(OrgKind.HOSPITAL, name="厦门市第一医院")
    member = factory.org(OrgKind.HOSPITAL, name="思明区社区卫生服务中心", parent_id=parent.id, hospital_grade="1A")
    user = factory.user(member, roles=(Role.PHARMACIST, Role.PHARMACY_MANAGER))
    sign_in(client, user)
    html = client.get("/home/pharmacy").get_data(as_text=True)
    assert "一级甲等" in html
    assert "厦门市第一医院" in html
    assert "药师" in html and "药学部门负责人" in html


@pytest.mark.parametrize("group", list(GROUP_USERS))
def test_other_groups_home_pages_are_forbidden(client, factory, group):
    sign_in(client, group_user(factory, group))
    for other in GROUP_USERS:
        if other != group:
            assert client.get(f"/home/{other}").status_code == 403, other
    assert client.get("/home/nobody").status_code == 404


def test_user_in_two_groups_can_switch_between_their_homes(client, factory):
    hospital = factory.org(OrgKind.HOSPITAL)
    sign_in(client, factory.user(hospital, roles=(Role.ORGANISER, Role.PHARMACIST)))
    assert client.get("/").headers["Location"] == "/home/organiser"
    html = client.get("/home/pharmacy").get_data(as_text=True)
    assert 'href="/home/organiser"' in html


def test_navigation_shows_administration_to_administrators_only(client, factory):
    sign_in(client, group_user(factory, "pharmacy"))
    html = client.get("/home/pharmacy").get_data(as_text=True)
    assert 'href="/catalogue"' in html and 'href="/account/tokens"' in html
    assert 'href="/admin/audit"' not in html
    client.post("/logout", data={"csrf_token": csrf_token(client, "/home/pharmacy")})
    sign_in(client, group_user(factory, "admin"))
    html = client.get("/home/admin").get_data(as_text=True)
    for path in ("/admin/audit", "/admin/organisations", "/admin/users"):
        assert f'href="{path}"' in html


def test_sign_out_ends_the_session(client, factory):
    sign_in(client, group_user(factory, "supplier"))
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/home/supplier")})
    assert response.status_code == 302
    assert client.get("/home/supplier").status_code == 302


def test_form_post_without_csrf_token_is_refused(client, factory):
    sign_in(client, group_user(factory, "pharmacy"))
    response = client.post("/account/tokens", data={"name": "his", "password": PASSWORD})
    assert response.status_code == 400
    assert "安全令牌" in response.get_data(as_text=True)
    assert client.post("/logout").status_code == 400
    assert factory.db.exec(sa.select(sa.func.count()).select_from(ApiToken)).one()[0] == 0


def test_catalogue_pages_through_products(client, factory):
    maker = factory.org(OrgKind.MANUFACTURER, name="厦门制药有限公司")
    for n in range(30):
        factory.db.add(
            Product(generic_name=f"阿莫西林胶囊 {n:02d}", dosage_form="胶囊剂", strength="0.25g", pack_quantity=24,
                    unit="粒", package_spec="0.25g×24粒", manufacturer_id=maker.id)
        )  # fmt: skip
    factory.db.flush()
    sign_in(client, group_user(factory, "pharmacy"))
    first = client.get("/catalogue").get_data(as_text=True)
    assert "阿莫西林胶囊 00" in first and "阿莫西林胶囊 25" not in first
    assert "厦门制药有限公司" in first
    assert 'href="/catalogue?page=2"' in first
    second = client.get("/catalogue?page=2").get_data(as_text=True)
    assert "阿莫西林胶囊 25" in second and "阿莫西林胶囊 00" not in second
    searched = client.get("/catalogue?q=阿莫西林胶囊 29").get_data(as_text=True)
    assert "阿莫西林胶囊 29" in searched and "阿莫西林胶囊 28" not in searched


# ---------------------------------------------------------------- API tokens


def _tokens(db, user) -> list[ApiToken]:
    return list(db.exec(sa.select(ApiToken).where(ApiToken.user_id == user.id)).scalars())


def test_create_token_shows_the_secret_once_and_it_works(client, factory):
    user = group_user(factory, "supplier")
    sign_in(client, user)
    response = post_form(client, "/account/tokens", {"name": "ERP 接口", "expires_in_days": "90", "password": PASSWORD})
    assert response.status_code == 201
    html = response.get_data(as_text=True)
    [token] = _tokens(factory.db, user)
    secret = html.split('id="token-secret" class="mono" readonly value="')[1].split('"')[0]
    assert secret.startswith(token.prefix)
    assert (token.expires_at - token.created_at).days == 90
    audit = factory.db.exec(sa.select(AuditRecord).where(AuditRecord.action == "token.issued")).scalars().one()
    assert audit.object_id == str(token.id)
    listing = client.get("/account/tokens").get_data(as_text=True)
    assert "ERP 接口" in listing and secret not in listing
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json["username"] == user.username


def test_create_token_needs_the_right_password(client, factory):
    user = group_user(factory, "pharmacy")
    sign_in(client, user)
    response = post_form(client, "/account/tokens", {"name": "HIS", "password": "wrong-password"})
    assert response.status_code == 422
    assert "密码错误" in response.get_data(as_text=True)
    assert _tokens(factory.db, user) == []
    failed = factory.db.exec(sa.select(LoginAttempt).where(~LoginAttempt.succeeded)).scalars().all()
    assert [a.username for a in failed] == [user.username]  # counted towards the rate limit


def test_create_token_checks_the_lifetime(client, factory):
    user = group_user(factory, "pharmacy")
    sign_in(client, user)
    response = post_form(client, "/account/tokens", {"name": "HIS", "expires_in_days": "9999", "password": PASSWORD})
    assert response.status_code == 422
    assert "请选择 1 至 365 天" in response.get_data(as_text=True)
    assert _tokens(factory.db, user) == []


def test_revoke_token_from_the_page(client, factory, api):
    user = group_user(factory, "auditor")
    secret = factory.token(user)
    sign_in(client, user)
    [token] = _tokens(factory.db, user)
    response = post_form(client, f"/account/tokens/{token.id}/revoke", {}, form_page="/account/tokens")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已撤销" in page
    factory.db.refresh(token)
    assert token.revoked_at is not None
    assert api().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    again = post_form(client, f"/account/tokens/{token.id}/revoke", {}, form_page="/account/tokens")
    assert "该令牌已被撤销" in client.get(again.headers["Location"]).get_data(as_text=True)


def test_cannot_revoke_someone_elses_token(client, factory):
    other = group_user(factory, "pharmacy")
    factory.token(other)
    [token] = _tokens(factory.db, other)
    sign_in(client, group_user(factory, "pharmacy"))
    response = post_form(client, f"/account/tokens/{token.id}/revoke", {}, form_page="/account/tokens")
    assert response.status_code == 404
    factory.db.refresh(token)
    assert token.revoked_at is None
