"""Administration pages: the audit trail and its chart, registering organisations, creating users."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from core.actor import Actor
from core.audit import record_audit
from core.models import AuditRecord, Organisation, User
from core.passwords import verify_password
from core.roles import OrgKind, Role
from tests.factories import make_uscc
from tests.webui.test_pages import GROUP_USERS, csrf_token, group_user, post_form, sign_in

ADMIN_PAGES = ("/admin/audit", "/admin/organisations", "/admin/organisations/new", "/admin/users", "/admin/users/new")


def _count(db, model) -> int:
    return db.exec(sa.select(sa.func.count()).select_from(model)).one()[0]


def _audit(db, action: str) -> list[AuditRecord]:
    return list(db.exec(sa.select(AuditRecord).where(AuditRecord.action == action)).scalars())


@pytest.fixture
def admin(client, factory):
    user = group_user(factory, "admin", name="药联平台运营中心")
    sign_in(client, user)
    return user


@pytest.mark.parametrize("group", [g for g in GROUP_USERS if g != "admin"])
def test_administration_is_forbidden_to_other_groups(client, factory, group):
    sign_in(client, group_user(factory, group))
    for path in ADMIN_PAGES:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "您没有访问此页面的权限" in response.get_data(as_text=True)
    token = csrf_token(client, "/account/tokens")
    response = client.post("/admin/organisations/new", data={"csrf_token": token, "name": "x"})
    assert response.status_code == 403


def test_administration_sends_signed_out_visitors_to_sign_in(client):
    for path in ADMIN_PAGES:
        assert client.get(path).headers["Location"].startswith("/login?next="), path


def test_audit_trail_shows_records_and_the_chart(client, factory, admin):
    html = client.get("/admin/audit").get_data(as_text=True)
    assert "审计日志" in html
    assert 'id="audit-chart"' in html and "data-chart=" in html
    assert 'src="/assets/vendor/plotly.min.js"' in html
    assert "登录系统" in html and "药联平台运营中心" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # every asset comes from this server


def test_audit_trail_filters_and_pages(client, factory, admin):
    hospital = factory.org(OrgKind.HOSPITAL, name="泉州市第一医院")
    actor = Actor(None, "importer", hospital.id, OrgKind.HOSPITAL, frozenset())
    for n in range(55):
        record_audit(factory.db, actor=actor, action="catalogue.imported", object_type="product", object_id=n)
    factory.db.flush()
    first = client.get("/admin/audit?action=catalogue.imported").get_data(as_text=True)
    assert "共 55 条" in first
    assert "登录系统" not in first.split('data-testid="audit-records"')[1]
    assert "/admin/audit?action=catalogue.imported&amp;page=2" in first
    second = client.get("/admin/audit?action=catalogue.imported&page=2").get_data(as_text=True)
    assert "#4<" in second and "#54<" not in second
    by_org = client.get(f"/admin/audit?organisation={hospital.id}").get_data(as_text=True)
    assert "共 55 条" in by_org
    by_type = client.get("/admin/audit?object_type=user").get_data(as_text=True)
    assert "共 1 条" in by_type  # the administrator's own sign-in


def test_organisations_list_shows_the_directory(client, factory, admin):
    factory.org(OrgKind.HOSPITAL, name="漳州市医院", hospital_grade="3B")
    html = client.get("/admin/organisations").get_data(as_text=True)
    assert "漳州市医院" in html and "三级乙等" in html and "药联平台运营中心" in html
    hospitals_only = client.get("/admin/organisations?kind=hospital").get_data(as_text=True)
    assert "漳州市医院" in hospitals_only and "药联平台运营中心" not in hospitals_only


def _organisation_form(**overrides) -> dict:
    values = {
        "name": "厦门大学附属中山医院",
        "name_en": "Zhongshan Hospital of Xiamen University",
        "kind": "hospital",
        "uscc": make_uscc(777001),
        "region_code": "350200",
        "region_name": "厦门市",
        "hospital_grade": "3A",
        "parent": "",
    }
    values.update(overrides)
    return values


def test_register_an_organisation_through_the_form(client, factory, admin):
    response = post_form(client, "/admin/organisations/new", _organisation_form())
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/organisations"
    org = factory.db.exec(sa.select(Organisation).where(Organisation.name == "厦门大学附属中山医院")).scalars().one()
    assert (org.kind, org.hospital_grade, org.region_code) == ("hospital", "3A", "350200")
    [record] = _audit(factory.db, "organisation.created")
    assert record.object_id == str(org.id) and record.actor_user_id == admin.id
    listing = client.get("/admin/organisations").get_data(as_text=True)
    assert "已登记机构" in listing and "厦门大学附属中山医院" in listing


def test_register_a_member_of_a_medical_community(client, factory, admin):
    lead = factory.org(OrgKind.HOSPITAL, name="尤溪县总医院")
    form = _organisation_form(name="尤溪县西城镇卫生院", uscc=make_uscc(777002), hospital_grade="1A", parent=lead.id)
    assert post_form(client, "/admin/organisations/new", form).status_code == 303
    member = factory.db.exec(sa.select(Organisation).where(Organisation.name == "尤溪县西城镇卫生院")).scalars().one()
    assert member.parent_id == lead.id


def test_a_bad_credit_code_is_shown_next_to_its_field_and_nothing_is_saved(client, factory, admin):
    before = _count(factory.db, Organisation)
    bad = make_uscc(777003)[:-1] + ("0" if make_uscc(777003)[-1] != "0" else "1")
    response = post_form(client, "/admin/organisations/new", _organisation_form(uscc=bad))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    errors = html.split('data-field="uscc"')[1].split("</ul>")[0]
    assert "校验位" in errors
    assert f'value="{bad}"' in html  # what was typed stays in the form
    assert _count(factory.db, Organisation) == before
    assert _audit(factory.db, "organisation.created") == []


def test_organisation_rules_are_shown_per_field(client, factory, admin):
    response = post_form(client, "/admin/organisations/new", _organisation_form(kind="distributor"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "医院须填写等级" in html.split('data-field="hospital_grade"')[1].split("</ul>")[0]
    short = post_form(client, "/admin/organisations/new", _organisation_form(uscc="91350200"))
    assert "统一社会信用代码为 18 位" in short.get_data(as_text=True).split('data-field="uscc"')[1]


def test_a_duplicate_organisation_is_refused(client, factory, admin):
    existing = factory.org(OrgKind.HOSPITAL, name="龙岩市第一医院")
    response = post_form(client, "/admin/organisations/new", _organisation_form(uscc=existing.uscc))
    assert response.status_code == 409
    assert "已存在同名或同一信用代码的机构" in response.get_data(as_text=True)


def _user_form(org: Organisation, **overrides) -> dict:
    values = {
        "username": "lin.pharmacist",
        "display_name": "林药师",
        "email": "lin@example.cn",
        "organisation": str(org.id),
        "roles": ["pharmacist", "pharmacy_manager"],
        "password": "a-long-initial-password",
    }
    values.update(overrides)
    return values


def test_create_a_user_through_the_form(client, factory, admin):
    hospital = factory.org(OrgKind.HOSPITAL, name="三明市第一医院")
    assert f'<option selected value="{hospital.id}">' in client.get(f"/admin/users/new?organisation={hospital.id}").text
    response = post_form(client, "/admin/users/new", _user_form(hospital))
    assert response.status_code == 303
    user = factory.db.exec(sa.select(User).where(User.username == "lin.pharmacist")).scalars().one()
    assert user.organisation_id == hospital.id and verify_password(user.password_hash, "a-long-initial-password")
    [record] = _audit(factory.db, "user.created")
    assert record.details["roles"] == ["pharmacist", "pharmacy_manager"]
    listing = client.get(f"/admin/users?organisation={hospital.id}").get_data(as_text=True)
    assert "lin.pharmacist" in listing and "林药师" in listing and "药学部门负责人" in listing


def test_user_rules_are_shown_per_field(client, factory, admin):
    maker = factory.org(OrgKind.MANUFACTURER)
    taken = factory.user(maker, username="taken.user")
    cases = [
        ({"roles": ["pharmacist"]}, "roles", "不能由"),
        ({"roles": []}, "roles", "请至少选择一个角色"),
        ({"roles": ["supplier_rep"], "password": "short"}, "password", "至少使用 10 个字符"),
        ({"roles": ["supplier_rep"], "username": taken.username}, "username", "该用户名已被使用"),
        ({"roles": ["supplier_rep"], "username": "no spaces"}, "username", "请使用 3 至 64 个"),
        ({"roles": ["supplier_rep"], "email": "not-an-address"}, "email", "请输入有效的电子邮箱地址"),
    ]
    before = _count(factory.db, User)
    for overrides, field, message in cases:
        response = post_form(client, "/admin/users/new", _user_form(maker, **overrides))
        assert response.status_code in (409, 422), overrides
        html = response.get_data(as_text=True)
        assert message in html.split(f'data-field="{field}"')[1].split("</ul>")[0], (overrides, html)
    assert _count(factory.db, User) == before
    assert _audit(factory.db, "user.created") == []


def test_new_user_can_sign_in(client, factory, admin):
    bureau = factory.org(OrgKind.INSURANCE_BUREAU, name="福建省医疗保障局")
    form = _user_form(bureau, username="chen.auditor", roles=[Role.AUDITOR.value])
    assert post_form(client, "/admin/users/new", form).status_code == 303
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/users")})
    user = factory.db.exec(sa.select(User).where(User.username == "chen.auditor")).scalars().one()
    sign_in(client, user, password="a-long-initial-password")
    assert "福建省医疗保障局" in client.get("/home/auditor").get_data(as_text=True)
