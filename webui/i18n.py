"""Chinese (zh-CN) by default, English on request; the choice is kept in the signed session cookie."""

from __future__ import annotations

from flask import Flask, current_app, session
from flask_babel import Babel

LOCALES = ("zh_CN", "en")
babel = Babel()


def _select_locale() -> str:
    chosen = session.get("locale")
    return chosen if chosen in LOCALES else current_app.config["BABEL_DEFAULT_LOCALE"]


def init_i18n(app: Flask) -> None:
    """Configure flask-babel with the project's translations folder."""
    babel.init_app(app, locale_selector=_select_locale, default_translation_directories="translations")
