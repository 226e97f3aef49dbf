"""Translations: every message in the code and templates has Chinese, and the interface speaks it by default."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.webui.test_pages import csrf_token

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "webui" / "translations"
# Babel reads the configured "zh_CN" as zh_Hans_CN (it adds the likely script), and gettext then looks in a folder of
# that name or in "zh", never in "zh_CN"; so the Chinese catalogue lives in zh_Hans_CN.
ZH = "zh_Hans_CN"
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
IGNORED_DIRS = {".venv", "instance", "node_modules"}


@cache
def _extracted_msgids() -> frozenset[str | tuple[str, ...]]:
    """Extract messages the way the README's pybabel command does (babel.cfg, ``_l`` and ``lazy_gettext``)."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, str(ROOT / "babel.cfg"))

    def wanted_dir(path: str) -> bool:
        name = os.path.basename(path)
        return not (name.startswith((".", "_")) or name in IGNORED_DIRS)

    found: set[str | tuple[str, ...]] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, directory_filter=wanted_dir
    ):
        found.add(message)
    return frozenset(found)


def _catalog(locale: str):
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle)


def test_every_message_has_a_chinese_translation():
    catalog = _catalog(ZH)
    missing = []
    for msgid in sorted(_extracted_msgids(), key=str):
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        entry = catalog.get(key)
        strings = entry.string if entry is not None and isinstance(entry.string, tuple) else (entry and entry.string,)
        if entry is None or entry.fuzzy or not all(strings):
            missing.append(key)
    assert len(_extracted_msgids()) > 100  # the extraction really walked the code and templates
    assert not missing, f"untranslated or fuzzy in zh_Hans_CN (run pybabel extract/update, then translate): {missing}"


def test_english_catalogue_lists_every_message():
    catalog = _catalog("en")
    absent = [m for m in _extracted_msgids() if catalog.get(m[0] if isinstance(m, tuple) else m) is None]
    assert not absent, f"en catalogue is out of date (run pybabel update): {absent}"


def test_compiled_chinese_catalogue_matches_its_source():
    mo_path = TRANSLATIONS / ZH / "LC_MESSAGES" / "messages.mo"
    assert mo_path.exists(), "run: .venv/bin/pybabel compile -d webui/translations"
    with mo_path.open("rb") as handle:
        compiled = {_key(message.id): _key(message.string) for message in read_mo(handle) if message.id}
    source = {_key(m.id): _key(m.string) for m in _catalog(ZH) if m.id and not m.fuzzy}
    assert compiled == source, "messages.mo is stale: run .venv/bin/pybabel compile -d webui/translations"


def test_sign_in_page_is_chinese_by_default_and_english_after_switching(client):
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert "登录" in page and "用户名" in page and "Sign in" not in page
    switched = client.post("/locale/en", data={"csrf_token": csrf_token(client, "/login"), "next": "/login"})
    assert switched.status_code == 302 and switched.headers["Location"] == "/login"
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Sign in" in page and "Username" in page and "用户名" not in page
    client.post("/locale/zh_CN", data={"csrf_token": csrf_token(client, "/login")})
    assert "用户名" in client.get("/login").get_data(as_text=True)


def test_locale_switch_refuses_to_redirect_elsewhere(client):
    response = client.post("/locale/en", data={"csrf_token": csrf_token(client, "/login"), "next": "//evil.example"})
    assert response.headers["Location"] == "/"


def test_form_validation_messages_follow_the_language(client):
    token = csrf_token(client, "/login")
    chinese = client.post("/login", data={"csrf_token": token, "username": "", "password": ""})
    assert chinese.status_code == 422 and "该字段是必填字段" in chinese.get_data(as_text=True)
    client.post("/locale/en", data={"csrf_token": token})
    english = client.post("/login", data={"csrf_token": token, "username": "", "password": ""})
    assert "This field is required." in english.get_data(as_text=True)


def _key(value):
    """Plural entries come back from the .mo as lists: make them hashable and comparable with the .po's tuples."""
    return tuple(value) if isinstance(value, list | tuple) else value
