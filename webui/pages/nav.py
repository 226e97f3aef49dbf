"""Navigation by role: each user group sees the areas it works in."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from core.actor import Actor


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: object


def navigation(actor: Actor | None) -> list[NavItem]:
    """Return the navigation entries for an actor (empty when signed out)."""
    if actor is None:
        return []
    items = [NavItem("home_pages.home", _l("Home")), NavItem("home_pages.catalogue", _l("Catalogue"))]
    return items
