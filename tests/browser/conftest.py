"""Real-browser tests: the app served on 127.0.0.1 per database backend, driven by headless Chromium via Playwright.

The system Chromium is used (``/usr/bin/chromium``); Playwright's own browser downloads are never needed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from core import accounts
from core.actor import Actor
from core.db import make_engine, new_session, utcnow
from core.roles import HospitalGrade, OrgKind, Role, UserGroup
from core.schema import upgrade
from tests.conftest import BACKENDS, PG_ENV
from tests.factories import PASSWORD, make_uscc

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOST = "127.0.0.1"


@dataclass(frozen=True)
class SeedUser:
    org_name: str
    kind: OrgKind
    roles: tuple[Role, ...]
    username: str
    display_name: str
    region: tuple[str, str] = ("350200", "厦门市")
    grade: HospitalGrade | None = None


# One organisation and one user per user group, created through the services as an operator would.
SEED: dict[UserGroup, SeedUser] = {
    UserGroup.PHARMACY: SeedUser(
        "厦门市第一医院", OrgKind.HOSPITAL, (Role.PHARMACIST, Role.PHARMACY_MANAGER), "wang.pharmacy", "王药师",
        grade=HospitalGrade.G3A,
    ),
    UserGroup.SUPPLIER: SeedUser(
        "福建海峡制药有限公司", OrgKind.MANUFACTURER, (Role.SUPPLIER_REP,), "li.supplier", "李经理",
        region=("350100", "福州市"),
    ),
    UserGroup.AUDITOR: SeedUser("厦门市医疗保障局", OrgKind.INSURANCE_BUREAU, (Role.AUDITOR,), "zhao.audit", "赵审核"),
    UserGroup.ORGANISER: SeedUser(
        "福建省药械联合采购中心", OrgKind.PROCUREMENT_OFFICE, (Role.ORGANISER,), "chen.organiser", "陈主任",
        region=("350000", "福建省"),
    ),
    UserGroup.ADMIN: SeedUser(
        "药联平台运营中心", OrgKind.PROCUREMENT_OFFICE, (Role.ADMIN,), "admin.ops", "平台管理员",
        region=("350000", "福建省"),
    ),
}  # fmt: skip


@dataclass
class LiveServer:
    url: str
    backend: str
    users: dict[UserGroup, SeedUser] = field(default_factory=dict)
    password: str = PASSWORD
    database_url: str = ""
    signing_key_path: str = ""


def _seed(url: str) -> None:
    engine = make_engine(url)
    actor = Actor.system("tests")
    try:
        with new_session(engine) as session:
            for n, seed in enumerate(SEED.values(), start=1):
                org = accounts.create_organisation(
                    session, actor=actor, name=seed.org_name, kind=seed.kind, uscc=make_uscc(880000 + n),
                    region_code=seed.region[0], region_name=seed.region[1], hospital_grade=seed.grade,
                )  # fmt: skip
                accounts.create_user(
                    session, actor=actor, username=seed.username, password=PASSWORD,
                    display_name=seed.display_name, organisation_id=org.id, roles=seed.roles,
                )  # fmt: skip
            session.commit()
    finally:
        engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def browser_backend(request) -> str:
    """The database backend of the live server (session-wide, unlike the per-test ``backend``)."""
    if request.param == "postgresql" and not os.environ.get(PG_ENV):
        pytest.skip(f"PostgreSQL backend: set {PG_ENV} to run")
    return request.param


@pytest.fixture(scope="session")
def live_server(browser_backend, fresh_database_url, tmp_path_factory) -> Iterator[LiveServer]:
    """Serve the app on a free port of 127.0.0.1 over a freshly migrated and seeded database."""
    from webui import create_app

    url = fresh_database_url(browser_backend, "browser")
    upgrade(url)
    _seed(url)
    instance = tmp_path_factory.mktemp("browser-instance")
    key_path = str(instance / "ledger-signing-key.pem")  # never the developer's instance key
    app = create_app(
        {"YAOLIAN_ENV": "test", "DATABASE_URL": url, "INSTANCE_PATH": str(instance), "SIGNING_KEY_PATH": key_path}
    )
    server = make_server(LOCAL_HOST, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(
            url=f"http://{LOCAL_HOST}:{server.server_port}", backend=browser_backend, users=SEED, database_url=url,
            signing_key_path=key_path,
        )  # fmt: skip
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        engine = app.extensions.get("yaolian.engine")
        if engine is not None:
            engine.dispose()


@pytest.fixture(scope="session")
def browser():
    """Headless system Chromium, shared by every browser test."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class RequestLog:
    """Every request a page makes, to prove nothing leaves this machine."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def record(self, request) -> None:
        self.urls.append(request.url)

    def foreign(self) -> list[str]:
        """Return the requests that went anywhere but 127.0.0.1 (inline data: and blob: URLs stay local)."""
        out = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob"):
                continue
            if parts.scheme not in ("http", "https") or parts.hostname != LOCAL_HOST:
                out.append(url)
        return out


@pytest.fixture
def requests_log() -> RequestLog:
    """The log of the test's browser requests."""
    return RequestLog()


