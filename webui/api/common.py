"""Helpers shared by the API blueprints."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_smorest.pagination import PaginationParameters

from core.actor import Actor
from core.pagination import Page
from webui.db import get_db

__all__ = ["actor", "db", "page_items"]


def actor() -> Actor:
    """Return the authenticated API caller."""
    return g.actor


def db() -> Any:
    """Return the request's database session."""
    return get_db()


def page_items(page: Page[Any], params: PaginationParameters) -> list[Any]:
    """Hand a service's page to flask-smorest's pagination (which sets the X-Pagination header)."""
    params.item_count = page.total
    return page.items
