"""Trace pages: scan to verify at the counter, a pack's timeline with its proof badge, the ledger's status."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.models import AuditRecord
from core.roles import OrgKind, Role
from tests.trace import conftest as trace_chain
from tests.trace.conftest import cn20, gs1
from tests.webui.test_pages import csrf_token, group_user, post_form, sign_in
from trace import ledger
from trace.models import Checkpoint, EventType, LedgerEntry, TraceEvent
from trace.signing import load_or_create_private_key
from trace.transitions import EventIn

chain = trace_chain.chain  # the supply chain of the trace tests: maker, distributor, two hospitals, a bureau

SCAN = "/trace/scan"
LEDGER = "/trace/ledger"


def switch_user(client, actor) -> None:
    """Sign the current user (if any) out and another in."""
    if client.get(LEDGER).status_code == 200:
        client.post("/logout", data={"csrf_token": csrf_token(client, LEDGER)})
    sign_in(client, actor)


def scan(client, code: str, action: str = "dispense", **extra):
    """Submit one scan as the scan form would, and return the response."""
    return post_form(client, SCAN, {"code": code, "action": action, **extra})


def html_of(response) -> str:
    return response.get_data(as_text=True)


def sign_checkpoint(app, db) -> Checkpoint:
    """Sign a checkpoint with the application's own platform key, as the scheduled job does."""
    key = load_or_create_private_key(app.config["SIGNING_KEY_PATH"])
    return ledger.sign_checkpoint(db, key=key, now=utcnow())


def scan_field(html: str) -> str:
    return re.search(r"<input[^>]*name=\"code\"[^>]*>", html)[0]


def chosen_action(html: str) -> str:
    """Return the purpose preselected on the scan form."""
    return re.search(r'<input checked[^>]*name="action"[^>]*value="(\w+)"', html)[1]


def item_url(code: str) -> str:
    return f"/trace/items/{code}"


# ---------------------------------------------------------------- scan to verify