@pytest.fixture
def page(browser, live_server, requests_log):
    """A fresh browser tab (own cookies) pointed at the live server, recording its requests."""
    context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport={"width": 1366, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.on("request", requests_log.record)
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def as_user(browser, live_server):
    """Return a function opening a signed-in tab of its own (own cookies) for a username; ``as_user.log`` records
    every tab's requests."""
    contexts, log = [], RequestLog()

    def open_tab(username: str) -> Page:
        context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport={"width": 1366, "height": 900})
        contexts.append(context)
        tab = context.new_page()
        tab.set_default_timeout(20_000)
        tab.on("request", log.record)
        tab.goto("/login")
        tab.fill("#username", username)
        tab.fill("#password", live_server.password)
        tab.locator("main form button[type=submit]").click()
        tab.wait_for_url("**/home/*")
        return tab

    open_tab.log = log
    yield open_tab
    for context in contexts:
        context.close()


@pytest.fixture
def sign_in(page, live_server):
    """Return a function that signs a seeded user in through the login form."""

    def as_group(group: UserGroup) -> SeedUser:
        user = live_server.users[group]
        page.goto("/login")
        page.fill("#username", user.username)
        page.fill("#password", live_server.password)
        page.locator("main form button[type=submit]").click()
        page.wait_for_url(f"**/home/{group.value}")
        return user

    return as_group


# ---------------------------------------------------------------- trace data for the trace pages


@dataclass(frozen=True)
class TracePacks:
    product: str
    received: str  # commissioned by the supplier, shipped to and received by the hospital
    in_transit: str  # shipped to the hospital, not received yet
    tree_size: int  # the checkpoint signed after both


def _capture(session, actor: Actor, batch_id: str, *events) -> None:
    from trace import capture
    from trace.canonical import canonical_bytes

    body = canonical_bytes({"batch": batch_id, "events": [repr(e) for e in events]})
    batch = capture.BatchIn(client_batch_id=batch_id, events=list(events), request_sha256=capture.request_digest(body))
    result = capture.capture(session, actor=actor, batch=batch, now=utcnow())
    assert result.accepted, result.body


@pytest.fixture(scope="session")
def trace_packs(live_server) -> TracePacks:
    """Two packs of the seeded supplier sent to the seeded hospital, and a checkpoint signed with the app's key."""
    from trace import ledger
    from trace.items import register_trade_item
    from trace.models import EventType
    from trace.signing import load_or_create_private_key
    from trace.transitions import EventIn

    engine = make_engine(live_server.database_url)
    product = "阿托伐他汀钙片 10mg×7片×4板"
    received, in_transit = "81234510000000011234", "81234510000000021234"
    try:
        with new_session(engine) as session:
            supplier, pharmacy = (
                accounts.actor_for_user(session, _user_id(session, SEED[group].username))
                for group in (UserGroup.SUPPLIER, UserGroup.PHARMACY)
            )
            register_trade_item(
                session, actor=Actor.system("tests"), name=product, holder_org_id=supplier.org_id, pack_size=28,
                unit="片", product_id="8123451",
            )  # fmt: skip
            commission = [EventIn(EventType.COMMISSION, code) for code in (received, in_transit)]
            ship = [EventIn(EventType.SHIP, code, to_org_id=pharmacy.org_id) for code in (received, in_transit)]
            _capture(session, supplier, "browser-1", *commission, *ship)
            _capture(session, pharmacy, "browser-2", EventIn(EventType.RECEIVE, received))
            key = load_or_create_private_key(live_server.signing_key_path)
            checkpoint = ledger.sign_checkpoint(session, key=key, now=utcnow())
            session.commit()
            return TracePacks(product, received, in_transit, checkpoint.tree_size)
    finally:
        engine.dispose()


def _user_id(session, username: str) -> int:
    from core.models import User

    return session.exec(sa.select(User.id).where(User.username == username)).one()[0]
