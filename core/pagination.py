"""One page of a query's results, with the total count, for every list the platform serves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

T = TypeVar("T")
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int


def paginate(session: Session, stmt: sa.Select[Any], *, page: int, per_page: int) -> Page[Any]:
    """Run ``stmt`` for one page (1-based) and count all its rows."""
    page = max(page, 1)
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    total = session.exec(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())).one()[0]
    rows = session.exec(stmt.limit(per_page).offset((page - 1) * per_page)).scalars().all()
    return Page(items=list(rows), total=int(total), page=page, per_page=per_page)
