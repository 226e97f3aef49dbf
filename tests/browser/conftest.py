"""Real-browser tests: the app served on 127.0.0.1 per database backend, driven by headless Chromium via Playwright.

The system Chromium is used (``/usr/bin/chromium``); Playwright's own browser downloads are never needed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from core import accounts
from core.actor import Actor
from core.db import make_engine, new_session
from core.roles import HospitalGrade, OrgKind, Role, UserGroup
from core.schema import upgrade
from tests.conftest import BACKENDS, PG_ENV
from tests.factories import PASSWORD, make_uscc

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
    app = create_app(
        {
            "YAOLIAN_ENV": "test",
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(tmp_path_factory.mktemp("browser-instance")),
        }
    )
    server = make_server(LOCAL_HOST, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://{LOCAL_HOST}:{server.server_port}", backend=browser_backend, users=SEED)
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
