"""In a real browser: each group signs in and lands on its home page; the API docs and the audit chart run offline;
the language switch turns the interface from Chinese to English."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.roles import UserGroup

pytestmark = pytest.mark.browser

GROUP_HEADINGS = {
    UserGroup.PHARMACY: "医院药学部门",
    UserGroup.SUPPLIER: "供应企业",
    UserGroup.AUDITOR: "医保审核",
    UserGroup.ORGANISER: "采购组织",
    UserGroup.ADMIN: "平台管理",
}


@pytest.mark.parametrize("group", list(UserGroup))
def test_each_group_signs_in_and_sees_its_home_page(page, sign_in, requests_log, group):
    user = sign_in(group)
    expect(page.get_by_test_id("home-title")).to_have_text(user.org_name)
    expect(page.get_by_test_id("group")).to_have_text(GROUP_HEADINGS[group])
    expect(page.get_by_test_id("who")).to_have_text(user.username)
    expect(page.get_by_test_id("org-profile")).to_contain_text(user.region[1])
    expect(page.get_by_test_id("activity")).to_contain_text("登录系统")
    admin_link = page.locator("nav.mainnav a[href='/admin/audit']")
    expect(admin_link).to_have_count(1 if group == UserGroup.ADMIN else 0)
    assert requests_log.foreign() == []


def test_api_docs_render_without_leaving_the_machine(page, requests_log):
    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .info")).to_be_visible()
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Yaolian")
    assert requests_log.urls, "the page made no requests at all"
    assert requests_log.foreign() == []


def test_audit_chart_is_drawn_with_the_local_plotly(page, sign_in, requests_log):
    sign_in(UserGroup.ADMIN)
    page.locator("nav.mainnav a[href='/admin/audit']").click()
    page.wait_for_url("**/admin/audit")
    expect(page.locator("#audit-chart svg.main-svg").first).to_be_attached()
    assert page.evaluate("typeof window.Plotly !== 'undefined' && typeof window.Plotly.newPlot === 'function'")
    bars = page.locator("#audit-chart .bars .point")
    assert bars.count() == 30  # one bar slot per day of the last 30 days
    # The newest records are whatever the browser tests did last; filter for the seeded organisations' records.
    page.goto("/admin/audit?action=organisation.created")
    expect(page.locator("#audit-chart svg.main-svg").first).to_be_attached()
    expect(page.get_by_test_id("audit-records")).to_contain_text("登记机构")
    assert any(url.endswith("/assets/vendor/plotly.min.js") for url in requests_log.urls)
    assert requests_log.foreign() == []


def test_language_switch_turns_the_interface_to_english(page, sign_in):
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("登录")
    sign_in(UserGroup.SUPPLIER)
    expect(page.locator("#activity-title")).to_have_text("本机构近期动态")
    page.locator("#locale-switch").click()
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#activity-title")).to_have_text("Recent activity of your organisation")
    expect(page.get_by_test_id("group")).to_have_text("Supplier")
    assert page.url.endswith("/home/supplier")  # the switch returns to the same page
    page.locator("#locale-switch").click()
    expect(page.locator("#activity-title")).to_have_text("本机构近期动态")
