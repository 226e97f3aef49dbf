"""In a real browser: a pharmacist scans packs as a keyboard-wedge scanner would, and an auditor opens a pack's
timeline with its verified badge; nothing leaves 127.0.0.1."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.roles import UserGroup

pytestmark = pytest.mark.browser


def test_pharmacist_scans_and_the_field_is_ready_for_the_next_scan(page, sign_in, trace_packs, requests_log):
    sign_in(UserGroup.PHARMACY)
    page.locator("nav.mainnav a[href='/trace/scan']").click()
    page.wait_for_url("**/trace/scan")
    field = page.locator("#code")
    expect(field).to_be_focused()
    page.keyboard.type(trace_packs.received)  # a wedge scanner types the code and ends with Enter
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("verdict")).to_have_attribute("data-allowed", "true")
    expect(page.get_by_test_id("verdict-headline")).to_have_text("可以发药")
    expect(page.get_by_test_id("verdict-pack")).to_contain_text(trace_packs.product)
    expect(field).to_be_focused()
    expect(field).to_have_value("")
    page.keyboard.type(trace_packs.in_transit)  # the next scan follows at once
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("verdict-headline")).to_have_text("不可发药")
    expect(page.get_by_test_id("verdict-reason")).to_contain_text("本机构从未收货该药品")
    expect(page.get_by_test_id("verdict-alerts")).to_contain_text("追溯链条断裂（R6）")
    log = page.get_by_test_id("scan-log").locator("li")
    expect(log).to_have_count(2)
    expect(log.first).to_contain_text(trace_packs.in_transit)
    expect(field).to_be_focused()
    expect(field).to_have_value("")
    assert requests_log.foreign() == []


def test_scanning_works_without_javascript(browser, live_server, trace_packs):
    context = browser.new_context(base_url=live_server.url, locale="zh-CN", java_script_enabled=False)
    try:
        tab = context.new_page()
        user = live_server.users[UserGroup.PHARMACY]
        tab.goto("/login")
        tab.fill("#username", user.username)
        tab.fill("#password", live_server.password)
        tab.locator("main form button[type=submit]").click()
        tab.wait_for_url("**/home/pharmacy")
        tab.goto("/trace/scan")
        tab.locator("#code").fill(trace_packs.received)
        tab.locator("#code").press("Enter")
        expect(tab.get_by_test_id("verdict-headline")).to_have_text("可以发药")
        expect(tab.locator("#code")).to_have_value("")
        expect(tab.locator("#code")).to_be_focused()  # autofocus on the page the server sends back
    finally:
        context.close()


def test_auditor_opens_a_pack_timeline_with_the_verified_badge(page, sign_in, live_server, trace_packs, requests_log):
    sign_in(UserGroup.AUDITOR)
    page.locator("nav.mainnav a[href='/trace/items']").click()
    page.wait_for_url("**/trace/items")
    expect(page.locator("#find-code")).to_be_focused()
    page.keyboard.type(trace_packs.received)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/trace/items/{trace_packs.received}")
    expect(page.get_by_test_id("item-title")).to_have_text(trace_packs.product)
    expect(page.get_by_test_id("proof")).to_have_attribute("data-verified", "true")
    expect(page.get_by_test_id("proof-badge")).to_contain_text("已验证")
    expect(page.get_by_test_id("proven-entries")).to_have_text("3")
    events = page.get_by_test_id("timeline").locator("li")
    expect(events).to_have_count(3)
    expect(events.nth(0)).to_contain_text("赋码")
    expect(events.nth(2)).to_contain_text("收货")
    expect(page.get_by_test_id("item-custodian")).to_have_text(live_server.users[UserGroup.PHARMACY].org_name)
    page.locator("nav.mainnav a[href='/trace/ledger']").click()
    expect(page.get_by_test_id("checkpoint-size")).to_have_text(str(trace_packs.tree_size))
    page.get_by_test_id("verify-now").click()
    expect(page.get_by_test_id("ledger-check")).to_have_attribute("data-ok", "true")
    assert requests_log.foreign() == []