def test_a_received_pack_may_be_dispensed_and_the_field_is_empty_again(client, chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    sign_in(client, chain.actors["hospital"])
    page = html_of(client.get(SCAN))
    assert "扫码核验" in page and chosen_action(page) == "dispense"
    response = scan(client, code)
    assert response.status_code == 200
    html = html_of(response)
    assert 'data-allowed="true"' in html and "可以发药" in html
    assert "阿托伐他汀钙片" in html and "在库" in html and chain.hospital.name in html
    field = scan_field(html)
    assert "autofocus" in field and 'value=""' in field  # cleared and focused for the next scan
    assert re.search(r'data-testid="scan-log".*' + code, html, re.S)
    assert f'href="{item_url(code)}"' in html
    # Checking records nothing: the pack is still in stock and no event was added.
    count = chain.db.exec(sa.select(sa.func.count()).select_from(TraceEvent)).one()[0]
    assert count == 5


def test_a_second_sale_is_refused_with_the_duplicate_sale_label(client, chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    chain.ok("hospital", EventIn(EventType.DISPENSE, code))
    sign_in(client, chain.actors["hospital"])
    html = html_of(scan(client, code))
    assert 'data-allowed="false"' in html and "不可发药" in html
    assert "该药品已发出：一盒一码只能销售一次。" in html
    assert "重复销售：一盒一码只能销售一次（R1）" in html and "TRACE-R1-DUPLICATE-SALE" in html
    assert "已发药" in html


def test_a_hospital_that_never_held_a_pack_sees_only_what_is_on_its_box(client, chain):
    """The verdict tells another hospital it may not dispense the pack; who holds it, its batch, expiry and status
    stay with those who held it (as the pack's history page does)."""
    code = chain.delivered(cn20(chain.pack.product_id))
    sign_in(client, chain.actors["other_hospital"])
    html = html_of(scan(client, code))
    assert 'data-allowed="false"' in html and "阿托伐他汀钙片" in html and code in html
    facts = re.search(r'data-testid="verdict-pack">(.*?)</dl>', html, re.S)[1]
    assert chain.hospital.name not in facts and "在库" not in facts and "批号" not in facts
    assert f'href="{item_url(code)}"' not in html


def test_a_code_never_commissioned_is_refused_as_possibly_counterfeit(client, chain):
    sign_in(client, chain.actors["hospital"])
    html = html_of(scan(client, cn20(chain.pack.product_id)))
    assert 'data-code="unknown_code"' in html and "可能是假药" in html and "不可发药" in html


def test_a_bad_scan_shows_the_parsers_message(client, chain):
    sign_in(client, chain.actors["hospital"])
    response = scan(client, "6901234567892")
    assert response.status_code == 422
    html = html_of(response)
    assert "这是13位商品条码，不是药品追溯码" in html
    assert "13-digit EAN-13 commodity barcode" in html  # the parser's own words, as detail
    lost = html_of(scan(client, f"01{chain.gs1_pack.gtin}1728123110B240121S1"))
    assert "GS 分隔符丢失" in lost or "分隔符" in lost


def test_gs1_scans_with_the_gs_stand_in_or_in_bracketed_form_are_read(client, chain):
    code = chain.delivered(gs1(chain.gs1_pack.gtin))
    serial = code.split("\x1d21")[1]
    sign_in(client, chain.actors["hospital"])
    for text in (
        code,
        code.replace("\x1d", "\u241d"),
        f"(01){chain.gs1_pack.gtin}(17)281231(10)B2401(21){serial}",
    ):
        html = html_of(scan(client, text))
        assert 'data-allowed="true"' in html, text
        assert "B2401" in html and "2028-12-31" in html and "氯吡格雷片" in html


def test_receiving_is_checked_against_the_shipment(client, chain):
    code = cn20(chain.pack.product_id)
    chain.ok("maker", EventIn(EventType.COMMISSION, code), EventIn(EventType.SHIP, code, to_org_id=chain.hospital.id))
    sign_in(client, chain.actors["hospital"])
    received = html_of(scan(client, code, "receive"))
    assert 'data-allowed="true"' in received and "可以收货" in received and "在途" in received
    sold = html_of(scan(client, code, "dispense"))
    assert "不可发药" in sold and "本机构从未收货该药品" in sold and "追溯链条断裂（R6）" in sold
    switch_user(client, chain.actors["other_hospital"])
    assert "该药品并未发往本机构" in html_of(scan(client, code, "receive"))


def test_a_split_pack_needs_a_quantity_within_what_is_left(client, chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    chain.ok("hospital", EventIn(EventType.DISPENSE, code, quantity=20))
    sign_in(client, chain.actors["hospital"])
    assert "请填写数量（最多 8 片）" in html_of(scan(client, code))
    assert "数量超过包装剩余的 8 片" in html_of(scan(client, code, quantity="9"))
    assert 'data-allowed="true"' in html_of(scan(client, code, quantity="8"))
    assert scan(client, code, quantity="0").status_code == 422


def test_the_running_log_keeps_the_latest_scans_newest_first(client, chain):
    good = chain.delivered(cn20(chain.pack.product_id))
    sign_in(client, chain.actors["hospital"])
    scan(client, "12345")
    html = html_of(scan(client, good))
    log = html.split('data-testid="scan-log"')[1]
    assert log.index(good) < log.index("12345")
    assert "药品追溯码应为20位数字。" in log and "发药" in log
    for n in range(10):
        scan(client, f"{n:020d}")
    log = html_of(client.get(SCAN)).split('data-testid="scan-log"')[1]
    assert log.count("<li") == 8 and good not in log
    scan(client, good, "receive")
    assert chosen_action(html_of(client.get(SCAN))) == "receive"  # the purpose chosen last stays chosen


def test_suppliers_only_check_receipts(client, chain):
    sign_in(client, chain.actors["distributor"])
    page = html_of(client.get(SCAN))
    assert 'value="receive"' in page and 'value="dispense"' not in page
    code = cn20(chain.pack.product_id)
    chain.ok(
        "maker", EventIn(EventType.COMMISSION, code), EventIn(EventType.SHIP, code, to_org_id=chain.distributor.id)
    )
    assert 'data-allowed="true"' in html_of(scan(client, code, "receive"))
    assert scan(client, code, "dispense").status_code == 422


@pytest.mark.parametrize("group", ["auditor", "organiser", "admin"])
def test_scan_to_verify_is_forbidden_to_roles_that_do_not_verify(client, factory, group):
    sign_in(client, group_user(factory, group))
    assert client.get(SCAN).status_code == 403
    token = csrf_token(client, LEDGER)
    assert client.post(SCAN, data={"csrf_token": token, "code": "1" * 20, "action": "receive"}).status_code == 403
    assert 'href="/trace/scan"' not in html_of(client.get(LEDGER))


def test_scan_without_csrf_token_is_refused(client, chain):
    sign_in(client, chain.actors["hospital"])
    assert client.post(SCAN, data={"code": "1" * 20, "action": "dispense"}).status_code == 400


# ---------------------------------------------------------------- the timeline


def test_holders_and_auditors_see_the_timeline_and_a_foreign_hospital_does_not(client, chain):
    at = dt.datetime(2025, 3, 1, 2, 30, tzinfo=dt.UTC)
    code = cn20(chain.pack.product_id)
    chain.ok("maker", EventIn(EventType.COMMISSION, code, at=at))
    chain.ok("maker", EventIn(EventType.SHIP, code, to_org_id=chain.hospital.id))
    chain.ok("hospital", EventIn(EventType.RECEIVE, code))
    for who in ("maker", "hospital", "auditor"):
        switch_user(client, chain.actors[who])
        response = client.get(item_url(code))
        assert response.status_code == 200, who
        html = html_of(response)
        assert "阿托伐他汀钙片" in html and code in html
        assert "2025-03-01 10:30:00" in html  # China Standard Time
        timeline = html.split('data-testid="timeline"')[1]
        assert timeline.index("赋码") < timeline.index("发货") < timeline.index("收货")
        assert f"{chain.maker.name} → {chain.hospital.name}" in timeline
        assert "在库" in html and chain.hospital.name in html.split('data-testid="item-custodian"')[1]
    switch_user(client, chain.actors["other_hospital"])
    assert client.get(item_url(code)).status_code == 404
    assert client.get(f"/trace/epcis/{code}").status_code == 404


def test_timeline_shows_case_links_and_alerts(client, chain):
    case, pack = cn20(chain.case.product_id), cn20(chain.pack.product_id)
    chain.ok(
        "maker",
        EventIn(EventType.COMMISSION, case),
        EventIn(EventType.COMMISSION, pack),
        EventIn(EventType.AGGREGATE, case, children=(pack,)),
        EventIn(EventType.SHIP, case, to_org_id=chain.hospital.id),
    )
    sign_in(client, chain.actors["auditor"])
    case_html = html_of(client.get(item_url(case)))
    assert f'href="{item_url(pack)}"' in case_html.split('data-testid="item-children"')[1]
    inside = html_of(client.get(item_url(pack))).split('data-testid="item-facts"')[1]
    assert "所在箱" in inside and f'href="{item_url(case)}"' in inside
    chain.ok("hospital", EventIn(EventType.RECEIVE, case), EventIn(EventType.DISAGGREGATE, case))
    chain.ok("hospital", EventIn(EventType.DISPENSE, pack))
    assert not chain.run("hospital", EventIn(EventType.DISPENSE, pack)).accepted  # raises the R1 alert
    html = html_of(client.get(item_url(pack)))
    timeline = html.split('data-testid="timeline"')[1]
    assert (
        "装箱" in timeline and "拆箱" in timeline and "经由箱码" in timeline and f'href="{item_url(case)}"' in timeline
    )
    alerts = html.split('data-testid="item-alerts"')[1]
    assert "TRACE-R1-DUPLICATE-SALE" in alerts and "重复销售" in alerts and "高" in alerts
    unpacked = html_of(client.get(item_url(case))).split('data-testid="timeline"')[1]
    assert unpacked.count('data-testid="event-packs"') == 2 and f'href="{item_url(pack)}"' in unpacked


def test_badge_is_pending_before_a_checkpoint_and_verified_after(client, app, chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    sign_in(client, chain.actors["auditor"])
    before = html_of(client.get(item_url(code)))
    assert 'data-state="pending"' in before and "未验证" in before and "等待下一个检查点" in before
    assert 'data-testid="pending-entries">5<' in before
    checkpoint = sign_checkpoint(app, chain.db)
    chain.ok("hospital", EventIn(EventType.DISPENSE, code))
    after = html_of(client.get(item_url(code)))
    assert 'data-verified="true"' in after and "已验证" in after
    assert 'data-testid="proven-entries">5<' in after and 'data-testid="pending-entries">1<' in after
    assert f"检查点 {checkpoint.tree_size}" in after
    assert after.count("已被检查点") == 5 and after.count("entry-state pending") == 1


def test_tampering_with_an_entry_turns_the_badge_to_not_verified(client, app, chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    sign_checkpoint(app, chain.db)
    entry = chain.db.exec(sa.select(LedgerEntry).where(LedgerEntry.item_key == f"cn20:{code}")).scalars().first()
    entry.entry = bytes(entry.entry).replace(b'"type":"commission"', b'"type":"commissiox"')
    chain.db.flush()
    sign_in(client, chain.actors["hospital"])
    html = html_of(client.get(item_url(code)))
    assert 'data-state="failed"' in html and "未验证" in html and "验证失败" in html
    assert f"条目 {entry.idx} 不在已签名的树中：已被篡改。" in html
    entry.entry = b"\xff not even text"
    chain.db.flush()
    html = html_of(client.get(item_url(code)))
    assert 'data-state="failed"' in html and f"条目 {entry.idx} 不在已签名的树中：已被篡改。" in html


def test_epcis_document_is_served_to_signed_in_readers(client, chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    sign_in(client, chain.actors["auditor"])
    html = html_of(client.get(item_url(code)))
    assert f'href="/trace/epcis/{code}"' in html
    response = client.get(f"/trace/epcis/{code}")
    assert response.status_code == 200 and response.mimetype == "application/ld+json"
    assert "attachment" in response.headers["Content-Disposition"]
    document = json.loads(response.get_data(as_text=True))
    assert document["type"] == "EPCISDocument" and len(document["epcisBody"]["eventList"]) == 5


def test_code_search_opens_the_timeline_or_says_why_not(client, chain, factory):
    code = chain.delivered(gs1(chain.gs1_pack.gtin))
    sign_in(client, chain.actors["auditor"])
    response = client.get("/trace/items", query_string={"code": code})
    assert response.status_code == 302 and response.headers["Location"].startswith("/trace/items/(01)")
    assert client.get(response.headers["Location"]).status_code == 200
    bad = client.get("/trace/items", query_string={"code": "12345"})
    assert bad.status_code == 422 and "药品追溯码应为20位数字" in html_of(bad)
    unknown = client.get("/trace/items", query_string={"code": cn20(chain.pack.product_id)})
    assert unknown.status_code == 404 and "没有本机构可查看的药品" in html_of(unknown)
    assert 'href="/trace/items"' in html_of(client.get(LEDGER))  # auditors have it in the navigation


# ---------------------------------------------------------------- the ledger


def test_ledger_page_shows_size_checkpoint_and_key_to_everyone(client, app, chain):
    chain.delivered(cn20(chain.pack.product_id))
    sign_in(client, chain.actors["hospital"])
    html = html_of(client.get(LEDGER))
    assert "可验证账本" in html and 'data-testid="no-checkpoint"' in html
    assert 'data-testid="log-size">5<' in html and 'data-testid="log-pending">5<' in html
    assert "BEGIN PUBLIC KEY" in html and "python -m trace.verify DIR" in html
    assert "python -m scripts.manage ledger-export DIR" in html and "&lt;code&gt;" not in html
    assert 'data-testid="verify-now"' not in html and 'data-testid="sign-now"' not in html
    checkpoint = sign_checkpoint(app, chain.db)
    chain.ok("hospital", EventIn(EventType.DISPENSE, chain.delivered(cn20(chain.pack.product_id))))
    html = html_of(client.get(LEDGER))
    assert 'data-testid="checkpoint-size">5<' in html and bytes(checkpoint.root).hex() in html
    assert 'data-testid="log-size">11<' in html and 'data-testid="log-pending">6<' in html


def test_verify_now_passes_on_an_intact_ledger_and_fails_on_a_forged_checkpoint(client, app, chain):
    chain.delivered(cn20(chain.pack.product_id))
    checkpoint = sign_checkpoint(app, chain.db)
    chain.delivered(cn20(chain.pack.product_id))
    sign_in(client, chain.actors["auditor"])
    html = html_of(client.get("/trace/ledger/verify"))
    assert 'data-ok="true"' in html and "验证通过" in html and "当前账本与检查点 5 一致" in html
    checkpoint.root = bytes(32)
    chain.db.flush()
    html = html_of(client.get("/trace/ledger/verify"))
    assert 'data-ok="false"' in html and "签名与平台公钥不符" in html


def test_sign_now_creates_a_checkpoint_and_an_audit_record(client, chain):
    chain.delivered(cn20(chain.pack.product_id))
    sign_in(client, chain.actors["auditor"])
    response = post_form(client, "/trace/ledger/checkpoints", {}, form_page=LEDGER, follow_redirects=True)
    assert response.status_code == 200 and "已签署检查点 5" in html_of(response)
    assert chain.db.get(Checkpoint, 5) is not None
    [record] = chain.db.exec(sa.select(AuditRecord).where(AuditRecord.action == "ledger.checkpoint_signed")).scalars()
    assert record.object_id == "5" and record.actor_name == chain.actors["auditor"].username
    again = post_form(client, "/trace/ledger/checkpoints", {}, form_page=LEDGER, follow_redirects=True)
    assert "已覆盖全部条目" in html_of(again)
    assert chain.db.exec(sa.select(sa.func.count()).select_from(AuditRecord).where(
        AuditRecord.action == "ledger.checkpoint_signed")).one()[0] == 1  # fmt: skip


def test_sign_now_and_verify_now_are_forbidden_to_pharmacists(client, chain):
    chain.delivered(cn20(chain.pack.product_id))
    sign_in(client, chain.actors["hospital"])
    token = csrf_token(client, LEDGER)
    assert client.post("/trace/ledger/checkpoints", data={"csrf_token": token}).status_code == 403
    assert client.get("/trace/ledger/verify").status_code == 403
    assert chain.db.exec(sa.select(sa.func.count()).select_from(Checkpoint)).one()[0] == 0


# ---------------------------------------------------------------- navigation and language


@pytest.mark.parametrize(
    ("kind", "roles", "scan_link", "find_link"),
    [
        (OrgKind.HOSPITAL, (Role.PHARMACIST,), True, False),
        (OrgKind.HOSPITAL, (Role.PHARMACY_MANAGER,), True, False),
        (OrgKind.DISTRIBUTOR, (Role.SUPPLIER_REP,), True, False),
        (OrgKind.INSURANCE_BUREAU, (Role.AUDITOR,), False, True),
        (OrgKind.PROCUREMENT_OFFICE, (Role.ORGANISER,), False, False),
        (OrgKind.PROCUREMENT_OFFICE, (Role.ADMIN,), False, True),
    ],
)
def test_navigation_offers_the_trace_pages_by_role(client, factory, kind, roles, scan_link, find_link):
    sign_in(client, factory.user(factory.org(kind), roles=roles))
    nav = html_of(client.get(LEDGER)).split('class="mainnav"')[1].split("</nav>")[0]
    assert ('href="/trace/scan"' in nav) == scan_link
    assert ('href="/trace/items"' in nav) == find_link
    assert 'href="/trace/ledger" aria-current="page"' in nav and "账本" in nav


def test_trace_pages_are_chinese_by_default_and_follow_the_language_switch(client, chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    sign_in(client, chain.actors["hospital"])
    for path, chinese in ((SCAN, "扫码核验"), (item_url(code), "药品追溯记录"), (LEDGER, "最新签名检查点")):
        html = html_of(client.get(path))
        assert '<html lang="zh-CN">' in html and chinese in html, path
    client.post("/locale/en", data={"csrf_token": csrf_token(client, SCAN)})
    assert "May be dispensed" in html_of(scan(client, code))
    assert "Pack history" in html_of(client.get(item_url(code)))


def test_trace_pages_send_signed_out_visitors_to_sign_in(client):
    for path in (SCAN, LEDGER, "/trace/items", item_url("1" * 20), "/trace/ledger/verify"):
        assert client.get(path).headers["Location"].startswith("/login?next="), path
